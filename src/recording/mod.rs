//! Recordings: a channel written to a `.ts` file on this computer, now, for a
//! time, or later (a time range kept in the settings file).
//!
//! A recording is one more TS player of its channel ([`crate::channel::TsPlayer`]):
//! it shares the channel's one engine session with every other player, keeps
//! the channel from lingering out, goes on through reconnects and failover,
//! and starts on a keyframe with PAT/PMT first, so the file plays from its
//! first byte. The disk is behind a bounded queue ([`writer`]): a slow disk
//! costs only the recording (what it misses is counted), a failing one ends
//! it cleanly with a problem entry.
//!
//! [`Recordings`] owns the recordings of this run, the schedules (through the
//! settings store), the scheduler and finishing every file at shutdown.

pub mod names;
pub mod programme;
pub mod schedule;
pub mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::programme::Padding;
pub use self::schedule::ScheduledRecording;
use self::writer::{Limits, Writer};
use crate::channel::{ChannelError, ChannelKey, Hub, TsPlayer};
use crate::content_id::ContentId;
use crate::store::{self, Store};

/// How recordings are made.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "test-config", derive(serde::Serialize, serde::Deserialize))]
pub struct RecordingSettings {
    /// Where files go.
    pub dir: PathBuf,
    /// No recording starts, and a running one stops, below this much free space.
    pub min_free_bytes: u64,
    /// Fail every recording's writes after this many bytes, as a disk that
    /// fills would (for tests of that path; never set by the settings file).
    pub fail_writes_after: Option<u64>,
}

/// The free-space floor unless the settings file says otherwise.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1024 * 1024 * 1024;

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            dir: default_dir(),
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            fail_writes_after: None,
        }
    }
}

/// `acebridge/` in the user's Videos folder, else in acebridge's data folder.
pub fn default_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|dirs| dirs.video_dir().map(|videos| videos.join("acebridge")))
        .or_else(|| {
            directories::ProjectDirs::from("", "", "acebridge")
                .map(|dirs| dirs.data_dir().join("recordings"))
        })
        .unwrap_or_else(|| PathBuf::from("recordings"))
}

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    /// Planned for later.
    Scheduled,
    /// Its time passed while acebridge was not running.
    Missed,
    /// Waiting for the channel's first keyframe.
    Starting,
    Recording,
    /// Ended as asked (stopped, its time up, acebridge quitting).
    Finished,
    /// Ended early: the disk failed, the channel could not start or stopped playing.
    Failed,
}

/// A recording as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingView {
    pub id: String,
    /// The saved channel's key or the content id it records.
    pub channel: String,
    pub title: String,
    /// The guide programme it records, when it was planned from the guide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    /// The file, once made (none for a schedule that has not started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub state: RecordingState,
    /// When data began (unix seconds); none before.
    pub started_at: Option<u64>,
    /// When it is to end (unix seconds), if it has an end.
    pub ends_at: Option<u64>,
    /// For a schedule: when it is to start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_unix: Option<u64>,
    /// Seconds recorded so far.
    pub duration_secs: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Times the recording fell behind the channel (a slow disk) and
    /// resumed at a keyframe.
    pub dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a recording could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NoChannel(String),
    #[error("no recording {0:?}")]
    NotFound(String),
    #[error("{free} MiB free in {dir}, under the recordings' floor of {floor} MiB: free some space or choose another recordings folder")]
    LowDisk { dir: String, free: u64, floor: u64 },
    #[error("cannot write in the recordings folder {dir}: {error}")]
    Disk { dir: String, error: std::io::Error },
    #[error("{0}")]
    NoRoom(String),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("could not keep the schedule in the settings file: {0}")]
    Settings(String),
}

/// What to record and until when.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A saved channel's key or a content id.
    pub channel: String,
    /// Record for this long (from the first byte).
    pub seconds: Option<u64>,
    /// Record until then (unix seconds).
    pub end_unix: Option<u64>,
    /// The guide programme recorded: the file is named after it.
    pub programme: Option<String>,
}

