//! One channel per content id, one engine session per channel, whatever kinds
//! of players read it: TS players read the channel's fan-out ring, HLS players
//! its segment list (see [`feed`] for how both are fed from one session).
//!
//! [`Hub`] owns the channel table and everything about a channel's life that
//! is the same for every kind of player: the limits, the start, the
//! supervisor that feeds it and reads its stats, the linger after the last
//! player, stopping its engine session exactly once, containing a panic, and
//! the record of recent problems. The table's lock is never held across an
//! await, so one channel's slow engine call delays nobody.
//!
//! The table is keyed by [`ChannelKey`]: a per-id URL opens the channel of
//! that content id, a saved channel's stable URL opens the channel of its key,
//! which fails over between its alternates (see [`failover`]). Either way one
//! content id is played by at most one channel, so by one engine session: a
//! per-id request for an id that a saved channel plays now joins that channel,
//! a saved channel's request joins a per-id channel already playing one of its
//! alternates, and a failover skips an alternate another channel plays.

mod core;
mod error;
mod failover;
mod feed;
mod hls_view;
pub mod metrics;
mod moves;
mod problems;
mod reconnect;
mod session;
mod state;
mod ts_view;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::core::{Channel, ChannelInfo, ViewerCounts};
pub use self::error::{ChannelError, Fault};
pub use self::feed::{COALESCE_BYTES, COALESCE_DELAY};
pub use self::hls_view::Viewer;
pub use self::problems::Problem;
pub use self::ts_view::TsPlayer;

use self::core::Attachment;
use self::metrics::{Metrics, Snapshot};
use self::problems::Problems;
use self::session::SessionSlot;
use self::state::Event;
use crate::content_id::{ContentId, IdKind};
use crate::engine::EngineClient;
use crate::engine_pool::{EngineSpec, EngineState, Pool};
use crate::engine_process::EngineProcess;

/// Which engine endpoint a channel's session uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamMode {
    /// The engine's MPEG-TS; HLS segments are cut from it by the proxy.
    #[default]
    Ts,
    /// The engine's HLS; TS players get its segments concatenated.
    Hls,
}

/// Tunables of channels.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "test-config", derive(Serialize, Deserialize))]
pub struct ChannelSettings {
    /// What the engine session is.
    pub upstream: UpstreamMode,
    /// How long a channel without players keeps its engine session.
    pub linger: Duration,
    /// How long a start (engine call, prebuffering, first keyframe) may take.
    pub start_timeout: Duration,
    /// Most the TS ring holds: it keeps about a GOP while its players keep
    /// up, and up to this for a player that falls behind. 4 MiB is ~11 s of a
    /// 3 Mbit/s stream of slack for slow players.
    pub ring_bytes: usize,
    /// Target duration of the HLS segments the proxy cuts (keyframes permitting).
    pub hls_segment: Duration,
    /// Segments kept for HLS players: the playlist's window and 2 more for
    /// players still fetching from an older playlist.
    pub hls_max_segments: usize,
    /// Memory bound of one channel's segments (shared with the ring when cut
    /// by the proxy); one segment may take at most a quarter of it.
    pub hls_max_bytes: usize,
    /// Reconnect attempts in a row without data before players get an end of stream.
    pub max_reconnects: u32,
    /// An upstream that sends nothing for this long is treated as dropped.
    pub upstream_idle_timeout: Duration,
    /// How often the engine's session stats are read.
    pub stat_interval: Duration,
    /// Channels playing at once, all kinds together; one more is refused
    /// (503), since each costs the shared P2P engine a swarm.
    pub max_channels: usize,
    /// Players of one channel, TS and HLS together; one more is refused (429).
    pub max_players: usize,
    /// A channel with alternates switches to the next one when its id has
    /// delivered nothing for this long (reconnects included), or the engine
    /// reports no peers and no progress for this long.
    pub failover_after: Duration,
    /// Rounds through all alternates without any of them playing before the
    /// channel gives up and ends its players' streams.
    pub failover_rounds: u32,
    /// How long a channel that played waits for an engine that stopped
    /// answering (players stay connected) before it ends its players' streams.
    pub engine_wait: Duration,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            upstream: UpstreamMode::Ts,
            linger: Duration::from_secs(10),
            start_timeout: Duration::from_secs(60),
            ring_bytes: 4 * 1024 * 1024,
            hls_segment: Duration::from_secs(2),
            hls_max_segments: crate::hls::playlist::KEPT_SEGMENTS,
            hls_max_bytes: 64 * 1024 * 1024,
            max_reconnects: 5,
            upstream_idle_timeout: Duration::from_secs(20),
            stat_interval: Duration::from_secs(5),
            max_channels: 32,
            max_players: 100,
            failover_after: Duration::from_secs(15),
            failover_rounds: 3,
            engine_wait: Duration::from_secs(120),
        }
    }
}

