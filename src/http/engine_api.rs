//! The engine's own client API, answered by acebridge, so launchers, Kodi
//! add-ons and scripts written for the engine work when pointed at it:
//! `format=json` on `/ace/getstream` and `/ace/manifest.m3u8` answers the
//! engine's JSON with URLs on acebridge (`playback_url`, `stat_url`,
//! `command_url`), and `/webui/api/service?method=get_version` its version.
//!
//! Each `format=json` call is a client session with its own token. The
//! session holds its channel (so the channel does not linger out between the
//! answer and the player connecting), and its `command_url?method=stop`
//! releases that client only: its playback ends, and the channel's one engine
//! session stops once nobody plays it, never under another player's feet. A
//! session that neither plays nor is asked about for [`SESSION_IDLE`] is
//! dropped, as clients often exit without stopping.
//!
//! Errors come in the engine's shape, `{"response": null, "error": "…"}`,
//! with HTTP 200 as the engine sends them: its clients read the `error` field.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::base_url;
use super::listener::PeerAddr;
use super::media::{id_from_query, viewer, TS_HEADERS};
use super::{ApiError, AppState};
use crate::channel::{ChannelInfo, HlsRequest};
use crate::content_id::ContentId;
use crate::player_urls::token_query;

/// How long a client session lives without playing or asking anything.
pub const SESSION_IDLE: Duration = Duration::from_secs(60);
/// Client sessions kept at once, so clients that never stop cannot grow the table.
const MAX_SESSIONS: usize = 256;

/// The client sessions of the engine API. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EngineClients(Arc<Mutex<HashMap<String, ClientSession>>>);

#[derive(Debug)]
struct ClientSession {
    id: ContentId,
    /// Keeps the channel in use while the session lives.
    hold: HlsRequest,
    /// Cancelled by `method=stop`: ends this client's playback.
    stop: CancellationToken,
    last_seen: Instant,
    /// Playback connections open now; a playing session never expires.
    playing: usize,
}

impl EngineClients {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, ClientSession>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `session` (of content `hex`) as used now; its id and stop token.
    fn touch(&self, hex: &str, session: &str) -> Option<(ContentId, CancellationToken)> {
        let mut sessions = self.sessions();
        let client = sessions
            .get_mut(session)
            .filter(|client| client.id.as_hex() == hex.to_ascii_lowercase())?;
        client.last_seen = Instant::now();
        Some((client.id.clone(), client.stop.clone()))
    }

    /// Ends `session`: its playback stops and its hold on the channel goes.
    fn stop(&self, hex: &str, session: &str) -> bool {
        let removed = {
            let mut sessions = self.sessions();
            let known = sessions
                .get(session)
                .is_some_and(|client| client.id.as_hex() == hex.to_ascii_lowercase());
            known.then(|| sessions.remove(session)).flatten()
        };
        match removed {
            Some(client) => {
                client.stop.cancel();
                tracing::info!(channel = %client.id, "engine-API client stopped its session");
                true
            }
            None => false,
        }
    }

    fn add(&self, id: ContentId, hold: HlsRequest) -> Result<String, &'static str> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut sessions = self.sessions();
        if sessions.len() >= MAX_SESSIONS {
            return Err("too many client sessions; stop one first");
        }
        sessions.insert(
            token.clone(),
            ClientSession {
                id,
                hold,
                stop: CancellationToken::new(),
                last_seen: Instant::now(),
                playing: 0,
            },
        );
        drop(sessions);
        tokio::spawn(expire_when_idle(self.clone(), token.clone()));
        Ok(token)
    }

    /// Counts a playback connection of `session` until the guard drops.
    fn playing(&self, session: &str) -> PlaybackGuard {
        if let Some(client) = self.sessions().get_mut(session) {
            client.playing += 1;
        }
        PlaybackGuard {
            clients: self.clone(),
            session: session.to_owned(),
        }
    }

    /// Whether `session` lives (for tests).
    pub fn contains(&self, session: &str) -> bool {
        self.sessions().contains_key(session)
    }
}