/// A channel to record: how to open it and what to call it.
#[derive(Debug, Clone)]
struct Target {
    key: ChannelKey,
    ids: Vec<ContentId>,
    title: String,
    /// What the request named, made canonical (the key, or the id's hex).
    name: String,
}

/// A recording of this run.
#[derive(Debug)]
struct Live {
    id: String,
    target: Target,
    /// The key of the channel it reads (the channel of another key may
    /// play the id asked for).
    reads: Mutex<Option<ChannelKey>>,
    file: Option<PathBuf>,
    programme: Option<String>,
    status: Mutex<Status>,
    bytes: Arc<AtomicU64>,
    dropped: AtomicU64,
    stop: CancellationToken,
    done: CancellationToken,
}

#[derive(Debug, Clone)]
struct Status {
    state: RecordingState,
    started_at: Option<u64>,
    ended_at: Option<u64>,
    ends_at: Option<u64>,
    error: Option<String>,
}

impl Live {
    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn view(&self) -> RecordingView {
        let status = self.status().clone();
        let duration_secs = status.started_at.map_or(0, |started| {
            status
                .ended_at
                .unwrap_or_else(now_unix)
                .saturating_sub(started)
        });
        RecordingView {
            id: self.id.clone(),
            channel: self.target.name.clone(),
            title: self.target.title.clone(),
            programme: self.programme.clone(),
            file: self.file.as_ref().map(|f| f.display().to_string()),
            state: status.state,
            started_at: status.started_at,
            ends_at: status.ends_at,
            start_unix: None,
            duration_secs,
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            error: status.error,
        }
    }

    fn running(&self) -> bool {
        matches!(
            self.status().state,
            RecordingState::Starting | RecordingState::Recording
        )
    }

    fn end(&self, state: RecordingState, error: Option<String>) {
        let mut status = self.status();
        status.state = state;
        status.error = error;
        if status.started_at.is_some() {
            status.ended_at = Some(now_unix());
        }
    }
}

/// The recordings of this run and the schedules. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recordings {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    hub: Hub,
    store: Store,
    settings: RecordingSettings,
    live: Mutex<Vec<Arc<Live>>>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Woken when the schedules change.
    rescheduled: Notify,
    /// Channels opened ahead of a schedule's start, by schedule id.
    warming: Mutex<HashMap<String, TsPlayer>>,
}

/// How long before a schedule's start its channel is opened: an engine
/// start and the first keyframe take a while, and the file is to begin on time.
const WARM_UP_SECS: u64 = 10;

