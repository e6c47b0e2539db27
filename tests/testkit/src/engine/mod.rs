//! A simulated AceStream engine for tests: an axum server on a real socket
//! that speaks the engine's HTTP API (`/ace/getstream`, `/ace/manifest.m3u8`,
//! playback, stat and command URLs, version/status), streams a real H.264/AAC
//! clip looped forever at its real bitrate, serves a live HLS playlist, can
//! inject faults per content id, and counts what clients did to it.
//!
//! ```no_run
//! # async fn demo() {
//! use acebridge_testkit::engine::{Fault, SimEngine};
//! let engine = SimEngine::start().await;
//! engine.set_fault("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Fault::Hang);
//! let base = engine.url(); // http://127.0.0.1:PORT
//! # let _ = base;
//! # }
//! ```

mod hls;
mod hostile;
mod listener;
mod media;
mod playback;
mod routes;
mod state;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use self::hostile::Hostile;
use self::listener::DownAwareListener;
use self::media::Media;
use self::state::Shared;

/// How the simulated engine behaves; `SimOptions::default()` is a healthy engine.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Address to listen on (default `127.0.0.1:0`, an ephemeral port).
    pub listen: SocketAddr,
    /// Playback bitrate in bits per second; `None` is the clip's own
    /// (file size / 8.008 s, about 400 kbit/s).
    pub bitrate: Option<u64>,
    /// At a `bitrate` above the clip's own, keep media time at wall-clock
    /// speed by padding with null packets (as a broadcast muxed at a constant
    /// rate is), so a 2 s segment takes 2 s to arrive. Default false: the
    /// clip is sent faster than it plays, which fills a proxy's buffers fast.
    pub real_time_media: bool,
    /// Interval between the small writes of a playback stream (default 40 ms).
    pub write_interval: Duration,
    /// Segments in the HLS playlist window (default 5).
    pub hls_window: usize,
    /// Segments already available when an HLS session starts (default 3).
    pub hls_initial_segments: u64,
    /// Write segment URIs as absolute URLs with the engine's host instead of
    /// `/ace/c/<infohash>/<n>.ts` (default false).
    pub hls_absolute_urls: bool,
    /// Serve a master playlist at the HLS `playback_url` that points to the
    /// media playlist (default false: the media playlist itself).
    pub hls_master_playlist: bool,
    /// `#EXT-X-TARGETDURATION`; `None` writes what ffmpeg wrote for the
    /// fixture: the longest `#EXTINF` rounded to the nearest integer (2 for
    /// 2.002 s segments, so a proxy must round up itself).
    pub hls_target_duration: Option<u64>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            bitrate: None,
            real_time_media: false,
            write_interval: Duration::from_millis(40),
            hls_window: 5,
            hls_initial_segments: 3,
            hls_absolute_urls: false,
            hls_master_playlist: false,
            hls_target_duration: None,
        }
    }
}

