//! The engines channels play on: one or several AceStream engines, each with
//! an optional limit on its channels. The pool owns each engine's health
//! (its version polled, failed starts counted), the count of channels placed
//! on it, and the placement rule: a new channel goes to the healthy engine
//! with the fewest channels that still has room, ties going to the engine
//! listed first. A channel holds a [`Seat`] on its engine for as long as it
//! plays there; moving it to another engine is taking a seat there and
//! giving this one up.
//!
//! A failed start is not the engine's fault until shown to be: the engine
//! answers a dead content id and a broken engine alike ("failed to load
//! content"). [`Blame`] holds each failed start as a suspect of its content
//! and counts it against the engine only once that content starts on another
//! engine; a content that fails everywhere blames nobody. An engine that does
//! not answer is down at once, with no such wait.
//!
//! With one engine nothing changes from a proxy without a pool: that engine
//! takes every channel whatever its health (the channel's own errors say why
//! it does not play), and it is not polled in the background.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[cfg(feature = "test-config")]
use serde::Deserialize;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::content_id::ContentId;
use crate::engine::{EngineClient, EngineError};
use crate::engine_process::is_loopback;

/// One engine as the user lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "test-config", derive(Deserialize))]
pub struct EngineSpec {
    #[serde(serialize_with = "url_text")]
    pub url: Url,
    /// Channels it may play at once; `None`: only the proxy's own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<usize>,
}

fn url_text<S: serde::Serializer>(url: &Url, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(url.as_str())
}

/// How the pool judges its engines.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "test-config", derive(Serialize, Deserialize))]
pub struct PoolSettings {
    /// How often each engine's version is asked (with more than one engine).
    pub health_interval: Duration,
    /// Failed starts in a row, each of a content that then started on
    /// another engine, after which an engine is marked down.
    pub failed_starts_down: u32,
    /// How long an engine marked down for failing starts gets no channel;
    /// after that it may take one again, on trial.
    pub failed_starts_cooldown: Duration,
    /// How long a failed start waits for its content to start elsewhere
    /// before it is forgotten, blaming nobody.
    pub blame_window: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(5),
            failed_starts_down: 3,
            failed_starts_cooldown: Duration::from_secs(60),
            // A channel tries each engine within its start timeouts; a few
            // minutes cover every engine of a pool and the channel's moves.
            blame_window: Duration::from_secs(600),
        }
    }
}

/// Whether an engine takes channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineState {
    Up,
    Down,
    /// Not asked yet.
    Unknown,
}

/// Why an engine is down: this decides what brings it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownFor {
    /// It does not answer: back once it answers.
    Unreachable,
    /// It answers but its starts fail: back after the cool-down, on trial.
    FailingStarts(Instant),
}

#[derive(Debug)]
struct Health {
    state: EngineState,
    down_for: Option<DownFor>,
    version: Option<String>,
    last_error: Option<String>,
    failed_starts: u32,
}

/// One engine of the pool.
#[derive(Debug)]
pub struct Member {
    client: EngineClient,
    max_channels: Option<usize>,
    /// The engine runs on this machine.
    local: bool,
    /// The engine acebridge may start and stop (the engine process): the
    /// first one on this machine. Others, remote ones above all, never are.
    managed: bool,
    channels: AtomicUsize,
    health: Mutex<Health>,
}

/// What `/api/health` and the tray show of an engine.
#[derive(Debug, Clone, Serialize)]
pub struct EngineView {
    pub url: String,
    pub state: EngineState,
    pub version: Option<String>,
    pub channels: usize,
    pub max_channels: Option<usize>,
    pub last_error: Option<String>,
    pub local: bool,
}

