//! Feeds a channel from its one engine session, whatever its players' kinds:
//! - `--upstream ts` (default): the engine's MPEG-TS, cut into the ring's
//!   chunks and, from the same chunks, into HLS segments;
//! - `--upstream hls`: the engine's HLS, every segment downloaded once, in
//!   order, kept as the channel's segments and concatenated into the ring.
//!
//! The feed reconnects on its own: after a drop it reopens the session (a TS
//! session's playback URL is read again; an HLS session is replaced), with
//! backoff, while players wait. After a reconnect the ring resumes on a
//! keyframe and the next segment is marked as a discontinuity.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;
use url::Url;

use super::core::{Channel, ChannelState};
use super::{ChannelError, ChannelSettings, UpstreamMode};
use crate::engine::{EngineClient, EngineError, Session, SessionKind};
use crate::hls::playlist::{self, Take, Upstream};
use crate::hls::{Cut, Segmenter};
use crate::ts::packet::{Chunk, Splitter};

/// Upstream bytes gathered before they are published to players, and the
/// longest they wait for company. A player at the live edge makes one write
/// per published chunk: the engine's small reads (~15 KB every 40 ms at
/// 3 Mbit/s) would cost one syscall each per player. The README's performance
/// section has the measurements. 400 ms is little next to the second or more
/// of buffer players keep, and joiners start from the buffer, not from the
/// next chunk. Public for the bench, whose `batched` copier gathers the same way.
pub const COALESCE_BYTES: usize = 120 * 1024;
/// See [`COALESCE_BYTES`].
pub const COALESCE_DELAY: Duration = Duration::from_millis(400);

/// Playlist fetch failures in a row before an HLS session is replaced.
const PLAYLIST_FAILURES_BEFORE_RESTART: u32 = 5;

/// What turns upstream bytes into the channel's outputs. It outlives one
/// alternate's session, so a switch is a restart (a keyframe resync for TS
/// players, a discontinuity for HLS players), not a new channel.
#[derive(Debug)]
pub(super) struct Cutter {
    splitter: Splitter,
    /// Cuts HLS segments from the TS; `None` when the segments are the engine's.
    segmenter: Option<Segmenter>,
    chunks: Vec<Chunk>,
}

impl Cutter {
    pub(super) fn new(settings: &ChannelSettings) -> Self {
        Self {
            splitter: Splitter::new(),
            segmenter: (settings.upstream == UpstreamMode::Ts)
                .then(|| Segmenter::new(settings.hls_segment, settings.max_segment_bytes())),
            chunks: Vec::new(),
        }
    }

    /// The upstream was replaced: nothing torn by the old one reaches players.
    pub(super) fn restart(&mut self, channel: &Channel) {
        // What the old upstream sent whole still reaches players; the frame it tore does not.
        self.splitter.end_upstream(&mut self.chunks);
        channel.publish(self);
        if let Some(cut) = self
            .segmenter
            .as_mut()
            .and_then(|s| s.restart(Instant::now()))
        {
            channel.store_segment(cut);
        }
        channel.ring.begin_resync();
    }
}

impl Channel {
    /// Runs the upstream of the id playing until it fails for good; returns
    /// why. With `give_up_after` (a channel with alternates to fail over to),
    /// reconnecting stops once nothing has arrived for that long.
    pub(super) async fn run_upstream(
        &self,
        engine: &EngineClient,
        settings: &ChannelSettings,
        cutter: &mut Cutter,
        give_up_after: Option<Duration>,
    ) -> ChannelError {
        let mut failures = 0u32;
        let mut ever_live = false;
        loop {
            let mut received = false;
            let error = match self.upstream {
                UpstreamMode::Ts => self.pump_ts(engine, settings, cutter, &mut received).await,
                UpstreamMode::Hls => self.pump_hls(engine, settings, cutter, &mut received).await,
            };
            if !ever_live && !received {
                // A first start that fails is reported to the waiting players at
                // once, with the engine's own message, rather than retried.
                return error;
            }
            ever_live = true;
            if received {
                failures = 0;
            }
            if !received || self.upstream == UpstreamMode::Hls {
                // The session itself is broken: start a fresh one next time.
                self.session.discard(engine);
            }
            failures += 1;
            if failures > settings.max_reconnects
                || give_up_after.is_some_and(|after| self.silent_for() >= after)
            {
                return error;
            }
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            self.metrics.reconnects.inc();
            self.problems
                .record(&self.id(), format!("upstream lost: {error}"));
            self.state.send_replace(ChannelState::Reconnecting);
            cutter.restart(self);
            let mut delay = backoff(failures);
            if let Some(after) = give_up_after {
                // The last try comes when the failover time is up, not a backoff later.
                delay = delay.min(after.saturating_sub(self.silent_for()));
            }
            tracing::warn!(channel = %self.key, %error, attempt = failures, ?delay, "upstream lost, reconnecting");
            tokio::time::sleep(delay).await;
        }
    }

