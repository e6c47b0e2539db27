//! The AceStream engine process acebridge starts on demand, for desktop users
//! who should never have to start the engine by hand.
//!
//! Owns the command (program and arguments, no shell; set by the user or
//! detected from the usual installs), the one child process acebridge spawned
//! and its log file (`engine.log` next to the settings file), and that child's
//! whole life: a start shared by every caller that needs the engine, the wait
//! until its version answers, restarts with backoff when it dies while
//! channels play, and stopping it (SIGTERM to its process group, then SIGKILL
//! after a bound) at quit, on request or after an idle time.
//!
//! Only the engine acebridge spawned is ever stopped: an engine that already
//! answered, or that someone else started, is left alone. The child is always
//! waited for by the task that owns it, so no zombie is left behind. Starts
//! are bounded (a few attempts, spaced by backoff, then a cool-down) so a
//! command that does not exist or exits at once cannot cause a retry storm.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::{Host, Url};

use crate::channel::Fault;
use crate::engine::EngineClient;

/// How long a started engine may take until its version answers, by
/// default. The real engine answers in a few seconds; a cold start on a slow
/// disk takes longer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a starting engine is asked for its version.
const READY_POLL: Duration = Duration::from_millis(100);
/// How long the engine may take to exit after SIGTERM before it is killed, by default.
pub const TERM_GRACE: Duration = Duration::from_secs(10);
/// Bound on the wait for a killed process to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Failed starts (or crashes soon after a start) in a row before acebridge
/// stops trying for [`FAILED_COOLDOWN`].
pub const MAX_ATTEMPTS: u32 = 3;
/// After [`MAX_ATTEMPTS`] failures, no start is tried for this long unless
/// the user asks for one.
pub const FAILED_COOLDOWN: Duration = Duration::from_secs(60);
/// An engine that ran this long before dying counts as having worked: its
/// death starts a fresh count of failures.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The log file is started afresh beyond this size, so it cannot fill a disk.
const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// How often the channel count is looked at for the idle stop and restarts.
const USAGE_POLL: Duration = Duration::from_secs(1);

/// How the engine process is managed; see [`crate::Config`].
#[derive(Debug, Clone, Default)]
pub struct ProcessSettings {
    /// The command the user set (`engine_command`, `--engine-command`).
    pub command: Option<Vec<String>>,
    /// Without a command, look for the usual installs (the tray app sets this).
    pub detect: bool,
    /// Stop the engine acebridge started after this long without a channel;
    /// `None` keeps it running while acebridge runs.
    pub idle_stop: Option<Duration>,
    /// Where the engine's output goes; `None` discards it.
    pub log_path: Option<PathBuf>,
    pub timeouts: ProcessTimeouts,
}

/// Bounds on the engine process's start and stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "test-config", derive(serde::Serialize, serde::Deserialize))]
pub struct ProcessTimeouts {
    /// A started engine whose version does not answer within this is stopped.
    pub ready: Duration,
    /// An engine still running this long after SIGTERM is killed.
    pub stop_grace: Duration,
}

impl Default for ProcessTimeouts {
    fn default() -> Self {
        Self {
            ready: READY_TIMEOUT,
            stop_grace: TERM_GRACE,
        }
    }
}

/// Where the engine process is, as the API and the tray report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    /// No command is known, or the engine is not on this machine: acebridge
    /// never starts an engine.
    #[serde(rename = "not managed")]
    NotManaged,
    Starting,
    /// The engine answers (see `started_by_acebridge` for whose it is).
    Running,
    /// acebridge is stopping the engine it started.
    Stopping,
    /// The engine does not answer and acebridge has not started it (yet).
    Stopped,
    /// The last start failed, or the engine kept dying; `error` says why.
    Failed,
}