impl Member {
    fn new(spec: &EngineSpec, managed: bool) -> Self {
        Self {
            client: EngineClient::new(spec.url.clone()),
            max_channels: spec.max_channels,
            local: is_loopback(&spec.url),
            managed,
            channels: AtomicUsize::new(0),
            health: Mutex::new(Health {
                state: EngineState::Unknown,
                down_for: None,
                version: None,
                last_error: None,
                failed_starts: 0,
            }),
        }
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn client(&self) -> &EngineClient {
        &self.client
    }

    pub fn url(&self) -> &Url {
        self.client.base()
    }

    /// Whether acebridge may start this engine's process.
    pub fn managed(&self) -> bool {
        self.managed
    }

    pub fn channels(&self) -> usize {
        self.channels.load(Ordering::Relaxed)
    }

    fn has_room(&self) -> bool {
        self.max_channels.is_none_or(|max| self.channels() < max)
    }

    /// Whether it may take a channel now: not down, or down for failing
    /// starts long enough ago to be tried again.
    pub fn usable(&self, now: Instant, cooldown: Duration) -> bool {
        match self.health().down_for {
            None => true,
            Some(DownFor::Unreachable) => false,
            Some(DownFor::FailingStarts(since)) => now.saturating_duration_since(since) >= cooldown,
        }
    }

    pub fn state(&self) -> EngineState {
        self.health().state
    }

    /// A version poll's answer.
    fn note_version(&self, answer: Result<String, String>) {
        let mut health = self.health();
        match answer {
            Ok(version) => {
                health.version = Some(version);
                if health.down_for == Some(DownFor::Unreachable) || health.down_for.is_none() {
                    health.down_for = None;
                    health.state = EngineState::Up;
                }
            }
            Err(error) => {
                health.last_error = Some(error);
                health.state = EngineState::Down;
                health.down_for = Some(DownFor::Unreachable);
            }
        }
    }

    /// The engine could not be reached by a channel: down until it answers.
    pub fn note_unreachable(&self, error: &EngineError) {
        self.note_version(Err(error.to_string()));
    }

    /// A session started on it.
    fn note_start_ok(&self) {
        let mut health = self.health();
        health.failed_starts = 0;
        health.state = EngineState::Up;
        health.down_for = None;
    }

    /// A start on it failed: shown, not yet counted (see [`Blame`]).
    fn note_start_error(&self, error: &str) {
        self.health().last_error = Some(error.to_owned());
    }

    /// A content that failed to start on it started on another engine:
    /// after `threshold` such failures in a row it is down.
    fn note_blamed(&self, threshold: u32, now: Instant) {
        let mut health = self.health();
        health.failed_starts += 1;
        if health.failed_starts >= threshold.max(1) {
            health.state = EngineState::Down;
            health.down_for = Some(DownFor::FailingStarts(now));
        }
    }

    fn view(&self) -> EngineView {
        let health = self.health();
        EngineView {
            url: self.url().to_string(),
            state: health.state,
            version: health.version.clone(),
            channels: self.channels(),
            max_channels: self.max_channels,
            last_error: health.last_error.clone(),
            local: self.local,
        }
    }
}

/// A channel's place on an engine: counted until it is left or dropped.
#[derive(Debug)]
pub struct Seat {
    member: Arc<Member>,
    counted: AtomicBool,
}

impl Seat {
    fn take(member: &Arc<Member>) -> Self {
        member.channels.fetch_add(1, Ordering::Relaxed);
        Self {
            member: Arc::clone(member),
            counted: AtomicBool::new(true),
        }
    }

    pub fn member(&self) -> &Arc<Member> {
        &self.member
    }

    /// Stops counting the channel on its engine: it ended, though players
    /// may still hold it until they notice.
    pub fn leave(&self) {
        if self.counted.swap(false, Ordering::Relaxed) {
            self.member.channels.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Every engine has all the channels it may take (or is down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("every engine is busy")]
pub struct Busy;

/// The engines channels play on. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    /// Never empty. Placement reads and counts under this lock, so two
    /// channels placed at once cannot both take an engine's last room.
    members: Mutex<Vec<Arc<Member>>>,
    settings: PoolSettings,
    blame: Mutex<Blame>,
}

impl Pool {
    /// A pool of `specs` (at least one: an empty list is the default engine's).
    pub fn new(specs: &[EngineSpec], settings: PoolSettings) -> Self {
        let pool = Self {
            inner: Arc::new(PoolInner {
                members: Mutex::new(Vec::new()),
                settings,
                blame: Mutex::new(Blame::new(settings.blame_window)),
            }),
        };
        pool.set(specs);
        pool
    }

    /// A pool of one engine, as a proxy without a pool had.
    pub fn single(client: EngineClient) -> Self {
        let spec = EngineSpec {
            url: client.base().clone(),
            max_channels: None,
        };
        Self::new(&[spec], PoolSettings::default())
    }

    fn members(&self) -> MutexGuard<'_, Vec<Arc<Member>>> {
        self.inner.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.inner.settings
    }

    /// Replaces the list of engines. An engine still listed keeps its health
    /// and its channels; channels on an engine taken off keep playing there
    /// until they end, but nothing new goes to it.
    pub fn set(&self, specs: &[EngineSpec]) {
        let mut members = self.members();
        let first_local = specs.iter().position(|spec| is_loopback(&spec.url));
        let mut next = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let managed = first_local == Some(index);
            let kept = members.iter().find(|member| {
                member.url() == &spec.url
                    && member.max_channels == spec.max_channels
                    && member.managed == managed
            });
            next.push(match kept {
                Some(member) => Arc::clone(member),
                None => Arc::new(Member::new(spec, managed)),
            });
        }
        if !next.is_empty() {
            *members = next;
        }
    }

