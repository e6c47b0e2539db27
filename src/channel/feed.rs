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

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;
use url::Url;

use super::core::Channel;
use super::reconnect::{Ended, Next, Reconnect};
use super::state::{Event, Phase};
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

/// Bytes read at most in one go when a chunk is due; more are left for the
/// next chunk, so that an engine sending faster than it is read (a burst
/// after a stall) does not keep the feed from publishing.
const DRAIN_BYTES: usize = 4 * COALESCE_BYTES;

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
        tracing::debug!(channel = %channel.key, garbage_bytes = self.splitter.dropped_bytes(), "upstream restarted");
    }
}

/// Time bounds of one upstream connection.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// A start (engine call, prebuffering) may take this long in all.
    start: Duration,
    /// A connection that sends nothing for this long counts as dropped.
    idle: Duration,
}

impl Channel {
    /// Runs the upstream of the id playing until it fails for good; returns
    /// why. With `give_up_after` (a channel with alternates to fail over to),
    /// a start, a stall and reconnecting are each bounded by it. What to do
    /// after each connection ends is the reconnect policy's call.
    pub(super) async fn run_upstream(
        &self,
        cutter: &mut Cutter,
        give_up_after: Option<Duration>,
    ) -> ChannelError {
        let settings = &self.hub.settings;
        let bounds = Bounds {
            start: give_up_after.map_or(settings.start_timeout, |after| {
                settings.start_timeout.min(after)
            }),
            idle: give_up_after.map_or(settings.upstream_idle_timeout, |after| {
                settings.upstream_idle_timeout.min(after)
            }),
        };
        let mut policy = Reconnect::new(
            settings.max_reconnects,
            give_up_after,
            settings.engine_wait,
            self.upstream == UpstreamMode::Hls,
        );
        loop {
            let mut received = false;
            // While the engine is away, the session in hand skips the usual
            // engine check: ask (and start an engine acebridge manages) first.
            let unready = if policy.engine_away() {
                self.engine_ready().await.err()
            } else {
                None
            };
            if let Some(error) = unready.as_ref().filter(|error| !error.engine_is_away()) {
                // Acebridge gave up starting the engine, or the user stopped it.
                return error.clone();
            }
            let error = match (unready, self.upstream) {
                (Some(error), _) => error,
                (None, UpstreamMode::Ts) => self.pump_ts(cutter, &mut received, bounds).await,
                (None, UpstreamMode::Hls) => self.pump_hls(cutter, &mut received, bounds).await,
            };
            if let ChannelError::Engine(unreachable @ EngineError::Unreachable { .. }) = &error {
                self.member().note_unreachable(unreachable);
            }
            let was_away = policy.engine_away();
            let ended = Ended {
                received,
                engine_away: error.engine_is_away(),
                last_data: self.last_data(),
            };
            let after = match policy.on_end(ended, Instant::now()) {
                Next::GiveUp => return error,
                Next::WaitForEngine { after } => {
                    // Another engine can take the channel: move rather than wait.
                    if self.hub.pool.can_move_from(&self.member()) {
                        return error;
                    }
                    self.hub
                        .problems
                        .engine_away(&self.key, &away_reason(&error));
                    if !was_away {
                        tracing::warn!(channel = %self.key, %error, "engine unreachable; waiting for it");
                        self.report(Event::EngineAway);
                    }
                    after
                }
                Next::Retry {
                    after,
                    fresh_session,
                } => {
                    if was_away {
                        tracing::info!(channel = %self.key, "the engine answers again");
                        self.hub.problems.engine_back(&self.key, true);
                        self.report(Event::EngineAnswers);
                    }
                    if fresh_session {
                        self.session.discard();
                    }
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.hub.metrics.reconnects.inc();
                    self.hub.problems.record(
                        &self.key,
                        &self.id(),
                        format!("upstream lost: {error}"),
                    );
                    self.report(Event::Lost);
                    tracing::warn!(channel = %self.key, %error, ?after, "upstream lost, reconnecting");
                    after
                }
            };
            cutter.restart(self);
            tokio::time::sleep(after).await;
        }
    }

