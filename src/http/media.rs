//! Player-facing media routes: `/ace/getstream` (shared MPEG-TS),
//! `/ace/manifest.m3u8` (the proxy's HLS playlist) and its segments, all
//! views on the one channel of a content id.
//!
//! A saved channel also has stable URLs, `/channel/<key>.ts` and
//! `/channel/<key>.m3u8` (segments under `/channel/<key>/segment/`), which
//! play whichever of its alternates works (see `channel::failover`).
//!
//! The id is parsed from the query by hand so every bad request gets the JSON
//! error a user can read, never axum's plain-text rejection. `HEAD` answers
//! the headers a player would get without starting the channel.

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use super::engine_api::{self, View};
use super::listener::PeerAddr;
use super::{ApiError, AppState};
use crate::channel::{ChannelKey, HlsRequest, Viewer};
use crate::content_id::ContentId;
use crate::player_urls::token_query;
use crate::store::find_by_key;

pub(super) const TS_HEADERS: [(HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "video/mp2t"),
    (header::CACHE_CONTROL, "no-cache, no-store"),
];
pub(super) const PLAYLIST_HEADERS: [(HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
    (header::CACHE_CONTROL, "no-cache, no-store"),
];

/// `GET /ace/getstream?id=…` (or `content_id=` / `infohash=`): the channel
/// as MPEG-TS; with `format=json`, the engine's JSON (see `engine_api`).
pub async fn getstream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if engine_api::wants_json(query.as_deref()) {
        return Ok(engine_api::start(&state, &peer, &headers, query.as_deref(), View::Ts).await);
    }
    let id = id_from_query(query.as_deref())?;
    let player = state.channels.join_ts(&id)?;
    ts_response(player, state.channels.settings().start_timeout).await
}

/// `HEAD /ace/getstream?id=…`: what a player would get, without starting the channel.
pub async fn getstream_head(RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    id_from_query(query.as_deref())?;
    Ok(TS_HEADERS.into_response())
}

/// `GET /ace/manifest.m3u8?id=…`: the channel's live HLS playlist, written
/// by the proxy; with `format=json`, the engine's JSON (see `engine_api`).
pub async fn manifest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if engine_api::wants_json(query.as_deref()) {
        return Ok(engine_api::start(&state, &peer, &headers, query.as_deref(), View::Hls).await);
    }
    let id = id_from_query(query.as_deref())?;
    let request = state.channels.open_hls(&id, &viewer(&peer, &headers))?;
    let timeout = state.channels.settings().start_timeout;
    playlist_response(&state, request, timeout).await
}

/// `HEAD /ace/manifest.m3u8?id=…`: what a player would get, without starting the channel.
pub async fn manifest_head(RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    id_from_query(query.as_deref())?;
    Ok(PLAYLIST_HEADERS.into_response())
}

/// Who an HLS request comes from: one player sends the same address and
/// `User-Agent` on every connection it opens.
pub(super) fn viewer(peer: &PeerAddr, headers: &HeaderMap) -> Viewer {
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
    // An infohash channel's segments say so (see `ChannelKey::segment_prefix`).
    let id = match id.strip_prefix("infohash:") {
        Some(hex) => ContentId::parse_infohash(hex),
        None => ContentId::parse(&id),
    }
    .map_err(|err| ApiError::bad_request(format!("invalid id: {err}")))?;
    let request = state
        .channels
        .find_hls(&ChannelKey::Id(id), &viewer(&peer, &headers))
        .ok_or_else(|| {
            ApiError::not_found("this channel is not playing: open its manifest.m3u8 first")
        })??;
    serve_segment(request, &file).await
}

/// Segment `file` (`<seq>.ts`) of the channel `request` is for.
async fn serve_segment(
    request: crate::channel::HlsRequest,
    file: &str,
) -> Result<Response, ApiError> {
    let seq: u64 = file
        .strip_suffix(".ts")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("no segment {file:?}: expected <number>.ts")))?;
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

/// What a `/channel/<file>` request asks for.
enum ChannelFile<'a> {
    Ts(&'a str),
    Hls(&'a str),
}

fn channel_file(file: &str) -> Result<ChannelFile<'_>, ApiError> {
    if let Some(key) = file.strip_suffix(".ts") {
        Ok(ChannelFile::Ts(key))
    } else if let Some(key) = file.strip_suffix(".m3u8") {
        Ok(ChannelFile::Hls(key))
    } else {
        Err(ApiError::not_found(format!(
            "no channel file {file:?}: expected <key>.ts or <key>.m3u8"
        )))
    }
}

