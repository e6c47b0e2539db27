//! The HLS proxy: one [`HlsChannel`] per content id, one engine HLS session
//! each, shared by every HLS player and by TS players when the upstream mode is
//! `hls`. Players get the proxy's own playlist and segments, served only from
//! the buffer by sequence number: the proxy never fetches a URL a client gave.
//!
//! [`HlsHub`] owns the channel table and each channel's supervisor task, which
//! stops the channel (and its engine session) once nobody has asked for it for
//! a few target durations plus the linger.

mod buffer;
mod channel;
pub mod playlist;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use buffer::{Lookup, Segment, SegmentMeta};
pub use channel::{HlsChannel, HlsInfo, HlsSettings};

use crate::content_id::ContentId;
use crate::engine::{EngineError, SharedEngine};
use crate::ts::{ChannelState, JoinError};

const STAT_INTERVAL: Duration = Duration::from_secs(5);

/// The table of live HLS channels.
#[derive(Debug, Clone)]
pub struct HlsHub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    channels: Mutex<HashMap<ContentId, Arc<HlsChannel>>>,
    engine: SharedEngine,
    settings: HlsSettings,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl HubInner {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<ContentId, Arc<HlsChannel>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps an HLS channel alive while a TS channel is fed from it.
#[derive(Debug)]
pub struct Consumer {
    channel: Arc<HlsChannel>,
}

impl Consumer {
    pub fn channel(&self) -> &Arc<HlsChannel> {
        &self.channel
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.channel
            .consumers
            .send_modify(|n| *n = n.saturating_sub(1));
        self.channel.touch(None);
    }
}

impl HlsHub {
    pub fn new(engine: SharedEngine, settings: HlsSettings) -> Self {
        Self {
            inner: Arc::new(HubInner {
                channels: Mutex::new(HashMap::new()),
                engine,
                settings,
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn settings(&self) -> &HlsSettings {
        &self.inner.settings
    }

    /// The channel for `id`, started if needed; counts the request.
    pub fn open(
        &self,
        id: &ContentId,
        peer: Option<SocketAddr>,
    ) -> Result<Arc<HlsChannel>, JoinError> {
        let mut channels = self.inner.channels();
        if let Some(channel) = channels.get(id) {
            channel.touch(peer);
            return Ok(Arc::clone(channel));
        }
        if channels.len() >= self.inner.settings.max_channels {
            return Err(JoinError::TooManyChannels(self.inner.settings.max_channels));
        }
        let channel = Arc::new(HlsChannel::new(
            id.clone(),
            &self.inner.settings,
            self.inner.tasks.clone(),
        ));
        channel.touch(peer);
        channels.insert(id.clone(), Arc::clone(&channel));
        drop(channels);
        tracing::info!(channel = %id, "HLS channel starting");
        self.inner
            .tasks
            .spawn(supervise(Arc::clone(&self.inner), Arc::clone(&channel)));
        Ok(channel)
    }

    /// Whether `id` plays as HLS now.
    pub fn is_playing(&self, id: &ContentId) -> bool {
        self.inner.channels().contains_key(id)
    }

    /// A running channel by the hex id in a segment URL (either id kind); counts the request.
    pub fn find(&self, hex: &str, peer: Option<SocketAddr>) -> Option<Arc<HlsChannel>> {
        let channels = self.inner.channels();
        let channel = channels
            .iter()
            .find(|(id, _)| id.as_hex() == hex)
            .map(|(_, channel)| Arc::clone(channel))?;
        channel.touch(peer);
        Some(channel)
    }

    /// Opens the channel as a consumer (a TS channel fed by it). `open` has just
    /// touched it, so the idle check cannot remove it before the count goes up.
    pub fn consume(&self, id: &ContentId) -> Result<Consumer, JoinError> {
        let channel = self.open(id, None)?;
        channel.consumers.send_modify(|n| *n += 1);
        Ok(Consumer { channel })
    }

    /// The proxy's playlist for the channel, once it holds a segment; `query`
    /// goes at the end of each segment URI.
    pub async fn playlist(&self, channel: &HlsChannel, query: &str) -> Result<Vec<u8>, JoinError> {
        wait_ready(channel, self.inner.settings.start_timeout).await?;
        let window = channel.buffer.window(playlist::WINDOW);
        Ok(playlist::render(channel.id().as_hex(), &window, query))
    }

    /// A buffered segment, waiting a little if it is the one being downloaded.
    pub async fn segment(&self, channel: &HlsChannel, seq: u64) -> Option<Segment> {
        let wait = (2 * channel.target_duration()).max(Duration::from_secs(2));
        let segment = channel.buffer.wait_for(seq, wait).await?;
        channel.count_bytes_out(segment.data.len());
        Some(segment)
    }

    pub fn list(&self) -> Vec<HlsInfo> {
        let mut infos: Vec<_> = self.inner.channels().values().map(|c| c.info()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// Stops a channel now; false if it is not running.
    pub fn stop(&self, id: &ContentId) -> bool {
        match self.inner.channels().get(id) {
            Some(channel) => {
                channel.cancel.cancel();
                true
            }
            None => false,
        }
    }

    pub async fn shutdown(&self) {
        crate::session::stop_all(&self.inner.shutdown, &self.inner.tasks, "HLS channels").await;
    }
}

/// Waits until the channel holds a segment, failed, or the start timeout passed.
pub async fn wait_ready(channel: &HlsChannel, timeout: Duration) -> Result<(), JoinError> {
    let mut state = channel.state.subscribe();
    let mut landed = channel.buffer.subscribe();
    let wait = async {
        loop {
            match &*state.borrow_and_update() {
                ChannelState::Failed(error) => return Err(JoinError::Engine(error.clone())),
                ChannelState::Stopped => return Err(JoinError::Stopped),
                _ if channel.buffer.next_seq() > 0 => return Ok(()),
                _ => {}
            }
            tokio::select! {
                changed = state.changed() => if changed.is_err() { return Err(JoinError::Stopped) },
                changed = landed.changed() => if changed.is_err() { return Err(JoinError::Stopped) },
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .unwrap_or(Err(JoinError::StartTimeout(timeout)))
}

async fn supervise(hub: Arc<HubInner>, channel: Arc<HlsChannel>) {
    let engine = hub.engine.get();
    let run = async {
        tokio::select! {
            error = channel.run_poller(&engine, &hub.settings) => Some(error),
            () = wait_idle(&hub, &channel) => None,
            () = channel.cancel.cancelled() => None,
            () = hub.shutdown.cancelled() => None,
            () = channel.session.poll_stats(&engine, STAT_INTERVAL) => None,
        }
    };
    // Contain a bug in one channel: clean up as for any failure.
    let end: Option<EngineError> =
        AssertUnwindSafe(run)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Some(EngineError::Protocol(format!(
                    "internal error: {}",
                    crate::ts::panic_message(&panic)
                )))
            });
    {
        let mut channels = hub.channels();
        if channels
            .get(channel.id())
            .is_some_and(|current| Arc::ptr_eq(current, &channel))
        {
            channels.remove(channel.id());
        }
    }
    match end {
        Some(error) => {
            tracing::warn!(channel = %channel.id(), %error, "HLS channel failed");
            channel.finish(ChannelState::Failed(error));
        }
        None => {
            tracing::info!(channel = %channel.id(), "HLS channel stopped");
            channel.finish(ChannelState::Stopped);
        }
    }
    channel.session.close(&engine, channel.id()).await;
    drop(channel);
    crate::memory::release_freed();
}

/// Completes once nobody asked for the channel for a few target durations plus
/// the linger and no TS channel consumes it; it is then out of the table.
async fn wait_idle(hub: &HubInner, channel: &Arc<HlsChannel>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let idle_after = channel.idle_after(hub.settings.linger);
        if *channel.consumers.borrow() > 0 || channel.idle_for() < idle_after {
            continue;
        }
        let mut channels = hub.channels();
        if *channel.consumers.borrow() == 0 && channel.idle_for() >= idle_after {
            if channels
                .get(channel.id())
                .is_some_and(|current| Arc::ptr_eq(current, channel))
            {
                channels.remove(channel.id());
            }
            return;
        }
    }
}
