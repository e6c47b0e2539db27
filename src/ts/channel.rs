//! One TS channel: the engine session and upstream connection that feed its
//! ring, its lifecycle state, its counters, and the players reading from it.
//!
//! The upstream task reconnects on its own: after a drop it reopens the same
//! session's playback URL, and if that fails it stops the session and starts a
//! fresh one. Players never see the switch except as a pause.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::packet::Splitter;
use super::ring::{Cursor, Read, Ring};
use super::TsSource;
use crate::content_id::ContentId;
use crate::engine::{EngineClient, EngineError, SessionKind, SessionStat};
use crate::hls::{HlsHub, Lookup};
use crate::session::SessionSlot;

/// Most bytes handed to a player's connection in one write.
const PLAYER_BATCH: usize = 256 * 1024;
/// Upstream bytes gathered before they are published to players, and the
/// longest they wait for company. A player at the live edge makes one write
/// per published chunk: the engine's small reads (~15 KB every 40 ms at
/// 3 Mbit/s) would cost one syscall each per player. Measured with the bench
/// at 50 players (same run, single-threaded runtime): 60 KiB or 200 ms
/// 0.64 CPU-s/GB, 120 KiB or 400 ms 0.57, 180 KiB or 600 ms 0.50-0.57 (in
/// the noise), 240 KiB or 800 ms the same with the worst player down to 97 %.
/// 400 ms is little next to the second or more of buffer players keep, and
/// joiners start from the buffer, not from the next chunk. Public for the
/// bench, whose `batched` copier gathers the same way.
pub const COALESCE_BYTES: usize = 120 * 1024;
/// See [`COALESCE_BYTES`].
pub const COALESCE_DELAY: Duration = Duration::from_millis(400);

/// Tunables of TS channels.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// How long a channel without players keeps its engine session.
    pub linger: Duration,
    /// How long a start (engine call, prebuffering, first keyframe) may take.
    pub start_timeout: Duration,
    /// Size of the shared buffer; bounds memory per channel. 4 MiB is ~11 s of
    /// a 3 Mbit/s stream: several GOPs for joiners and slack for slow players.
    pub ring_bytes: usize,
    /// Reconnect attempts in a row without data before players get an end of stream.
    pub max_reconnects: u32,
    /// An upstream that sends nothing for this long is treated as dropped.
    pub upstream_idle_timeout: Duration,
    /// How often the engine's session stats are read.
    pub stat_interval: Duration,
    /// Channels playing at once; one more is refused (503), since each costs
    /// the shared P2P engine a swarm.
    pub max_channels: usize,
    /// Players of one channel; one more is refused (429).
    pub max_players: usize,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            linger: Duration::from_secs(10),
            start_timeout: Duration::from_secs(60),
            ring_bytes: 4 * 1024 * 1024,
            max_reconnects: 5,
            upstream_idle_timeout: Duration::from_secs(20),
            stat_interval: Duration::from_secs(5),
            max_channels: 32,
            max_players: 100,
        }
    }
}

/// Where a channel is in its life.
#[derive(Debug, Clone)]
pub enum ChannelState {
    Starting,
    Live,
    Reconnecting,
    /// The channel gave up; players waiting for it get this error.
    Failed(EngineError),
    /// Stopped after the linger, by the user or at shutdown.
    Stopped,
}

impl ChannelState {
    pub fn label(&self) -> &'static str {
        match self {
            ChannelState::Starting => "starting",
            ChannelState::Live => "live",
            ChannelState::Reconnecting => "reconnecting",
            ChannelState::Failed(_) => "failed",
            ChannelState::Stopped => "stopped",
        }
    }
}

/// Why a player could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the stream did not start within {0:?}")]
    StartTimeout(Duration),
    #[error("the channel was stopped")]
    Stopped,
    #[error("too many channels playing (at most {0}); stop one first")]
    TooManyChannels(usize),
    #[error("too many players on this channel (at most {0})")]
    TooManyPlayers(usize),
}

/// A TS channel shared by all its players.
#[derive(Debug)]
pub struct TsChannel {
    pub(super) id: ContentId,
    pub(super) ring: Ring,
    pub(super) state: watch::Sender<ChannelState>,
    pub(super) players: watch::Sender<usize>,
    pub(super) cancel: CancellationToken,
    pub(super) session: Arc<SessionSlot>,
    started_at: Instant,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    reconnects: AtomicU64,
}

/// A snapshot of a channel for `/api/streams`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelInfo {
    pub id: ContentId,
    pub kind: &'static str,
    pub state: &'static str,
    pub players: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub buffered_bytes: usize,
    pub uptime_secs: u64,
    pub reconnects: u64,
    pub engine: Option<SessionStat>,
}

