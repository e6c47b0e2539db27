//! The management API used by the web UI, one module per resource: pasted
//! text ([`parse`]), saved channels ([`channels`]) and their alternates
//! ([`alternates`]), imported lists ([`imports`]), settings ([`settings`]),
//! the engine ([`engine`]: test, start, stop), their order ([`order`]), the desktop app's players
//! ([`players`]), LAN sharing ([`lan`]) and active streams
//! ([`streams`]: stop one), recordings ([`recordings`]). This module owns what they share: the JSON
//! body extractor and the reading of ids and names.
//!
//! Bodies are JSON only, read through [`ApiJson`], so a malformed body, a wrong
//! content type or an oversized body is a JSON `{"error": …}` like every other
//! failure. Pasted text is parsed by [`content_id::parse_list`] only: the UI
//! never parses ids itself.

pub(super) mod alternates;
pub(super) mod channels;
pub(super) mod engine;
pub(super) mod imports;
pub(super) mod lan;
pub(super) mod order;
pub(super) mod parse;
pub(super) mod players;
pub(super) mod recordings;
pub(super) mod settings;
pub(super) mod streams;

use axum::extract::{FromRequest, Request};
use axum::Json;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::content_id::{self, ContentId, IdKind};

/// Largest request body the management API reads (a pasted M3U list fits easily).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `Json<T>` whose rejections are [`ApiError`]s: 400 for a wrong content type,
/// bad syntax or wrong fields; 413 for a body over the limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

fn kind_label(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Content => "content",
        IdKind::Infohash => "infohash",
    }
}

/// A channel name or attribute as stored: see [`content_id::clean_text`].
fn clean_name(name: Option<&str>) -> Option<String> {
    name.and_then(content_id::clean_text)
}

pub(super) fn parse_id(text: &str) -> Result<ContentId, ApiError> {
    ContentId::parse(text).map_err(|err| ApiError::bad_request(format!("invalid id: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean_name(Some("  News\n#EXTINF:-1,x\r\n ")),
            Some("News #EXTINF:-1,x".into())
        );
        assert_eq!(clean_name(Some(" \t ")), None);
        assert_eq!(clean_name(None), None);
        assert_eq!(
            clean_name(Some(&"x".repeat(500))).map(|n| n.chars().count()),
            Some(content_id::MAX_TEXT_CHARS)
        );
    }
}
