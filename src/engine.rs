//! Client for the AceStream engine's HTTP API: start a TS or HLS session
//! (`format=json`), read its stats, stop it, ask the engine's version, and read
//! its playback stream, HLS playlists and segments. This is the only code that
//! talks HTTP to the engine.
//!
//! Owns the engine's quirks (see `shared/engine-api.md`): errors that come as
//! HTTP 200 with an `error` field, plain-text 5xx, and session URLs whose host
//! is the engine's own idea of itself, which are rebased onto the configured URL.
//!
//! Owns the defences against a broken or hostile engine too: every body is
//! read as a stream with a size bound and under a deadline, never whole, and
//! redirects are followed only within the engine's own origin. Bounds:
//! JSON and version replies [`MAX_JSON_BYTES`], playlists [`MAX_PLAYLIST_BYTES`]
//! with lines of at most [`MAX_PLAYLIST_LINE`], segments what the caller
//! passes, error bodies [`MAX_ERROR_BYTES`] (only an excerpt is kept).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::content_id::ContentId;

/// How long connecting to the engine may take; it is on localhost or the LAN.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound for small API calls (stat, stop, version).
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one stop call, connecting included: whoever waits for a stop to
/// be answered can wait this long and then know it was answered or abandoned.
pub(crate) const STOP_TIMEOUT: Duration = API_TIMEOUT;
/// Bound on a JSON or version reply: real ones are a few hundred bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Bound on an HLS playlist: a live window of a few segments is ~1 KiB.
pub const MAX_PLAYLIST_BYTES: usize = 1024 * 1024;
/// Bound on one playlist line (URIs and tags are short).
pub const MAX_PLAYLIST_LINE: usize = 16 * 1024;
/// Bound on what is read of a non-2xx body, of which an excerpt is reported.
pub const MAX_ERROR_BYTES: usize = 4 * 1024;
/// Bound on fetching one playlist, headers and body.
const PLAYLIST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on fetching one segment, headers and body.
const SEGMENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Redirects followed in a row (all within the engine's origin).
const MAX_REDIRECTS: usize = 5;

/// What went wrong talking to the engine; each maps to an HTTP status for players.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The engine sent more than the proxy reads of this kind of reply.
    #[error("the engine sent {what} larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
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
    #[serde(default)]
    pub uploaded: Option<u64>,
    /// Percent of a finite content fetched; 0 for live streams.
    #[serde(default)]
    pub total_progress: Option<u64>,
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

/// Follows redirects only within the engine's origin: a redirect elsewhere
/// would let the engine (or whoever answers in its place) hand players
/// content from anywhere.
fn redirect_policy(origin: Url) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if same_origin(attempt.url(), &origin) {
            attempt.follow()
        } else {
            let target = attempt.url().origin().ascii_serialization();
            attempt.error(format!("redirect off the engine's address, to {target}"))
        }
    })
}

/// A handle on one engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct EngineClient {
    base: Url,
    http: reqwest::Client,
}