impl TsChannel {
    pub(super) fn new(id: ContentId, settings: &ChannelSettings, tasks: TaskTracker) -> Self {
        Self {
            id,
            ring: Ring::new(settings.ring_bytes),
            state: watch::Sender::new(ChannelState::Starting),
            players: watch::Sender::new(0),
            cancel: CancellationToken::new(),
            session: SessionSlot::new(tasks),
            started_at: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> &ContentId {
        &self.id
    }

    pub fn player_count(&self) -> usize {
        *self.players.borrow()
    }

    pub fn info(&self) -> ChannelInfo {
        ChannelInfo {
            id: self.id.clone(),
            kind: "ts",
            state: self.state.borrow().label(),
            players: self.player_count(),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            buffered_bytes: self.ring.buffered_bytes(),
            uptime_secs: self.started_at.elapsed().as_secs(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            engine: self.session.stat(),
        }
    }

    /// Runs the upstream until it fails for good; returns why.
    pub(super) async fn run_upstream(
        &self,
        engine: &EngineClient,
        source: &TsSource,
        settings: &ChannelSettings,
    ) -> EngineError {
        let mut splitter = Splitter::new();
        let mut failures = 0u32;
        let mut ever_live = false;
        loop {
            let mut received = false;
            let error = match source {
                TsSource::Engine => {
                    self.pump(engine, settings, &mut splitter, &mut received)
                        .await
                }
                TsSource::Hls(hls) => {
                    self.pump_hls(hls, settings, &mut splitter, &mut received)
                        .await
                }
            };
            if !ever_live && !received {
                // A first start that fails is reported to the waiting players at
                // once, with the engine's own message, rather than retried.
                return error;
            }
            ever_live = true;
            if received {
                failures = 0;
            } else {
                // Reopening the old session failed: start a fresh one next time.
                self.session.discard(engine);
            }
            failures += 1;
            if failures > settings.max_reconnects {
                return error;
            }
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            self.state.send_replace(ChannelState::Reconnecting);
            splitter.reset();
            self.ring.begin_resync();
            let delay = backoff(failures);
            tracing::warn!(channel = %self.id, %error, attempt = failures, ?delay, "upstream lost, reconnecting");
            tokio::time::sleep(delay).await;
        }
    }

    /// One upstream connection: (re)uses the session, reads until it ends.
    /// Always returns the reason it ended; sets `received` once data flowed.
    async fn pump(
        &self,
        engine: &EngineClient,
        settings: &ChannelSettings,
        splitter: &mut Splitter,
        received: &mut bool,
    ) -> EngineError {
        let session = match self.session.current() {
            Some(session) => session,
            None => match self
                .session
                .start(engine, SessionKind::Ts, &self.id, settings.start_timeout)
                .await
            {
                Ok(session) => session,
                Err(error) => return error,
            },
        };
        // No headers come until the engine has prebuffered (often 10-25 s).
        let mut body = match engine.playback(&session, settings.start_timeout).await {
            Ok(body) => body,
            Err(error) => return error,
        };
        let mut chunks = Vec::new();
        let mut first = true;
        // Small upstream reads are held back briefly and published as one
        // chunk: every chunk wakes every player for one write, so fewer,
        // larger chunks cut the CPU per byte delivered (see COALESCE_BYTES).
        let mut held = BytesMut::new();
        let mut hold_until: Option<Instant> = None;
        let mut idle_until = Instant::now() + settings.upstream_idle_timeout;
        loop {
            let wake = hold_until.map_or(idle_until, |hold| hold.min(idle_until));
            let next = tokio::time::timeout_at(wake.into(), body.next()).await;
            let bytes = match next {
                Err(_) if hold_until.is_some_and(|hold| hold <= Instant::now()) => {
                    self.feed(&held, splitter, &mut chunks, received);
                    held.clear();
                    hold_until = None;
                    continue;
                }
                Err(_) => return EngineError::Timeout(settings.upstream_idle_timeout),
                Ok(None) => {
                    // What arrived before the end is good data: players get it.
                    self.feed(&held, splitter, &mut chunks, received);
                    return EngineError::Engine("upstream ended".into());
                }
                Ok(Some(Err(error))) => {
                    self.feed(&held, splitter, &mut chunks, received);
                    return error;
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            idle_until = Instant::now() + settings.upstream_idle_timeout;
            if first && bytes.trim_ascii_start().starts_with(b"#EXTM3U") {
                return EngineError::Protocol(
                    "the engine sent an HLS playlist where MPEG-TS was asked for".into(),
                );
            }
            first = false;
            held.extend_from_slice(&bytes);
            // Until the first keyframe arrives players wait: publish at once.
            if held.len() >= COALESCE_BYTES || !*received {
                self.feed(&held, splitter, &mut chunks, received);
                held.clear();
                hold_until = None;
            } else if hold_until.is_none() {
                hold_until = Some(Instant::now() + COALESCE_DELAY);
            }
        }
    }

    /// Feeds the channel from its HLS channel's segments, in order, from the newest.
    async fn pump_hls(
        &self,
        hls: &HlsHub,
        settings: &ChannelSettings,
        splitter: &mut Splitter,
        received: &mut bool,
    ) -> EngineError {
        let consumer = match hls.consume(&self.id) {
            Ok(consumer) => consumer,
            Err(error) => return EngineError::Engine(error.to_string()),
        };
        let source = consumer.channel();
        if let Err(error) = crate::hls::wait_ready(source, settings.start_timeout).await {
            return match error {
                JoinError::Engine(error) => error,
                JoinError::StartTimeout(timeout) => EngineError::Timeout(timeout),
                other => EngineError::Engine(other.to_string()),
            };
        }
        let mut landed = source.buffer_subscribe();
        let mut next = source.newest_seq().unwrap_or(0);
        let mut chunks = Vec::new();
        loop {
            match source.lookup(next) {
                Lookup::Ready(segment) => {
                    if segment.meta.discontinuity {
                        splitter.reset();
                        self.ring.begin_resync();
                    }
                    self.feed(&segment.data, splitter, &mut chunks, received);
                    next += 1;
                }
                Lookup::Soon => {
                    let wait = settings.upstream_idle_timeout + source.target_duration();
                    match tokio::time::timeout(wait, landed.changed()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return EngineError::Engine("the HLS channel stopped".into()),
                        Err(_) => return EngineError::Timeout(wait),
                    }
                    if let Some(error) = source.failure() {
                        return error;
                    }
                }
                Lookup::Gone => {
                    // Fell behind the segment buffer: continue from the newest segment.
                    next = source.newest_seq().unwrap_or(next);
                    splitter.reset();
                    self.ring.begin_resync();
                }
            }
        }
    }

    /// Cuts upstream bytes into chunks and appends them to the ring.
    fn feed(
        &self,
        bytes: &[u8],
        splitter: &mut Splitter,
        chunks: &mut Vec<super::packet::Chunk>,
        received: &mut bool,
    ) {
        self.bytes_in
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        splitter.push(bytes, chunks);
        if chunks.is_empty() {
            return;
        }
        self.ring.append(chunks.drain(..), splitter.psi_packets());
        if !*received && self.ring.has_keyframe() {
            *received = true;
            let was = self.state.send_replace(ChannelState::Live);
            if matches!(was, ChannelState::Reconnecting) {
                tracing::info!(channel = %self.id, "upstream reconnected");
            }
        }
    }

    /// Ends the channel for its players: waiting ones get `state`, streaming ones a clean end.
    pub(super) fn finish(&self, state: ChannelState) {
        self.state.send_replace(state);
        self.ring.close();
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(5)).min(Duration::from_secs(5))
}

/// One player's view of a channel. Dropping it is how a player leaves.
#[derive(Debug)]
pub struct Player {
    channel: Arc<TsChannel>,
    cursor: Cursor,
    head: watch::Receiver<u64>,
    pending: VecDeque<Bytes>,
}

impl Player {
    /// Must be created under the hub's lock, so the linger check sees it.
    pub(super) fn new(channel: Arc<TsChannel>) -> Self {
        channel.players.send_modify(|count| *count += 1);
        let head = channel.ring.subscribe();
        tracing::info!(channel = %channel.id, players = channel.player_count(), "player joined");
        Self {
            channel,
            cursor: Cursor::default(),
            head,
            pending: VecDeque::new(),
        }
    }

    pub fn channel(&self) -> &Arc<TsChannel> {
        &self.channel
    }

    /// Waits until the channel has data to start this player with.
    pub async fn ready(&mut self, timeout: Duration) -> Result<(), JoinError> {
        let mut state = self.channel.state.subscribe();
        let wait = async {
            loop {
                match &*state.borrow_and_update() {
                    ChannelState::Failed(error) => return Err(JoinError::Engine(error.clone())),
                    ChannelState::Stopped => return Err(JoinError::Stopped),
                    _ if self.channel.ring.has_keyframe() => return Ok(()),
                    _ => {}
                }
                tokio::select! {
                    changed = state.changed() => if changed.is_err() { return Err(JoinError::Stopped) },
                    changed = self.head.changed() => if changed.is_err() { return Err(JoinError::Stopped) },
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(JoinError::StartTimeout(timeout)))
    }

    /// The player's bytes: PAT/PMT, then from the newest keyframe on, until the channel ends.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut player| async move {
            loop {
                if let Some(bytes) = player.pending.pop_front() {
                    player
                        .channel
                        .bytes_out
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    return Some((Ok(bytes), player));
                }
                match player.channel.ring.read(&mut player.cursor, PLAYER_BATCH) {
                    Read::Data(chunks) => player.pending.extend(chunks),
                    Read::Closed => return None,
                    Read::Pending => {
                        if player.head.changed().await.is_err() {
                            return None;
                        }
                    }
                }
            }
        })
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.channel
            .players
            .send_modify(|count| *count = count.saturating_sub(1));
        tracing::info!(
            channel = %self.channel.id,
            players = self.channel.player_count(),
            skips = self.cursor.skips,
            "player left"
        );
    }
}