    /// The engines as listed.
    pub fn specs(&self) -> Vec<EngineSpec> {
        self.members()
            .iter()
            .map(|member| EngineSpec {
                url: member.url().clone(),
                max_channels: member.max_channels,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.members().len()
    }

    pub fn is_empty(&self) -> bool {
        self.members().is_empty()
    }

    /// The first engine listed: the one a proxy of one engine uses.
    pub fn first(&self) -> Arc<Member> {
        let members = self.members();
        // `set` never leaves the list empty and `new` fills it.
        Arc::clone(&members[0])
    }

    /// The engine acebridge may start (the first on this machine), else the first.
    pub fn process_engine(&self) -> EngineClient {
        let members = self.members();
        members
            .iter()
            .find(|member| member.managed)
            .unwrap_or(&members[0])
            .client
            .clone()
    }

    /// A seat for a new channel: see the module comment. With `moving_from`,
    /// a seat on another usable engine, for a channel leaving that one.
    pub fn place(&self, moving_from: Option<&Arc<Member>>) -> Result<Seat, Busy> {
        self.place_avoiding(moving_from, &[])
    }

    /// [`Self::place`], preferring engines not in `tried`: a channel moving
    /// on goes first to the engines it has not failed on since it last
    /// played (it left its last one with no channel, the least loaded).
    pub fn place_avoiding(
        &self,
        moving_from: Option<&Arc<Member>>,
        tried: &[Url],
    ) -> Result<Seat, Busy> {
        let members = self.members();
        let now = Instant::now();
        let cooldown = self.inner.settings.failed_starts_cooldown;
        let with_room = || {
            members.iter().filter(|member| {
                member.has_room() && moving_from.is_none_or(|from| !Arc::ptr_eq(member, from))
            })
        };
        let usable = || with_room().filter(|m| m.usable(now, cooldown));
        let untried = least_loaded(usable().filter(|m| !tried.contains(m.url())));
        if let Some(member) = untried.or_else(|| least_loaded(usable())) {
            return Ok(Seat::take(member));
        }
        // No engine answers: a new channel still goes somewhere, so its
        // players learn why it does not play (and an engine acebridge
        // manages gets started). A move needs an engine that works.
        let none_usable = !members.iter().any(|m| m.usable(now, cooldown));
        if moving_from.is_none() && none_usable {
            if let Some(member) = least_loaded(with_room()) {
                return Ok(Seat::take(member));
            }
        }
        Err(Busy)
    }

    /// A seat for a new channel ([`Self::place`]); when no engine that
    /// works has room, on an engine that `startable` says acebridge would
    /// start on demand (the managed one, down while its process is stopped),
    /// rather than a 503 while it could be started.
    pub fn place_new(&self, startable: impl Fn(&Member) -> bool) -> Result<Seat, Busy> {
        self.place(None).or_else(|busy| {
            let members = self.members();
            least_loaded(members.iter().filter(|m| m.has_room() && startable(m)))
                .map(Seat::take)
                .ok_or(busy)
        })
    }

    /// Whether a channel on `from` could move to another usable engine now.
    pub fn can_move_from(&self, from: &Arc<Member>) -> bool {
        self.movable_from(from) > 0
    }

    /// How many other usable engines with room a channel on `from` could move to now.
    pub fn movable_from(&self, from: &Arc<Member>) -> usize {
        let now = Instant::now();
        let cooldown = self.inner.settings.failed_starts_cooldown;
        self.members()
            .iter()
            .filter(|member| {
                !Arc::ptr_eq(member, from) && member.has_room() && member.usable(now, cooldown)
            })
            .count()
    }

    /// A session of `content` started on `member`: the engines it failed on
    /// meanwhile are blamed (see [`Blame`]).
    pub fn note_start_ok(&self, member: &Arc<Member>, content: &ContentId) {
        member.note_start_ok();
        let now = Instant::now();
        let blamed = self
            .inner
            .blame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .started(member.url(), content, now);
        if blamed.is_empty() {
            return;
        }
        let threshold = self.inner.settings.failed_starts_down;
        for other in self.members().iter().filter(|m| blamed.contains(m.url())) {
            other.note_blamed(threshold, now);
            if other.state() == EngineState::Down {
                tracing::warn!(engine = %other.url(), "engine down: contents that fail on it start on other engines");
            }
        }
    }

    /// A start of `content` on `member` failed with `error` (the engine
    /// answered): a suspect until the content starts elsewhere.
    pub fn note_start_failed(&self, member: &Arc<Member>, content: &ContentId, error: &str) {
        // Named with its content: a dead id fails on every engine, and the
        // engine's own state says whether the engine is to blame.
        member.note_start_error(&format!("starting {content}: {error}"));
        self.inner
            .blame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(member.url(), content, Instant::now());
    }

    /// What `/api/health` shows of the engines, in the order listed.
    pub fn views(&self) -> Vec<EngineView> {
        self.members().iter().map(|member| member.view()).collect()
    }

    /// Records the first engine's answer to a check made elsewhere (the
    /// health endpoint asks a lone engine itself, as before the pool).
    pub fn note_first_version(&self, answer: Result<String, String>) {
        self.first().note_version(answer);
    }

    /// Asks every engine's version each `health_interval` until `stop`, when
    /// there is more than one (a lone engine is not polled; see the module
    /// comment). Each ask is bounded by the interval.
    pub async fn watch_health(self, stop: CancellationToken) {
        let interval = self.inner.settings.health_interval;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            let members: Vec<Arc<Member>> = self.members().clone();
            if members.len() < 2 {
                continue;
            }
            let polls = members.iter().map(|member| async move {
                let bound = interval.max(Duration::from_secs(1));
                let answer = match tokio::time::timeout(bound, member.client.version()).await {
                    Ok(Ok(version)) => Ok(version),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(format!("no version answer within {bound:?}")),
                };
                let was = member.state();
                member.note_version(answer);
                let now = member.state();
                if was != now {
                    tracing::info!(engine = %member.url(), state = ?now, "engine state changed");
                }
            });
            futures_util::future::join_all(polls).await;
        }
    }
}

/// Who is to blame for failed starts: the policy, pure (time is passed in).
///
/// A failed start is held as a suspect of its content, not counted against
/// its engine: a dead content id fails on every engine with the same answer
/// a broken engine gives. When the content then starts on another engine,
/// the content is good and the engines it failed on are blamed, each once.
/// When it starts on the engine it failed on, the failure was passing and
/// nobody is. Suspects older than the window, or beyond the bound on how
/// many are held, are forgotten: a content that failed everywhere (or whose
/// channel gave up) blames nobody.
#[derive(Debug)]
pub struct Blame {
    suspects: VecDeque<Suspect>,
    window: Duration,
}

#[derive(Debug)]
struct Suspect {
    engine: Url,
    content: ContentId,
    at: Instant,
}

impl Blame {
    /// Failures held at most: the oldest go first. Far more than the starts
    /// a pool fails within the window unless something floods it.
    const MAX_SUSPECTS: usize = 1024;