impl ChannelSettings {
    /// Bound on one HLS segment, cut or downloaded: a quarter of the
    /// channel's segment memory, so a hostile engine's segment can neither
    /// exceed it nor push out everything else.
    pub fn max_segment_bytes(&self) -> usize {
        (self.hls_max_bytes / 4).max(1)
    }
}

/// What a channel of the hub's table is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelKey {
    /// Played through a per-id URL (`/ace/getstream?id=`): that id only.
    Id(ContentId),
    /// A saved channel played through its stable URL (`/channel/<key>.ts`),
    /// which fails over between its alternates. The key is the lowercase hex
    /// of the saved channel's own `id`, which reordering alternates leaves alone.
    Saved(String),
}

impl ChannelKey {
    /// The saved channel's key, if it is one.
    pub fn saved(&self) -> Option<&str> {
        match self {
            ChannelKey::Saved(key) => Some(key),
            ChannelKey::Id(_) => None,
        }
    }

    /// The path its HLS segments are served under; for a saved channel it
    /// stays the same across switches, so players keep their playlist.
    pub fn segment_prefix(&self) -> String {
        match self {
            ChannelKey::Id(id) => match id.kind() {
                IdKind::Content => format!("/ace/hls/{}/segment/", id.as_hex()),
                IdKind::Infohash => format!("/ace/hls/infohash:{}/segment/", id.as_hex()),
            },
            ChannelKey::Saved(key) => format!("/channel/{key}/segment/"),
        }
    }
}

impl std::fmt::Display for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelKey::Id(id) => write!(f, "{id}"),
            ChannelKey::Saved(key) => write!(f, "channel:{key}"),
        }
    }
}

/// What the hub calls with a saved channel's key and the alternate that went live.
type LiveHook = Arc<dyn Fn(&str, &ContentId) + Send + Sync>;

/// Told when a saved channel's alternate plays, so the app can try it first next time.
#[derive(Clone, Default)]
struct OnLive(Option<LiveHook>);

impl std::fmt::Debug for OnLive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OnLive(set)"
        } else {
            "OnLive(unset)"
        })
    }
}

/// Engine sessions being stopped, by content id. A channel leaves the table
/// before its session's stop is answered; a player tuning back meanwhile
/// starts a new channel, whose session must not open before the old one is
/// stopped: the engine breaks a stream when another session of the same
/// content stops.
#[derive(Debug, Default)]
pub(crate) struct Closing(Mutex<HashMap<ContentId, Arc<SessionSlot>>>);

impl Closing {
    fn lock(&self) -> MutexGuard<'_, HashMap<ContentId, Arc<SessionSlot>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, id: ContentId, slot: &Arc<SessionSlot>) {
        self.lock().insert(id, Arc::clone(slot));
    }

    fn forget(&self, id: &ContentId, slot: &Arc<SessionSlot>) {
        let mut closing = self.lock();
        if closing
            .get(id)
            .is_some_and(|noted| Arc::ptr_eq(noted, slot))
        {
            closing.remove(id);
        }
    }

    /// Waits (bounded) until a session of `id` being stopped is stopped.
    pub(crate) async fn wait(&self, id: &ContentId) {
        let closing = self.lock().get(id).cloned();
        if let Some(slot) = closing {
            slot.wait_closed().await;
        }
    }
}

/// The table of live channels. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    channels: Mutex<HashMap<ChannelKey, Arc<Channel>>>,
    on_live: Mutex<OnLive>,
    pool: Pool,
    settings: ChannelSettings,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    metrics: Metrics,
    problems: Problems,
    closing: Closing,
    engine_process: EngineProcess,
}

impl HubInner {
    fn channels(&self) -> MutexGuard<'_, HashMap<ChannelKey, Arc<Channel>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `channel` out of the table if it is still the one there. Its
    /// engine session is being stopped from now on: a new session on the
    /// same content waits for that (see [`Closing`]).
    fn remove(&self, channels: &mut HashMap<ChannelKey, Arc<Channel>>, channel: &Arc<Channel>) {
        if channels
            .get(&channel.key)
            .is_some_and(|current| Arc::ptr_eq(current, channel))
        {
            channels.remove(&channel.key);
            self.closing.note(channel.id(), &channel.session);
        }
    }