/// A snapshot of the engine process for `/api/health` and the tray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessStatus {
    pub state: ProcessState,
    /// The engine that runs is the child acebridge spawned (and may stop).
    pub started_by_acebridge: bool,
    /// The command acebridge starts the engine with, if any.
    pub command: Option<Vec<String>>,
    /// The command was found among the usual installs, not set by the user.
    pub detected: bool,
    pub pid: Option<u32>,
    /// Why the last start failed or the engine stopped, for the user.
    pub error: Option<String>,
    /// Engine processes spawned since acebridge started.
    pub attempts: u32,
    /// Of those, restarts after the engine died while channels played.
    pub restarts: u32,
    /// Where the engine's output goes.
    pub log_file: Option<String>,
}

/// Why the engine process could not be started or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    #[error("no engine command is set: set engine_command in the settings file or pass --engine-command")]
    NoCommand,
    #[error(
        "the engine at {0} is not on this machine; acebridge starts only an engine on this machine"
    )]
    NotLocal(String),
    #[error(
        "acebridge did not start the engine that runs now; it stops only an engine it started"
    )]
    NotOurs,
    #[error("the engine was stopped in acebridge; start it again from the tray or the web UI")]
    Held,
    #[error("{last} (acebridge tries again in {} s)", retry_in.as_secs().max(1))]
    TooSoon { last: String, retry_in: Duration },
    /// The start failed: what the process did (did not spawn, exited, never answered).
    #[error("{0}")]
    Failed(String),
    #[error("acebridge is shutting down")]
    ShuttingDown,
}

impl ProcessError {
    /// Whose fault: acebridge's settings, the user's own stop, or the engine.
    pub fn fault(&self) -> Fault {
        match self {
            ProcessError::NoCommand | ProcessError::NotLocal(_) => Fault::Configuration,
            ProcessError::NotOurs => Fault::Player,
            ProcessError::Held | ProcessError::ShuttingDown => Fault::Stopped,
            ProcessError::TooSoon { .. } | ProcessError::Failed(_) => Fault::Engine,
        }
    }
}

/// The engine process manager; cheap to clone.
#[derive(Debug, Clone)]
pub struct EngineProcess {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every change of `state`: what waiters wait on.
    changed: watch::Sender<u64>,
    idle_stop: Option<Duration>,
    log_path: Option<PathBuf>,
    timeouts: ProcessTimeouts,
    tasks: TaskTracker,
    closing: CancellationToken,
    /// How many channels play, asked when the engine dies. Set by
    /// [`EngineProcess::track_usage`]; taken at shutdown, since it holds the
    /// hub that holds this manager.
    usage: Mutex<Option<ChannelCount>>,
}

/// Asks the hub how many channels it has.
type ChannelCount = Arc<dyn Fn() -> usize + Send + Sync>;

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("state", &self.state)
            .field("idle_stop", &self.idle_stop)
            .field("log_path", &self.log_path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Starting,
    Running,
    Stopping,
    Failed,
}

#[derive(Debug)]
struct State {
    command: Option<Vec<String>>,
    detected: bool,
    phase: Phase,
    /// The child acebridge spawned, while it has not exited.
    child: Option<OwnChild>,
    error: Option<String>,
    /// Failed starts and early deaths in a row.
    failures: u32,
    last_attempt: Option<Instant>,
    attempts: u32,
    restarts: u32,
    /// The user stopped the engine: no start on demand until they start it.
    held: bool,
    /// The engine client of the last start, for restarts.
    engine: Option<EngineClient>,
    /// Since when no channel has played.
    idle_since: Instant,
    /// Counts starts, so a stale start task never overwrites a newer one.
    generation: u64,
    closed: bool,
}

#[derive(Debug)]
struct OwnChild {
    pid: Option<u32>,
    generation: u64,
    stop: CancellationToken,
    /// Becomes `Some(how it exited)` once the child was reaped.
    exited: watch::Receiver<Option<String>>,
    running_since: Option<Instant>,
}

impl EngineProcess {
    /// A manager that never starts anything: the engine is the user's business.
    pub fn unmanaged() -> Self {
        Self::with_command(None, false, ProcessSettings::default())
    }