    /// The current session, or a new one.
    async fn session(
        &self,
        engine: &EngineClient,
        kind: SessionKind,
        settings: &ChannelSettings,
    ) -> Result<Session, ChannelError> {
        match self.session.current() {
            Some(session) => Ok(session),
            None => {
                self.engine_ready(engine).await?;
                let id = self.id();
                // A session of this content that is being stopped (its channel
                // just ended) must be stopped before this one opens.
                self.closing.wait(&id).await;
                self.session
                    .start(engine, kind, &id, settings.start_timeout)
                    .await
            }
        }
    }

    /// Starts the engine first if acebridge manages it and it does not
    /// answer; meanwhile the channel shows "starting engine", not an error.
    async fn engine_ready(&self, engine: &EngineClient) -> Result<(), ChannelError> {
        let before = self.state.borrow().clone();
        let ready = self
            .engine_process
            .ensure_running_then(engine, || {
                self.state.send_replace(ChannelState::StartingEngine);
            })
            .await;
        self.state.send_if_modified(|state| {
            let waited = matches!(state, ChannelState::StartingEngine);
            if waited {
                *state = before;
            }
            waited
        });
        Ok(ready?)
    }

    /// One TS upstream connection: (re)uses the session, reads until it ends.
    /// Always returns the reason it ended; sets `received` once data flowed.
    async fn pump_ts(
        &self,
        engine: &EngineClient,
        settings: &ChannelSettings,
        cutter: &mut Cutter,
        received: &mut bool,
    ) -> ChannelError {
        let session = match self.session(engine, SessionKind::Ts, settings).await {
            Ok(session) => session,
            Err(error) => return error,
        };
        // No headers come until the engine has prebuffered (often 10-25 s).
        let mut body = match engine.playback(&session, settings.start_timeout).await {
            Ok(body) => body,
            Err(error) => return error.into(),
        };
        let mut first = true;
        // Small upstream reads are held back briefly and published as one
        // chunk: every chunk wakes every player for one write, so fewer,
        // larger chunks cut the CPU per byte delivered (see COALESCE_BYTES).
        let mut held = BytesMut::new();
        let mut hold_until: Option<Instant> = None;
        let mut idle_until = Instant::now() + settings.upstream_idle_timeout;
        loop {
            let wake = hold_until.map_or(idle_until, |hold| hold.min(idle_until));
            let next = tokio::time::timeout_at(wake, body.next()).await;
            let bytes = match next {
                Err(_) if hold_until.is_some_and(|hold| hold <= Instant::now()) => {
                    self.cut(&held, cutter, received);
                    held.clear();
                    hold_until = None;
                    continue;
                }
                Err(_) => return EngineError::Timeout(settings.upstream_idle_timeout).into(),
                Ok(None) => {
                    // What arrived before the end is good data: players get it.
                    self.cut(&held, cutter, received);
                    return EngineError::Engine("upstream ended".into()).into();
                }
                Ok(Some(Err(error))) => {
                    self.cut(&held, cutter, received);
                    return error.into();
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            idle_until = Instant::now() + settings.upstream_idle_timeout;
            if first && bytes.trim_ascii_start().starts_with(b"#EXTM3U") {
                return EngineError::Protocol(
                    "the engine sent an HLS playlist where MPEG-TS was asked for".into(),
                )
                .into();
            }
            first = false;
            held.extend_from_slice(&bytes);
            // Until the first keyframe arrives players wait: publish at once.
            if held.len() >= COALESCE_BYTES || !*received {
                self.cut(&held, cutter, received);
                held.clear();
                hold_until = None;
            } else if hold_until.is_none() {
                hold_until = Some(Instant::now() + COALESCE_DELAY);
            }
        }
    }

    /// Cuts upstream bytes into chunks for the ring and, with a TS upstream,
    /// into HLS segments.
    fn cut(&self, bytes: &[u8], cutter: &mut Cutter, received: &mut bool) {
        self.bytes_in
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if !bytes.is_empty() {
            self.note_data();
        }
        self.metrics.bytes_in.inc_by(bytes.len() as u64);
        cutter.splitter.push(bytes, &mut cutter.chunks);
        if !self.publish(cutter) {
            return;
        }
        if !*received && self.ring.has_keyframe() {
            *received = true;
            self.went_live();
        }
    }

    /// Hands the chunks cut to the ring and the segmenter; false if there were none.
    fn publish(&self, cutter: &mut Cutter) -> bool {
        if cutter.chunks.is_empty() {
            return false;
        }
        let psi = cutter.splitter.psi_packets();
        if let Some(segmenter) = &mut cutter.segmenter {
            let now = Instant::now();
            for chunk in &cutter.chunks {
                if let Some(cut) = segmenter.push(chunk, psi.as_ref(), now) {
                    self.store_segment(cut);
                }
            }
        }
        self.ring.append(cutter.chunks.drain(..), psi);
        true
    }

    fn store_segment(&self, cut: Cut) {
        self.note_segment_duration(cut.duration);
        self.segments
            .push(cut.duration, cut.discontinuity, cut.parts);
    }

    fn went_live(&self) {
        let was = self.state.send_replace(ChannelState::Live);
        match was {
            ChannelState::Starting => {
                let took = self.uptime();
                self.metrics.start_seconds.observe(took.as_secs_f64());
                tracing::info!(channel = %self.key, ?took, "channel live");
            }
            ChannelState::Reconnecting => {
                tracing::info!(channel = %self.key, "upstream reconnected")
            }
            _ => {}
        }
    }

    /// One engine HLS session: polls its playlist and downloads every new
    /// segment in order. Always returns why it ended; sets `received` once a
    /// segment was stored.
    async fn pump_hls(
        &self,
        engine: &EngineClient,
        settings: &ChannelSettings,
        cutter: &mut Cutter,
        received: &mut bool,
    ) -> ChannelError {
        let session = match self.session(engine, SessionKind::Hls, settings).await {
            Ok(session) => session,
            Err(error) => return error,
        };
        let mut playlist_url = session.playback_url.clone();
        let mut newest_taken: Option<u64> = None;
        let mut failures = 0u32;
        // Segments of an earlier session (a reconnect, another alternate)
        // do not continue into this one's.
        let mut discontinuity = self.segments.next_seq() > 0;
        let start_deadline = Instant::now() + settings.start_timeout;
        loop {
            if !*received && Instant::now() >= start_deadline {
                return ChannelError::StartTimeout(settings.start_timeout);
            }
            let media = match fetch_media_playlist(engine, &mut playlist_url).await {
                Ok(media) => media,
                Err(error) => {
                    self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                    failures += 1;
                    tracing::debug!(channel = %self.key, %error, failures, "playlist fetch failed");
                    if failures >= PLAYLIST_FAILURES_BEFORE_RESTART
                        || !*received && is_final(&error)
                        || *received && self.silent_for() >= settings.upstream_idle_timeout
                    {
                        return error.into();
                    }
                    tokio::time::sleep(self.poll_interval() * failures).await;
                    continue;
                }
            };
            failures = 0;
            let first = media.media_sequence;
            let count = media.segments.len();
            let skip = match playlist::take(newest_taken, first, count) {
                Take::New { skip } => skip,
                Take::Reset { skip } => {
                    // The sequence went backwards: the engine restarted the stream.
                    tracing::info!(channel = %self.key, "upstream sequence reset");
                    discontinuity = true;
                    newest_taken = None;
                    skip
                }
                Take::Absurd => {
                    return EngineError::Protocol(format!(
                        "the engine's playlist has an impossible media sequence ({first})"
                    ))
                    .into()
                }
            };
            for (offset, segment) in media.segments.iter().enumerate().skip(skip) {
                let data = match self
                    .download(engine, &playlist_url, &segment.uri, settings)
                    .await
                {
                    Ok(data) => data,
                    Err(error) if !*received && is_final(&error) => {
                        // The first segment is refused for good (over its bound,
                        // redirected off the engine): tell the waiting players why, now.
                        return error.into();
                    }
                    Err(error) => {
                        // Skip it rather than stall the live edge; players see a discontinuity.
                        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(channel = %self.key, %error, offset, "segment lost");
                        discontinuity = true;
                        continue;
                    }
                };
                if discontinuity {
                    cutter.restart(self);
                }
                self.note_segment_duration(segment.duration);
                self.segments
                    .push(segment.duration, discontinuity, vec![data.clone()]);
                discontinuity = false;
                self.cut(&data, cutter, received);
                if !*received {
                    *received = true;
                    self.went_live();
                }
            }
            if let Some(last) = count.checked_sub(1) {
                newest_taken = first.checked_add(last as u64).or(newest_taken);
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// Half a target duration, as HLS clients poll.
    fn poll_interval(&self) -> Duration {
        (self.target_duration() / 2).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }

    async fn download(
        &self,
        engine: &EngineClient,
        playlist_url: &Url,
        uri: &str,
        settings: &ChannelSettings,
    ) -> Result<Bytes, EngineError> {
        let url = engine.resolve(playlist_url, uri)?;
        let max = settings.max_segment_bytes();
        match engine.fetch_segment(&url, max).await {
            // Asking again for a segment over the bound gets the same answer.
            Err(error @ EngineError::TooLarge { .. }) => Err(error),
            Err(_) => engine.fetch_segment(&url, max).await,
            Ok(data) => Ok(data),
        }
    }
}

/// The engine's media playlist, following one master playlist at most.
async fn fetch_media_playlist(
    engine: &EngineClient,
    url: &mut Url,
) -> Result<m3u8_rs::MediaPlaylist, EngineError> {
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

/// An error that asking again will not fix (a protocol error, a reply over its
/// bound): on the first playlist or segment it fails the channel at once.
fn is_final(error: &EngineError) -> bool {
    matches!(
        error,
        EngineError::Protocol(_) | EngineError::TooLarge { .. }
    )
}

pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(5)).min(Duration::from_secs(5))
}