    /// Makes `id` the one `channel` plays, unless another channel plays it
    /// (two channels on one id would mean two engine sessions on it).
    pub(super) fn claim(&self, channel: &Channel, id: &ContentId) -> bool {
        let channels = self.channels();
        let taken = channels.values().any(|other| {
            !std::ptr::eq(Arc::as_ptr(other), channel) && other.playing().as_ref() == Some(id)
        });
        if !taken {
            channel.set_playing(id);
        }
        !taken
    }

    /// A saved channel's alternate went live: tell the app.
    pub(super) fn remember(&self, channel: &Channel, id: &ContentId) {
        let ChannelKey::Saved(key) = &channel.key else {
            return;
        };
        let on_live = self
            .on_live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(on_live) = on_live.0 {
            on_live(key, id);
        }
    }
}

impl Hub {
    pub fn new(pool: Pool, settings: ChannelSettings) -> Self {
        Self::with_engine_process(pool, settings, EngineProcess::unmanaged())
    }

    /// A hub whose channels start the engine through `engine_process` when it
    /// does not answer.
    pub fn with_engine_process(
        pool: Pool,
        settings: ChannelSettings,
        engine_process: EngineProcess,
    ) -> Self {
        Self {
            inner: Arc::new(HubInner {
                channels: Mutex::new(HashMap::new()),
                on_live: Mutex::default(),
                pool,
                settings,
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                metrics: Metrics::default(),
                problems: Problems::default(),
                closing: Closing::default(),
                engine_process,
            }),
        }
    }

    /// The engine process acebridge starts on demand, stops and reports.
    pub fn engine_process(&self) -> &EngineProcess {
        &self.inner.engine_process
    }

    /// Channels in the table now, whatever their state.
    pub fn channel_count(&self) -> usize {
        self.inner.channels().len()
    }

    /// Channels in the table now placed on the engine the engine process is
    /// about (see [`Self::engine`]): with a pool, channels on other engines
    /// neither keep it running nor ask for its restart.
    pub fn process_engine_channel_count(&self) -> usize {
        let engine = self.engine();
        self.inner
            .channels()
            .values()
            .filter(|channel| channel.member().url() == engine.base())
            .count()
    }

    pub fn settings(&self) -> &ChannelSettings {
        &self.inner.settings
    }

    /// The first engine listed: with one engine, the one channels start on;
    /// with several, the one the engine process is about if none is local.
    pub fn engine(&self) -> EngineClient {
        self.inner.pool.process_engine()
    }

    /// The engines channels are placed on.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Switches to one engine for channels started from now on.
    pub fn set_engine(&self, engine: EngineClient) {
        self.set_engines(&[EngineSpec {
            url: engine.base().clone(),
            max_channels: None,
        }]);
    }

    /// Switches to `engines` for channels started from now on; channels
    /// playing stay where they are.
    pub fn set_engines(&self, engines: &[EngineSpec]) {
        self.inner.pool.set(engines);
    }

    /// Calls `on_live(key, id)` whenever an alternate of a saved channel
    /// plays, so the app can persist it and try it first next time.
    pub fn set_on_live(&self, on_live: impl Fn(&str, &ContentId) + Send + Sync + 'static) {
        *self.inner.on_live.lock().unwrap_or_else(|p| p.into_inner()) =
            OnLive(Some(Arc::new(on_live)));
    }

    /// Finds or starts the channel for `key` (playing `alternates` in order)
    /// and lets `admit` attach a player to it, all under the table lock, so
    /// the idle check sees the player. A channel already playing one of the
    /// ids is joined instead: see the module comment.
    fn open<T>(
        &self,
        key: ChannelKey,
        alternates: Vec<ContentId>,
        admit: impl FnOnce(&Arc<Channel>) -> Result<T, ChannelError>,
    ) -> Result<T, ChannelError> {
        let settings = &self.inner.settings;
        let mut channels = self.inner.channels();
        if let Some(channel) = channels.get(&key) {
            return admit(channel);
        }
        if let Some(channel) = channels.values().find(|channel| {
            channel
                .playing()
                .is_some_and(|playing| alternates.contains(&playing))
        }) {
            return admit(channel);
        }
        if channels.len() >= settings.max_channels {
            return Err(ChannelError::TooManyChannels(settings.max_channels));
        }
        let Some(first) = alternates.first().cloned() else {
            return Err(ChannelError::Internal("a channel without ids".into()));
        };
        let process = &self.inner.engine_process;
        let seat = self
            .inner
            .pool
            .place_new(|member| member.managed() && process.would_start(member.client()))
            .map_err(|_| ChannelError::EnginesBusy)?;
        let channel = Arc::new(Channel::new(
            key.clone(),
            first,
            alternates,
            &self.inner,
            seat,
        ));
        let admitted = admit(&channel)?;
        channels.insert(key.clone(), Arc::clone(&channel));
        drop(channels);
        tracing::info!(channel = %key, alternates = channel.alternates.len(), engine = %channel.member().url(), upstream = ?settings.upstream, "channel starting");
        self.inner.tasks.spawn(supervise(channel));
        Ok(admitted)
    }