    pub fn new(window: Duration) -> Self {
        Self {
            suspects: VecDeque::new(),
            window,
        }
    }

    /// `content` failed to start on `engine` at `now`.
    pub fn failed(&mut self, engine: &Url, content: &ContentId, now: Instant) {
        self.forget_old(now);
        if self.suspects.len() >= Self::MAX_SUSPECTS {
            self.suspects.pop_front();
        }
        self.suspects.push_back(Suspect {
            engine: engine.clone(),
            content: content.clone(),
            at: now,
        });
    }

    /// `content` started on `engine` at `now`: the other engines it failed
    /// on within the window, each once, in the order they failed it.
    pub fn started(&mut self, engine: &Url, content: &ContentId, now: Instant) -> Vec<Url> {
        self.forget_old(now);
        let mut blamed: Vec<Url> = Vec::new();
        self.suspects.retain(|suspect| {
            if suspect.content != *content {
                return true;
            }
            if suspect.engine != *engine && !blamed.contains(&suspect.engine) {
                blamed.push(suspect.engine.clone());
            }
            false
        });
        blamed
    }

    /// Suspects held now.
    pub fn held(&self) -> usize {
        self.suspects.len()
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .suspects
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(oldest.at) >= self.window)
        {
            self.suspects.pop_front();
        }
    }
}

/// The member with the fewest channels; the first listed among equals.
fn least_loaded<'a>(members: impl Iterator<Item = &'a Arc<Member>>) -> Option<&'a Arc<Member>> {
    let mut best: Option<&Arc<Member>> = None;
    for member in members {
        if best.is_none_or(|best| member.channels() < best.channels()) {
            best = Some(member);
        }
    }
    best
}