impl EngineClient {
    pub fn new(base: Url) -> Self {
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(CONNECT_TIMEOUT)
                // The engine is local: a system proxy would only get in the way.
                .no_proxy()
                .redirect(redirect_policy(base.clone()))
                .build()
        };
        // Without the system's trust roots an https engine fails at its first
        // call, with the reason, rather than the proxy at its start.
        let http = build(crate::http_client::for_url(&base))
            .or_else(|_| build(crate::http_client::plain_http()))
            .unwrap_or_default();
        Self { base, http }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Opens a session's playback stream. `header_timeout` bounds the wait for
    /// the response headers, which the engine sends only once it has
    /// prebuffered (often 10-25 s); the body is the caller's to pace.
    pub async fn playback(
        &self,
        session: &Session,
        header_timeout: Duration,
    ) -> Result<Playback, EngineError> {
        // The error body of a non-2xx answer is read under the same deadline.
        let response = tokio::time::timeout(header_timeout, self.send(&session.playback_url))
            .await
            .map_err(|_| EngineError::Timeout(header_timeout))??;
        let engine = self.clone();
        let body = response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|err| engine.transport(&err)));
        Ok(Playback(Box::pin(body)))
    }

    /// Fetches an HLS playlist: at most [`MAX_PLAYLIST_BYTES`], no line longer
    /// than [`MAX_PLAYLIST_LINE`], within a deadline.
    pub async fn fetch_playlist(&self, url: &Url) -> Result<Bytes, EngineError> {
        let call = async {
            let response = self.send(url).await?;
            let mut lines = LineBound::default();
            read_bounded(
                response,
                MAX_PLAYLIST_BYTES,
                "a playlist",
                |chunk| lines.check(chunk),
                |err| self.transport(err),
            )
            .await
        };
        tokio::time::timeout(PLAYLIST_TIMEOUT, call)
            .await
            .unwrap_or(Err(EngineError::Timeout(PLAYLIST_TIMEOUT)))
    }

    /// Fetches an HLS segment of at most `max_bytes`, within a deadline.
    pub async fn fetch_segment(&self, url: &Url, max_bytes: usize) -> Result<Bytes, EngineError> {
        let call = async {
            let response = self.send(url).await?;
            read_bounded(
                response,
                max_bytes,
                "a segment",
                |_| Ok(()),
                |err| self.transport(err),
            )
            .await
        };
        tokio::time::timeout(SEGMENT_TIMEOUT, call)
            .await
            .unwrap_or(Err(EngineError::Timeout(SEGMENT_TIMEOUT)))
    }

    /// Resolves a URI from an engine playlist and keeps it on the engine's
    /// origin: segment URLs come from the engine, never from a client, and
    /// never lead anywhere else.
    pub fn resolve(&self, base: &Url, uri: &str) -> Result<Url, EngineError> {
        let joined = base
            .join(uri)
            .map_err(|e| EngineError::Protocol(format!("bad segment URI {uri:?}: {e}")))?;
        self.rebase(joined.as_str())
    }

    /// GETs `url` and turns a non-2xx answer into the engine's message.
    async fn send(&self, url: &Url) -> Result<reqwest::Response, EngineError> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|err| self.transport(&err))?;
        self.check_status(response).await
    }

    /// Passes a 2xx response; otherwise reads a bounded piece of the body for
    /// the error message.
    async fn check_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, EngineError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut body = BytesMut::new();
        let mut response = response;
        // Whatever went wrong reading the rest, the status says enough.
        while body.len() < MAX_ERROR_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_ERROR_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&body);
        Err(EngineError::Engine(if text.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", excerpt(&text))
        }))
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
        self.get_json::<serde_json::Value>(url, STOP_TIMEOUT)
            .await
            .map(drop)
    }

    /// The engine's version string, which doubles as a reachability check.
    pub async fn version(&self) -> Result<String, EngineError> {
        let mut url = self.base.join("/webui/api/service").map_err(protocol)?;
        url.query_pairs_mut().append_pair("method", "get_version");
        let body = self.get_small(url, API_TIMEOUT).await?;
        let parsed: VersionEnvelope = serde_json::from_slice(&body).map_err(|_| {
            EngineError::Protocol(format!(
                "not an engine version reply: {}",
                excerpt(&String::from_utf8_lossy(&body))
            ))
        })?;
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
        let body = self.get_small(url, timeout).await?;
        let envelope: Envelope<T> = serde_json::from_slice(&body).map_err(|_| {
            EngineError::Protocol(format!(
                "not engine JSON: {}",
                excerpt(&String::from_utf8_lossy(&body))
            ))
        })?;
        match (envelope.response, envelope.error) {
            (_, Some(error)) if !error.is_empty() => Err(EngineError::Engine(error)),
            (Some(response), _) => Ok(response),
            (None, _) => Err(EngineError::Protocol("empty engine response".into())),
        }
    }

    /// GETs a small document (at most [`MAX_JSON_BYTES`]); non-2xx answers
    /// become the engine's message.
    async fn get_small(&self, url: Url, timeout: Duration) -> Result<Bytes, EngineError> {
        let call = async {
            let response = self.send(&url).await?;
            read_bounded(
                response,
                MAX_JSON_BYTES,
                "a JSON reply",
                |_| Ok(()),
                |err| self.transport(err),
            )
            .await
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| EngineError::Timeout(timeout))?
    }

    /// A transport failure: a refused redirect is the engine misbehaving, the
    /// rest means it could not be reached.
    fn transport(&self, err: &reqwest::Error) -> EngineError {
        if err.is_redirect() {
            return EngineError::Protocol(root_cause(err));
        }
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

/// An open playback stream: the engine's bytes as they come.
pub struct Playback(Pin<Box<dyn Stream<Item = Result<Bytes, EngineError>> + Send>>);

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Playback")
    }
}