    /// Resolves the command (detecting installs if asked, off the async
    /// thread since it looks at the file system).
    pub async fn new(settings: ProcessSettings) -> Self {
        let (command, detected) = match (&settings.command, settings.detect) {
            (Some(command), _) => (Some(command.clone()), false),
            (None, true) => {
                let found = tokio::task::spawn_blocking(detect_installed)
                    .await
                    .unwrap_or(None);
                let detected = found.is_some();
                (found, detected)
            }
            (None, false) => (None, false),
        };
        match &command {
            Some(command) => {
                tracing::info!(?command, detected, "the engine will be started on demand")
            }
            None if settings.detect => {
                tracing::info!("no AceStream engine install found; start the engine by hand")
            }
            None => {}
        }
        Self::with_command(command, detected, settings)
    }

    fn with_command(
        command: Option<Vec<String>>,
        detected: bool,
        settings: ProcessSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    command,
                    detected,
                    phase: Phase::Idle,
                    child: None,
                    error: None,
                    failures: 0,
                    last_attempt: None,
                    attempts: 0,
                    restarts: 0,
                    held: false,
                    engine: None,
                    idle_since: Instant::now(),
                    generation: 0,
                    closed: false,
                }),
                changed: watch::Sender::new(0),
                idle_stop: settings.idle_stop,
                log_path: settings.log_path,
                timeouts: settings.timeouts,
                tasks: TaskTracker::new(),
                closing: CancellationToken::new(),
                usage: Mutex::new(None),
            }),
        }
    }

    /// Replaces the command (the settings changed); `None` stops managing.
    /// An engine already started keeps running.
    pub fn set_command(&self, command: Option<Vec<String>>) {
        let mut state = self.inner.lock();
        state.command = command;
        state.detected = false;
        state.failures = 0;
        if state.phase == Phase::Failed {
            state.phase = Phase::Idle;
            state.error = None;
        }
        drop(state);
        self.inner.notify();
    }

    /// Whether acebridge would start `engine`: a command is known and the
    /// engine is on this machine.
    pub fn manages(&self, engine: &EngineClient) -> bool {
        self.inner.lock().command.is_some() && is_loopback(engine.base())
    }

    /// Whether a new channel would start `engine` now: it is managed and
    /// the user has not stopped it.
    pub fn would_start(&self, engine: &EngineClient) -> bool {
        self.manages(engine) && !self.inner.lock().held
    }

    /// Makes sure `engine` answers before a session is started on it: at
    /// once if it does, else by starting it (shared with every other caller)
    /// and waiting, bounded, until it answers. Unmanaged engines are not
    /// even asked: their errors come from the session start, as before.
    pub async fn ensure_running(&self, engine: &EngineClient) -> Result<(), ProcessError> {
        self.ensure_running_then(engine, || {}).await
    }

    /// [`Self::ensure_running`], calling `starting` before it waits for a
    /// start (the channel then shows "starting engine").
    pub async fn ensure_running_then(
        &self,
        engine: &EngineClient,
        starting: impl FnOnce(),
    ) -> Result<(), ProcessError> {
        if !self.manages(engine) || engine.version().await.is_ok() {
            return Ok(());
        }
        starting();
        self.start_and_wait(engine, false).await
    }

    /// Starts the engine because the user asked (tray, web UI): clears a
    /// previous stop and the failure count. Ok at once if it already answers.
    pub async fn start(&self, engine: &EngineClient) -> Result<(), ProcessError> {
        if self.inner.lock().command.is_none() {
            return Err(ProcessError::NoCommand);
        }
        if !is_loopback(engine.base()) {
            return Err(ProcessError::NotLocal(engine.base().to_string()));
        }
        if engine.version().await.is_ok() {
            self.inner.lock().held = false;
            return Ok(());
        }
        self.start_and_wait(engine, true).await
    }

    /// Stops the engine acebridge started because the user asked; it is not
    /// started on demand again until the user starts it.
    pub async fn stop(&self) -> Result<(), ProcessError> {
        self.stop_child(true, "asked by the user").await
    }

    /// Reports the process; `reachable` is whether the engine answers now.
    pub fn status(&self, engine: &EngineClient, reachable: bool) -> ProcessStatus {
        let state = self.inner.lock();
        let ours = state.child.as_ref();
        let managed = state.command.is_some() && is_loopback(engine.base());
        let label = match state.phase {
            Phase::Starting => ProcessState::Starting,
            Phase::Stopping => ProcessState::Stopping,
            Phase::Running if ours.is_some() => ProcessState::Running,
            _ if reachable => ProcessState::Running,
            _ if !managed && ours.is_none() => ProcessState::NotManaged,
            Phase::Failed => ProcessState::Failed,
            _ => ProcessState::Stopped,
        };
        ProcessStatus {
            state: label,
            started_by_acebridge: ours.is_some(),
            command: state.command.clone(),
            detected: state.detected,
            pid: ours.and_then(|child| child.pid),
            error: state.error.clone(),
            attempts: state.attempts,
            restarts: state.restarts,
            log_file: self
                .inner
                .log_path
                .as_ref()
                .map(|path| path.display().to_string()),
        }
    }

    /// Lets the manager ask how many channels play: a dead engine is
    /// restarted only while some do, and the idle stop (looked at every
    /// second) needs it too. Runs until [`Self::shutdown`].
    pub fn track_usage(&self, channels: impl Fn() -> usize + Send + Sync + 'static) {
        let channels: ChannelCount = Arc::new(channels);
        *self.inner.usage.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&channels));
        let this = self.clone();
        self.inner.tasks.spawn(async move {
            let mut tick = tokio::time::interval(USAGE_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = this.inner.closing.cancelled() => return,
                }
                this.check_idle(channels()).await;
            }
        });
    }

    async fn check_idle(&self, count: usize) {
        let idle_for = {
            let mut state = self.inner.lock();
            let now = Instant::now();
            if count > 0 {
                state.idle_since = now;
            }
            match &state.child {
                Some(OwnChild {
                    running_since: Some(since),
                    ..
                }) if count == 0 && state.phase == Phase::Running => {
                    Some(now - state.idle_since.max(*since))
                }
                _ => None,
            }
        };
        if let (Some(limit), Some(idle)) = (self.inner.idle_stop, idle_for) {
            if idle >= limit {
                // Not held: the next player starts it again.
                let _ = self.stop_child(false, "no channel for the idle time").await;
            }
        }
    }

    /// At quit: stops the engine acebridge started (bounded) and ends every
    /// task of this manager. An engine someone else started is left alone.
    pub async fn shutdown(&self) {
        let pending = {
            let mut state = self.inner.lock();
            state.closed = true;
            state.child.as_ref().map(|child| {
                child.stop.cancel();
                child.exited.clone()
            })
        };
        self.inner.closing.cancel();
        self.inner
            .usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.inner.notify();
        if let Some(exited) = pending {
            tracing::info!("stopping the engine acebridge started");
            wait_exited(exited, self.inner.timeouts.stop_grace).await;
        }
        self.inner.tasks.close();
        if tokio::time::timeout(KILL_WAIT, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("engine process tasks did not end in time");
        }
    }

    async fn stop_child(&self, held: bool, reason: &str) -> Result<(), ProcessError> {
        let exited = {
            let mut state = self.inner.lock();
            let Some(child) = &state.child else {
                if state.phase != Phase::Starting {
                    return Err(ProcessError::NotOurs);
                }
                // A start not yet spawned (a restart's backoff): call it off.
                state.generation += 1;
                state.phase = Phase::Idle;
                state.held = held;
                state.error = None;
                drop(state);
                self.inner.notify();
                return Ok(());
            };
            tracing::info!(reason, pid = ?child.pid, "stopping the engine acebridge started");
            child.stop.cancel();
            let exited = child.exited.clone();
            state.phase = Phase::Stopping;
            state.held = held;
            exited
        };
        self.inner.notify();
        wait_exited(exited, self.inner.timeouts.stop_grace).await;
        let mut state = self.inner.lock();
        if state.phase == Phase::Stopping {
            state.phase = Phase::Idle;
            state.error = None;
            state.failures = 0;
        }
        drop(state);
        self.inner.notify();
        Ok(())
    }

    /// Starts the engine unless a start is under way (then joins it), and
    /// waits until that start is over.
    async fn start_and_wait(&self, engine: &EngineClient, asked: bool) -> Result<(), ProcessError> {
        let mut changed = {
            let mut state = self.inner.lock();
            if state.closed {
                return Err(ProcessError::ShuttingDown);
            }
            if asked {
                state.held = false;
                state.failures = 0;
            }
            match state.phase {
                Phase::Starting => {}
                Phase::Running if state.child.is_some() => return Ok(()),
                _ => {
                    if state.held {
                        return Err(ProcessError::Held);
                    }
                    if let Some(retry_in) = state.too_soon() {
                        let last = state.error.clone().unwrap_or_default();
                        return Err(ProcessError::TooSoon { last, retry_in });
                    }
                    self.inner.begin_start(&mut state, engine, Duration::ZERO);
                }
            }
            self.inner.changed.subscribe()
        };
        self.inner.notify();
        loop {
            {
                let state = self.inner.lock();
                match state.phase {
                    _ if state.closed => return Err(ProcessError::ShuttingDown),
                    Phase::Starting => {}
                    Phase::Running => return Ok(()),
                    _ => {
                        return Err(ProcessError::Failed(
                            state
                                .error
                                .clone()
                                .unwrap_or_else(|| "the engine was stopped".into()),
                        ))
                    }
                }
            }
            if changed.changed().await.is_err() {
                return Err(ProcessError::ShuttingDown);
            }
        }
    }
}