    /// The current session, or a new one.
    async fn session(&self, kind: SessionKind, timeout: Duration) -> Result<Session, ChannelError> {
        if let Some(session) = self.session.current() {
            return Ok(session);
        }
        self.engine_ready().await?;
        let id = self.id();
        // A session of this content that is being stopped (its channel
        // just ended) must be stopped before this one opens.
        self.hub.closing.wait(&id).await;
        let member = self.member();
        let started = self
            .session
            .start(member.client(), kind, &id, timeout)
            .await;
        match &started {
            Ok(_) => self.hub.pool.note_start_ok(&member, &id),
            Err(ChannelError::Engine(unreachable @ EngineError::Unreachable { .. })) => {
                member.note_unreachable(unreachable)
            }
            Err(ChannelError::Stopped | ChannelError::Internal(_)) => {}
            Err(error) => {
                self.hub.metrics.note_start_failed(member.url().as_str());
                self.hub
                    .pool
                    .note_start_failed(&member, &id, &error.to_string());
            }
        }
        started
    }

    /// Starts the engine first if acebridge manages it and it does not
    /// answer; meanwhile the channel shows "starting engine", not an error.
    async fn engine_ready(&self) -> Result<(), ChannelError> {
        let member = self.member();
        if !member.managed() {
            return Ok(());
        }
        let mut started = false;
        self.hub
            .engine_process
            .ensure_running_then(member.client(), || {
                started = true;
                self.report(Event::EngineStarting);
            })
            .await?;
        if started {
            self.report(Event::EngineAnswers);
        }
        Ok(())
    }

    /// One TS upstream connection: (re)uses the session, reads until it ends.
    /// Always returns the reason it ended; sets `received` once data flowed.
    async fn pump_ts(
        &self,
        cutter: &mut Cutter,
        received: &mut bool,
        bounds: Bounds,
    ) -> ChannelError {
        let began = Instant::now();
        let session = match self.session(SessionKind::Ts, bounds.start).await {
            Ok(session) => session,
            Err(error) => return error,
        };
        // No headers come until the engine has prebuffered (often 10-25 s);
        // the start call and the prebuffering share one bound.
        let left = bounds.start.saturating_sub(began.elapsed());
        let mut body = match self.engine().playback(&session, left).await {
            Ok(body) => body,
            Err(error) => return error.into(),
        };
        let mut first = true;
        // Small upstream reads are held back and published as one chunk:
        // every chunk wakes every player for one write, so fewer, larger
        // chunks cut the CPU per byte delivered (see COALESCE_BYTES). While a
        // chunk gathers, the engine's bytes wait in the socket and are read
        // at once when it is due, rather than one engine write (~40 ms) at a
        // time: each read is a wake-up, a syscall and the HTTP client's work,
        // paid per channel whatever its number of players.
        let mut held = 0usize;
        let mut hold_until: Option<Instant> = None;
        let mut idle_until = Instant::now() + bounds.idle;
        // How long a chunk takes to gather: COALESCE_DELAY, or less when
        // COALESCE_BYTES come sooner at the channel's bitrate.
        let mut gather = COALESCE_DELAY;
        let mut began = Instant::now();
        loop {
            if let Some(due) = hold_until {
                tokio::time::sleep_until(due).await;
                let mut ended = None;
                while held < DRAIN_BYTES {
                    match ready_now(&mut body).await {
                        None => break,
                        Some(None) => ended = Some(ChannelError::UpstreamEnded),
                        Some(Some(Err(error))) => ended = Some(error.into()),
                        Some(Some(Ok(bytes))) => {
                            self.take_in(&bytes, cutter);
                            held += bytes.len();
                            continue;
                        }
                    }
                    break;
                }
                // What arrived before an end is good data: players get it.
                self.cut(cutter, received);
                let now = Instant::now();
                if let Some(error) = ended {
                    return error;
                }
                if held == 0 {
                    // Nothing came since the last chunk: wait for the next bytes.
                    hold_until = None;
                    continue;
                }
                idle_until = now + bounds.idle;
                let took = now.saturating_duration_since(began);
                gather = COALESCE_DELAY.min(took.mul_f64(COALESCE_BYTES as f64 / held as f64));
                held = 0;
                began = now;
                hold_until = Some(now + gather);
                continue;
            }
            let bytes = match tokio::time::timeout_at(idle_until, body.next()).await {
                Ok(Some(Ok(bytes))) => bytes,
                ended => {
                    // What arrived before the end is good data: players get it.
                    self.cut(cutter, received);
                    return match ended {
                        Err(_) => EngineError::Timeout(bounds.idle).into(),
                        Ok(Some(Err(error))) => error.into(),
                        Ok(_) => ChannelError::UpstreamEnded,
                    };
                }
            };
            idle_until = Instant::now() + bounds.idle;
            if first && bytes.trim_ascii_start().starts_with(b"#EXTM3U") {
                return EngineError::Protocol(
                    "the engine sent an HLS playlist where MPEG-TS was asked for".into(),
                )
                .into();
            }
            first = false;
            self.take_in(&bytes, cutter);
            // Until the first keyframe arrives TS players wait, and until the
            // first segment is cut HLS players do: publish at once.
            if !*received || self.segments.next_seq() == 0 {
                self.cut(cutter, received);
            } else {
                held = bytes.len();
                began = Instant::now();
                hold_until = Some(began + gather);
            }
        }
    }