/// Checks a list of engines a user gave: at least one, no URL twice, no
/// limit of zero. `what` names where the list came from, for the message.
pub fn check_specs(specs: &[EngineSpec]) -> Result<(), String> {
    if specs.is_empty() {
        return Err("the list of engines is empty".into());
    }
    for (index, spec) in specs.iter().enumerate() {
        if spec.max_channels == Some(0) {
            return Err(format!(
                "engine {}: max_channels must be at least 1",
                spec.url
            ));
        }
        if specs[..index].iter().any(|other| other.url == spec.url) {
            return Err(format!("engine {} is listed twice", spec.url));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(port: u16, max: Option<usize>) -> EngineSpec {
        EngineSpec {
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
            max_channels: max,
        }
    }

    fn pool(max: Option<usize>) -> Pool {
        Pool::new(
            &[spec(1, max), spec(2, max), spec(3, max)],
            PoolSettings::default(),
        )
    }

    fn port(seat: &Seat) -> u16 {
        seat.member().url().port().expect("port")
    }

    #[tokio::test(start_paused = true)]
    async fn channels_spread_by_load_ties_to_the_first_listed() {
        let pool = pool(Some(2));
        let seats: Vec<Seat> = (0..6).map(|_| pool.place(None).expect("room")).collect();
        let ports: Vec<u16> = seats.iter().map(port).collect();
        assert_eq!(ports, [1, 2, 3, 1, 2, 3]);
        assert!(pool.place(None).is_err(), "all full");
        seats[0].leave();
        seats[0].leave();
        assert_eq!(pool.views()[0].channels, 1, "left once, counted once");
        drop(seats);
        assert!(pool.views().iter().all(|view| view.channels == 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_down_engine_gets_no_channel_until_it_answers() {
        let pool = pool(None);
        let first = pool.first();
        first.note_version(Err("connection refused".into()));
        let seats: Vec<Seat> = (0..4).map(|_| pool.place(None).expect("room")).collect();
        assert!(seats.iter().all(|seat| port(seat) != 1));
        first.note_version(Ok("3.2.3".into()));
        assert_eq!(port(&pool.place(None).expect("room")), 1, "back, and idle");
    }

    fn content(n: u8) -> ContentId {
        ContentId::parse(&format!("{n:02x}").repeat(20)).expect("id")
    }

    fn members(pool: &Pool) -> Vec<Arc<Member>> {
        pool.members().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn an_engine_failing_contents_that_start_elsewhere_is_down_after_the_bound_then_tried_again(
    ) {
        let pool = pool(None);
        let [first, second, _] = <[Arc<Member>; 3]>::try_from(members(&pool)).expect("three");
        let settings = *pool.settings();
        let fail_here_play_there = |n: u8| {
            pool.note_start_failed(&first, &content(n), "failed to load content");
            pool.note_start_ok(&second, &content(n));
        };
        for n in 0..settings.failed_starts_down - 1 {
            fail_here_play_there(u8::try_from(n).expect("small"));
        }
        assert_ne!(first.state(), EngineState::Down);
        fail_here_play_there(0xff);
        assert_eq!(first.state(), EngineState::Down);
        assert_eq!(
            pool.views()[0].last_error,
            Some(format!(
                "starting {}: failed to load content",
                content(0xff)
            ))
        );
        assert_eq!(second.state(), EngineState::Up);
        first.note_version(Ok("3.2.3".into()));
        assert_eq!(
            first.state(),
            EngineState::Down,
            "answering its version is not enough"
        );
        assert_ne!(port(&pool.place(None).expect("room")), 1);
        tokio::time::advance(settings.failed_starts_cooldown).await;
        assert!(first.usable(Instant::now(), settings.failed_starts_cooldown));
    }

    #[tokio::test(start_paused = true)]
    async fn dead_contents_failing_on_every_engine_mark_none_down() {
        let pool = pool(None);
        let all = members(&pool);
        for n in 0..10 {
            for member in &all {
                pool.note_start_failed(member, &content(n), "failed to load content");
            }
        }
        let now = Instant::now();
        let cooldown = pool.settings().failed_starts_cooldown;
        assert!(all.iter().all(|member| member.usable(now, cooldown)));
        assert!(all.iter().all(|member| member.state() != EngineState::Down));
        // A good content then plays: nobody failed it, nobody is blamed.
        pool.note_start_ok(&all[0], &content(0xaa));
        assert!(all.iter().all(|member| member.usable(now, cooldown)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_blamed_once_and_only_on_other_engines() {
        let (a, b, c) = (spec(1, None).url, spec(2, None).url, spec(3, None).url);
        let mut blame = Blame::new(Duration::from_secs(600));
        let now = Instant::now();
        blame.failed(&a, &content(1), now);
        blame.failed(&a, &content(1), now);
        blame.failed(&b, &content(1), now);
        blame.failed(&c, &content(2), now);
        assert_eq!(blame.started(&c, &content(1), now), [a.clone(), b.clone()]);
        assert_eq!(
            blame.started(&c, &content(1), now),
            Vec::<Url>::new(),
            "counted once"
        );
        // Started where it failed: the failure was passing, nobody is blamed.
        assert_eq!(blame.started(&c, &content(2), now), Vec::<Url>::new());
        assert_eq!(blame.held(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_not_proven_within_the_window_is_forgotten() {
        let a = spec(1, None).url;
        let b = spec(2, None).url;
        let window = Duration::from_secs(600);
        let mut blame = Blame::new(window);
        blame.failed(&a, &content(1), Instant::now());
        tokio::time::advance(window - Duration::from_secs(1)).await;
        blame.failed(&a, &content(2), Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            blame.started(&b, &content(1), Instant::now()),
            Vec::<Url>::new()
        );
        assert_eq!(blame.started(&b, &content(2), Instant::now()), [a]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_suspects_held_are_bounded() {
        let a = spec(1, None).url;
        let mut blame = Blame::new(Duration::from_secs(600));
        let now = Instant::now();
        for n in 0..Blame::MAX_SUSPECTS + 10 {
            let id = ContentId::parse(&format!("{n:040x}")).expect("id");
            blame.failed(&a, &id, now);
        }
        assert_eq!(blame.held(), Blame::MAX_SUSPECTS);
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_engine_down_a_new_channel_still_goes_somewhere_but_a_move_does_not() {
        let pool = pool(None);
        for view in pool.members().iter() {
            view.note_version(Err("refused".into()));
        }
        let seat = pool.place(None).expect("placed on a down engine");
        assert!(pool.place(Some(seat.member())).is_err());
        assert!(!pool.can_move_from(seat.member()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_move_goes_to_an_engine_not_tried_yet_before_one_tried() {
        let pool = pool(None);
        let first = pool.place(None).expect("room");
        assert_eq!(port(&first), 1);
        let tried = vec![first.member().url().clone()];
        let second = pool
            .place_avoiding(Some(first.member()), &tried)
            .expect("room");
        assert_eq!(port(&second), 2);
        drop(first);
        // The first engine is idle again, but was tried: the third comes first.
        let tried = vec![spec(1, None).url, second.member().url().clone()];
        let third = pool
            .place_avoiding(Some(second.member()), &tried)
            .expect("room");
        assert_eq!(port(&third), 3);
        // Every other engine tried: the least loaded of them.
        let tried = vec![spec(1, None).url, spec(2, None).url, spec(3, None).url];
        let again = pool
            .place_avoiding(Some(third.member()), &tried)
            .expect("room");
        assert_eq!(port(&again), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_move_leaves_its_engine() {
        let pool = pool(None);
        let seat = pool.place(None).expect("room");
        let moved = pool.place(Some(seat.member())).expect("room elsewhere");
        assert_ne!(port(&moved), port(&seat));
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        assert!(check_specs(&[]).is_err());
        let twice = check_specs(&[spec(1, None), spec(1, Some(2))]).expect_err("twice");
        assert!(twice.contains("listed twice"), "{twice}");
        let zero = check_specs(&[spec(1, Some(0))]).expect_err("zero");
        assert!(zero.contains("at least 1"), "{zero}");
        assert!(check_specs(&[spec(1, None), spec(2, Some(3))]).is_ok());
    }
}