impl Stream for Playback {
    type Item = Result<Bytes, EngineError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// Same scheme, host and port (default ports made explicit).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Reads a body chunk by chunk, stopping as soon as it would exceed `limit`
/// (a `Content-Length` over it is refused before reading). `inspect` sees
/// every chunk and may refuse it.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
    what: &'static str,
    mut inspect: impl FnMut(&[u8]) -> Result<(), EngineError>,
    transport: impl Fn(&reqwest::Error) -> EngineError,
) -> Result<Bytes, EngineError> {
    let too_large = EngineError::TooLarge { what, limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| transport(&err))? {
        if chunk.len() > limit - body.len() {
            return Err(too_large);
        }
        inspect(&chunk)?;
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Tracks the length of the current line across chunks.
#[derive(Default)]
struct LineBound {
    current: usize,
}

impl LineBound {
    fn check(&mut self, chunk: &[u8]) -> Result<(), EngineError> {
        let longest = match chunk.iter().rposition(|&b| b == b'\n') {
            None => {
                self.current += chunk.len();
                self.current
            }
            Some(last) => {
                let first = chunk.iter().position(|&b| b == b'\n').unwrap_or(last);
                let inner = chunk[first..=last]
                    .split(|&b| b == b'\n')
                    .map(<[u8]>::len)
                    .max()
                    .unwrap_or(0);
                let head = self.current + first;
                self.current = chunk.len() - last - 1;
                head.max(inner).max(self.current)
            }
        };
        if longest > MAX_PLAYLIST_LINE {
            return Err(EngineError::Protocol(format!(
                "the engine sent a playlist line longer than {MAX_PLAYLIST_LINE} bytes"
            )));
        }
        Ok(())
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
    fn line_bound_counts_lines_across_chunks() {
        let mut lines = LineBound::default();
        let half = vec![b'x'; MAX_PLAYLIST_LINE / 2];
        assert!(lines.check(&half).is_ok());
        assert!(lines.check(b"\n").is_ok());
        assert!(lines.check(&half).is_ok());
        assert!(lines.check(&half).is_ok(), "exactly at the bound");
        assert!(lines.check(b"y").is_err(), "one byte over, across chunks");

        let mut lines = LineBound::default();
        let mut chunk = b"short\n".to_vec();
        chunk.extend(vec![b'z'; MAX_PLAYLIST_LINE + 1]);
        chunk.extend(b"\nend");
        assert!(lines.check(&chunk).is_err(), "a long line inside one chunk");
    }

    #[test]
    fn redirects_stay_on_the_engine_origin() {
        let base = Url::parse("http://127.0.0.1:6878/").expect("url");
        let same = Url::parse("http://127.0.0.1:6878/ace/r/x").expect("url");
        assert!(same_origin(&same, &base));
        for other in [
            "http://127.0.0.2:6878/x",
            "http://127.0.0.1:6879/x",
            "https://127.0.0.1:6878/x",
            "http://evil.example/x",
        ] {
            let other = Url::parse(other).expect("url");
            assert!(!same_origin(&other, &base), "{other}");
        }
    }

    #[test]
    fn excerpt_is_bounded_and_single_line() {
        let long = "x\n".repeat(500);
        let short = excerpt(&long);
        assert!(!short.contains('\n'));
        assert!(short.chars().count() <= 201);
    }
}