    /// Counts upstream bytes and scans them into the cutter's splitter;
    /// [`Self::cut`] publishes what they complete.
    fn take_in(&self, bytes: &[u8], cutter: &mut Cutter) {
        self.bytes_in
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if !bytes.is_empty() {
            self.note_data();
        }
        self.hub.metrics.bytes_in.inc_by(bytes.len() as u64);
        cutter.splitter.take_in(bytes);
    }

    /// Cuts the bytes taken in into chunks for the ring and, with a TS
    /// upstream, into HLS segments.
    fn cut(&self, cutter: &mut Cutter, received: &mut bool) {
        cutter.splitter.release_ready(&mut cutter.chunks);
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
        // A channel nobody watches as HLS keeps only what a first viewer
        // starts on; viewers count for a while after their last request.
        let watched = self.viewers.count(self.viewer_window()) > 0;
        self.segments.set_watched(watched);
        self.segments.push(cut);
    }

    fn went_live(&self) {
        self.hub.problems.engine_back(&self.key, true);
        match self.report(Event::Live).phase() {
            Some(Phase::Starting) => {
                let took = self.uptime();
                self.hub.metrics.start_seconds.observe(took.as_secs_f64());
                tracing::info!(channel = %self.key, ?took, "channel live");
            }
            Some(Phase::Reconnecting | Phase::WaitingForEngine) => {
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
        cutter: &mut Cutter,
        received: &mut bool,
        bounds: Bounds,
    ) -> ChannelError {
        let engine = &self.engine();
        let session = match self.session(SessionKind::Hls, bounds.start).await {
            Ok(session) => session,
            Err(error) => return error,
        };
        let mut playlist_url = session.playback_url.clone();
        let mut newest_taken: Option<u64> = None;
        let mut failures = 0u32;
        // Segments of an earlier session (a reconnect, another alternate)
        // do not continue into this one's.
        let mut discontinuity = self.segments.next_seq() > 0;
        let start_deadline = Instant::now() + bounds.start;
        loop {
            if !*received && Instant::now() >= start_deadline {
                return ChannelError::StartTimeout(bounds.start);
            }
            let media = match fetch_media_playlist(engine, &mut playlist_url).await {
                Ok(media) => media,
                Err(error) => {
                    self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                    failures += 1;
                    tracing::debug!(channel = %self.key, %error, failures, "playlist fetch failed");
                    if failures >= PLAYLIST_FAILURES_BEFORE_RESTART
                        || !*received && is_final(&error)
                        || *received && self.silent_for() >= bounds.idle
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
                let data = match self.download(&playlist_url, &segment.uri).await {
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
                self.store_segment(Cut {
                    duration: segment.duration,
                    discontinuity,
                    parts: vec![data.clone()],
                    starts_mid_gop: false,
                });
                discontinuity = false;
                self.take_in(&data, cutter);
                self.cut(cutter, received);
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

    async fn download(&self, playlist_url: &Url, uri: &str) -> Result<Bytes, EngineError> {
        let engine = &self.engine();
        let url = engine.resolve(playlist_url, uri)?;
        let max = self.hub.settings.max_segment_bytes();
        match engine.fetch_segment(&url, max).await {
            // Asking again for a segment over the bound gets the same answer.
            Err(error @ EngineError::TooLarge { .. }) => Err(error),
            Err(_) => engine.fetch_segment(&url, max).await,
            Ok(data) => Ok(data),
        }
    }
}

/// The next item of `body` if the engine's bytes for it are already here:
/// the HTTP client's connection task gets one turn of the runtime to read
/// them from the socket, and `None` means it found nothing.
async fn ready_now<S: futures_util::Stream + Unpin>(body: &mut S) -> Option<Option<S::Item>> {
    tokio::select! {
        biased;
        item = body.next() => Some(item),
        () = tokio::task::yield_now() => None,
    }
}

/// The engine's media playlist, following one master playlist at most.
async fn fetch_media_playlist(
    engine: &EngineClient,
    url: &mut Url,
) -> Result<m3u8_rs::MediaPlaylist, EngineError> {
    for _ in 0..2 {
        let body = engine.fetch_playlist(url).await?;
        match playlist::parse_upstream(&body)? {
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

/// What the problems list says of an engine that went away.
fn away_reason(error: &ChannelError) -> String {
    match error {
        ChannelError::Engine(EngineError::Unreachable { reason, .. }) => reason.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! The segment window of a TS channel, fed the fixture clip directly (no
    //! engine): what it keeps with and without HLS viewers.
    use std::sync::Arc;

    use acebridge_testkit::fixtures::CLIP_TS;
    use acebridge_testkit::ts::first_video_packet_is_keyframe;

    use super::super::{ChannelKey, Hub, Viewer};
    use super::*;
    use crate::content_id::ContentId;
    use crate::hls::AT_REST;
    use crate::ts::packet::PACKET_SIZE;

    fn channel(hub: &Hub) -> Arc<Channel> {
        let id = ContentId::parse(&"c".repeat(40)).expect("id");
        Arc::new(Channel::new(
            ChannelKey::Id(id.clone()),
            id.clone(),
            vec![id],
            &hub.inner,
            hub.inner.pool.place(None).expect("a seat"),
        ))
    }

    /// Feeds `bytes` in small reads, as the engine sends them.
    fn feed(channel: &Channel, cutter: &mut Cutter, received: &mut bool, bytes: &[u8]) {
        for read in bytes.chunks(PACKET_SIZE * 20) {
            channel.take_in(read, cutter);
            channel.cut(cutter, received);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_channel_without_hls_viewers_keeps_only_the_segments_a_first_viewer_starts_on() {
        let nowhere = url::Url::parse("http://127.0.0.1:9").expect("url");
        // One-second segments, so the clip makes more than a window of them.
        let hub = Hub::new(
            crate::engine_pool::Pool::single(crate::engine::EngineClient::new(nowhere)),
            ChannelSettings {
                hls_segment: Duration::from_secs(1),
                ..ChannelSettings::default()
            },
        );
        let channel = channel(&hub);
        let mut cutter = Cutter::new(&hub.inner.settings);
        let mut received = false;
        // Five eighths of the clip: past the short first segment and the
        // mid-GOP one after it (a playlist never starts there), with enough
        // left to cut two more segments below.
        let split = CLIP_TS.len() / PACKET_SIZE * 5 / 8 * PACKET_SIZE;
        feed(&channel, &mut cutter, &mut received, &CLIP_TS[..split]);
        let cut = channel.segments.next_seq() as usize;
        assert!(cut > AT_REST, "{cut} segments cut");
        let window = channel.segments.window(crate::hls::playlist::WINDOW);
        assert_eq!(
            window.len(),
            AT_REST,
            "at rest the playlist shows the newest"
        );
        let mut kept = 0;
        for meta in &window {
            let segment = channel
                .segments
                .wait_for(meta.seq, Duration::ZERO)
                .await
                .expect("a listed segment");
            kept += segment.len();
        }
        assert_eq!(
            channel.segments.usage(),
            (AT_REST, kept),
            "no segment bytes beyond the listed ones"
        );
        let newest = channel
            .segments
            .wait_for(window[AT_REST - 1].seq, Duration::ZERO)
            .await
            .expect("the newest segment");
        let bytes: Vec<u8> = newest.parts.iter().flatten().copied().collect();
        assert!(
            first_video_packet_is_keyframe(&bytes),
            "a viewer starts on it at once"
        );

        // A viewer comes: from the next segment on the window fills again.
        let viewer = Viewer::new(std::net::Ipv4Addr::LOCALHOST.into(), Some("vlc"));
        let request = hub.admit_viewer(&channel, &viewer).expect("admitted");
        let before = channel.segments.next_seq();
        feed(&channel, &mut cutter, &mut received, &CLIP_TS[split..]);
        drop(request);
        let cut_since = (channel.segments.next_seq() - before) as usize;
        assert!(cut_since >= 2, "{cut_since} segments cut while watched");
        assert_eq!(
            channel.segments.usage().0,
            (AT_REST + cut_since).min(hub.inner.settings.hls_max_segments),
            "the window grows"
        );
    }
}
