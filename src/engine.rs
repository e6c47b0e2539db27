//! Client for the AceStream engine's HTTP API: start a TS or HLS session
//! (`format=json`), read its stats, stop it, and ask the engine's version.
//!
//! Owns the engine's quirks (see `shared/engine-api.md`): errors that come as
//! HTTP 200 with an `error` field, plain-text 5xx, and session URLs whose host
//! is the engine's own idea of itself, which are rebased onto the configured URL.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::content_id::ContentId;

/// How long connecting to the engine may take; it is on localhost or the LAN.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound for small API calls (stat, stop, version).
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one playlist or segment download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on an engine playlist's size.
const MAX_PLAYLIST_BYTES: usize = 1024 * 1024;

/// A session's MPEG-TS as the engine sends it.
pub type Playback =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, EngineError>> + Send>>;

/// What went wrong talking to the engine; each maps to an HTTP status for players.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The engine answered with an error message of its own.
    #[error("engine error: {0}")]
    Engine(String),
    /// The engine could not be reached at all.
    #[error("engine unreachable at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The engine answered something that is not its API.
    #[error("unexpected engine response: {0}")]
    Protocol(String),
    /// The engine did not answer in time.
    #[error("engine did not answer within {0:?}")]
    Timeout(Duration),
}

/// The two kinds of engine session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Ts,
    Hls,
}

impl SessionKind {
    fn path(self) -> &'static str {
        match self {
            SessionKind::Ts => "/ace/getstream",
            SessionKind::Hls => "/ace/manifest.m3u8",
        }
    }
}

/// A running engine session; its URLs are already rebased onto the engine URL.
#[derive(Debug, Clone)]
pub struct Session {
    pub playback_url: Url,
    pub stat_url: Url,
    pub command_url: Url,
    pub infohash: Option<String>,
    pub pid: String,
}

/// What the engine says about a session (`stat_url`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStat {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub peers: Option<u64>,
    /// KB/s, as the engine reports it.
    #[serde(default)]
    pub speed_down: Option<u64>,
    #[serde(default)]
    pub speed_up: Option<u64>,
    #[serde(default)]
    pub downloaded: Option<u64>,
}

/// The engine's answer shape in `format=json` mode and for stats.
#[derive(Deserialize)]
struct Envelope<T> {
    response: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StartResponse {
    playback_url: String,
    stat_url: String,
    command_url: String,
    #[serde(default)]
    infohash: Option<String>,
}

#[derive(Deserialize)]
struct VersionEnvelope {
    result: Option<VersionResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct VersionResult {
    version: String,
}

/// The engine in use, shared by every hub so that changing it in the settings
/// applies to all channels started afterwards.
#[derive(Debug, Clone)]
pub struct SharedEngine(std::sync::Arc<std::sync::RwLock<EngineClient>>);

impl SharedEngine {
    pub fn new(engine: EngineClient) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(engine)))
    }

    pub fn get(&self) -> EngineClient {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, engine: EngineClient) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = engine;
    }
}

/// A handle on one engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct EngineClient {
    base: Url,
    http: reqwest::Client,
}

impl EngineClient {
    pub fn new(base: Url) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The engine is local: a system proxy would only get in the way.
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self { base, http }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Opens a session's MPEG-TS playback. `header_timeout` bounds the wait
    /// for the response headers, which the engine sends only once prebuffered.
    pub async fn playback(
        &self,
        session: &Session,
        header_timeout: Duration,
    ) -> Result<Playback, EngineError> {
        let request = self.http.get(session.playback_url.clone()).send();
        let response = match tokio::time::timeout(header_timeout, request).await {
            Err(_) => return Err(EngineError::Timeout(header_timeout)),
            Ok(Err(error)) => return Err(self.unreachable(&error)),
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Err(EngineError::Engine(format!(
                "playback answered HTTP {}",
                response.status()
            )));
        }
        let engine = self.clone();
        Ok(Box::pin(response.bytes_stream().map(move |item| {
            item.map_err(|error| engine.unreachable(&error))
        })))
    }

    /// An engine HLS playlist.
    pub async fn fetch_playlist(&self, url: &Url) -> Result<bytes::Bytes, EngineError> {
        self.fetch(url, MAX_PLAYLIST_BYTES).await
    }

    /// An engine HLS segment of at most `max_bytes`.
    pub async fn fetch_segment(
        &self,
        url: &Url,
        max_bytes: usize,
    ) -> Result<bytes::Bytes, EngineError> {
        self.fetch(url, max_bytes).await
    }