impl State {
    /// How long until another start may be tried, if not now.
    fn too_soon(&self) -> Option<Duration> {
        let last = self.last_attempt?;
        let spacing = if self.failures == 0 {
            return None;
        } else if self.failures >= MAX_ATTEMPTS {
            FAILED_COOLDOWN
        } else {
            backoff(self.failures)
        };
        let next = last + spacing;
        let now = Instant::now();
        (next > now).then(|| next - now)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Marks a start under way and spawns it (after `delay`).
    fn begin_start(self: &Arc<Self>, state: &mut State, engine: &EngineClient, delay: Duration) {
        let Some(command) = state.command.clone() else {
            return;
        };
        if state.failures >= MAX_ATTEMPTS {
            // The cool-down passed: a fresh round of attempts.
            state.failures = 0;
        }
        state.generation += 1;
        state.phase = Phase::Starting;
        state.attempts += 1;
        state.last_attempt = Some(Instant::now() + delay);
        state.engine = Some(engine.clone());
        let generation = state.generation;
        let inner = Arc::clone(self);
        let engine = engine.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = inner.closing.cancelled() => return,
            }
            inner.run_start(&engine, command, generation).await;
        });
    }

    /// Spawns the engine and waits until it answers, it exits, or the bound passes.
    async fn run_start(
        self: &Arc<Self>,
        engine: &EngineClient,
        command: Vec<String>,
        generation: u64,
    ) {
        let log = open_log(self.log_path.clone(), &command).await;
        if !self.still_starting(generation) {
            // Stopped, superseded or shutting down meanwhile: spawn nothing.
            return;
        }
        let mut exited = match self.spawn(&command, log, generation) {
            Ok(exited) => exited,
            Err(error) => {
                let message = format!("cannot run the engine command {:?}: {error}", command[0]);
                self.start_failed(generation, message);
                return;
            }
        };
        let started = Instant::now();
        let ready_timeout = self.timeouts.ready;
        let deadline = started + ready_timeout;
        loop {
            let exit = exited.borrow().clone();
            if let Some(how) = exit {
                let message = format!(
                    "the engine command {:?} exited ({how}) before the engine answered{}",
                    command[0],
                    self.see_log()
                );
                self.start_failed(generation, message);
                return;
            }
            if !self.still_starting(generation) {
                return;
            }
            if engine.version().await.is_ok() {
                let mut state = self.lock();
                if state.generation == generation && state.phase == Phase::Starting {
                    state.phase = Phase::Running;
                    state.error = None;
                    if let Some(child) = &mut state.child {
                        child.running_since = Some(Instant::now());
                    }
                    drop(state);
                    tracing::info!(took = ?started.elapsed(), "the engine acebridge started answers");
                    self.notify();
                }
                return;
            }
            if Instant::now() >= deadline {
                let message = format!(
                    "the engine did not answer within {ready_timeout:?} of starting; acebridge stopped it{}",
                    self.see_log()
                );
                if let Some(child) = &self.lock().child {
                    child.stop.cancel();
                }
                self.start_failed(generation, message);
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(READY_POLL) => {}
                _ = exited.changed() => {}
                () = self.closing.cancelled() => return,
            }
        }
    }

    /// Whether start `generation` is still the one under way.
    fn still_starting(&self, generation: u64) -> bool {
        let state = self.lock();
        state.generation == generation && state.phase == Phase::Starting && !state.closed
    }

    fn see_log(&self) -> String {
        self.log_path
            .as_ref()
            .map(|path| format!("; see {}", path.display()))
            .unwrap_or_default()
    }

    fn start_failed(&self, generation: u64, message: String) {
        let mut state = self.lock();
        if state.generation != generation || state.phase != Phase::Starting {
            return;
        }
        tracing::warn!(error = %message, "the engine did not start");
        state.phase = Phase::Failed;
        state.failures += 1;
        state.error = Some(message);
        drop(state);
        self.notify();
    }

    /// Spawns the child and the task that owns it until it is reaped.
    fn spawn(
        self: &Arc<Self>,
        command: &[String],
        log: Option<std::fs::File>,
        generation: u64,
    ) -> std::io::Result<watch::Receiver<Option<String>>> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| std::io::Error::other("the command is empty"))?;
        let mut process = tokio::process::Command::new(program);
        process.args(args).stdin(Stdio::null());
        match log {
            Some(file) => {
                let copy = file.try_clone()?;
                process.stdout(file).stderr(copy);
            }
            None => {
                process.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        // A safety net if the runtime goes away without a shutdown; the
        // normal path asks the engine to exit first.
        process.kill_on_drop(true);
        // Its own process group: the stop reaches the engine's own children
        // (the Linux launcher is a script), and a Ctrl-C in acebridge's
        // terminal does not kill it behind acebridge's back.
        #[cfg(unix)]
        process.process_group(0);
        #[cfg(windows)]
        process.creation_flags(windows::CREATE_NO_WINDOW);
        let child = process.spawn()?;
        let pid = child.id();
        tracing::info!(?pid, ?command, "started the engine");
        let stop = CancellationToken::new();
        let (exit_tx, exited) = watch::channel(None);
        {
            let mut state = self.lock();
            state.child = Some(OwnChild {
                pid,
                generation,
                stop: stop.clone(),
                exited: exited.clone(),
                running_since: None,
            });
        }
        let inner = Arc::clone(self);
        self.tasks.spawn(async move {
            let how = own_child(child, stop, inner.timeouts.stop_grace).await;
            exit_tx.send_replace(Some(how.clone()));
            inner.child_exited(generation, how);
        });
        Ok(exited)
    }

    /// The child exited: forget it, and restart it if it died while channels played.
    fn child_exited(self: &Arc<Self>, generation: u64, how: String) {
        let usage = self.usage.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // Asked before the state is locked: the hub's lock is never taken under ours.
        let channels = usage.map_or(0, |count| count());
        let mut state = self.lock();
        let Some(child) = state.child.take_if(|child| child.generation == generation) else {
            return;
        };
        let stopped = child.stop.is_cancelled();
        tracing::info!(%how, stopped, "the engine acebridge started exited");
        if stopped || state.phase != Phase::Running {
            // Stopped on purpose, or died while starting (`run_start` reports that).
            drop(state);
            self.notify();
            return;
        }
        let stable = child
            .running_since
            .is_some_and(|since| since.elapsed() >= STABLE_AFTER);
        if stable {
            state.failures = 0;
        }
        state.failures += 1;
        state.error = Some(format!(
            "the engine acebridge started exited unexpectedly ({how})"
        ));
        let engine = state.engine.clone();
        match engine {
            Some(engine) if channels > 0 && !state.closed && state.failures < MAX_ATTEMPTS => {
                let delay = backoff(state.failures);
                tracing::warn!(%how, ?delay, attempt = state.failures, "the engine died while channels play; restarting it");
                state.restarts += 1;
                self.begin_start(&mut state, &engine, delay);
            }
            _ => {
                tracing::warn!(%how, "the engine acebridge started exited");
                state.phase = if state.failures >= MAX_ATTEMPTS {
                    Phase::Failed
                } else {
                    Phase::Idle
                };
            }
        }
        drop(state);
        self.notify();
    }
}

