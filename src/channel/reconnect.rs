//! The reconnect policy of one content id's upstream: when a connection to
//! the engine ends, whether to try again (after how long, on the same engine
//! session or a fresh one), to wait for an engine that went away, or to give
//! up (so players get a clean end, or a saved channel moves to its next
//! alternate). Pure: what ended and the time go in, a decision comes out; the
//! feed (`feed.rs`) does the I/O.
//!
//! An engine that cannot be reached is not a failure of the id: the channel
//! waits for it, up to `engine_wait`, and the time it was away does not count
//! as the id's silence when the failover asks how long nothing came.

use std::time::Duration;

use tokio::time::Instant;

/// How often a channel asks again for an engine that went away.
const ENGINE_POLL: Duration = Duration::from_secs(1);

/// How one upstream connection ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ended {
    /// Players got data from it (the first keyframe, at least).
    pub received: bool,
    /// It ended because the engine could not be reached.
    pub engine_away: bool,
    /// When upstream data last arrived (the channel's start, if never).
    pub last_data: Instant,
}

/// What to do after an upstream connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Connect again after `after`; `fresh_session`: the session itself is
    /// broken, so open a new one.
    Retry {
        after: Duration,
        fresh_session: bool,
    },
    /// The engine is away: ask again after `after`, players keep waiting.
    WaitForEngine {
        after: Duration,
    },
    GiveUp,
}

/// The reconnect state of one id's upstream.
#[derive(Debug)]
pub(super) struct Reconnect {
    max_reconnects: u32,
    /// With alternates to move to: give up once nothing came for this long.
    give_up_after: Option<Duration>,
    engine_wait: Duration,
    /// A fresh upstream's session is broken, not just its connection
    /// (an HLS session is replaced on every reconnect).
    always_fresh: bool,
    failures: u32,
    ever_live: bool,
    away_since: Option<Instant>,
    /// When the engine answered again after being away: silence counts from
    /// then at the earliest.
    back_at: Option<Instant>,
}

impl Reconnect {
    pub(super) fn new(
        max_reconnects: u32,
        give_up_after: Option<Duration>,
        engine_wait: Duration,
        always_fresh: bool,
    ) -> Self {
        Self {
            max_reconnects,
            give_up_after,
            engine_wait,
            always_fresh,
            failures: 0,
            ever_live: false,
            away_since: None,
            back_at: None,
        }
    }

    /// How long the id has delivered nothing, not counting an engine outage.
    pub(super) fn silent_for(&self, last_data: Instant, now: Instant) -> Duration {
        let from = self.back_at.map_or(last_data, |back| back.max(last_data));
        now.saturating_duration_since(from)
    }

    /// Whether the engine is away now, as far as the last connection showed.
    pub(super) fn engine_away(&self) -> bool {
        self.away_since.is_some()
    }

    pub(super) fn on_end(&mut self, ended: Ended, now: Instant) -> Next {
        if ended.received {
            self.ever_live = true;
            self.failures = 0;
            self.away_since = None;
        }
        if ended.engine_away && self.ever_live {
            let since = *self.away_since.get_or_insert(now);
            let waited = now.saturating_duration_since(since);
            if waited >= self.engine_wait {
                return Next::GiveUp;
            }
            return Next::WaitForEngine {
                after: ENGINE_POLL.min(self.engine_wait - waited),
            };
        }
        if self.away_since.take().is_some() {
            self.back_at = Some(now);
        }
        // A first start that fails is reported to the waiting players at
        // once, with the engine's own message, rather than retried.
        if !self.ever_live {
            return Next::GiveUp;
        }
        self.failures += 1;
        let silent = self.silent_for(ended.last_data, now);
        if self.failures > self.max_reconnects
            || self.give_up_after.is_some_and(|after| silent >= after)
        {
            return Next::GiveUp;
        }
        let mut after = backoff(self.failures);
        if let Some(limit) = self.give_up_after {
            // The last try comes when the failover time is up, not a backoff later.
            after = after.min(limit.saturating_sub(silent));
        }
        Next::Retry {
            after,
            fresh_session: !ended.received || self.always_fresh,
        }
    }
}

