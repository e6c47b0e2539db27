//! One channel: its identity (key, alternates, the id playing), what its
//! engine session feeds (the TS ring and the HLS segment list), its state,
//! its counters, and who is attached to it. TS players and HLS viewers are
//! views on the same channel. What every channel shares (settings, metrics,
//! problems, the engine process, the table) is reached through `hub`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::hls_view::Viewers;
use super::session::SessionSlot;
use super::state::{ChannelState, Event};
use super::{ChannelError, ChannelKey, HubInner, UpstreamMode};
use crate::content_id::ContentId;
use crate::engine::{EngineClient, SessionStat};
use crate::engine_pool::{Member, Seat};
use crate::hls::SegmentBuffer;
use crate::ts::ring::Ring;

/// A channel shared by all its players, whatever their kind.
#[derive(Debug)]
pub struct Channel {
    /// The hub's shared parts. The hub's table holds the channel until its
    /// supervisor takes it out, which ends this reference cycle.
    pub(super) hub: Arc<HubInner>,
    /// The channel's place on the engine its sessions start on; a move
    /// replaces it.
    seat: Mutex<Seat>,
    /// What the channel is in the hub's table: one content id, or a saved
    /// channel that fails over between its alternates.
    pub(super) key: ChannelKey,
    /// The content ids to play, in the order they are tried; one for a per-id channel.
    pub(super) alternates: Vec<ContentId>,
    /// The alternate whose engine session feeds the channel now (or is being
    /// started), and whether it is claimed: during a switch the abandoned one
    /// is named but no longer claimed, so others may play it.
    playing: Mutex<(ContentId, bool)>,
    /// Switches from one alternate to another since the channel started.
    pub(super) switches: AtomicU64,
    /// The last switch: `"<from> -> <to>: <reason>"`.
    pub(super) last_switch: Mutex<Option<String>>,
    pub(super) upstream: UpstreamMode,
    pub(super) ring: Ring,
    pub(super) segments: SegmentBuffer,
    pub(super) state: watch::Sender<ChannelState>,
    /// TS players plus HLS requests in flight: while it is above zero the
    /// channel is in use, whatever the clock says.
    pub(super) attached: watch::Sender<usize>,
    pub(super) ts_players: AtomicUsize,
    pub(super) viewers: Viewers,
    pub(super) cancel: CancellationToken,
    pub(super) session: Arc<SessionSlot>,
    /// Until when the channel counts as watched when nobody is attached: a
    /// TS player's leaving, or an HLS viewer's last request plus the time it
    /// may take until its next one.
    present_until: Mutex<Instant>,
    /// Longest HLS segment seen, in milliseconds: paces HLS viewers' requests.
    target_ms: AtomicU64,
    started_at: Instant,
    /// When upstream data last arrived, in milliseconds since `started_at`.
    last_data_ms: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    pub(super) reconnects: AtomicU64,
    /// Engine HLS playlists that failed and segments lost (`--upstream hls`).
    pub(super) upstream_errors: AtomicU64,
}

/// A snapshot of a channel for `/api/streams`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelInfo {
    /// The content id playing now (for a saved channel: the current alternate).
    pub id: ContentId,
    /// The saved channel's key (its `/channel/<key>.ts` URL), if it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Every id the channel may play, in the order they are tried.
    pub alternates: Vec<ContentId>,
    /// Switches between alternates so far.
    pub switches: u64,
    /// The last switch and its reason (`"<from> -> <to>: <reason>"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_switch: Option<String>,
    pub state: &'static str,
    /// Viewers of every kind: TS connections plus HLS viewers.
    pub players: usize,
    pub viewers: ViewerCounts,
    /// What the engine session is: `ts` or `hls`.
    pub upstream: UpstreamMode,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub buffered_bytes: usize,
    pub segments_buffered: usize,
    pub uptime_secs: u64,
    pub reconnects: u64,
    pub upstream_errors: u64,
    pub engine: Option<SessionStat>,
    /// The engine the channel plays on (`engine` above is its session's stats).
    #[serde(rename = "engine_url")]
    pub engine_url: String,
}

/// Players of a channel by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ViewerCounts {
    pub ts: usize,
    pub hls: usize,
}