/// The table key and the ids, in the order to try them, of the saved channel `key`.
pub(super) async fn saved_channel(
    state: &AppState,
    key: &str,
) -> Result<(ChannelKey, Vec<ContentId>), ApiError> {
    state
        .store
        .read(|settings| {
            let saved = find_by_key(settings, key)?;
            Some((
                ChannelKey::Saved(saved.key().to_owned()),
                saved.play_order(),
            ))
        })
        .await
        .ok_or_else(|| ApiError::not_found(format!("no saved channel {key:?}")))
}

/// How long a player of a saved channel waits for its first data: a start
/// may fail over through every alternate.
pub(super) fn channel_start_timeout(state: &AppState, alternates: usize) -> std::time::Duration {
    let per_start = state.channels.settings().start_timeout;
    per_start.saturating_mul(u32::try_from(alternates).unwrap_or(u32::MAX).clamp(1, 10))
}

/// `GET /channel/<key>.ts` or `/channel/<key>.m3u8`: a saved channel,
/// failing over between its alternates. Other query parameters (media
/// centres add `transcode=…`) are ignored; a TS URL from the tuner's lineup
/// (`?tuner=1`) counts against the tuner count.
pub async fn channel(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let file = channel_file(&file)?;
    let (ChannelFile::Ts(key) | ChannelFile::Hls(key)) = file;
    let (key, ids) = saved_channel(&state, key).await?;
    if let ChannelKey::Saved(played) = &key {
        let (store, played) = (state.store.clone(), played.clone());
        tokio::spawn(async move { crate::recent::remember_played(&store, &played).await });
    }
    let timeout = channel_start_timeout(&state, ids.len());
    match file {
        ChannelFile::Ts(_) if super::tuner::from_lineup(query.as_deref()) => {
            super::tuner::play(&state, key, ids).await
        }
        ChannelFile::Ts(_) => {
            let player = state.channels.join_ts_channel(key, ids)?;
            ts_response(player, timeout).await
        }
        ChannelFile::Hls(_) => {
            let request = state
                .channels
                .open_hls_channel(key, ids, &viewer(&peer, &headers))?;
            playlist_response(&state, request, timeout).await
        }
    }
}

/// A TS player's response, once its channel has a keyframe to start it with.
pub(super) async fn ts_response(
    player: crate::channel::TsPlayer,
    timeout: std::time::Duration,
) -> Result<Response, ApiError> {
    player.ready(timeout).await?;
    Ok((TS_HEADERS, Body::from_stream(player.into_stream())).into_response())
}

/// `HEAD /channel/<key>.ts|.m3u8`: what a player would get, without starting the channel.
pub async fn channel_head(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let file = channel_file(&file)?;
    let (ChannelFile::Ts(key) | ChannelFile::Hls(key)) = file;
    saved_channel(&state, key).await?;
    Ok(match file {
        ChannelFile::Ts(_) => TS_HEADERS.into_response(),
        ChannelFile::Hls(_) => PLAYLIST_HEADERS.into_response(),
    })
}

/// `GET /channel/<key>/segment/<seq>.ts`: a segment of a saved channel, whichever alternate cut it.
pub async fn channel_segment(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    Path((key, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let request = state
        .channels
        .find_hls(
            &ChannelKey::Saved(key.to_ascii_lowercase()),
            &viewer(&peer, &headers),
        )
        .ok_or_else(|| {
            ApiError::not_found("this channel is not playing: open its .m3u8 first")
        })??;
    serve_segment(request, &file).await
}

/// The proxy's playlist for an HLS request, once the channel holds a
/// segment (waiting at most `timeout`). Segment URLs carry the LAN token,
/// since segment requests from other devices need it too.
pub(super) async fn playlist_response(
    state: &AppState,
    request: HlsRequest,
    timeout: std::time::Duration,
) -> Result<Response, ApiError> {
    let query = token_query(state.lan_token.as_deref(), '?');
    let playlist = request.channel().playlist(&query, timeout).await?;
    Ok((PLAYLIST_HEADERS, playlist).into_response())
}