/// Waits between tries: 0.5 s doubling up to 5 s.
pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(5)).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    //! On paused time: each test moves the clock itself, so the bounds are
    //! exact, with no wall-clock slack.
    use super::*;

    const WAIT: Duration = Duration::from_secs(60);

    fn ended(received: bool, engine_away: bool, last_data: Instant) -> Ended {
        Ended {
            received,
            engine_away,
            last_data,
        }
    }

    async fn advance(by: Duration) -> Instant {
        tokio::time::advance(by).await;
        Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_start_that_fails_gives_up_at_once() {
        let mut policy = Reconnect::new(5, None, WAIT, false);
        let now = Instant::now();
        assert_eq!(policy.on_end(ended(false, false, now), now), Next::GiveUp);
        let mut policy = Reconnect::new(5, None, WAIT, false);
        assert_eq!(
            policy.on_end(ended(false, true, now), now),
            Next::GiveUp,
            "an engine that was never there is reported at once too"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reconnects_back_off_and_give_up_after_the_bound() {
        let mut policy = Reconnect::new(3, None, WAIT, false);
        let start = Instant::now();
        let mut delays = Vec::new();
        let mut next = policy.on_end(ended(true, false, start), start);
        while let Next::Retry { after, .. } = next {
            delays.push(after);
            let now = advance(after).await;
            next = policy.on_end(ended(false, false, start), now);
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000]);
        assert_eq!(next, Next::GiveUp);
    }

    #[tokio::test(start_paused = true)]
    async fn data_in_between_resets_the_count() {
        let mut policy = Reconnect::new(1, None, WAIT, false);
        let now = Instant::now();
        for _ in 0..10 {
            let next = policy.on_end(ended(true, false, now), now);
            assert!(
                matches!(next, Next::Retry { after, fresh_session: false } if after == backoff(1))
            );
        }
        assert_eq!(policy.on_end(ended(false, false, now), now), Next::GiveUp);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_brought_nothing_asks_for_a_fresh_session() {
        let mut policy = Reconnect::new(5, None, WAIT, false);
        let now = Instant::now();
        policy.on_end(ended(true, false, now), now);
        assert!(matches!(
            policy.on_end(ended(false, false, now), now),
            Next::Retry {
                fresh_session: true,
                ..
            }
        ));
        let mut hls = Reconnect::new(5, None, WAIT, true);
        assert!(matches!(
            hls.on_end(ended(true, false, now), now),
            Next::Retry {
                fresh_session: true,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn with_alternates_the_last_try_comes_when_the_failover_time_is_up() {
        let failover = Duration::from_secs(3);
        let mut policy = Reconnect::new(100, Some(failover), WAIT, false);
        let last_data = Instant::now();
        let mut next = policy.on_end(ended(true, false, last_data), last_data);
        let mut elapsed = Duration::ZERO;
        while let Next::Retry { after, .. } = next {
            elapsed += after;
            let now = advance(after).await;
            next = policy.on_end(ended(false, false, last_data), now);
        }
        assert_eq!(next, Next::GiveUp);
        assert_eq!(elapsed, failover, "gave up exactly at the failover time");
    }

    #[tokio::test(start_paused = true)]
    async fn an_engine_outage_is_waited_for_up_to_the_bound_without_counting_failures() {
        let mut policy = Reconnect::new(2, Some(Duration::from_secs(5)), WAIT, false);
        let start = Instant::now();
        let mut next = policy.on_end(ended(true, true, start), start);
        let mut polls = 0;
        while let Next::WaitForEngine { after } = next {
            assert!(policy.engine_away());
            polls += 1;
            let now = advance(after).await;
            next = policy.on_end(ended(false, true, start), now);
        }
        assert_eq!(next, Next::GiveUp);
        assert_eq!(Instant::now() - start, WAIT, "waited exactly the bound");
        assert_eq!(polls, 60, "asked once a second");
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_the_engine_was_away_is_not_the_ids_silence() {
        let failover = Duration::from_secs(5);
        let mut policy = Reconnect::new(5, Some(failover), WAIT, false);
        let last_data = Instant::now();
        policy.on_end(ended(true, true, last_data), last_data);
        let back = advance(Duration::from_secs(30)).await;
        // The engine answers again, but the old session is gone.
        let next = policy.on_end(ended(false, false, last_data), back);
        assert!(
            matches!(next, Next::Retry { .. }),
            "30 s of outage must not count as 30 s of silence: {next:?}"
        );
        assert!(!policy.engine_away());
        assert_eq!(policy.silent_for(last_data, back), Duration::ZERO);
        let later = advance(failover).await;
        assert_eq!(
            policy.on_end(ended(false, false, last_data), later),
            Next::GiveUp
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_outage_after_playing_again_gets_the_whole_wait() {
        let mut policy = Reconnect::new(5, None, WAIT, false);
        let start = Instant::now();
        policy.on_end(ended(true, true, start), start);
        let now = advance(WAIT - Duration::from_secs(1)).await;
        // The engine came back and the stream played for a while.
        assert!(matches!(
            policy.on_end(ended(true, true, now), now),
            Next::WaitForEngine { .. }
        ));
        let now = advance(WAIT - Duration::from_secs(1)).await;
        assert!(matches!(
            policy.on_end(ended(false, true, now), now),
            Next::WaitForEngine { .. }
        ));
    }
}