/// Ended recordings the list keeps showing in one run.
const KEPT_ENDED: usize = 100;

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// A new recording id: 12 hex digits.
fn new_id() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique enough within one settings file without randomness.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        return format!("{:012x}", nanos & 0xffff_ffff_ffff);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Recordings {
    /// The recordings of a server; schedules whose time passed while it was
    /// not running are marked missed now.
    pub async fn load(hub: Hub, store: Store, settings: RecordingSettings) -> Self {
        {
            let mut guard = store.lock().await;
            let mut next = guard.settings().clone();
            if schedule::mark_missed(&mut next.scheduled_recordings, now_unix()) {
                tracing::warn!("scheduled recordings were missed while acebridge was not running");
                if let Err(error) = guard.save(next).await {
                    tracing::warn!(%error, "could not mark missed recordings");
                }
            }
        }
        Self::new(hub, store, settings)
    }

    /// The recordings of a server, its schedules taken as they are.
    pub fn new(hub: Hub, store: Store, settings: RecordingSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                hub,
                store,
                settings,
                live: Mutex::default(),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                rescheduled: Notify::new(),
                warming: Mutex::default(),
            }),
        }
    }

    fn live(&self) -> MutexGuard<'_, Vec<Arc<Live>>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a recording to this run's list; the oldest ended ones are
    /// forgotten past [`KEPT_ENDED`] (their files stay).
    fn remember(&self, live: Arc<Live>) {
        let mut list = self.live();
        list.push(live);
        let ended = list.iter().filter(|live| !live.running()).count();
        let mut excess = ended.saturating_sub(KEPT_ENDED);
        list.retain(|live| {
            let forget = excess > 0 && !live.running();
            excess -= usize::from(forget);
            !forget
        });
    }

    /// Where recordings are written.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.settings.dir
    }

    /// Every recording: schedules first (by start), then this run's, newest first.
    pub async fn list(&self) -> Vec<RecordingView> {
        let mut views = self
            .inner
            .store
            .read(|settings| {
                let mut schedules = settings.scheduled_recordings.clone();
                schedules.sort_by_key(|s| s.start_unix);
                schedules
                    .iter()
                    .map(|s| schedule_view(settings, s))
                    .collect::<Vec<_>>()
            })
            .await;
        views.extend(self.live().iter().rev().map(|live| live.view()));
        views
    }

    /// Recordings running on the channel of `key`.
    pub fn running_on(&self, key: &ChannelKey) -> usize {
        self.running_ids_on(key).len()
    }

    /// The ids of the recordings running on the channel of `key`.
    pub fn running_ids_on(&self, key: &ChannelKey) -> Vec<String> {
        self.live()
            .iter()
            .filter(|live| {
                live.running()
                    && live
                        .reads
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                        == Some(key)
            })
            .map(|live| live.id.clone())
            .collect()
    }

    /// Whether any recording runs now.
    pub fn any_running(&self) -> bool {
        self.live().iter().any(|live| live.running())
    }

    /// Starts recording now.
    pub async fn start(&self, request: Request) -> Result<RecordingView, RecordingError> {
        if request.seconds == Some(0) {
            return Err(RecordingError::BadRequest(
                "seconds must be at least 1".into(),
            ));
        }
        let target = self.resolve(&request.channel).await?;
        self.start_target(new_id(), target, request).await
    }

    async fn start_target(
        &self,
        id: String,
        target: Target,
        request: Request,
    ) -> Result<RecordingView, RecordingError> {
        let (dir, file) = self
            .create_file(&target, request.programme.as_deref())
            .await?;
        let player = match self
            .inner
            .hub
            .join_ts_channel(target.key.clone(), target.ids.clone())
        {
            Ok(player) => player,
            Err(error) => {
                remove_if_empty(&file.0);
                return Err(error.into());
            }
        };
        let live = Arc::new(Live {
            id,
            target,
            reads: Mutex::new(Some(player.channel().key().clone())),
            file: Some(file.0.clone()),
            programme: request.programme.clone(),
            status: Mutex::new(Status {
                state: RecordingState::Starting,
                started_at: None,
                ended_at: None,
                ends_at: request.end_unix,
                error: None,
            }),
            bytes: Arc::default(),
            dropped: AtomicU64::new(0),
            stop: CancellationToken::new(),
            done: CancellationToken::new(),
        });
        self.remember(Arc::clone(&live));
        tracing::info!(recording = %live.id, channel = %live.target.key, file = %file.0.display(), dir = %dir.display(), "recording starting");
        let this = self.clone();
        let task = Arc::clone(&live);
        self.inner.tasks.spawn(async move {
            this.record(&task, player, file.1, request).await;
            task.done.cancel();
        });
        Ok(live.view())
    }

    /// Makes the recordings folder and the file of a recording of `target`
    /// (named after `programme`, else the local date and time), if the disk has room.
    async fn create_file(
        &self,
        target: &Target,
        programme: Option<&str>,
    ) -> Result<(PathBuf, (PathBuf, std::fs::File)), RecordingError> {
        let dir = self.inner.settings.dir.clone();
        let floor = self.inner.settings.min_free_bytes;
        let when = names::local_date_time(now_unix() as i64);
        let stem = names::stem(&target.title, programme.unwrap_or(&when));
        let made = dir.clone();
        tokio::task::spawn_blocking(move || {
            let disk = |error| RecordingError::Disk {
                dir: made.display().to_string(),
                error,
            };
            std::fs::create_dir_all(&made).map_err(disk)?;
            if let Some(free) = writer::free_bytes(&made).filter(|free| *free < floor) {
                return Err(RecordingError::LowDisk {
                    dir: made.display().to_string(),
                    free: free / (1024 * 1024),
                    floor: floor / (1024 * 1024),
                });
            }
            names::create_unique(&made, &stem).map_err(disk)
        })
        .await
        .map_err(|join| RecordingError::Disk {
            dir: dir.display().to_string(),
            error: std::io::Error::other(join.to_string()),
        })?
        .map(|file| (dir, file))
    }

    /// Runs one recording to its end and says how it ended.
    async fn record(
        &self,
        live: &Live,
        mut player: TsPlayer,
        file: std::fs::File,
        request: Request,
    ) {
        player.hold_while_stalled();
        let shutdown = &self.inner.shutdown;
        let alternates = u32::try_from(live.target.ids.len()).unwrap_or(u32::MAX);
        let timeout = self
            .inner
            .hub
            .settings()
            .start_timeout
            .saturating_mul(alternates.clamp(1, 10));
        let path = live.file.clone().unwrap_or_default();
        let ready = tokio::select! {
            ready = player.ready(timeout) => ready,
            () = live.stop.cancelled() => Err(ChannelError::Stopped),
            () = shutdown.cancelled() => Err(ChannelError::Stopped),
        };
        if let Err(error) = ready {
            drop(file);
            remove_if_empty(&path);
            if matches!(error, ChannelError::Stopped) {
                live.end(RecordingState::Finished, None);
            } else {
                let message = format!("the recording could not start: {error}");
                self.report(live, &player, &message);
                live.end(RecordingState::Failed, Some(message));
            }
            return;
        }
        let started = now_unix();
        let deadline = request
            .seconds
            .map(|seconds| Instant::now() + Duration::from_secs(seconds))
            .or_else(|| request.end_unix.map(until_unix));
        {
            let mut status = live.status();
            status.state = RecordingState::Recording;
            status.started_at = Some(started);
            if let Some(seconds) = request.seconds {
                status.ends_at = Some(started + seconds);
            }
        }
        let limits = Limits {
            min_free_bytes: self.inner.settings.min_free_bytes,
            fail_after_bytes: self.inner.settings.fail_writes_after,
        };
        let writer = Writer::spawn(file, &path, Arc::clone(&live.bytes), limits);
        let until_end = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until_end);
        let ended = loop {
            let bytes = tokio::select! {
                biased;
                () = live.stop.cancelled() => break Ended::Asked,
                () = shutdown.cancelled() => break Ended::Asked,
                () = &mut until_end => break Ended::Asked,
                () = writer.stopped() => break Ended::Disk,
                bytes = player.next() => bytes,
            };
            let Some(bytes) = bytes else {
                break Ended::Channel;
            };
            live.dropped.store(player.skips(), Ordering::Relaxed);
            let sent = tokio::select! {
                biased;
                () = live.stop.cancelled() => break Ended::Asked,
                () = shutdown.cancelled() => break Ended::Asked,
                sent = writer.send(bytes) => sent,
            };
            if sent.is_err() {
                break Ended::Disk;
            }
        };
        let written = writer.finish().await;
        let (state, error) = match (written, ended) {
            (Err(error), _) => {
                let message = format!(
                    "the recording stopped: writing {} failed: {error}",
                    path.display()
                );
                self.report(live, &player, &message);
                (RecordingState::Failed, Some(message))
            }
            (Ok(()), Ended::Channel) => {
                let message = "the recording stopped: the channel stopped playing".to_owned();
                self.report(live, &player, &message);
                (RecordingState::Failed, Some(message))
            }
            (Ok(()), Ended::Asked | Ended::Disk) => (RecordingState::Finished, None),
        };
        drop(player);
        live.end(state, error);
        tracing::info!(recording = %live.id, bytes = live.bytes.load(Ordering::Relaxed), ?state, "recording ended");
    }

    /// Tells the problems list what went wrong with `live`.
    fn report(&self, live: &Live, player: &TsPlayer, message: &str) {
        let channel = player.channel();
        self.inner.hub.report_problem(
            channel.key(),
            &channel.id(),
            format!("{}: {message}", live.target.title),
        );
    }

    /// Stops a running recording (the file stays) and waits (bounded) until
    /// its file is closed, or forgets a schedule. A recording that already
    /// ended is left as it is.
    pub async fn stop(&self, id: &str) -> Result<RecordingView, RecordingError> {
        let live = self.live().iter().find(|live| live.id == id).cloned();
        if let Some(live) = live {
            live.stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), live.done.cancelled()).await;
            return Ok(live.view());
        }
        let mut guard = self.inner.store.lock().await;
        let mut next = guard.settings().clone();
        let Some(at) = next.scheduled_recordings.iter().position(|s| s.id == id) else {
            return Err(RecordingError::NotFound(id.to_owned()));
        };
        let removed = next.scheduled_recordings.remove(at);
        let mut view = schedule_view(guard.settings(), &removed);
        guard
            .save(next)
            .await
            .map_err(|error| RecordingError::Settings(error.to_string()))?;
        view.state = if removed.missed {
            RecordingState::Missed
        } else {
            RecordingState::Finished
        };
        self.inner.rescheduled.notify_one();
        Ok(view)
    }

    /// Plans a recording of `channel` from `start` to `end` (unix seconds),
    /// kept in the settings file.
    pub async fn schedule(
        &self,
        channel: &str,
        start: u64,
        end: u64,
    ) -> Result<RecordingView, RecordingError> {
        let target = self.resolve(channel).await?;
        self.schedule_target(target, start, end, None).await
    }

    /// Plans a recording of `target` from `start` to `end`, of `programme` if
    /// it is one from the guide.
    async fn schedule_target(
        &self,
        target: Target,
        start: u64,
        end: u64,
        programme: Option<String>,
    ) -> Result<RecordingView, RecordingError> {
        let now = now_unix();
        if end <= start {
            return Err(RecordingError::BadRequest(
                "end_unix must be after start_unix".into(),
            ));
        }
        if end <= now {
            return Err(RecordingError::BadRequest("end_unix is in the past".into()));
        }
        let running: Vec<(String, Option<u64>)> = self
            .live()
            .iter()
            .filter(|live| live.running())
            .map(|live| (live.target.name.clone(), live.status().ends_at))
            .collect();
        let max = self.inner.hub.settings().max_channels;
        let mut guard = self.inner.store.lock().await;
        let mut next = guard.settings().clone();
        if let Some(twin) = next.scheduled_recordings.iter().find(|s| {
            !s.missed && s.channel == target.name && s.start_unix == start && s.end_unix == end
        }) {
            return Err(RecordingError::NoRoom(format!(
                "this recording of {} is already scheduled (id {})",
                target.title, twin.id
            )));
        }
        schedule::check_room(
            &next.scheduled_recordings,
            &running,
            &target.name,
            (start, end),
            max,
        )
        .map_err(RecordingError::NoRoom)?;
        let scheduled = ScheduledRecording {
            id: new_id(),
            channel: target.name.clone(),
            start_unix: start,
            end_unix: end,
            missed: false,
            programme,
        };
        next.scheduled_recordings.push(scheduled.clone());
        guard
            .save(next)
            .await
            .map_err(|error| RecordingError::Settings(error.to_string()))?;
        drop(guard);
        self.inner.rescheduled.notify_one();
        let mut view = self
            .inner
            .store
            .read(|settings| schedule_view(settings, &scheduled))
            .await;
        view.title = target.title;
        Ok(view)
    }

    /// Starts schedules when they are due, until shutdown. The wall clock is
    /// read at least once a second: a computer that slept must not start late.
    pub async fn run_schedules(self) {
        loop {
            let now = now_unix();
            self.warm_up(now).await;
            for due in self.take_due(now).await {
                self.start_scheduled(due).await;
            }
            let wait = self
                .inner
                .store
                .read(|settings| schedule::next_start_in(&settings.scheduled_recordings, now))
                .await;
            let wait = until_second_after(now).min(match wait {
                Some(0) | None => Duration::from_secs(1),
                Some(secs) => Duration::from_secs(secs.saturating_sub(WARM_UP_SECS).max(1)),
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.inner.rescheduled.notified() => {}
                () = self.inner.shutdown.cancelled() => return,
            }
        }
    }

    /// Takes the schedules due at `now` out of the settings file; one whose
    /// end already passed (the computer slept through it) is marked missed.
    async fn take_due(&self, now: u64) -> Vec<ScheduledRecording> {
        let mut guard = self.inner.store.lock().await;
        let due = schedule::due(&guard.settings().scheduled_recordings, now);
        if due.is_empty() {
            return due;
        }
        let mut next = guard.settings().clone();
        next.scheduled_recordings.retain_mut(|s| {
            if !due.iter().any(|d| d.id == s.id) {
                return true;
            }
            if now >= s.end_unix {
                s.missed = true;
                return true;
            }
            false
        });
        if let Err(error) = guard.save(next).await {
            tracing::warn!(%error, "could not take started recordings off the schedule");
        }
        due.into_iter().filter(|s| now < s.end_unix).collect()
    }

    /// Opens the channels of schedules starting soon, so their files
    /// begin on time; lets go of those whose schedule went away.
    async fn warm_up(&self, now: u64) {
        let soon: Vec<ScheduledRecording> = self
            .inner
            .store
            .read(|settings| {
                settings
                    .scheduled_recordings
                    .iter()
                    .filter(|s| !s.missed && s.start_unix <= now + WARM_UP_SECS)
                    .cloned()
                    .collect()
            })
            .await;
        let mut targets = Vec::new();
        for schedule in &soon {
            let warm = self.warming().contains_key(&schedule.id);
            if !warm {
                if let Ok(target) = self.resolve(&schedule.channel).await {
                    targets.push((schedule.id.clone(), target));
                }
            }
        }
        let mut warming = self.warming();
        warming.retain(|id, _| soon.iter().any(|s| &s.id == id));
        for (id, target) in targets {
            // A channel that cannot open now is tried again at the start, which reports why.
            if let Ok(player) = self.inner.hub.join_ts_channel(target.key, target.ids) {
                warming.insert(id, player);
            }
        }
    }

    fn warming(&self) -> MutexGuard<'_, HashMap<String, TsPlayer>> {
        self.inner.warming.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn start_scheduled(&self, due: ScheduledRecording) {
        let request = Request {
            channel: due.channel.clone(),
            seconds: None,
            end_unix: Some(due.end_unix),
            programme: due.programme.clone(),
        };
        let started = match self.resolve(&due.channel).await {
            Ok(target) => self.start_target(due.id.clone(), target, request).await,
            Err(error) => Err(error),
        };
        // The recording holds the channel now (or it failed): the warm-up lets go.
        self.warming().remove(&due.id);
        if let Err(error) = started {
            tracing::warn!(recording = %due.id, %error, "scheduled recording could not start");
            let title = self
                .inner
                .store
                .read(|settings| schedule_view(settings, &due).title)
                .await;
            self.remember(Arc::new(Live {
                id: due.id.clone(),
                target: Target {
                    key: ChannelKey::Saved(due.channel.clone()),
                    ids: Vec::new(),
                    title,
                    name: due.channel,
                },
                reads: Mutex::new(None),
                file: None,
                programme: due.programme.clone(),
                status: Mutex::new(Status {
                    state: RecordingState::Failed,
                    started_at: None,
                    ended_at: None,
                    ends_at: Some(due.end_unix),
                    error: Some(format!("the scheduled recording could not start: {error}")),
                }),
                bytes: Arc::default(),
                dropped: AtomicU64::new(0),
                stop: CancellationToken::new(),
                done: CancellationToken::new(),
            }));
        }
    }

    /// Ends every recording and waits (bounded) until their files are flushed and closed.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(Duration::from_secs(15), self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("recordings did not finish in time");
        }
    }

    /// The channel `channel` names: a saved channel's key, else a content id.
    async fn resolve(&self, channel: &str) -> Result<Target, RecordingError> {
        let channel = channel.trim();
        if channel.is_empty() {
            return Err(RecordingError::BadRequest(
                "channel is missing: give a saved channel's key or a content id".into(),
            ));
        }
        self.inner
            .store
            .read(|settings| {
                if let Some(saved) = store::find_by_key(settings, channel) {
                    return Ok(Target {
                        key: ChannelKey::Saved(saved.key().to_owned()),
                        ids: saved.play_order(),
                        title: saved.title(),
                        name: saved.key().to_owned(),
                    });
                }
                let id = ContentId::parse(channel).map_err(|error| {
                    RecordingError::NoChannel(format!(
                        "no saved channel {channel:?}, and it is not a content id: {error}"
                    ))
                })?;
                Ok(Target {
                    key: ChannelKey::Id(id.clone()),
                    ids: vec![id.clone()],
                    title: store::title_of(settings, &id),
                    name: id.as_hex().to_owned(),
                })
            })
            .await
    }
}

