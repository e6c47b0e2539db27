//! A channel's engine session slot: the session currently in use, its latest
//! stats, and the guarantee that every session the engine opened for the
//! channel gets stopped exactly once.
//!
//! Starting is the delicate part: a channel may be dropped (linger over,
//! zapped away, shutdown) while the engine is still answering a start call.
//! The start therefore runs in its own task that outlives the caller, and if
//! the slot was closed meanwhile, the new session is stopped instead of leaked.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::metrics::Metrics;
use super::ChannelError;
use crate::content_id::ContentId;
use crate::engine::{EngineClient, EngineError, Session, SessionKind, SessionStat};

#[derive(Debug, Default)]
struct Inner {
    /// The session in use and the engine it is on: stops and stats go to
    /// that engine, whichever engine the channel is on by then.
    current: Option<(Session, EngineClient)>,
    stat: Option<SessionStat>,
    /// The channel is finished: sessions arriving now are stopped at once.
    closed: bool,
}

/// The engine session of one channel.
#[derive(Debug)]
pub struct SessionSlot {
    inner: Mutex<Inner>,
    tasks: TaskTracker,
    metrics: Metrics,
    /// Stops sent in the background and not answered yet: a failover waits
    /// for them, so the next alternate never starts beside an old session.
    pending_stops: Arc<watch::Sender<usize>>,
    /// Starts in flight: a start whose caller gave up still makes its
    /// session current when it lands, so a failover waits for them too.
    pending_starts: Arc<watch::Sender<usize>>,
    /// Set once the slot is closed and its stops are answered: a new
    /// session on the same content waits for it (see `Closing`).
    closed_done: watch::Sender<bool>,
}

/// Longest anyone waits for the old session's stop before starting the next:
/// longer than the engine client's own bound on a stop call, so a stop in
/// flight has been answered or abandoned by then.
const STOP_WAIT: Duration = crate::engine::STOP_TIMEOUT.saturating_add(Duration::from_secs(1));
/// Longest a move off an engine that does not answer waits for its stop.
const DEAD_STOP_WAIT: Duration = Duration::from_secs(2);
/// Longest a failover waits for a start whose caller gave up to land (so it
/// can be stopped rather than become current beside the next alternate's).
const START_WAIT: Duration = Duration::from_secs(10);

impl SessionSlot {
    /// `tasks` is the hub's tracker, so shutdown waits for starts and stops in flight.
    pub fn new(tasks: TaskTracker, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            tasks,
            metrics,
            pending_stops: Arc::new(watch::Sender::new(0)),
            pending_starts: Arc::new(watch::Sender::new(0)),
            closed_done: watch::Sender::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current(&self) -> Option<Session> {
        self.lock()
            .current
            .as_ref()
            .map(|(session, _)| session.clone())
    }

    pub fn stat(&self) -> Option<SessionStat> {
        self.lock().stat.clone()
    }

    /// Starts a session and makes it current. Cancelling the returned future
    /// does not cancel the start: see the module comment.
    pub async fn start(
        self: &Arc<Self>,
        engine: &EngineClient,
        kind: SessionKind,
        id: &ContentId,
        timeout: Duration,
    ) -> Result<Session, ChannelError> {
        let slot = Arc::clone(self);
        let engine = engine.clone();
        let id = id.clone();
        let starting = Arc::clone(&self.pending_starts);
        starting.send_modify(|count| *count += 1);
        let start = self.tasks.spawn(async move {
            let started = engine.start(kind, &id, timeout).await;
            let landed = slot.land(&engine, &id, kind, started);
            starting.send_modify(|count| *count = count.saturating_sub(1));
            landed
        });
        start.await.unwrap_or_else(|join| {
            Err(ChannelError::Internal(format!("start task failed: {join}")))
        })
    }

    /// Makes a session that just started current (or stops it, if the slot closed).
    fn land(
        &self,
        engine: &EngineClient,
        id: &ContentId,
        kind: SessionKind,
        started: Result<Session, EngineError>,
    ) -> Result<Session, ChannelError> {
        let session = started?;
        self.metrics.note_session_opened(engine.base().as_str());
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            tracing::info!(channel = %id, pid = %session.pid, "channel ended during start; stopping the new session");
            self.stop_in_background(engine, session);
            return Err(ChannelError::Stopped);
        }
        tracing::info!(channel = %id, pid = %session.pid, ?kind, "engine session started");
        if let Some((stale, on)) = inner.current.replace((session.clone(), engine.clone())) {
            drop(inner);
            self.stop_in_background(&on, stale);
        }
        Ok(session)
    }

