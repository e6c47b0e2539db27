//! Player-facing media routes: `/ace/getstream` (shared MPEG-TS),
//! `/ace/manifest.m3u8` (the proxy's HLS playlist) and its segments.
//!
//! The id is parsed from the query by hand so every bad request gets the JSON
//! error a user can read, never axum's plain-text rejection.

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::listener::PeerAddr;
use super::{ApiError, AppState};
use crate::content_id::ContentId;

/// `GET /ace/getstream?id=…` (or `content_id=` / `infohash=`): the channel as MPEG-TS.
pub async fn getstream(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = id_from_query(query.as_deref())?;
    let mut player = state.ts.join(&id)?;
    player.ready(state.ts.settings().start_timeout).await?;
    let headers = [
        (header::CONTENT_TYPE, "video/mp2t"),
        (header::CACHE_CONTROL, "no-cache, no-store"),
    ];
    Ok((headers, Body::from_stream(player.into_stream())).into_response())
}

/// `GET /ace/manifest.m3u8?id=…`: the channel's live HLS playlist, written by the proxy.
pub async fn manifest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = id_from_query(query.as_deref())?;
    let channel = state.hls.open(&id, Some(peer.0))?;
    // Segment requests from other devices need the LAN token too.
    let query = state
        .lan_token
        .as_deref()
        .map(|token| format!("?token={token}"))
        .unwrap_or_default();
    let playlist = state.hls.playlist(&channel, &query).await?;
    let headers = [
        (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
        (header::CACHE_CONTROL, "no-cache, no-store"),
    ];
    Ok((headers, playlist).into_response())
}

/// `GET /ace/hls/<id>/segment/<seq>.ts`: a segment from the proxy's buffer, never from elsewhere.
pub async fn segment(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id =
        ContentId::parse(&id).map_err(|err| ApiError::bad_request(format!("invalid id: {err}")))?;
    let seq: u64 = file
        .strip_suffix(".ts")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("no segment {file:?}: expected <number>.ts")))?;
    let channel = state.hls.find(id.as_hex(), Some(peer.0)).ok_or_else(|| {
        ApiError::not_found("this channel is not playing: open its manifest.m3u8 first")
    })?;
    let segment = state
        .hls
        .segment(&channel, seq)
        .await
        .ok_or_else(|| ApiError::not_found(format!("segment {seq} is not in the buffer")))?;
    let headers = [
        (header::CONTENT_TYPE, "video/mp2t"),
        (header::CACHE_CONTROL, "max-age=60"),
    ];
    Ok((headers, segment.data).into_response())
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