/// Owns the child until it is reaped: waits for it, or stops it when asked.
async fn own_child(
    mut child: tokio::process::Child,
    stop: CancellationToken,
    grace: Duration,
) -> String {
    let status = tokio::select! {
        status = child.wait() => status,
        () = stop.cancelled() => terminate(&mut child, grace).await,
    };
    match status {
        Ok(status) => describe(status),
        Err(error) => format!("could not be waited for: {error}"),
    }
}

/// SIGTERM to the engine's process group, SIGKILL after `grace`.
async fn terminate(
    child: &mut tokio::process::Child,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Ok(status);
    }
    let pid = child.id();
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
        signal_group(pid, libc::SIGTERM);
    }
    #[cfg(windows)]
    if let Some(pid) = pid {
        windows::taskkill(pid, false).await;
    }
    if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
        return status;
    }
    tracing::warn!(?pid, ?grace, "the engine ignored SIGTERM; killing it");
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
        signal_group(pid, libc::SIGKILL);
    }
    #[cfg(windows)]
    if let Some(pid) = pid {
        windows::taskkill(pid, true).await;
    }
    let _ = child.start_kill();
    child.wait().await
}

/// Signals the process group led by `pid` (the engine and its children).
#[cfg(unix)]
fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
    // names the process group the child leads (spawned with process_group(0)),
    // and the child is not reaped yet, so the group id cannot be reused.
    let result = unsafe { libc::kill(-pid, signal) };
    if result != 0 {
        tracing::debug!(pid, signal, error = %std::io::Error::last_os_error(), "signal failed");
    }
}