    /// Gives up the current session (it stopped working) and stops it in the background.
    pub fn discard(&self) {
        self.take_and_stop(false);
    }

    /// Takes the current session out (closing the slot for good with
    /// `close`) and stops it as a tracked task, so the stop is sent even if
    /// the caller is cancelled.
    fn take_and_stop(&self, close: bool) {
        let current = {
            let mut inner = self.lock();
            inner.closed |= close;
            inner.stat = None;
            inner.current.take()
        };
        if let Some((session, engine)) = current {
            self.stop_in_background(&engine, session);
        }
    }

    /// Closes the slot for good and stops the current session, if any, then
    /// waits (bounded) until every stop of the slot has been answered. The
    /// stop runs as a tracked task, so it is sent even if this is cancelled.
    pub async fn close(&self, channel: &ContentId) {
        self.take_and_stop(true);
        self.stops_answered(channel, STOP_WAIT).await;
        self.closed_done.send_replace(true);
    }

    /// Waits (bounded) until the slot is closed and its stops are answered.
    pub async fn wait_closed(&self) {
        let mut done = self.closed_done.subscribe();
        let _ = tokio::time::timeout(STOP_WAIT, done.wait_for(|done| *done)).await;
    }

    /// Waits (bounded) until every stop sent so far has been answered.
    async fn stops_answered(&self, channel: &ContentId, wait: Duration) {
        let mut pending = self.pending_stops.subscribe();
        if tokio::time::timeout(wait, pending.wait_for(|count| *count == 0))
            .await
            .is_err()
        {
            tracing::warn!(%channel, "an earlier engine session did not stop in time");
        }
    }

    /// Stops the current session and waits (bounded) until every stop sent
    /// before has been answered too; the slot stays open for the next session.
    /// `engine_dead`: its engine does not answer, so the stop is sent but
    /// waited for only briefly (a dead engine plays nothing).
    pub async fn stop_current(&self, channel: &ContentId, engine_dead: bool) {
        let mut starting = self.pending_starts.subscribe();
        if tokio::time::timeout(START_WAIT, starting.wait_for(|count| *count == 0))
            .await
            .is_err()
        {
            tracing::warn!(%channel, "an engine start is still in flight; switching anyway");
        }
        self.take_and_stop(false);
        let wait = if engine_dead {
            DEAD_STOP_WAIT
        } else {
            STOP_WAIT
        };
        self.stops_answered(channel, wait).await;
    }

    fn stop_in_background(&self, engine: &EngineClient, session: Session) {
        self.metrics.sessions_stopped.inc();
        let engine = engine.clone();
        let pending = Arc::clone(&self.pending_stops);
        pending.send_modify(|count| *count += 1);
        self.tasks.spawn(async move {
            match engine.stop(&session).await {
                Ok(()) => tracing::info!(pid = %session.pid, "engine session stopped"),
                Err(error) => {
                    tracing::warn!(pid = %session.pid, %error, "could not stop engine session")
                }
            }
            pending.send_modify(|count| *count = count.saturating_sub(1));
        });
    }

    /// Reads the engine's stats for the current session every `interval`, forever.
    pub async fn poll_stats(&self, interval: Duration) {
        loop {
            let current = self.lock().current.clone();
            if let Some((session, engine)) = current {
                match engine.stat(&session).await {
                    Ok(stat) => self.lock().stat = Some(stat),
                    Err(error) => tracing::debug!(pid = %session.pid, %error, "stat failed"),
                }
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// Bound on stopping sessions at shutdown, so a dead engine cannot hang the exit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Ends every channel of a hub (`shutdown` is what their supervisors watch) and
/// waits, bounded, until their engine sessions are stopped.
pub(super) async fn stop_all(shutdown: &CancellationToken, tasks: &TaskTracker) {
    shutdown.cancel();
    tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some channels did not stop in time");
    }
}
