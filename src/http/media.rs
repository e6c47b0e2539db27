//! Player-facing media routes: `/ace/getstream` (shared MPEG-TS),
//! `/ace/manifest.m3u8` (the proxy's HLS playlist) and its segments, all
//! views on the one channel of a content id.
//!
//! The id is parsed from the query by hand so every bad request gets the JSON
//! error a user can read, never axum's plain-text rejection. `HEAD` answers
//! the headers a player would get without starting the channel.

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use super::listener::PeerAddr;
use super::{ApiError, AppState};
use crate::channel::Viewer;
use crate::content_id::ContentId;

const TS_HEADERS: [(HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "video/mp2t"),
    (header::CACHE_CONTROL, "no-cache, no-store"),
];
const PLAYLIST_HEADERS: [(HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
    (header::CACHE_CONTROL, "no-cache, no-store"),
];

/// `GET /ace/getstream?id=…` (or `content_id=` / `infohash=`): the channel as MPEG-TS.
pub async fn getstream(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = id_from_query(query.as_deref())?;
    let player = state.channels.join_ts(&id)?;
    player
        .ready(state.channels.settings().start_timeout)
        .await?;
    Ok((TS_HEADERS, Body::from_stream(player.into_stream())).into_response())
}

/// `HEAD /ace/getstream?id=…`: what a player would get, without starting the channel.
pub async fn getstream_head(RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    id_from_query(query.as_deref())?;
    Ok(TS_HEADERS.into_response())
}

/// `GET /ace/manifest.m3u8?id=…`: the channel's live HLS playlist, written by the proxy.
pub async fn manifest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = id_from_query(query.as_deref())?;
    let request = state.channels.open_hls(&id, &viewer(&peer, &headers))?;
    // Segment requests from other devices need the LAN token too.
    let query = state
        .lan_token
        .as_deref()
        .map(|token| format!("?token={token}"))
        .unwrap_or_default();
    let playlist = request
        .channel()
        .playlist(&query, state.channels.settings().start_timeout)
        .await?;
    Ok((PLAYLIST_HEADERS, playlist).into_response())
}

/// `HEAD /ace/manifest.m3u8?id=…`: what a player would get, without starting the channel.
pub async fn manifest_head(RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    id_from_query(query.as_deref())?;
    Ok(PLAYLIST_HEADERS.into_response())
}

/// Who an HLS request comes from: one player sends the same address and
/// `User-Agent` on every connection it opens.
fn viewer(peer: &PeerAddr, headers: &HeaderMap) -> Viewer {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok());
    Viewer::new(peer.0.ip(), agent)
}

/// `GET /ace/hls/<id>/segment/<seq>.ts`: a segment from the proxy's buffer, never from elsewhere.
pub async fn segment(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id =
        ContentId::parse(&id).map_err(|err| ApiError::bad_request(format!("invalid id: {err}")))?;
    let seq: u64 = file
        .strip_suffix(".ts")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("no segment {file:?}: expected <number>.ts")))?;
    let request = state
        .channels
        .find_hls(id.as_hex(), &viewer(&peer, &headers))
        .ok_or_else(|| {
            ApiError::not_found("this channel is not playing: open its manifest.m3u8 first")
        })??;
    let segment = request
        .channel()
        .segment(seq)
        .await
        .ok_or_else(|| ApiError::not_found(format!("segment {seq} is not in the buffer")))?;
    let headers = [
        (header::CONTENT_TYPE, "video/mp2t".to_owned()),
        (header::CACHE_CONTROL, "max-age=60".to_owned()),
        (header::CONTENT_LENGTH, segment.len().to_string()),
    ];
    let parts = segment.parts.to_vec();
    let body = Body::from_stream(stream::iter(
        parts.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    Ok((headers, body).into_response())
}

/// The channel a player asked for, from `id=`, `content_id=` or `infohash=`.
pub(super) fn id_from_query(query: Option<&str>) -> Result<ContentId, ApiError> {
    let query = query.unwrap_or_default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let parsed = match key.as_ref() {
            "id" | "content_id" => ContentId::parse(&value),
            "infohash" => ContentId::parse_infohash(&value),
            _ => continue,
        };
        return parsed.map_err(|err| ApiError::bad_request(format!("invalid {key}: {err}")));
    }
    Err(ApiError::bad_request(
        "missing channel: add ?id=<40-hex content id> (or content_id= / infohash=)",
    ))
}
