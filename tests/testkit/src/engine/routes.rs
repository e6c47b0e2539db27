//! The simulated engine's routes: session start (`getstream`,
//! `manifest.m3u8`), stat and command URLs, and the health endpoints. Media
//! routes live in `playback` (TS) and `hls`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::hostile::{self, Hostile};
use super::state::{is_hex40, normalize_id, Shared};
use super::{hls, playback, Fault, SessionKind};

type Params = Query<HashMap<String, String>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ace/getstream", get(getstream))
        .route("/ace/manifest.m3u8", get(manifest))
        .route("/ace/r/{session}/{hash}", get(playback::ts_playback))
        .route("/ace/stat/{hash}/{session}", get(stat))
        .route("/ace/cmd/{hash}/{session}", get(command))
        .route("/ace/m/{infohash}/{session}", get(hls::playlist))
        .route(
            "/ace/m/{infohash}/{session}/media.m3u8",
            get(hls::media_playlist),
        )
        .route("/ace/c/{infohash}/{segment}", get(hls::segment))
        .route("/webui/api/service", get(service))
        .route("/server/api", get(server_api))
        .with_state(shared)
}

/// `200 {"response": null, "error": message}`, the engine's JSON error.
pub(crate) fn engine_error(message: &str) -> Response {
    Json(json!({"response": Value::Null, "error": message})).into_response()
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

async fn getstream(State(shared): State<Arc<Shared>>, uri: Uri, Query(params): Params) -> Response {
    start(shared, &uri, params, SessionKind::Ts).await
}

async fn manifest(State(shared): State<Arc<Shared>>, uri: Uri, Query(params): Params) -> Response {
    start(shared, &uri, params, SessionKind::Hls).await
}

/// The selector parameter and its (valid, 40-hex) value.
fn selector(params: &HashMap<String, String>) -> Option<(&'static str, String)> {
    ["content_id", "id", "infohash"].iter().find_map(|&key| {
        let value = normalize_id(params.get(key)?);
        is_hex40(&value).then_some((key, value))
    })
}

/// Starts a session: applies the start faults, then answers the session's
/// URLs as JSON (`format=json`) or redirects to its playback URL.
async fn start(
    shared: Arc<Shared>,
    uri: &Uri,
    params: HashMap<String, String>,
    kind: SessionKind,
) -> Response {
    let Some((selector, content_id)) = selector(&params) else {
        return engine_error("failed to load content");
    };
    let faults = shared.faults_for(&content_id);
    for fault in &faults.faults {
        match fault {
            Fault::StartDelay(delay) => {
                let slept = shared.sleep(*delay).await;
                if !slept {
                    return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
                }
            }
            Fault::Hang => {
                shared.shutdown_signal().await;
                return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
            }
            Fault::EngineError(message) => return engine_error(message),
            Fault::Http500(message) => {
                return text(StatusCode::INTERNAL_SERVER_ERROR, message.clone())
            }
            _ => {}
        }
    }
    for hostile in hostile::hostile(&faults.faults) {
        match hostile {
            Hostile::HugeStart(size) => return hostile::huge_json(*size),
            Hostile::Garbage => return hostile::garbage("application/json"),
            Hostile::RedirectStartTo(origin) => return hostile::redirect(origin, &uri.to_string()),
            _ => {}
        }
    }
    let pid = params.get("pid").cloned();
    let info = shared.create_session(kind, selector, &content_id, pid);
    if params.get("format").is_some_and(|f| f == "json") {
        Json(json!({
            "response": {
                "playback_url": info.playback_url,
                "stat_url": info.stat_url,
                "command_url": info.command_url,
                "infohash": info.infohash,
                "playback_session_id": info.session_id,
                "is_live": 1,
                "is_encrypted": 0,
                "client_session_id": -1,
            },
            "error": Value::Null,
        }))
        .into_response()
    } else {
        (
            StatusCode::FOUND,
            [(header::LOCATION, info.playback_url.as_str())],
        )
            .into_response()
    }
}

async fn stat(
    State(shared): State<Arc<Shared>>,
    Path((_hash, session)): Path<(String, String)>,
) -> Response {
    let mut state = shared.lock();
    let Some(s) = state.session_mut(&session).filter(|s| !s.info.stopped) else {
        return engine_error("unknown playback session id");
    };
    let content_id = s.info.content_id.clone();
    let (peers, downloaded) = (7, s.info.bytes_served);
    let prebuffering = s.prebuffering > 0 && s.info.bytes_served == 0;
    drop(state);
    let faults = shared.faults_for(&content_id);
    let (peers, downloaded) = if faults.has(&Fault::Dead) || faults.has(&Fault::NoPeers) {
        (0, 0)
    } else {
        (peers, downloaded)
    };
    let status = if prebuffering { "prebuf" } else { "dl" };
    Json(json!({
        "response": {
            "status": status,
            "peers": peers,
            "speed_down": 450,
            "speed_up": 30,
            "downloaded": downloaded,
            "uploaded": 0,
            "total_progress": 0,
        },
        "error": Value::Null,
    }))
    .into_response()
}

/// `?method=stop` stops the session; every stop is counted, and one for a
/// session that has already stopped answers the engine's unknown-session error.
async fn command(
    State(shared): State<Arc<Shared>>,
    Path((_hash, session)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if params.get("method").map(String::as_str) != Some("stop") {
        return engine_error("unknown method");
    }
    let content_id = shared
        .lock()
        .session_mut(&session)
        .map(|s| s.info.content_id.clone());
    let delay = content_id.and_then(|id| {
        shared.faults_for(&id).find(|fault| match fault {
            Fault::StopDelay(delay) => Some(*delay),
            _ => None,
        })
    });
    if let Some(delay) = delay {
        shared.sleep(delay).await;
    }
    let mut state = shared.lock();
    let Some(s) = state.session_mut(&session) else {
        return engine_error("unknown playback session id");
    };
    s.info.stop_calls += 1;
    if s.info.stopped {
        return engine_error("unknown playback session id");
    }
    s.info.stopped = true;
    let content_id = s.info.content_id.clone();
    state.note_stopped(&content_id);
    tracing::debug!(session = %session, "session stopped");
    Json(json!({"response": "ok", "error": Value::Null})).into_response()
}

async fn service(State(shared): State<Arc<Shared>>, uri: Uri, Query(params): Params) -> Response {
    // The version call names no content: only the default faults apply.
    let faults = shared.faults_for("");
    for hostile in hostile::hostile(&faults.faults) {
        match hostile {
            Hostile::HugeVersion(size) => return hostile::huge_json(*size),
            Hostile::Garbage => return hostile::garbage("application/json"),
            Hostile::RedirectTo(origin) => return hostile::redirect(origin, &uri.to_string()),
            _ => {}
        }
    }
    if params.get("method").map(String::as_str) != Some("get_version") {
        return Json(json!({"result": Value::Null, "error": "unknown method"})).into_response();
    }
    Json(json!({
        "result": {"code": 3_020_300, "platform": "linux", "version": "3.2.3"},
        "error": Value::Null,
    }))
    .into_response()
}

async fn server_api(Query(params): Params) -> Response {
    if params.get("method").map(String::as_str) != Some("get_status") {
        return Json(json!({"result": Value::Null, "error": "unknown method"})).into_response();
    }
    Json(json!({"result": {"status": 1}, "error": Value::Null})).into_response()
}