/// A misbehaviour, set per content id with [`SimEngine::set_fault`] or for
/// all ids with [`SimEngine::set_default_fault`]. Faults are read when the
/// affected request arrives (playback streams also re-read `GarbageTs` as
/// they go), so changing them at run time works.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// No fault; `set_fault(id, Fault::None)` clears the id's faults.
    None,
    /// The start call (`getstream` / `manifest.m3u8`) answers after this long.
    StartDelay(Duration),
    /// The start call never answers.
    Hang,
    /// The start call answers `200 {"response": null, "error": <message>}`.
    EngineError(String),
    /// The start call answers a plain-text `500` with this body.
    Http500(String),
    /// Each TS playback connection ends (mid-packet, as it happens) after this long.
    DropAfter(Duration),
    /// TS playback sends no response headers until this long has passed (prebuffering).
    HeaderDelay(Duration),
    /// The TS `playback_url` answers with an m3u8 playlist instead of TS.
    PlaylistForTs,
    /// About once per second of stream, a torn packet and some random bytes
    /// are injected between two packets of the TS playback stream.
    GarbageTs,
    /// The HLS playlist answers a plain-text `500`.
    HlsPlaylist500,
    /// HLS segments answer `404`.
    HlsSegment404,
    /// The HLS session restarts once per `set_fault` call: the media
    /// sequence goes back to 0 (with one segment available) and the
    /// timestamps start over. It happens at the first playlist request
    /// after one that showed the window moved since the session (re)started,
    /// so that the sequence visibly goes back; segment numbers then repeat
    /// in the fetch counts.
    HlsRestart,
    /// The content's swarm is gone: its TS playback streams end (open ones
    /// at their next write, new ones at once), its HLS playlist answers
    /// `500`, and its stats report no peers and no progress. Start calls
    /// still succeed, as the engine's do.
    Dead,
    /// Stats of the content's sessions report no peers and no progress,
    /// whatever the playback streams do.
    NoPeers,
    /// A hostile engine's answer (huge bodies, endless lines, redirects off
    /// the engine, slow drip, garbage, absurd sequences, a gzip bomb).
    Hostile(Hostile),
    /// A stop command takes this long: the session stays open meanwhile,
    /// and only then stops and answers.
    StopDelay(Duration),
}

/// What kind of engine session a start call made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// `/ace/getstream`: MPEG-TS at `/ace/r/<session>/<hash>`.
    Ts,
    /// `/ace/manifest.m3u8`: HLS at `/ace/m/<infohash>/<session>.m3u8`.
    Hls,
}

/// A snapshot of one engine session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// `playback_session_id` (32 hex).
    pub session_id: String,
    /// The 40-hex id the session was started with, lower case.
    pub content_id: String,
    /// The query parameter that carried it: `content_id`, `id` or `infohash`.
    pub selector: String,
    /// The infohash the engine reported (the id itself for `infohash=`).
    pub infohash: String,
    /// The `pid` parameter, if any.
    pub pid: Option<String>,
    pub kind: SessionKind,
    /// Whether a stop command ended it.
    pub stopped: bool,
    /// Stop commands received for it (including ones after it had stopped).
    pub stop_calls: usize,
    /// Bytes of media served for it (TS playback, or HLS segments).
    pub bytes_served: u64,
    pub playback_url: String,
    pub stat_url: String,
    pub command_url: String,
}

/// A running simulated engine; it shuts down (ending open streams) when dropped.
pub struct SimEngine {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _task: JoinHandle<()>,
}

impl SimEngine {
    /// A healthy engine on an ephemeral port of 127.0.0.1. Panics if it cannot start.
    pub async fn start() -> Self {
        Self::start_with(SimOptions::default()).await
    }

    /// An engine with `options`. Panics if it cannot start.
    pub async fn start_with(options: SimOptions) -> Self {
        match Self::try_start_with(options).await {
            Ok(engine) => engine,
            Err(err) => panic!("simulated engine failed to start: {err}"),
        }
    }