    /// Adds a TS player to the channel, starting the channel if needed.
    pub fn join_ts(&self, id: &ContentId) -> Result<TsPlayer, ChannelError> {
        self.join_ts_channel(ChannelKey::Id(id.clone()), vec![id.clone()])
    }

    /// Adds a TS player to the channel of `key`, which plays `alternates`
    /// (in that order) when it has to start.
    pub fn join_ts_channel(
        &self,
        key: ChannelKey,
        alternates: Vec<ContentId>,
    ) -> Result<TsPlayer, ChannelError> {
        let max = self.inner.settings.max_players;
        self.open(key, alternates, |channel| {
            if channel.player_count() >= max {
                return Err(ChannelError::TooManyPlayers(max));
            }
            Ok(TsPlayer::new(Arc::clone(channel)))
        })
    }

    /// Serves an HLS request of `viewer` for the channel, starting it if
    /// needed. The channel stays in use while the returned handle lives.
    pub fn open_hls(&self, id: &ContentId, viewer: &Viewer) -> Result<HlsRequest, ChannelError> {
        self.open_hls_channel(ChannelKey::Id(id.clone()), vec![id.clone()], viewer)
    }

    /// [`Hub::open_hls`] for the channel of `key`, playing `alternates`.
    pub fn open_hls_channel(
        &self,
        key: ChannelKey,
        alternates: Vec<ContentId>,
        viewer: &Viewer,
    ) -> Result<HlsRequest, ChannelError> {
        self.open(key, alternates, |channel| {
            self.admit_viewer(channel, viewer)
        })
    }

    /// An HLS request for the segments of the channel of `key` (segment
    /// URLs name their channel); `None` if no such channel plays.
    pub fn find_hls(
        &self,
        key: &ChannelKey,
        viewer: &Viewer,
    ) -> Option<Result<HlsRequest, ChannelError>> {
        let channels = self.inner.channels();
        let channel = channels.get(key)?;
        Some(self.admit_viewer(channel, viewer))
    }

    fn admit_viewer(
        &self,
        channel: &Arc<Channel>,
        viewer: &Viewer,
    ) -> Result<HlsRequest, ChannelError> {
        let max = self.inner.settings.max_players;
        let room = max.saturating_sub(channel.ts_player_count());
        if !channel.viewers.touch(viewer, channel.viewer_window(), room) {
            return Err(ChannelError::TooManyPlayers(max));
        }
        Ok(HlsRequest(Attachment::new(
            Arc::clone(channel),
            channel.viewer_window(),
        )))
    }

