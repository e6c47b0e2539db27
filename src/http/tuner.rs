//! The HDHomeRun HTTP API at the root, where media centres look once given
//! this server's address: `discover.json`, `lineup.json`,
//! `lineup_status.json`, `lineup.post`, `device.xml` (and `/capability`),
//! and `/auto/v<GuideNumber>`. The documents come from [`crate::tuner`];
//! this module fills them with the request's address and the saved channels.
//!
//! With LAN sharing on, the same routes also live under `/hdhr/<token>/`
//! (media centres cannot add a `?token=`), and what that tuner hands out
//! carries the token: its base and lineup URLs in the path, channel URLs in
//! their query.
//!
//! The lineup hands out each channel's stable TS URL marked `tuner=1`, so a
//! media centre plays with failover between alternates, and its streams
//! count against the tuner count: one channel more than `TunerCount` gets
//! the 503 a busy HDHomeRun answers.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::base_url;
use super::media::{channel_start_timeout, saved_channel, ts_response};
use super::{ApiError, AppState};
use crate::channel::ChannelKey;
use crate::content_id::ContentId;
use crate::player_urls::{Format, PlayerUrls};
use crate::tuner::documents::{self, TunerChannel, TunerInfo};
use crate::tuner::{self, TuneError};

/// The query parameter that marks a channel URL as handed out by the tuner.
const LINEUP_MARK: &str = "tuner";

impl From<TuneError> for ApiError {
    fn from(error: TuneError) -> Self {
        match error {
            TuneError::AllTunersBusy(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            TuneError::Channel(channel) => channel.into(),
        }
    }
}

/// Whether a channel URL's query carries the lineup's mark. Only the key
/// counts: a media centre appending `?transcode=…` without looking for an
/// existing `?` turns `tuner=1` into `tuner=1?transcode=…`.
pub(super) fn from_lineup(query: Option<&str>) -> bool {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(key, _)| key == LINEUP_MARK)
}

/// The path the tuner was reached under: `/hdhr/<token>` for the tuner
/// shared on the LAN, empty at the root. Everything it hands out keeps it.
pub struct Prefix(String);

impl<S: Send + Sync> FromRequestParts<S> for Prefix {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let prefix = parts
            .uri
            .path()
            .strip_prefix("/hdhr/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(token, _)| format!("/hdhr/{token}"))
            .unwrap_or_default();
        Ok(Self(prefix))
    }
}

fn info(state: &AppState, base: &PlayerUrls, prefix: &Prefix) -> TunerInfo {
    TunerInfo {
        device_id: state.tuner.device_id(),
        tuner_count: state.tuner.tuner_count(),
        base_url: format!("{}{}", base.origin(), prefix.0),
    }
}

/// `GET /discover.json`: what the tuner is and where its lineup is.
pub async fn discover(
    State(state): State<AppState>,
    prefix: Prefix,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&state, &headers);
    Json(documents::discover(&info(&state, &base, &prefix))).into_response()
}

/// `GET /lineup.json`: the saved channels that can play, in the user's order.
pub async fn lineup(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&state, &headers);
    let channels: Vec<TunerChannel> = state
        .store
        .read(|settings| {
            tuner::numbered(&settings.channels)
                .map(|(number, saved)| {
                    let ts_url = base.channel(saved, Format::Ts);
                    let separator = if ts_url.contains('?') { '&' } else { '?' };
                    TunerChannel {
                        number,
                        name: saved.title(),
                        url: format!("{ts_url}{separator}{LINEUP_MARK}=1"),
                    }
                })
                .collect()
        })
        .await;
    Json(documents::lineup(&channels)).into_response()
}

/// `GET /lineup_status.json`: no scan running.
pub async fn lineup_status() -> Response {
    Json(documents::lineup_status()).into_response()
}

/// `POST /lineup.post?scan=…`: the lineup is the saved channels, so a
/// scan has nothing to find; it succeeds at once (a 405 here makes Plex
/// report the device as missing).
pub async fn lineup_post() -> StatusCode {
    StatusCode::OK
}

/// `GET /device.xml` and `/capability`: the UPnP description.
pub async fn device_xml(
    State(state): State<AppState>,
    prefix: Prefix,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&state, &headers);
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        documents::device_xml(&info(&state, &base, &prefix)),
    )
        .into_response()
}

/// `GET /auto/v<GuideNumber>`: the channel of that number, as a real
/// HDHomeRun serves it (Plex falls back to this form).
pub async fn auto(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let channel = params
        .get("channel")
        .map(String::as_str)
        .unwrap_or_default();
    let number = channel.strip_prefix('v').ok_or_else(|| {
        ApiError::not_found(format!("no channel {channel:?}: expected v<GuideNumber>"))
    })?;
    let key = state
        .store
        .read(|settings| {
            tuner::by_number(&settings.channels, number).map(|saved| saved.key().to_owned())
        })
        .await
        .ok_or_else(|| ApiError::not_found(format!("no channel number {number}")))?;
    let (key, ids) = saved_channel(&state, &key).await?;
    play(&state, key, ids).await
}

/// A saved channel's TS through the tuner: refused with 503 when every
/// tuner plays another channel.
pub(super) async fn play(
    state: &AppState,
    key: ChannelKey,
    ids: Vec<ContentId>,
) -> Result<Response, ApiError> {
    let timeout = channel_start_timeout(state, ids.len());
    let table_key = match &key {
        ChannelKey::Saved(saved) => saved.clone(),
        ChannelKey::Id(id) => id.as_hex().to_owned(),
    };
    let player = state.tuner.tune(&state.channels, &table_key, &ids, || {
        state.channels.join_ts_channel(key, ids.clone())
    })?;
    ts_response(player, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lineup_mark_survives_what_media_centres_append() {
        assert!(from_lineup(Some("tuner=1")));
        assert!(from_lineup(Some("token=abc&tuner=1")));
        assert!(from_lineup(Some("tuner=1?transcode=mobile")));
        assert!(from_lineup(Some("tuner=1&transcode=heavy")));
        assert!(!from_lineup(Some("transcode=mobile")));
        assert!(!from_lineup(None));
    }
}
