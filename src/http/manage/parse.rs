//! `POST /api/parse`: the channels in text a user pasted (ids, links, lines
//! with names, M3U), with the URLs each would play at, and the lines that
//! are not channels. Nothing is saved.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{clean_name, kind_label, ApiJson};
use crate::content_id;
use crate::http::{base_url, ApiError, AppState};
use crate::player_urls::Format;

/// Most entries one paste may produce.
pub const MAX_PARSE_ENTRIES: usize = 1000;
/// Most invalid lines reported back for one paste; the rest are only counted.
pub const MAX_PARSE_ERRORS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRequest {
    text: String,
}

#[derive(Debug, Serialize)]
pub struct ParseResponse {
    entries: Vec<ParsedEntry>,
    errors: Vec<content_id::ListError>,
    /// Invalid lines beyond the ones listed in `errors`.
    more_errors: usize,
    /// The guides the list's header names (`url-tvg`, `x-tvg-url`), to save with its channels.
    guide_urls: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ParsedEntry {
    id: String,
    kind: &'static str,
    name: Option<String>,
    line: usize,
    ts_url: String,
    hls_url: String,
    #[serde(flatten)]
    attributes: content_id::M3uAttributes,
}

/// `POST /api/parse {"text": …}`: the channels in pasted text, and the lines that are not.
pub async fn parse(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ParseRequest>,
) -> Result<Json<ParseResponse>, ApiError> {
    // Thousands of lines are work for a blocking thread, not the runtime
    // every player shares; parsing stops at the limit.
    let (parsed, guide_urls) = tokio::task::spawn_blocking(move || {
        let guide_urls = crate::guide::sources::header_urls(&request.text);
        content_id::parse_list_at_most(&request.text, MAX_PARSE_ENTRIES)
            .map(|parsed| (parsed, guide_urls))
    })
    .await
    .map_err(|join| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, join.to_string()))?
    .map_err(|_| {
        ApiError::bad_request(format!(
            "too many channels: paste at most {MAX_PARSE_ENTRIES} at once"
        ))
    })?;
    let urls = base_url(&state, &headers);
    let entries = parsed
        .entries
        .into_iter()
        .map(|entry| ParsedEntry {
            id: entry.id.as_hex().to_owned(),
            kind: kind_label(entry.id.kind()),
            name: clean_name(entry.name.as_deref()),
            line: entry.line,
            ts_url: urls.id(&entry.id, Format::Ts),
            hls_url: urls.id(&entry.id, Format::Hls),
            attributes: entry.attributes,
        })
        .collect();
    let mut errors = parsed.errors;
    let more_errors = errors.len().saturating_sub(MAX_PARSE_ERRORS);
    errors.truncate(MAX_PARSE_ERRORS);
    Ok(Json(ParseResponse {
        entries,
        errors,
        more_errors,
        guide_urls,
    }))
}
