//! HLS (`/ace/m/<infohash>/<session>.m3u8`, `/ace/c/<infohash>/<n>.ts`): a
//! live playlist whose window slides by one segment per segment duration, over
//! the fixture segments looped with rewritten timestamps, plus the HLS faults.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::hostile::{self, Hostile};
use super::routes::text;
use super::state::Shared;
use super::{Fault, SessionKind};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// `/ace/m/<infohash>/<session>.m3u8`: the session's playback URL (a master
/// playlist with `hls_master_playlist`, else the media playlist).
pub(crate) async fn playlist(
    State(shared): State<Arc<Shared>>,
    Path((infohash, file)): Path<(String, String)>,
) -> Response {
    let Some(session) = file.strip_suffix(".m3u8") else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    if shared.options.hls_master_playlist {
        if let Err(response) = check_session(&shared, &infohash, session) {
            return *response;
        }
        let base = if shared.options.hls_absolute_urls {
            shared.base_url.as_str()
        } else {
            ""
        };
        let bandwidth = shared.bytes_per_sec * 8;
        let body = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION=320x180\n\
             {base}/ace/m/{infohash}/{session}/media.m3u8\n"
        );
        return ([(header::CONTENT_TYPE, PLAYLIST_TYPE)], body).into_response();
    }
    media(&shared, &infohash, session)
}

/// `/ace/m/<infohash>/<session>/media.m3u8`: the media playlist behind a master playlist.
pub(crate) async fn media_playlist(
    State(shared): State<Arc<Shared>>,
    Path((infohash, session)): Path<(String, String)>,
) -> Response {
    media(&shared, &infohash, &session)
}

/// The content id of a live HLS session on `infohash`, or the error response.
fn check_session(shared: &Shared, infohash: &str, session: &str) -> Result<String, Box<Response>> {
    let content_id = shared
        .lock()
        .session_mut(session)
        .filter(|s| {
            s.info.kind == SessionKind::Hls && !s.info.stopped && s.info.infohash == infohash
        })
        .map(|s| s.info.content_id.clone())
        .ok_or_else(|| Box::new(text(StatusCode::NOT_FOUND, "unknown playback session")))?;
    let faults = shared.faults_for(&content_id);
    if faults.has(&Fault::HlsPlaylist500) || faults.has(&Fault::Dead) {
        return Err(Box::new(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "playlist is not available",
        )));
    }
    Ok(content_id)
}

/// Segments available `elapsed_secs` after the sequence started with
/// `initial` segments: those, plus one per segment duration.
fn available(shared: &Shared, initial: u64, elapsed_secs: f64) -> u64 {
    let durations = &shared.media.hls_durations;
    let mut n = initial;
    let mut at = 0.0;
    loop {
        let (_, duration) = durations[(n % durations.len() as u64) as usize];
        if at + duration > elapsed_secs {
            return n;
        }
        at += duration;
        n += 1;
    }
}