    async fn fetch(&self, url: &Url, max_bytes: usize) -> Result<bytes::Bytes, EngineError> {
        let call = async {
            let response = self
                .http
                .get(url.clone())
                .send()
                .await
                .map_err(|e| self.unreachable(&e))?;
            let status = response.status();
            let mut body = response.bytes_stream();
            let mut data = bytes::BytesMut::new();
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|e| self.unreachable(&e))?;
                if data.len() + piece.len() > max_bytes {
                    return Err(EngineError::Protocol(format!(
                        "the engine sent more than {max_bytes} bytes for {}",
                        url.path()
                    )));
                }
                data.extend_from_slice(&piece);
            }
            if status.is_success() {
                Ok(data.freeze())
            } else {
                let text = excerpt(&String::from_utf8_lossy(&data[..data.len().min(400)]));
                Err(EngineError::Engine(if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    text
                }))
            }
        };
        tokio::time::timeout(FETCH_TIMEOUT, call)
            .await
            .unwrap_or(Err(EngineError::Timeout(FETCH_TIMEOUT)))
    }

    /// Resolves a URI from an engine playlist and keeps it on the engine's
    /// origin: segment URLs come from the engine, never from a client.
    pub fn resolve(&self, base: &Url, uri: &str) -> Result<Url, EngineError> {
        let joined = base
            .join(uri)
            .map_err(|e| EngineError::Protocol(format!("bad segment URI {uri:?}: {e}")))?;
        self.rebase(joined.as_str())
    }

    /// Starts a session with a fresh player id. `timeout` bounds the whole call:
    /// the engine takes up to ~30 s to give up on unknown content.
    pub async fn start(
        &self,
        kind: SessionKind,
        id: &ContentId,
        timeout: Duration,
    ) -> Result<Session, EngineError> {
        let pid = uuid::Uuid::new_v4().to_string();
        let mut url = self.base.join(kind.path()).map_err(protocol)?;
        let (param, value) = id.query_param();
        url.query_pairs_mut()
            .append_pair(param, value)
            .append_pair("format", "json")
            .append_pair("pid", &pid);
        let started: StartResponse = self.get_json(url, timeout).await?;
        Ok(Session {
            playback_url: self.rebase(&started.playback_url)?,
            stat_url: self.rebase(&started.stat_url)?,
            command_url: self.rebase(&started.command_url)?,
            infohash: started.infohash,
            pid,
        })
    }

    /// Reads the session's stats.
    pub async fn stat(&self, session: &Session) -> Result<SessionStat, EngineError> {
        self.get_json(session.stat_url.clone(), API_TIMEOUT).await
    }

    /// Stops the session in the engine.
    pub async fn stop(&self, session: &Session) -> Result<(), EngineError> {
        let mut url = session.command_url.clone();
        url.query_pairs_mut().append_pair("method", "stop");
        self.get_json::<serde_json::Value>(url, API_TIMEOUT)
            .await
            .map(drop)
    }

    /// The engine's version string, which doubles as a reachability check.
    pub async fn version(&self) -> Result<String, EngineError> {
        let mut url = self.base.join("/webui/api/service").map_err(protocol)?;
        url.query_pairs_mut().append_pair("method", "get_version");
        let body = self.get_text(url, API_TIMEOUT).await?;
        let parsed: VersionEnvelope = serde_json::from_str(&body).map_err(protocol)?;
        match (parsed.result, parsed.error) {
            (_, Some(error)) => Err(EngineError::Engine(error)),
            (Some(result), None) => Ok(result.version),
            (None, None) => Err(EngineError::Protocol("version without result".into())),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        timeout: Duration,
    ) -> Result<T, EngineError> {
        let body = self.get_text(url, timeout).await?;
        let envelope: Envelope<T> = serde_json::from_str(&body)
            .map_err(|_| EngineError::Protocol(format!("not engine JSON: {}", excerpt(&body))))?;
        match (envelope.response, envelope.error) {
            (_, Some(error)) if !error.is_empty() => Err(EngineError::Engine(error)),
            (Some(response), _) => Ok(response),
            (None, _) => Err(EngineError::Protocol("empty engine response".into())),
        }
    }

    /// GETs a small document; non-2xx answers become the engine's message.
    async fn get_text(&self, url: Url, timeout: Duration) -> Result<String, EngineError> {
        let call = async {
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|err| self.unreachable(&err))?;
            let status = response.status();
            let body = response
                .text()
                .await
                .map_err(|err| self.unreachable(&err))?;
            if status.is_success() {
                Ok(body)
            } else if body.trim().is_empty() {
                Err(EngineError::Engine(format!("HTTP {status}")))
            } else {
                Err(EngineError::Engine(excerpt(&body)))
            }
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| EngineError::Timeout(timeout))?
    }

    pub(crate) fn unreachable(&self, err: &reqwest::Error) -> EngineError {
        EngineError::Unreachable {
            url: self.base.to_string(),
            reason: root_cause(err),
        }
    }

    /// Moves a URL the engine returned onto the configured engine's origin:
    /// the engine names itself `127.0.0.1` even when reached by another name.
    pub(crate) fn rebase(&self, returned: &str) -> Result<Url, EngineError> {
        let mut url = self.base.join(returned).map_err(protocol)?;
        url.set_scheme(self.base.scheme())
            .map_err(|()| EngineError::Protocol(format!("bad URL {returned}")))?;
        url.set_host(self.base.host_str()).map_err(protocol)?;
        url.set_port(self.base.port())
            .map_err(|()| EngineError::Protocol(format!("bad URL {returned}")))?;
        Ok(url)
    }
}

fn protocol(err: impl std::fmt::Display) -> EngineError {
    EngineError::Protocol(err.to_string())
}

/// The innermost error message, which is the one that explains (e.g. "Connection refused").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// A short single-line piece of an engine body, for error messages.
fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    let line = body.trim().replace(['\r', '\n'], " ");
    if line.chars().count() > MAX {
        format!("{}…", line.chars().take(MAX).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_moves_engine_urls_to_the_configured_origin() {
        let client = EngineClient::new(Url::parse("http://engine.lan:6999/").expect("url"));
        let url = client
            .rebase("http://127.0.0.1:6878/ace/r/abc/def?x=1")
            .expect("rebase");
        assert_eq!(url.as_str(), "http://engine.lan:6999/ace/r/abc/def?x=1");
        let relative = client.rebase("/ace/stat/a/b").expect("relative");
        assert_eq!(relative.as_str(), "http://engine.lan:6999/ace/stat/a/b");
    }

    #[test]
    fn excerpt_is_bounded_and_single_line() {
        let long = "x\n".repeat(500);
        let short = excerpt(&long);
        assert!(!short.contains('\n'));
        assert!(short.chars().count() <= 201);
    }
}
