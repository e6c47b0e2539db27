//! One HLS channel: the engine HLS session, the poller that downloads every
//! new segment in order into the channel's [`SegmentBuffer`], and the record of
//! who is watching (recent requesters), which decides when the channel is idle.
//!
//! The poller remembers only the highest upstream sequence number it took, so
//! memory does not grow with uptime. A sequence that goes backwards means the
//! engine restarted the stream: the next segment is marked as a discontinuity.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use super::buffer::SegmentBuffer;
use super::playlist::{self, Take, Upstream};
use crate::content_id::ContentId;
use crate::engine::{EngineClient, EngineError, Session, SessionKind, SessionStat};
use crate::session::SessionSlot;
use crate::ts::ChannelState;

/// Tunables of HLS channels.
#[derive(Debug, Clone)]
pub struct HlsSettings {
    /// Added to a few target durations without requests before the channel stops.
    pub linger: Duration,
    /// How long the engine may take to deliver the first segment.
    pub start_timeout: Duration,
    pub max_segments: usize,
    pub max_bytes: usize,
    /// Session restarts in a row without a new segment before giving up.
    pub max_restarts: u32,
    /// HLS channels playing at once; one more is refused (503).
    pub max_channels: usize,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            linger: Duration::from_secs(10),
            start_timeout: Duration::from_secs(60),
            max_segments: 12,
            max_bytes: 64 * 1024 * 1024,
            max_restarts: 3,
            max_channels: 32,
        }
    }
}

/// Playlist fetch failures in a row before the session is restarted.
const PLAYLIST_FAILURES_BEFORE_RESTART: u32 = 5;
/// One segment may take at most this share of the channel's buffer bound, so
/// a hostile engine's segment cannot push out everything else (or exceed it).
const SEGMENT_SHARE_OF_BUFFER: usize = 4;

#[derive(Debug)]
pub struct HlsChannel {
    pub(super) id: ContentId,
    pub(super) buffer: SegmentBuffer,
    pub(super) state: watch::Sender<ChannelState>,
    pub(super) cancel: CancellationToken,
    /// TS channels fed from this one (`--upstream hls`); they keep it alive.
    pub(super) consumers: watch::Sender<usize>,
    pub(super) session: Arc<SessionSlot>,
    /// Bound on one downloaded segment.
    max_segment_bytes: usize,
    requesters: Mutex<HashMap<SocketAddr, Instant>>,
    last_request: Mutex<Instant>,
    /// Longest segment seen, in milliseconds: paces polling and idling.
    target_ms: AtomicU64,
    started_at: Instant,
    upstream_errors: AtomicU64,
    restarts: AtomicU64,
    bytes_out: AtomicU64,
}

