//! The simulated engine's shared state: sessions, faults and counters behind
//! one mutex (never held across an `.await`), plus the down and shutdown flags.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::media::Media;
use super::{Fault, SessionInfo, SessionKind, SimOptions};

/// Content ids are compared trimmed and in lower case.
pub(crate) fn normalize_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// Whether `id` is 40 hexadecimal characters.
pub(crate) fn is_hex40(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The infohash the engine reports for a content id: a different 40-hex
/// string (each nibble XOR 5), so clients cannot confuse the two.
fn infohash_of(content_id: &str) -> String {
    content_id
        .chars()
        .filter_map(|c| c.to_digit(16))
        .filter_map(|d| char::from_digit(d ^ 5, 16))
        .collect()
}

/// The faults in force for one content id, with the generation of the
/// `set_fault` call that set them (one-shot faults apply once per generation).
#[derive(Clone, Debug, Default)]
pub(crate) struct FaultSet {
    pub(crate) faults: Vec<Fault>,
    pub(crate) generation: u64,
}

impl FaultSet {
    pub(crate) fn has(&self, fault: &Fault) -> bool {
        self.faults.contains(fault)
    }

    pub(crate) fn find<T>(&self, pick: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.faults.iter().find_map(pick)
    }
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) info: SessionInfo,
    /// TS: when the live stream started (first playback connection); later
    /// connections join at the live position.
    pub(crate) live_origin: Option<Instant>,
    /// HLS: when the media sequence started (moved by `HlsRestart`).
    pub(crate) hls_origin: Instant,
    /// HLS: segments available at `hls_origin` (1 after a restart).
    pub(crate) hls_initial: u64,
    /// HLS: the highest media sequence a playlist has shown since the (re)start.
    pub(crate) max_first_served: u64,
    /// HLS: the fault generation of the last restart applied.
    pub(crate) restart_generation: u64,
    /// Playback connections waiting out a header delay.
    pub(crate) prebuffering: usize,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Sessions in start order; never removed, so tests can count them.
    pub(crate) sessions: Vec<Session>,
    /// Session id → index in `sessions`. Playback looks its session up for
    /// every chunk it sends: a scan made the simulator's CPU grow with the
    /// number of sessions ever started, until long bench runs starved.
    session_index: HashMap<String, usize>,
    faults: HashMap<String, FaultSet>,
    default_faults: FaultSet,
    /// Content id → (sessions open now, most ever open at once). A real
    /// engine breaks one stream of a content when another session of the
    /// same content is stopped: proxies must never have two open.
    open_by_content: HashMap<String, (usize, usize)>,
    /// Sessions of any content open now, and most ever open at once.
    open_total: (usize, usize),
    generation: u64,
    /// Successful segment fetches: content id → segment number → count.
    segment_fetches: HashMap<String, BTreeMap<u64, usize>>,
}

impl State {
    /// Records that a session of `content_id` was stopped.
    pub(crate) fn note_stopped(&mut self, content_id: &str) {
        if let Some((open, _)) = self.open_by_content.get_mut(content_id) {
            *open = open.saturating_sub(1);
            self.open_total.0 = self.open_total.0.saturating_sub(1);
        }
    }

    pub(crate) fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        let index = *self.session_index.get(id)?;
        self.sessions.get_mut(index)
    }

    pub(crate) fn count_segment_fetch(&mut self, content_id: &str, n: u64) {
        *self
            .segment_fetches
            .entry(content_id.to_owned())
            .or_default()
            .entry(n)
            .or_default() += 1;
    }
}