#[cfg(windows)]
mod windows {
    //! Stopping a process tree on Windows (not tested: CI runs Linux).
    pub const CREATE_NO_WINDOW: u32 = 0x0800_0000;

    /// `taskkill /T` asks the tree to close; with `force`, kills it.
    pub async fn taskkill(pid: u32, force: bool) {
        let mut command = tokio::process::Command::new("taskkill");
        command.args(["/PID", &pid.to_string(), "/T"]);
        if force {
            command.arg("/F");
        }
        command.creation_flags(CREATE_NO_WINDOW);
        if let Err(error) = command.status().await {
            tracing::warn!(pid, %error, "taskkill failed");
        }
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return format!("killed by signal {signal}");
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    }
}

/// Waits (bounded) until the child's owner reports it reaped.
async fn wait_exited(mut exited: watch::Receiver<Option<String>>, grace: Duration) {
    let bound = grace + KILL_WAIT;
    if tokio::time::timeout(bound, exited.wait_for(Option::is_some))
        .await
        .is_err()
    {
        tracing::warn!(?bound, "the engine did not exit in time");
    }
}

/// Opens `engine.log` for appending (afresh when it grew too large), off the
/// async thread; `None` (output discarded) if there is no path or it fails.
async fn open_log(path: Option<PathBuf>, command: &[String]) -> Option<std::fs::File> {
    let path = path?;
    let header = format!("--- acebridge starts the engine: {command:?}\n");
    let opened = tokio::task::spawn_blocking(move || open_log_blocking(&path, &header)).await;
    match opened {
        Ok(Ok(file)) => Some(file),
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot open the engine log; its output is discarded");
            None
        }
        Err(_) => None,
    }
}