    /// Snapshots of every channel, ordered by id.
    pub fn list(&self) -> Vec<ChannelInfo> {
        let mut infos: Vec<_> = self.inner.channels().values().map(|c| c.info()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// Recent failed starts and drops, newest first.
    pub fn problems(&self) -> Vec<Problem> {
        self.inner.problems.list()
    }

    /// Something that happened to a reader of the channel of `key` playing
    /// `id` (a recording's disk failing), for the problems list.
    pub fn report_problem(&self, key: &ChannelKey, id: &ContentId, error: String) {
        self.inner.problems.record(key, id, error);
    }

    /// `GET /metrics`: counters since start and the table as it is now.
    pub fn metrics(&self) -> String {
        let mut snapshot = Snapshot::default();
        let mut by_state: HashMap<&'static str, usize> = HashMap::new();
        for info in self.list() {
            if let Some(key) = &info.channel {
                snapshot
                    .playing
                    .push((key.clone(), info.id.as_hex().to_owned()));
            }
            *by_state.entry(info.state).or_default() += 1;
            snapshot.ts_players += info.viewers.ts;
            snapshot.hls_viewers += info.viewers.hls;
        }
        let mut states: Vec<_> = by_state.into_iter().collect();
        states.sort_unstable();
        snapshot.channels_by_state = states;
        snapshot.engines = self
            .inner
            .pool
            .views()
            .into_iter()
            .map(|view| (view.url, view.channels, view.state != EngineState::Down))
            .collect();
        self.inner.metrics.render(&snapshot)
    }

    /// Stops a channel now, ending its players' streams. Returns false if unknown.
    pub fn stop(&self, id: &ContentId) -> bool {
        let channels = self.inner.channels();
        match channels.values().find(|channel| channel.id() == *id) {
            Some(channel) => {
                channel.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every channel and waits (bounded) until their engine sessions are stopped.
    pub async fn shutdown(&self) {
        session::stop_all(&self.inner.shutdown, &self.inner.tasks).await;
    }
}

/// An HLS request in flight: while it lives the channel does not linger
/// out, and after it the viewer counts as watching for a few target durations.
#[derive(Debug)]
pub struct HlsRequest(Attachment);

impl HlsRequest {
    pub fn channel(&self) -> &Arc<Channel> {
        self.0.channel()
    }
}

/// How a channel's life ended.
enum End {
    Failed(ChannelError),
    Idle,
    Cancelled,
}

/// Runs a channel from start to removal, then stops its engine session exactly once.
async fn supervise(channel: Arc<Channel>) {
    let hub = Arc::clone(&channel.hub);
    let run = async {
        tokio::select! {
            error = channel.run_alternates() => End::Failed(error),
            () = wait_idle(&hub, &channel) => End::Idle,
            () = channel.cancel.cancelled() => End::Cancelled,
            () = hub.shutdown.cancelled() => End::Cancelled,
            () = channel.session.poll_stats(hub.settings.stat_interval) => End::Cancelled,
        }
    };
    // A bug in one channel must not leave it in the table with its engine
    // session running: contain the panic and clean up as for any failure.
    let end = AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| End::Failed(ChannelError::Internal(panic_message(&panic))));
    {
        let mut channels = hub.channels();
        hub.remove(&mut channels, &channel);
    }
    hub.problems.engine_back(&channel.key, false);
    match end {
        End::Failed(error) => {
            tracing::warn!(channel = %channel.key, %error, fault = ?error.fault(), "channel failed");
            if channel.state.borrow().is_starting() {
                hub.metrics.start_failures.inc();
            }
            hub.problems
                .record(&channel.key, &channel.id(), error.to_string());
            channel.finish(Event::Failed(error));
        }
        End::Idle => {
            tracing::info!(channel = %channel.key, "channel stopped after linger");
            channel.finish(Event::Stopped);
        }
        End::Cancelled => {
            tracing::info!(channel = %channel.key, "channel stopped");
            channel.finish(Event::Stopped);
        }
    }
    channel.session.close(&channel.id()).await;
    hub.closing.forget(&channel.id(), &channel.session);
    channel.leave_engine();
    // Its players were ended by `finish`; once they let go, the buffers are freed.
    drop(channel);
    crate::memory::release_freed();
}

/// The message of a caught panic, for the log and the players.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Completes once nobody has been attached to the channel for the linger
/// time past its last viewer's presence, at which point it has been taken
/// out of the table (under the lock `open` uses, so a player arriving at the
/// last moment either finds it gone or keeps it alive).
async fn wait_idle(hub: &HubInner, channel: &Arc<Channel>) {
    let linger = hub.settings.linger;
    let mut attached = channel.attached.subscribe();
    loop {
        if attached.wait_for(|count| *count == 0).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(channel.idle_deadline(linger)) => {}
            changed = attached.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        let mut channels = hub.channels();
        if channel.attached_count() == 0
            && tokio::time::Instant::now() >= channel.idle_deadline(linger)
        {
            hub.remove(&mut channels, channel);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    //! The linger on paused time: no engine is involved in deciding when a
    //! channel is idle, so these drive `wait_idle` with attachments alone.
    use tokio::time::Instant;

    use super::*;

    const LINGER: Duration = Duration::from_secs(10);

    fn hub() -> Hub {
        let nowhere = url::Url::parse("http://127.0.0.1:9").expect("url");
        Hub::new(
            Pool::single(EngineClient::new(nowhere)),
            ChannelSettings {
                linger: LINGER,
                ..ChannelSettings::default()
            },
        )
    }

    /// A channel in the table, with no supervisor: the test plays its part.
    fn add_channel(hub: &Hub) -> Arc<Channel> {
        let id = ContentId::parse("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").expect("id");
        let inner = &hub.inner;
        let channel = Arc::new(Channel::new(
            ChannelKey::Id(id.clone()),
            id.clone(),
            vec![id.clone()],
            inner,
            inner.pool.place(None).expect("a seat"),
        ));
        inner
            .channels()
            .insert(ChannelKey::Id(id), Arc::clone(&channel));
        channel
    }

    /// Runs `wait_idle` and reports when it finished.
    fn idle_watch(hub: &Hub, channel: &Arc<Channel>) -> tokio::task::JoinHandle<Instant> {
        let (inner, channel) = (Arc::clone(&hub.inner), Arc::clone(channel));
        tokio::spawn(async move {
            wait_idle(&inner, &channel).await;
            Instant::now()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_channel_stops_one_linger_after_its_last_player_left() {
        let hub = hub();
        let channel = add_channel(&hub);
        let player = Attachment::new(Arc::clone(&channel), Duration::ZERO);
        let idle = idle_watch(&hub, &channel);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(!idle.is_finished(), "stopped while a player watched");
        let left = Instant::now();
        drop(player);
        let stopped = idle.await.expect("wait_idle");
        assert_eq!(stopped - left, LINGER);
        assert!(hub.list().is_empty(), "taken out of the table");
    }

    #[tokio::test(start_paused = true)]
    async fn a_player_rejoining_at_the_last_moment_keeps_the_channel() {
        let hub = hub();
        let channel = add_channel(&hub);
        let idle = idle_watch(&hub, &channel);
        drop(Attachment::new(Arc::clone(&channel), Duration::ZERO));
        tokio::time::sleep(LINGER - Duration::from_millis(1)).await;
        let back = Attachment::new(Arc::clone(&channel), Duration::ZERO);
        tokio::time::sleep(LINGER * 3).await;
        assert!(!idle.is_finished(), "stopped under a rejoined player");
        assert_eq!(hub.list().len(), 1);
        let left = Instant::now();
        drop(back);
        assert_eq!(idle.await.expect("wait_idle") - left, LINGER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_hls_viewer_counts_until_its_next_request_is_overdue() {
        let hub = hub();
        let channel = add_channel(&hub);
        let idle = idle_watch(&hub, &channel);
        let viewer = Viewer::new(std::net::Ipv4Addr::LOCALHOST.into(), Some("mpv"));
        let request = hub.admit_viewer(&channel, &viewer).expect("admitted");
        let done = Instant::now();
        drop(request);
        let stopped = idle.await.expect("wait_idle");
        assert_eq!(stopped - done, channel.viewer_window() + LINGER);
        assert_eq!(channel.info().viewers.hls, 0, "no longer watching");
    }

    /// Regression: during a switch the channel still named the alternate it
    /// was leaving, so a per-id request for that id joined the saved channel
    /// (and got the next alternate's stream) instead of playing it.
    #[tokio::test(start_paused = true)]
    async fn a_per_id_request_for_the_alternate_being_left_does_not_join_the_saved_channel() {
        let hub = hub();
        let a = ContentId::parse(&"a".repeat(40)).expect("id");
        let b = ContentId::parse(&"b".repeat(40)).expect("id");
        let key = ChannelKey::Saved(a.as_hex().to_owned());
        let saved = Arc::new(Channel::new(
            key.clone(),
            a.clone(),
            vec![a.clone(), b],
            &hub.inner,
            hub.inner.pool.place(None).expect("a seat"),
        ));
        hub.inner.channels().insert(key, Arc::clone(&saved));
        let joined = hub.join_ts(&a).expect("joined");
        assert!(
            Arc::ptr_eq(joined.channel(), &saved),
            "A plays on the saved channel"
        );
        drop(joined);
        saved.release(&a, false).await;
        let own = hub.join_ts(&a).expect("a channel of its own");
        assert!(
            !Arc::ptr_eq(own.channel(), &saved),
            "joined the saved channel that left A"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_channel_is_not_removed_by_its_predecessor() {
        let hub = hub();
        let old = add_channel(&hub);
        let new = add_channel(&hub); // same id: replaces `old` in the table
        idle_watch(&hub, &old).await.expect("wait_idle");
        assert_eq!(hub.list().len(), 1);
        assert!(Arc::ptr_eq(
            hub.inner.channels().values().next().expect("channel"),
            &new
        ));
    }
}