    /// An engine with `options`, or why it could not start.
    pub async fn try_start_with(options: SimOptions) -> io::Result<Self> {
        let media = Media::get().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        // The engine's own idea of itself: loopback even when bound wider.
        let host = if addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            addr.ip()
        };
        let base_url = format!("http://{}", SocketAddr::new(host, addr.port()));
        let shared = Arc::new(Shared::new(options, base_url, media));
        let app = routes::router(shared.clone());
        let listener = DownAwareListener::new(listener, shared.down_flag());
        let shutdown = shared.shutdown_signal();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown);
            if let Err(err) = serve.await {
                tracing::warn!("simulated engine stopped: {err}");
            }
        });
        tracing::debug!("simulated engine listening on {}", shared.base_url);
        Ok(Self {
            shared,
            addr,
            _task: task,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Playback pace in bytes per second.
    pub fn bytes_per_second(&self) -> u64 {
        self.shared.bytes_per_sec
    }

    /// Replaces the faults of content `id` with `fault`; `Fault::None` leaves
    /// the id without faults, whatever the default (see [`Self::clear_faults`]).
    pub fn set_fault(&self, id: &str, fault: Fault) {
        let faults = if fault == Fault::None {
            Vec::new()
        } else {
            vec![fault]
        };
        self.shared.set_faults(Some(id), faults);
    }

    /// Adds `fault` to those of content `id`.
    pub fn add_fault(&self, id: &str, fault: Fault) {
        self.shared.add_fault(Some(id), fault);
    }

    /// Removes the faults of content `id` (it falls back to the default faults).
    pub fn clear_faults(&self, id: &str) {
        self.shared.clear_faults(id);
    }

    /// The fault for every content id that has none of its own
    /// (`Fault::None` clears it).
    pub fn set_default_fault(&self, fault: Fault) {
        let faults = if fault == Fault::None {
            Vec::new()
        } else {
            vec![fault]
        };
        self.shared.set_faults(None, faults);
    }

    /// While down, new connections are closed at once and open ones fail on
    /// their next read or write (playback streams end).
    pub fn set_down(&self, down: bool) {
        self.shared.set_down(down);
    }

    /// Sessions started for content `id` (any selector, any kind, stopped or not).
    pub fn sessions_started(&self, id: &str) -> usize {
        self.sessions(id).len()
    }

    pub fn sessions_started_total(&self) -> usize {
        self.shared.all_sessions().len()
    }

    /// Sessions started and not stopped.
    pub fn active_sessions(&self) -> usize {
        self.shared
            .all_sessions()
            .iter()
            .filter(|s| !s.stopped)
            .count()
    }

    /// Sessions of content `id` started and not stopped, now.
    pub fn open_sessions(&self, id: &str) -> usize {
        self.shared.open_sessions(id).0
    }

    /// The most sessions of content `id` that were ever open at once: a
    /// proxy that shares one engine session per content keeps this at 1.
    pub fn peak_open_sessions(&self, id: &str) -> usize {
        self.shared.open_sessions(id).1
    }

    /// The most sessions of any contents ever open at once: a channel that
    /// fails over between alternates keeps this at 1.
    pub fn peak_open_sessions_total(&self) -> usize {
        self.shared.open_sessions_total().1
    }

    /// Stop commands received for `session` (a `playback_session_id`).
    pub fn stop_calls(&self, session: &str) -> usize {
        self.shared
            .all_sessions()
            .iter()
            .find(|s| s.session_id == session)
            .map_or(0, |s| s.stop_calls)
    }

    /// Stop commands received for all sessions.
    pub fn stops_total(&self) -> usize {
        self.shared
            .all_sessions()
            .iter()
            .map(|s| s.stop_calls)
            .sum()
    }

    /// Sessions of content `id`, oldest first.
    pub fn sessions(&self, id: &str) -> Vec<SessionInfo> {
        let id = state::normalize_id(id);
        self.shared
            .all_sessions()
            .into_iter()
            .filter(|s| s.content_id == id)
            .collect()
    }

    /// All sessions, oldest first.
    pub fn all_sessions(&self) -> Vec<SessionInfo> {
        self.shared.all_sessions()
    }

    /// Successful fetches of HLS segment `n` of content `id`.
    pub fn segment_fetches(&self, id: &str, n: u64) -> usize {
        self.shared
            .segment_fetches(id)
            .get(&n)
            .copied()
            .unwrap_or(0)
    }

    /// `(segment number, successful fetches)` for content `id`, by segment number.
    pub fn segment_fetch_counts(&self, id: &str) -> Vec<(u64, usize)> {
        self.shared.segment_fetches(id).into_iter().collect()
    }

    /// TS playback responses currently streaming (or waiting out a header delay).
    pub fn playback_connections_open(&self) -> usize {
        self.shared.playback_connections_open()
    }
}

impl Drop for SimEngine {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}