fn open_log_blocking(path: &Path, header: &str) -> std::io::Result<std::fs::File> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let too_big = std::fs::metadata(path).is_ok_and(|meta| meta.len() > LOG_MAX_BYTES);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(!too_big)
        .write(true)
        .truncate(too_big)
        .open(path)?;
    file.write_all(header.as_bytes())?;
    Ok(file)
}

/// 1 s, 2 s, 4 s… between attempts, at most 30 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// Whether the engine URL names this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The usual engine installs: `acestreamengine --client-console` on `PATH`,
/// the snap's `acestreamplayer.engine`, or (Windows) `ace_engine.exe` where
/// AceStream's Windows installers put it (see [`windows_installs`]).
fn detect_installed() -> Option<Vec<String>> {
    #[cfg(windows)]
    {
        windows_installs(|name| std::env::var_os(name))
            .into_iter()
            .find(|engine| engine.is_file())
            .map(|engine| vec![engine.display().to_string()])
    }
    #[cfg(not(windows))]
    {
        if let Ok(path) = which::which("acestreamengine") {
            return Some(vec![path.display().to_string(), "--client-console".into()]);
        }
        if let Ok(path) = which::which("acestreamplayer.engine") {
            return Some(vec![path.display().to_string()]);
        }
        let snap = Path::new("/snap/bin/acestreamplayer.engine");
        snap.exists().then(|| vec![snap.display().to_string()])
    }
}