/// A snapshot of an HLS channel for `/api/streams`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HlsInfo {
    pub id: ContentId,
    pub kind: &'static str,
    pub state: &'static str,
    /// Distinct clients that requested something in the last few target durations.
    pub players: usize,
    pub segments_buffered: usize,
    pub buffered_bytes: usize,
    pub last_seq: Option<u64>,
    pub bytes_out: u64,
    pub upstream_errors: u64,
    pub restarts: u64,
    pub uptime_secs: u64,
    pub engine: Option<SessionStat>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl HlsChannel {
    pub(super) fn new(id: ContentId, settings: &HlsSettings, tasks: TaskTracker) -> Self {
        Self {
            id,
            buffer: SegmentBuffer::new(settings.max_segments, settings.max_bytes),
            state: watch::Sender::new(ChannelState::Starting),
            cancel: CancellationToken::new(),
            consumers: watch::Sender::new(0),
            session: SessionSlot::new(tasks),
            max_segment_bytes: settings.max_bytes / SEGMENT_SHARE_OF_BUFFER,
            requesters: Mutex::new(HashMap::new()),
            last_request: Mutex::new(Instant::now()),
            target_ms: AtomicU64::new(2000),
            started_at: Instant::now(),
            upstream_errors: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> &ContentId {
        &self.id
    }

    pub fn target_duration(&self) -> Duration {
        Duration::from_millis(self.target_ms.load(Ordering::Relaxed))
    }

    /// How long without requests (or consumers) before the channel stops.
    pub(super) fn idle_after(&self, linger: Duration) -> Duration {
        3 * self.target_duration() + linger
    }

    /// Records a request: keeps the channel alive and counts the requester.
    pub fn touch(&self, peer: Option<SocketAddr>) {
        let now = Instant::now();
        *lock(&self.last_request) = now;
        if let Some(peer) = peer {
            let window = 3 * self.target_duration();
            let mut requesters = lock(&self.requesters);
            requesters.retain(|_, seen| now.duration_since(*seen) < window);
            // Bounded even if every request came from a new port.
            if requesters.len() < 1024 || requesters.contains_key(&peer) {
                requesters.insert(peer, now);
            }
        }
    }

    pub(super) fn idle_for(&self) -> Duration {
        lock(&self.last_request).elapsed()
    }

    pub fn count_bytes_out(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn info(&self) -> HlsInfo {
        let (segments_buffered, buffered_bytes) = self.buffer.usage();
        let window = 3 * self.target_duration();
        let players = lock(&self.requesters)
            .values()
            .filter(|seen| seen.elapsed() < window)
            .count();
        HlsInfo {
            id: self.id.clone(),
            kind: "hls",
            state: self.state.borrow().label(),
            players,
            segments_buffered,
            buffered_bytes,
            last_seq: self.buffer.next_seq().checked_sub(1),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            upstream_errors: self.upstream_errors.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            uptime_secs: self.started_at.elapsed().as_secs(),
            engine: self.session.stat(),
        }
    }

    /// Runs engine sessions until the channel fails for good; returns why.
    pub(super) async fn run_poller(
        &self,
        engine: &EngineClient,
        settings: &HlsSettings,
    ) -> EngineError {
        let mut restarts = 0u32;
        let mut discontinuity = false;
        loop {
            let started = self
                .session
                .start(engine, SessionKind::Hls, &self.id, settings.start_timeout)
                .await;
            let error = match started {
                Ok(session) => {
                    let stored_before = self.buffer.next_seq();
                    let error = self
                        .poll_session(engine, &session, &mut discontinuity)
                        .await;
                    if self.buffer.next_seq() > stored_before {
                        restarts = 0;
                    }
                    error
                }
                Err(error) => error,
            };
            if self.buffer.next_seq() == 0 {
                // Never delivered anything: tell the waiting players now.
                return error;
            }
            self.session.discard(engine);
            restarts += 1;
            if restarts > settings.max_restarts {
                return error;
            }
            self.restarts.fetch_add(1, Ordering::Relaxed);
            self.state.send_replace(ChannelState::Reconnecting);
            discontinuity = true;
            tracing::warn!(channel = %self.id, %error, attempt = restarts, "HLS upstream broken, restarting the session");
            tokio::time::sleep(Duration::from_millis(500) * restarts).await;
        }
    }

    /// Polls one session's playlist and downloads every new segment in order.
    async fn poll_session(
        &self,
        engine: &EngineClient,
        session: &Session,
        discontinuity: &mut bool,
    ) -> EngineError {
        let mut playlist_url = session.playback_url.clone();
        let mut newest_taken: Option<u64> = None;
        let mut failures = 0u32;
        loop {
            let media = match self.fetch_media_playlist(engine, &mut playlist_url).await {
                Ok(media) => media,
                Err(error) => {
                    self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                    failures += 1;
                    tracing::debug!(channel = %self.id, %error, failures, "playlist fetch failed");
                    if failures >= PLAYLIST_FAILURES_BEFORE_RESTART
                        || self.buffer.next_seq() == 0 && is_final(&error)
                    {
                        return error;
                    }
                    tokio::time::sleep(self.poll_interval() * failures).await;
                    continue;
                }
            };
            failures = 0;
            if let Some(longest) = media.segments.iter().map(|s| s.duration).reduce(f32::max) {
                let ms = (f64::from(longest) * 1000.0) as u64;
                self.target_ms
                    .store(ms.clamp(500, 30_000), Ordering::Relaxed);
            }
            let first = media.media_sequence;
            let skip = match playlist::take(newest_taken, first, media.segments.len()) {
                Take::New { skip } => skip,
                Take::Reset { skip } => {
                    tracing::info!(channel = %self.id, "upstream sequence reset");
                    newest_taken = None;
                    *discontinuity = true;
                    skip
                }
                Take::Absurd => {
                    return EngineError::Protocol(format!(
                        "the engine's playlist has an impossible media sequence ({first})"
                    ))
                }
            };
            for (offset, segment) in media.segments.iter().enumerate().skip(skip) {
                let upstream_seq = first + offset as u64;
                match self
                    .download(engine, &playlist_url, &segment.uri, self.max_segment_bytes)
                    .await
                {
                    Ok(data) => {
                        let seq = self.buffer.push(segment.duration, *discontinuity, data);
                        *discontinuity = false;
                        if seq == 1 || matches!(*self.state.borrow(), ChannelState::Reconnecting) {
                            self.state.send_replace(ChannelState::Live);
                        }
                    }
                    Err(error) if self.buffer.next_seq() == 0 && is_final(&error) => {
                        // The first segment is refused for good (over its bound, redirected
                        // off the engine): tell the waiting players why, now.
                        return error;
                    }
                    Err(error) => {
                        // Skip it rather than stall the live edge; players see a discontinuity.
                        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(channel = %self.id, %error, upstream_seq, "segment lost");
                        *discontinuity = true;
                    }
                }
                newest_taken = Some(upstream_seq);
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// Half a target duration, as HLS clients poll.
    fn poll_interval(&self) -> Duration {
        (self.target_duration() / 2).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }

    async fn fetch_media_playlist(
        &self,
        engine: &EngineClient,
        url: &mut Url,
    ) -> Result<m3u8_rs::MediaPlaylist, EngineError> {
        // One hop through a master playlist at most.
        for _ in 0..2 {
            let body = engine.fetch_playlist(url).await?;
            match playlist::parse_upstream(&body).map_err(EngineError::Protocol)? {
                Upstream::Media(media) => return Ok(media),
                Upstream::Master { variant } => *url = engine.resolve(url, &variant)?,
            }
        }
        Err(EngineError::Protocol(
            "master playlist points to another master".into(),
        ))
    }

    async fn download(
        &self,
        engine: &EngineClient,
        playlist_url: &Url,
        uri: &str,
        max_bytes: usize,
    ) -> Result<Bytes, EngineError> {
        let url = engine.resolve(playlist_url, uri)?;
        let mut last_error = None;
        for _ in 0..2 {
            match engine.fetch_segment(&url, max_bytes).await {
                Ok(data) => return Ok(data),
                // Asking again for a segment over the bound gets the same answer.
                Err(error @ EngineError::TooLarge { .. }) => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| EngineError::Protocol("no attempt".into())))
    }

    /// Why the channel failed, once it has.
    pub fn failure(&self) -> Option<EngineError> {
        match &*self.state.borrow() {
            ChannelState::Failed(error) => Some(error.clone()),
            ChannelState::Stopped => Some(EngineError::Engine("the HLS channel stopped".into())),
            _ => None,
        }
    }

    /// The newest buffered segment's number.
    pub fn newest_seq(&self) -> Option<u64> {
        self.buffer.next_seq().checked_sub(1)
    }

    pub fn lookup(&self, seq: u64) -> super::buffer::Lookup {
        self.buffer.lookup(seq)
    }

    pub fn buffer_subscribe(&self) -> watch::Receiver<u64> {
        self.buffer.subscribe()
    }

    pub(super) fn finish(&self, state: ChannelState) {
        self.state.send_replace(state);
    }
}

/// An error that asking again will not fix (a protocol error, a reply over its
/// bound): on the first playlist or segment it fails the channel at once.
fn is_final(error: &EngineError) -> bool {
    matches!(
        error,
        EngineError::Protocol(_) | EngineError::TooLarge { .. }
    )
}