/// One open playback connection of a client session.
struct PlaybackGuard {
    clients: EngineClients,
    session: String,
}

impl Drop for PlaybackGuard {
    fn drop(&mut self) {
        if let Some(client) = self.clients.sessions().get_mut(&self.session) {
            client.playing = client.playing.saturating_sub(1);
            client.last_seen = Instant::now();
        }
    }
}

/// Drops `session` once it has been idle for [`SESSION_IDLE`].
async fn expire_when_idle(clients: EngineClients, session: String) {
    loop {
        let due = {
            let sessions = clients.sessions();
            let Some(client) = sessions.get(&session) else {
                return;
            };
            // A playing session is looked at again a full idle time later,
            // not at once: its last_seen may be long past.
            let since = if client.playing > 0 {
                Instant::now()
            } else {
                client.last_seen
            };
            since + SESSION_IDLE
        };
        tokio::time::sleep_until(due).await;
        let expired = {
            let mut sessions = clients.sessions();
            let idle = sessions.get(&session).is_some_and(|client| {
                client.playing == 0 && client.last_seen + SESSION_IDLE <= Instant::now()
            });
            idle.then(|| sessions.remove(&session)).flatten()
        };
        if let Some(client) = expired {
            tracing::info!(channel = %client.id, "engine-API client session expired");
            drop(client.hold);
            return;
        }
    }
}

/// Whether a request asks for the engine's JSON instead of the media.
pub(super) fn wants_json(query: Option<&str>) -> bool {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(key, value)| key == "format" && value == "json")
}

/// The engine's success shape.
fn engine_ok(response: impl Serialize) -> Response {
    Json(serde_json::json!({ "response": response, "error": null })).into_response()
}

/// The engine's error shape (HTTP 200, as the engine sends it).
fn engine_error(message: impl std::fmt::Display) -> Response {
    Json(serde_json::json!({ "response": null, "error": message.to_string() })).into_response()
}

/// Which of the channel's views a client session asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Ts,
    Hls,
}

/// What `format=json` answers.
#[derive(Debug, Serialize)]
struct Started {
    playback_url: String,
    stat_url: String,
    command_url: String,
    /// The id as the client gave it: acebridge does not ask the engine for
    /// the torrent's infohash of a content id.
    infohash: String,
    playback_session_id: String,
    is_live: u8,
    is_encrypted: u8,
    client_session_id: i64,
}

/// `GET /ace/getstream?…&format=json` and `/ace/manifest.m3u8?…&format=json`:
/// starts (or joins) the channel and answers where to play, poll and stop it.
pub(super) async fn start(
    state: &AppState,
    peer: &PeerAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    view: View,
) -> Response {
    let id = match id_from_query(query) {
        Ok(id) => id,
        Err(error) => return engine_error(error.message),
    };
    let hold = match state.channels.open_hls(&id, &viewer(peer, headers)) {
        Ok(hold) => hold,
        Err(error) => return engine_error(error),
    };
    let session = match state.engine_clients.add(id.clone(), hold) {
        Ok(session) => session,
        Err(error) => return engine_error(error),
    };
    let base = base_url(state, headers);
    let query = token_query(state.lan_token.as_deref(), '?');
    let origin = base.origin();
    let hex = id.as_hex();
    let playback_url = match view {
        View::Ts => format!("{origin}/ace/r/{hex}/{session}{query}"),
        View::Hls => format!("{origin}/ace/m/{hex}/{session}.m3u8{query}"),
    };
    tracing::info!(channel = %id, ?view, "engine-API client session started");
    engine_ok(Started {
        playback_url,
        stat_url: format!("{origin}/ace/stat/{hex}/{session}{query}"),
        command_url: format!("{origin}/ace/cmd/{hex}/{session}{query}"),
        infohash: hex.to_owned(),
        playback_session_id: session,
        is_live: 1,
        is_encrypted: 0,
        client_session_id: -1,
    })
}

