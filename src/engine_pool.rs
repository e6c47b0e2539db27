//! The engines channels play on: one or several AceStream engines, each with
//! an optional limit on its channels. The pool owns each engine's health
//! (its version polled, failed starts counted), the count of channels placed
//! on it, and the placement rule: a new channel goes to the healthy engine
//! with the fewest channels that still has room, ties going to the engine
//! listed first. A channel holds a [`Seat`] on its engine for as long as it
//! plays there; moving it to another engine is taking a seat there and
//! giving this one up.
//!
//! With one engine nothing changes from a proxy without a pool: that engine
//! takes every channel whatever its health (the channel's own errors say why
//! it does not play), and it is not polled in the background.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[cfg(feature = "test-config")]
use serde::Deserialize;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

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
    /// Starts failing in a row after which an engine is marked down.
    pub failed_starts_down: u32,
    /// How long an engine marked down for failing starts gets no channel;
    /// after that it may take one again, on trial.
    pub failed_starts_cooldown: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(5),
            failed_starts_down: 3,
            failed_starts_cooldown: Duration::from_secs(60),
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
    pub fn note_start_ok(&self) {
        let mut health = self.health();
        health.failed_starts = 0;
        health.state = EngineState::Up;
        health.down_for = None;
    }

    /// A start on it failed; after `threshold` in a row it is down.
    pub fn note_start_failed(&self, error: &str, threshold: u32, now: Instant) {
        let mut health = self.health();
        health.failed_starts += 1;
        health.last_error = Some(error.to_owned());
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
}

impl Pool {
    /// A pool of `specs` (at least one: an empty list is the default engine's).
    pub fn new(specs: &[EngineSpec], settings: PoolSettings) -> Self {
        let pool = Self {
            inner: Arc::new(PoolInner {
                members: Mutex::new(Vec::new()),
                settings,
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
        let members = self.members();
        let now = Instant::now();
        let cooldown = self.inner.settings.failed_starts_cooldown;
        let with_room = || {
            members.iter().filter(|member| {
                member.has_room() && moving_from.is_none_or(|from| !Arc::ptr_eq(member, from))
            })
        };
        if let Some(member) = least_loaded(with_room().filter(|m| m.usable(now, cooldown))) {
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

    #[tokio::test(start_paused = true)]
    async fn an_engine_failing_starts_is_down_after_the_bound_then_tried_again() {
        let pool = pool(None);
        let first = pool.first();
        let settings = *pool.settings();
        for _ in 0..settings.failed_starts_down - 1 {
            first.note_start_failed(
                "failed to load content",
                settings.failed_starts_down,
                Instant::now(),
            );
        }
        assert_ne!(first.state(), EngineState::Down);
        first.note_start_failed(
            "failed to load content",
            settings.failed_starts_down,
            Instant::now(),
        );
        assert_eq!(first.state(), EngineState::Down);
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