impl Channel {
    /// A channel of `hub`, starting with `first` of its `alternates`.
    pub(super) fn new(
        key: ChannelKey,
        first: ContentId,
        alternates: Vec<ContentId>,
        hub: &Arc<HubInner>,
        seat: Seat,
    ) -> Self {
        let settings = &hub.settings;
        let now = Instant::now();
        Self {
            hub: Arc::clone(hub),
            seat: Mutex::new(seat),
            key,
            playing: Mutex::new((first, true)),
            alternates,
            switches: AtomicU64::new(0),
            last_switch: Mutex::new(None),
            upstream: settings.upstream,
            ring: Ring::new(settings.ring_bytes),
            segments: SegmentBuffer::new(settings.hls_max_segments, settings.hls_max_bytes),
            state: watch::Sender::new(ChannelState::default()),
            attached: watch::Sender::new(0),
            ts_players: AtomicUsize::new(0),
            viewers: Viewers::default(),
            cancel: CancellationToken::new(),
            session: SessionSlot::new(hub.tasks.clone(), hub.metrics.clone()),
            present_until: Mutex::new(now),
            target_ms: AtomicU64::new(settings.hls_segment.as_millis() as u64),
            started_at: now,
            last_data_ms: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            upstream_errors: AtomicU64::new(0),
        }
    }

    /// The engine the channel's next session starts on.
    pub(super) fn member(&self) -> Arc<Member> {
        Arc::clone(self.seat.lock().unwrap_or_else(|p| p.into_inner()).member())
    }

    /// The client of that engine.
    pub(super) fn engine(&self) -> EngineClient {
        self.member().client().clone()
    }

    /// The channel ended: its engine no longer counts it, whoever still holds it.
    pub(super) fn leave_engine(&self) {
        self.seat.lock().unwrap_or_else(|p| p.into_inner()).leave();
    }

    /// Moves the channel to the engine of `seat`; the old seat is given up.
    pub(super) fn move_to(&self, seat: Seat) {
        *self.seat.lock().unwrap_or_else(|p| p.into_inner()) = seat;
    }

    /// What the channel is in the hub's table.
    pub fn key(&self) -> &ChannelKey {
        &self.key
    }