/// How a recording's loop ended.
enum Ended {
    /// Stopped, its time up, or acebridge quitting.
    Asked,
    /// The writer stopped on an error (its `finish` says which).
    Disk,
    /// The channel ended (it failed for good, or was stopped).
    Channel,
}

/// The view of a schedule.
fn schedule_view(settings: &crate::config::Settings, s: &ScheduledRecording) -> RecordingView {
    let title = store::find_by_key(settings, &s.channel)
        .map(crate::saved::SavedChannel::title)
        .or_else(|| {
            ContentId::parse(&s.channel)
                .ok()
                .map(|id| store::title_of(settings, &id))
        })
        .unwrap_or_else(|| s.channel.clone());
    RecordingView {
        id: s.id.clone(),
        channel: s.channel.clone(),
        title,
        programme: s.programme.clone(),
        file: None,
        state: if s.missed {
            RecordingState::Missed
        } else {
            RecordingState::Scheduled
        },
        started_at: None,
        ends_at: Some(s.end_unix),
        start_unix: Some(s.start_unix),
        duration_secs: 0,
        bytes: 0,
        dropped: 0,
        error: s
            .missed
            .then(|| "acebridge was not running when this recording was to start".to_owned()),
    }
}

/// The instant the wall clock reaches `unix`.
fn until_unix(unix: u64) -> Instant {
    let at = UNIX_EPOCH + Duration::from_secs(unix);
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}

/// Time until the wall clock's next whole second after `now`, so schedules
/// start on their second, not up to a second late.
fn until_second_after(now: u64) -> Duration {
    let next = UNIX_EPOCH + Duration::from_secs(now + 1);
    next.duration_since(SystemTime::now())
        .unwrap_or_default()
        .max(Duration::from_millis(10))
}

/// A file nothing was written to (the channel never started) is not left behind.
fn remove_if_empty(path: &std::path::Path) {
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0) {
        let _ = std::fs::remove_file(path);
    }
}