fn unknown_session() -> ApiError {
    ApiError::not_found("unknown playback session id (stopped or expired): start again")
}

/// `GET /ace/r/<id>/<session>`: a client session's TS, until it stops.
pub async fn playback_ts(
    State(state): State<AppState>,
    Path((hex, session)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, stop) = state
        .engine_clients
        .touch(&hex, &session)
        .ok_or_else(unknown_session)?;
    let playing = state.engine_clients.playing(&session);
    let player = state.channels.join_ts(&id)?;
    player
        .ready(state.channels.settings().start_timeout)
        .await?;
    let stream = player
        .into_stream()
        .take_until(stop.cancelled_owned())
        .map(move |chunk| {
            let _playing = &playing;
            chunk
        });
    Ok((TS_HEADERS, Body::from_stream(stream)).into_response())
}

/// `GET /ace/m/<id>/<session>.m3u8`: a client session's HLS playlist; after
/// a stop it is gone, which ends the client's HLS playback.
pub async fn playback_hls(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    Path((hex, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let session = file
        .strip_suffix(".m3u8")
        .ok_or_else(|| ApiError::not_found("expected <session>.m3u8"))?;
    let (id, _) = state
        .engine_clients
        .touch(&hex, session)
        .ok_or_else(unknown_session)?;
    let request = state.channels.open_hls(&id, &viewer(&peer, &headers))?;
    let timeout = state.channels.settings().start_timeout;
    super::media::playlist_response(&state, request, timeout).await
}

/// What `stat_url` answers: the engine's stat fields for the channel.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Stat {
    status: String,
    peers: u64,
    speed_down: u64,
    speed_up: u64,
    downloaded: u64,
    uploaded: u64,
    total_progress: u64,
}

/// The engine's stat of the channel playing `id`, from its last poll of the
/// engine; without one yet, the engine's word for where the channel is.
fn stat_of(id: &ContentId, channels: &[ChannelInfo]) -> Stat {
    let Some(info) = channels
        .iter()
        .find(|info| info.id == *id || info.alternates.contains(id))
    else {
        return Stat {
            status: "idle".into(),
            peers: 0,
            speed_down: 0,
            speed_up: 0,
            downloaded: 0,
            uploaded: 0,
            total_progress: 0,
        };
    };
    let engine = info.engine.clone().unwrap_or_default();
    let status = engine.status.unwrap_or_else(|| {
        match info.state {
            "live" => "dl",
            "failed" | "stopped" => "idle",
            _ => "prebuf",
        }
        .to_owned()
    });
    Stat {
        status,
        peers: engine.peers.unwrap_or(0),
        speed_down: engine.speed_down.unwrap_or(0),
        speed_up: engine.speed_up.unwrap_or(0),
        downloaded: engine.downloaded.unwrap_or(info.bytes_in),
        uploaded: engine.uploaded.unwrap_or(0),
        total_progress: engine.total_progress.unwrap_or(0),
    }
}

/// `GET /ace/stat/<id>/<session>`: the channel's stats in the engine's shape.
pub async fn stat(
    State(state): State<AppState>,
    Path((hex, session)): Path<(String, String)>,
) -> Response {
    match state.engine_clients.touch(&hex, &session) {
        Some((id, _)) => engine_ok(stat_of(&id, &state.channels.list())),
        None => engine_error("unknown playback session id"),
    }
}

/// The `method=` of an engine API call.
fn method(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "method")
        .map(|(_, value)| value.into_owned())
}