/// Where AceStream's Windows installers put the engine, most usual first:
/// the per-user install under `%APPDATA%` (Ace Stream Media's default), then
/// `%LOCALAPPDATA%` and the machine-wide Program Files folders. `env` reads
/// an environment variable (injected, so the paths are tested on any OS).
#[cfg_attr(not(windows), allow(dead_code))]
fn windows_installs(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    [
        "APPDATA",
        "LOCALAPPDATA",
        "ProgramFiles(x86)",
        "ProgramFiles",
    ]
    .into_iter()
    .filter_map(env)
    .map(|base| {
        Path::new(&base)
            .join("ACEStream")
            .join("engine")
            .join("ace_engine.exe")
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_engine_is_looked_for_where_its_installers_put_it() {
        let env = |name: &str| match name {
            "APPDATA" => Some("C:/Users/u/AppData/Roaming".into()),
            "ProgramFiles" => Some("C:/Program Files".into()),
            _ => None,
        };
        assert_eq!(
            windows_installs(env),
            [
                Path::new("C:/Users/u/AppData/Roaming/ACEStream/engine/ace_engine.exe"),
                Path::new("C:/Program Files/ACEStream/engine/ace_engine.exe"),
            ]
        );
    }

    #[test]
    fn only_engines_on_this_machine_are_managed() {
        let url = |text: &str| Url::parse(text).expect("url");
        assert!(is_loopback(&url("http://127.0.0.1:6878")));
        assert!(is_loopback(&url("http://localhost:6878")));
        assert!(is_loopback(&url("http://[::1]:6878")));
        assert!(!is_loopback(&url("http://192.168.1.5:6878")));
        assert!(!is_loopback(&url("http://engine.lan:6878")));
    }

    #[test]
    fn attempts_back_off_then_cool_down() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn an_unmanaged_engine_is_never_started_or_stopped() {
        let process = EngineProcess::unmanaged();
        let engine = EngineClient::new(Url::parse("http://127.0.0.1:9").expect("url"));
        assert!(process.ensure_running(&engine).await.is_ok());
        assert_eq!(process.start(&engine).await, Err(ProcessError::NoCommand));
        assert_eq!(process.stop().await, Err(ProcessError::NotOurs));
        let status = process.status(&engine, false);
        assert_eq!(status.state, ProcessState::NotManaged);
        assert_eq!(status.attempts, 0);
    }
}
