//! The TS proxy: one [`TsChannel`] per content id, shared by all its players.
//!
//! [`TsHub`] owns the channel table. Players join through it; each channel runs
//! a supervisor task that feeds it from the engine, reads stats, and removes and
//! stops it once it has had no players for the linger time. The table's lock is
//! never held across an await, so one channel's slow engine call delays nobody.

mod channel;
pub mod packet;
mod ring;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use channel::{
    ChannelInfo, ChannelSettings, ChannelState, JoinError, Player, TsChannel, COALESCE_BYTES,
    COALESCE_DELAY,
};

use crate::config::UpstreamMode;
use crate::content_id::ContentId;
use crate::engine::{EngineClient, SharedEngine};
use crate::hls::HlsHub;

/// Where a TS channel gets its stream from.
#[derive(Debug, Clone)]
pub(crate) enum TsSource {
    /// The engine's MPEG-TS session (`/ace/getstream`).
    Engine,
    /// The segments of the channel's HLS session, concatenated: one engine HLS
    /// session serves both kinds of players.
    Hls(HlsHub),
}

/// The table of live TS channels.
#[derive(Debug, Clone)]
pub struct TsHub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    channels: Mutex<HashMap<ContentId, Arc<TsChannel>>>,
    engine: SharedEngine,
    upstream: UpstreamMode,
    hls: HlsHub,
    settings: ChannelSettings,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl TsHub {
    /// `upstream` is how channels are fed; `hls` is the HLS proxy's hub, which
    /// feeds TS channels with `UpstreamMode::Hls` and whenever their channel
    /// already plays as HLS.
    pub fn new(
        engine: SharedEngine,
        settings: ChannelSettings,
        upstream: UpstreamMode,
        hls: HlsHub,
    ) -> Self {
        Self {
            inner: Arc::new(HubInner {
                channels: Mutex::new(HashMap::new()),
                engine,
                upstream,
                hls,
                settings,
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn settings(&self) -> &ChannelSettings {
        &self.inner.settings
    }

    /// The engine new channels start on.
    pub fn engine(&self) -> EngineClient {
        self.inner.engine.get()
    }

    /// Switches the engine used by channels started from now on.
    pub fn set_engine(&self, engine: EngineClient) {
        self.inner.engine.set(engine);
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<ContentId, Arc<TsChannel>>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a player to the channel, starting the channel if it is not running.
    pub fn join(&self, id: &ContentId) -> Result<Player, JoinError> {
        let settings = &self.inner.settings;
        let mut channels = self.channels();
        if let Some(channel) = channels.get(id) {
            if channel.player_count() >= settings.max_players {
                return Err(JoinError::TooManyPlayers(settings.max_players));
            }
            return Ok(Player::new(Arc::clone(channel)));
        }
        if channels.len() >= settings.max_channels {
            return Err(JoinError::TooManyChannels(settings.max_channels));
        }
        let channel = Arc::new(TsChannel::new(
            id.clone(),
            &self.inner.settings,
            self.inner.tasks.clone(),
        ));
        channels.insert(id.clone(), Arc::clone(&channel));
        let player = Player::new(Arc::clone(&channel));
        drop(channels);
        let engine = self.engine();
        tracing::info!(channel = %id, engine = %engine.base(), "channel starting");
        self.inner
            .tasks
            .spawn(supervise(Arc::clone(&self.inner), channel, engine));
        Ok(player)
    }

    /// Snapshots of every channel, ordered by id.
    pub fn list(&self) -> Vec<ChannelInfo> {
        let mut infos: Vec<_> = self.channels().values().map(|c| c.info()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// Stops a channel now, ending its players' streams. Returns false if unknown.
    pub fn stop(&self, id: &ContentId) -> bool {
        match self.channels().get(id) {
            Some(channel) => {
                channel.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every channel and waits (bounded) until their engine sessions are stopped.
    pub async fn shutdown(&self) {
        crate::session::stop_all(&self.inner.shutdown, &self.inner.tasks, "channels").await;
    }
}

impl HubInner {
    /// Where a starting channel's stream comes from. A channel that already
    /// plays as HLS feeds its TS players too: a second engine session on the
    /// same content would break the first one's stream when either is stopped.
    fn source_for(&self, id: &ContentId) -> TsSource {
        match self.upstream {
            UpstreamMode::Hls => TsSource::Hls(self.hls.clone()),
            UpstreamMode::Ts if self.hls.is_playing(id) => {
                tracing::info!(channel = %id, "channel plays as HLS: TS players share its session");
                TsSource::Hls(self.hls.clone())
            }
            UpstreamMode::Ts => TsSource::Engine,
        }
    }
}

/// How a channel's life ended.
enum End {
    Failed(crate::engine::EngineError),
    Idle,
    Cancelled,
}

/// Runs a channel from start to removal, then stops its engine session exactly once.
async fn supervise(hub: Arc<HubInner>, channel: Arc<TsChannel>, engine: EngineClient) {
    let settings = &hub.settings;
    let source = hub.source_for(&channel.id);
    let run = async {
        tokio::select! {
            error = channel.run_upstream(&engine, &source, settings) => End::Failed(error),
            () = wait_idle(&hub, &channel) => End::Idle,
            () = channel.cancel.cancelled() => End::Cancelled,
            () = hub.shutdown.cancelled() => End::Cancelled,
            () = channel.session.poll_stats(&engine, settings.stat_interval) => End::Cancelled,
        }
    };
    // A bug in one channel must not leave it in the table with its engine
    // session running: contain the panic and clean up as for any failure.
    let end = AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            End::Failed(crate::engine::EngineError::Protocol(format!(
                "internal error: {}",
                panic_message(&panic)
            )))
        });
    {
        let mut channels = hub.channels.lock().unwrap_or_else(|p| p.into_inner());
        if channels
            .get(&channel.id)
            .is_some_and(|current| Arc::ptr_eq(current, &channel))
        {
            channels.remove(&channel.id);
        }
    }
    match end {
        End::Failed(error) => {
            tracing::warn!(channel = %channel.id, %error, "channel failed");
            channel.finish(ChannelState::Failed(error));
        }
        End::Idle => {
            tracing::info!(channel = %channel.id, "channel stopped after linger");
            channel.finish(ChannelState::Stopped);
        }
        End::Cancelled => {
            tracing::info!(channel = %channel.id, "channel stopped");
            channel.finish(ChannelState::Stopped);
        }
    }
    channel.session.close(&engine, &channel.id).await;
    // Its players were ended by `finish`; once they let go, the ring is freed.
    drop(channel);
    crate::memory::release_freed();
}

/// The message of a caught panic, for the log and the players.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Completes once the channel has had no players for the linger time, at which
/// point it has been taken out of the table (under the lock `join` uses, so a
/// player arriving at the last moment either finds it gone or keeps it alive).
async fn wait_idle(hub: &HubInner, channel: &Arc<TsChannel>) {
    let mut players = channel.players.subscribe();
    loop {
        if players.wait_for(|count| *count == 0).await.is_err() {
            return;
        }
        let rejoined =
            tokio::time::timeout(hub.settings.linger, players.wait_for(|count| *count > 0)).await;
        if rejoined.is_ok() {
            continue;
        }
        let mut channels = hub.channels.lock().unwrap_or_else(|p| p.into_inner());
        if channel.player_count() == 0 {
            if channels
                .get(&channel.id)
                .is_some_and(|current| Arc::ptr_eq(current, channel))
            {
                channels.remove(&channel.id);
            }
            return;
        }
    }
}