    /// The content id playing now, or the one last played during a switch.
    pub fn id(&self) -> ContentId {
        self.playing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The content id the channel holds (plays or starts), if any: none
    /// while it switches between alternates.
    pub(super) fn playing(&self) -> Option<ContentId> {
        let playing = self.playing.lock().unwrap_or_else(|p| p.into_inner());
        playing.1.then(|| playing.0.clone())
    }

    /// Makes `id` the one playing (the hub checks nobody else plays it).
    pub(super) fn set_playing(&self, id: &ContentId) {
        *self.playing.lock().unwrap_or_else(|p| p.into_inner()) = (id.clone(), true);
    }

    /// Stops the session of `id`, the alternate being left, and lets others
    /// play it once that session is stopped.
    pub(super) async fn release(&self, id: &ContentId, engine_dead: bool) {
        self.session.stop_current(id, engine_dead).await;
        self.playing.lock().unwrap_or_else(|p| p.into_inner()).1 = false;
    }

    /// Moves the channel's state on by `event` (see [`ChannelState::after`]);
    /// returns the state before.
    pub(super) fn report(&self, event: Event) -> ChannelState {
        let mut before = None;
        self.state.send_if_modified(|state| {
            let next = state.after(event);
            let changed = next.label() != state.label();
            before = Some(std::mem::replace(state, next));
            changed
        });
        before.unwrap_or_default()
    }

    /// TS players connected now.
    pub fn ts_player_count(&self) -> usize {
        self.ts_players.load(Ordering::Relaxed)
    }

    /// Players of every kind: TS connections plus recent HLS viewers.
    pub fn player_count(&self) -> usize {
        self.ts_player_count() + self.viewers.count(self.viewer_window())
    }

    /// How long an HLS viewer counts as watching after its last request:
    /// players ask for the playlist about once per target duration.
    pub(super) fn viewer_window(&self) -> Duration {
        3 * self.target_duration() + Duration::from_secs(2)
    }

    pub fn target_duration(&self) -> Duration {
        Duration::from_millis(self.target_ms.load(Ordering::Relaxed))
    }

    /// Records the longest segment so far (it paces viewers and idling).
    pub(super) fn note_segment_duration(&self, seconds: f32) {
        let ms = (f64::from(seconds) * 1000.0) as u64;
        self.target_ms
            .fetch_max(ms.clamp(500, 30_000), Ordering::Relaxed);
    }

    /// Extends the time the channel counts as watched to at least `until`.
    pub(super) fn present_until(&self, until: Instant) {
        let mut present = self.present_until.lock().unwrap_or_else(|p| p.into_inner());
        *present = (*present).max(until);
    }

    /// When the channel may stop if nobody attaches before then.
    pub(super) fn idle_deadline(&self, linger: Duration) -> Instant {
        *self.present_until.lock().unwrap_or_else(|p| p.into_inner()) + linger
    }

    pub(super) fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Notes that upstream data arrived now.
    pub(super) fn note_data(&self) {
        let ms = u64::try_from(self.uptime().as_millis()).unwrap_or(u64::MAX);
        self.last_data_ms.store(ms, Ordering::Relaxed);
    }

    /// When upstream data last arrived (the channel's start, if none came yet).
    pub(super) fn last_data(&self) -> Instant {
        self.started_at + Duration::from_millis(self.last_data_ms.load(Ordering::Relaxed))
    }

    /// How long players have had no new upstream data (since the start, if none came yet).
    pub(super) fn silent_for(&self) -> Duration {
        self.last_data().elapsed()
    }

    pub(super) fn attached_count(&self) -> usize {
        *self.attached.borrow()
    }

    pub(super) fn count_bytes_out(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.hub.metrics.bytes_out.inc_by(bytes as u64);
    }

    pub fn info(&self) -> ChannelInfo {
        let viewers = ViewerCounts {
            ts: self.ts_player_count(),
            hls: self.viewers.count(self.viewer_window()),
        };
        let (segments_buffered, segment_bytes) = self.segments.usage();
        ChannelInfo {
            id: self.id(),
            channel: self.key.saved().map(str::to_owned),
            alternates: self.alternates.clone(),
            switches: self.switches.load(Ordering::Relaxed),
            last_switch: self
                .last_switch
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            state: self.state.borrow().label(),
            players: viewers.ts + viewers.hls,
            viewers,
            upstream: self.upstream,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            // Segments cut by the proxy share the ring's chunks: count the larger.
            buffered_bytes: self.ring.buffered_bytes().max(segment_bytes),
            segments_buffered,
            uptime_secs: self.uptime().as_secs(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            upstream_errors: self.upstream_errors.load(Ordering::Relaxed),
            engine: self.session.stat(),
            engine_url: self.member().url().to_string(),
        }
    }

    /// Waits until `ready` holds, the channel fails or stops, or `timeout` passes.
    pub(super) async fn wait_until(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&Self) -> bool,
    ) -> Result<(), ChannelError> {
        let mut state = self.state.subscribe();
        let mut head = self.ring.subscribe();
        let mut landed = self.segments.subscribe();
        let wait = async {
            loop {
                match &*state.borrow_and_update() {
                    ChannelState::Failed(error) => return Err(error.clone()),
                    ChannelState::Stopped => return Err(ChannelError::Stopped),
                    _ if ready(self) => return Ok(()),
                    _ => {}
                }
                tokio::select! {
                    changed = state.changed() => if changed.is_err() { return Err(ChannelError::Stopped) },
                    changed = head.changed() => if changed.is_err() { return Err(ChannelError::Stopped) },
                    changed = landed.changed() => if changed.is_err() { return Err(ChannelError::Stopped) },
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(ChannelError::StartTimeout(timeout)))
    }

    /// Ends the channel for its players: waiting ones get the error,
    /// streaming ones a clean end.
    pub(super) fn finish(&self, end: Event) {
        self.report(end);
        self.ring.close();
    }
}

/// Something attached to a channel (a TS player, an HLS request in flight):
/// the channel does not linger out while one exists. Dropping it is leaving.
#[derive(Debug)]
pub(super) struct Attachment {
    channel: Arc<Channel>,
    /// How long after leaving the channel still counts as watched.
    grace: Duration,
}

impl Attachment {
    /// Must be created under the hub's table lock, so the idle check sees it.
    pub(super) fn new(channel: Arc<Channel>, grace: Duration) -> Self {
        channel.attached.send_modify(|count| *count += 1);
        Self { channel, grace }
    }

    pub(super) fn channel(&self) -> &Arc<Channel> {
        &self.channel
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.channel.present_until(Instant::now() + self.grace);
        self.channel
            .attached
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}