fn media(shared: &Shared, infohash: &str, session: &str) -> Response {
    let content_id = match check_session(shared, infohash, session) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let faults = shared.faults_for(&content_id);
    for hostile in hostile::hostile(&faults.faults) {
        match hostile {
            Hostile::HugePlaylist(size) => return hostile::huge_playlist(*size),
            Hostile::EndlessPlaylistLine(size) => return hostile::endless_line(*size),
            Hostile::Garbage => return hostile::garbage(PLAYLIST_TYPE),
            _ => {}
        }
    }
    let window = shared.options.hls_window.max(1) as u64;
    let end = {
        let mut state = shared.lock();
        let Some(s) = state.session_mut(session) else {
            return text(StatusCode::NOT_FOUND, "unknown playback session");
        };
        // Restart only after a playlist showed the window moved, so that the
        // media sequence visibly goes back.
        if faults.has(&Fault::HlsRestart)
            && s.restart_generation < faults.generation
            && s.max_first_served > shared.options.hls_initial_segments.saturating_sub(window)
        {
            s.restart_generation = faults.generation;
            s.hls_origin = Instant::now();
            s.hls_initial = 1;
            s.max_first_served = 0;
            tracing::debug!(session, "HLS sequence restarted");
        }
        let end = available(shared, s.hls_initial, s.hls_origin.elapsed().as_secs_f64());
        s.max_first_served = s.max_first_served.max(end.saturating_sub(window));
        end
    };
    let first = end.saturating_sub(window);
    let durations = &shared.media.hls_durations;
    let target = shared.options.hls_target_duration.unwrap_or_else(|| {
        durations
            .iter()
            .map(|(_, d)| *d)
            .fold(0.0, f64::max)
            .round() as u64
    });
    let base = if shared.options.hls_absolute_urls {
        shared.base_url.as_str()
    } else {
        ""
    };
    let sequence = faults
        .faults
        .iter()
        .find_map(|fault| match fault {
            Fault::Hostile(Hostile::MediaSequence(text)) => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_else(|| first.to_string());
    let mut body = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{sequence}\n"
    );
    for n in first..end {
        let (extinf, _) = durations[(n % durations.len() as u64) as usize];
        let _ = write!(body, "#EXTINF:{extinf},\n{base}/ace/c/{infohash}/{n}.ts\n");
    }
    if let Some(every) = faults.find(|fault| match fault {
        Fault::Hostile(Hostile::SlowDrip(every)) => Some(*every),
        _ => None,
    }) {
        return hostile::drip(PLAYLIST_TYPE, body.into(), every);
    }
    ([(header::CONTENT_TYPE, PLAYLIST_TYPE)], body).into_response()
}

/// `/ace/c/<infohash>/<n>.ts`: segment `n` of the newest live HLS session on
/// `infohash`, once it is available.
pub(crate) async fn segment(
    State(shared): State<Arc<Shared>>,
    Path((infohash, file)): Path<(String, String)>,
) -> Response {
    let not_found = || text(StatusCode::NOT_FOUND, "segment not found");
    let Some(n) = file.strip_suffix(".ts").and_then(|n| n.parse::<u64>().ok()) else {
        return not_found();
    };
    let found = {
        let state = shared.lock();
        state
            .sessions
            .iter()
            .rev()
            .find(|s| {
                s.info.kind == SessionKind::Hls && !s.info.stopped && s.info.infohash == infohash
            })
            .map(|s| {
                (
                    s.info.session_id.clone(),
                    s.info.content_id.clone(),
                    s.hls_initial,
                    s.hls_origin,
                )
            })
    };
    let Some((session, content_id, initial, origin)) = found else {
        return not_found();
    };
    if shared.faults_for(&content_id).has(&Fault::HlsSegment404) {
        return not_found();
    }
    if n >= available(&shared, initial, origin.elapsed().as_secs_f64()) {
        return not_found();
    }
    let faults = shared.faults_for(&content_id);
    for hostile in hostile::hostile(&faults.faults) {
        match hostile {
            Hostile::HugeSegment(size) => {
                return hostile::streamed("video/mp2t", bytes::Bytes::new(), 0x47, *size)
            }
            Hostile::GzipBomb(size) => return hostile::gzip_bomb(*size).await,
            Hostile::RedirectTo(target) => {
                return hostile::redirect(target, &format!("/ace/c/{infohash}/{file}"))
            }
            Hostile::SlowDrip(every) => {
                return hostile::drip(
                    "video/mp2t",
                    shared.media.hls.looped_piece(n).into(),
                    *every,
                )
            }
            _ => {}
        }
    }
    let bytes = shared.media.hls.looped_piece(n);
    {
        let mut state = shared.lock();
        state.count_segment_fetch(&content_id, n);
        if let Some(s) = state.session_mut(&session) {
            s.info.bytes_served += bytes.len() as u64;
        }
    }
    ([(header::CONTENT_TYPE, "video/mp2t")], bytes).into_response()
}