/// `GET /ace/cmd/<id>/<session>?method=stop`: ends this client's session only.
pub async fn command(
    State(state): State<AppState>,
    Path((hex, session)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    match method(query.as_deref()).as_deref() {
        Some("stop") if state.engine_clients.stop(&hex, &session) => engine_ok("ok"),
        Some("stop") => engine_error("unknown playback session id"),
        Some(other) => engine_error(format!("unknown method {other:?}: only stop is supported")),
        None => engine_error("missing method: use method=stop"),
    }
}

/// `GET /webui/api/service?method=get_version`: the engine's version, in
/// the engine's shape, so clients' health probes pass when it answers.
pub async fn version(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    if method(query.as_deref()).as_deref() != Some("get_version") {
        return Json(serde_json::json!({"result": null, "error": "unknown method"}))
            .into_response();
    }
    match state.channels.engine().version().await {
        Ok(version) => Json(serde_json::json!({
            "result": {
                "code": version_code(&version),
                "platform": std::env::consts::OS,
                "version": version,
            },
            "error": null,
        }))
        .into_response(),
        Err(error) => {
            Json(serde_json::json!({"result": null, "error": error.to_string()})).into_response()
        }
    }
}

/// The engine's numeric version, `3.2.3` → 3020300 (two digits per part).
fn version_code(version: &str) -> u64 {
    let mut parts = version
        .split('.')
        .map(|part| part.trim().parse::<u64>().unwrap_or(0));
    let mut code = 0;
    for scale in [1_000_000, 10_000, 100] {
        code += parts.next().unwrap_or(0).min(99) * scale;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_json_is_recognised_among_the_engines_other_parameters() {
        assert!(wants_json(Some("id=x&format=json&pid=1")));
        assert!(wants_json(Some("format=json")));
        assert!(!wants_json(Some("id=x&format=jsonp")));
        assert!(!wants_json(Some("id=x")));
        assert!(!wants_json(None));
    }

    #[test]
    fn version_codes_count_two_digits_per_part() {
        assert_eq!(version_code("3.2.3"), 3_020_300);
        assert_eq!(version_code("3.1.74"), 3_017_400);
        assert_eq!(version_code("junk"), 0);
    }

    /// Clients often exit without `method=stop`: their sessions must not
    /// hold channels (and engine sessions) forever, nor drop under a player.
    #[tokio::test(start_paused = true)]
    async fn an_idle_client_session_expires_and_a_playing_one_does_not() {
        use crate::channel::{ChannelSettings, Hub, Viewer};
        use crate::engine::EngineClient;
        use crate::engine_pool::Pool;
        let engine = url::Url::parse("http://127.0.0.1:9").expect("url");
        let hub = Hub::new(
            Pool::single(EngineClient::new(engine)),
            ChannelSettings::default(),
        );
        let id = ContentId::parse(&"a".repeat(40)).expect("id");
        let viewer = Viewer::new([127, 0, 0, 1].into(), None);
        let clients = EngineClients::default();
        let add = || {
            let hold = hub.open_hls(&id, &viewer).expect("open");
            clients.add(id.clone(), hold).expect("add")
        };
        let (idle, playing) = (add(), add());
        let guard = clients.playing(&playing);
        let second = Duration::from_secs(1);

        tokio::time::sleep(SESSION_IDLE - second).await;
        assert!(clients.contains(&idle) && clients.contains(&playing));
        assert!(clients.touch(id.as_hex(), &idle).is_some(), "a stat poll");
        tokio::time::sleep(SESSION_IDLE - second).await;
        assert!(clients.contains(&idle), "the poll kept it");
        tokio::time::sleep(2 * second).await;
        assert!(!clients.contains(&idle), "expired after a quiet minute");
        assert!(clients.contains(&playing), "playing for two minutes");

        drop(guard);
        tokio::time::sleep(SESSION_IDLE + second).await;
        assert!(
            !clients.contains(&playing),
            "expired a minute after its playback ended"
        );
        hub.shutdown().await;
    }

    #[test]
    fn a_channel_without_engine_stats_reports_where_it_is() {
        let id = ContentId::parse(&"a".repeat(40)).expect("id");
        assert_eq!(stat_of(&id, &[]).status, "idle");
    }
}