pub(crate) struct Shared {
    pub(crate) options: SimOptions,
    pub(crate) base_url: String,
    pub(crate) media: &'static Media,
    pub(crate) bytes_per_sec: u64,
    state: Mutex<State>,
    down: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
    open_playback: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(options: SimOptions, base_url: String, media: &'static Media) -> Self {
        let clip_rate = media.clip.loop_bytes() as u64 * 90_000 / media.clip.loop_ticks().max(1);
        let bytes_per_sec = options.bitrate.map_or(clip_rate, |bits| bits / 8).max(188);
        Self {
            options,
            base_url,
            media,
            bytes_per_sec,
            state: Mutex::new(State::default()),
            down: Arc::new(AtomicBool::new(false)),
            shutdown: watch::channel(false).0,
            open_playback: AtomicUsize::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Packet `n` of the TS playback stream.
    pub(crate) fn stream_packet(&self, n: u64) -> Option<[u8; crate::ts::PACKET_SIZE]> {
        let clip = &self.media.clip;
        if self.options.real_time_media {
            clip.padded_packet(n, self.bytes_per_sec)
        } else {
            clip.stream_packet(n)
        }
    }

    // --- faults -------------------------------------------------------------

    pub(crate) fn set_faults(&self, id: Option<&str>, faults: Vec<Fault>) {
        let mut state = self.lock();
        state.generation += 1;
        let set = FaultSet {
            faults,
            generation: state.generation,
        };
        match id {
            Some(id) => {
                state.faults.insert(normalize_id(id), set);
            }
            None => state.default_faults = set,
        }
    }

    pub(crate) fn add_fault(&self, id: Option<&str>, fault: Fault) {
        let mut faults = match id {
            Some(id) => self.faults_for(id).faults,
            None => self.lock().default_faults.faults.clone(),
        };
        faults.push(fault);
        self.set_faults(id, faults);
    }

    pub(crate) fn clear_faults(&self, id: &str) {
        self.lock().faults.remove(&normalize_id(id));
    }

    /// The id's own faults if it has an entry, else the default ones.
    pub(crate) fn faults_for(&self, content_id: &str) -> FaultSet {
        let state = self.lock();
        state
            .faults
            .get(&normalize_id(content_id))
            .unwrap_or(&state.default_faults)
            .clone()
    }

    // --- sessions -----------------------------------------------------------

    pub(crate) fn create_session(
        &self,
        kind: SessionKind,
        selector: &str,
        content_id: &str,
        pid: Option<String>,
    ) -> SessionInfo {
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        let content_id = normalize_id(content_id);
        let infohash = if selector == "infohash" {
            content_id.clone()
        } else {
            infohash_of(&content_id)
        };
        let base = &self.base_url;
        let playback_url = match kind {
            SessionKind::Ts => format!("{base}/ace/r/{session_id}/{infohash}"),
            SessionKind::Hls => format!("{base}/ace/m/{infohash}/{session_id}.m3u8"),
        };
        let info = SessionInfo {
            stat_url: format!("{base}/ace/stat/{infohash}/{session_id}"),
            command_url: format!("{base}/ace/cmd/{infohash}/{session_id}"),
            playback_url,
            session_id,
            content_id,
            selector: selector.to_owned(),
            infohash,
            pid,
            kind,
            stopped: false,
            stop_calls: 0,
            bytes_served: 0,
        };
        let mut state = self.lock();
        let index = state.sessions.len();
        state.session_index.insert(info.session_id.clone(), index);
        let (open, peak) = state
            .open_by_content
            .entry(info.content_id.clone())
            .or_default();
        *open += 1;
        *peak = (*peak).max(*open);
        state.open_total.0 += 1;
        state.open_total.1 = state.open_total.1.max(state.open_total.0);
        state.sessions.push(Session {
            info: info.clone(),
            live_origin: None,
            hls_origin: Instant::now(),
            hls_initial: self.options.hls_initial_segments,
            max_first_served: 0,
            restart_generation: 0,
            prebuffering: 0,
        });
        drop(state);
        tracing::debug!(session = %info.session_id, content = %info.content_id, ?kind, "session started");
        info
    }

    /// `(open now, most open at once)` for content `id`.
    pub(crate) fn open_sessions(&self, id: &str) -> (usize, usize) {
        self.lock()
            .open_by_content
            .get(&normalize_id(id))
            .copied()
            .unwrap_or_default()
    }

    /// `(open now, most open at once)` over every content.
    pub(crate) fn open_sessions_total(&self) -> (usize, usize) {
        self.lock().open_total
    }

    pub(crate) fn all_sessions(&self) -> Vec<SessionInfo> {
        self.lock()
            .sessions
            .iter()
            .map(|s| s.info.clone())
            .collect()
    }

    /// The content id of `session` if it exists, has `kind` and is not stopped.
    pub(crate) fn live_session(&self, session: &str, kind: SessionKind) -> Option<String> {
        let mut state = self.lock();
        let s = state.session_mut(session)?;
        (s.info.kind == kind && !s.info.stopped).then(|| s.info.content_id.clone())
    }

    /// Whether `session` exists and is not stopped.
    pub(crate) fn session_alive(&self, session: &str) -> bool {
        self.lock()
            .session_mut(session)
            .is_some_and(|s| !s.info.stopped)
    }

    pub(crate) fn add_bytes(&self, session: &str, bytes: u64) {
        if let Some(s) = self.lock().session_mut(session) {
            s.info.bytes_served += bytes;
        }
    }

    pub(crate) fn segment_fetches(&self, content_id: &str) -> BTreeMap<u64, usize> {
        self.lock()
            .segment_fetches
            .get(&normalize_id(content_id))
            .cloned()
            .unwrap_or_default()
    }

    // --- playback connections ---------------------------------------------------

    pub(crate) fn playback_connections_open(&self) -> usize {
        self.open_playback.load(Ordering::SeqCst)
    }

    /// Counts an open playback connection until the guard drops.
    pub(crate) fn open_playback(self: &Arc<Self>) -> OpenPlayback {
        self.open_playback.fetch_add(1, Ordering::SeqCst);
        OpenPlayback {
            shared: self.clone(),
        }
    }

    // --- down and shutdown ----------------------------------------------------

    pub(crate) fn down_flag(&self) -> Arc<AtomicBool> {
        self.down.clone()
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once shutdown has begun.
    pub(crate) fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Sleeps `duration`; false if the engine began shutting down meanwhile.
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            () = self.shutdown_signal() => false,
        }
    }
}

/// Decrements the open playback count when dropped.
pub(crate) struct OpenPlayback {
    shared: Arc<Shared>,
}

impl Drop for OpenPlayback {
    fn drop(&mut self) {
        self.shared.open_playback.fetch_sub(1, Ordering::SeqCst);
    }
}
