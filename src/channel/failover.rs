//! Failover between a saved channel's alternates. The channel keeps its ring,
//! segment list and players; only the engine session under it changes. When
//! the id playing fails to start (within `failover_after`), stops delivering
//! (nothing for `failover_after`, reconnects included) or the engine reports
//! it dead (no peers and no progress for that long), its session is stopped,
//! and only then the next alternate is started: one engine session at a time.
//! TS players resume at the next keyframe (the ring's resync), HLS players
//! get a discontinuity (the segmenter's restart). After `failover_rounds`
//! rounds in which no alternate played, the channel gives up and its players'
//! streams end.
//!
//! Only failures of an id move the channel on: an engine that went away is
//! waited for by the reconnect policy, and if it stays away the channel ends
//! without burning its alternates.
//!
//! [`Rounds`] is the policy (pure, tested on paused time); [`Channel::run_alternates`]
//! drives it, through [`super::moves::Plan`], which composes it with moves
//! between engines. A channel of one id never switches, but may move.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::core::Channel;
use super::feed::Cutter;
use super::moves::{Engines, Plan, Step};
use super::reconnect::backoff;
use super::state::Event;
use super::ChannelError;
use crate::engine_pool::EngineState;

/// Where a channel is in its rounds through its alternates.
#[derive(Debug)]
pub(super) struct Rounds {
    count: usize,
    max_rounds: u32,
    index: usize,
    rounds_without_play: u32,
    played_this_round: bool,
    /// Of this round's failures, how many were ids playing on other channels.
    claimed_this_round: usize,
}

/// What to do after the alternate playing failed.
#[derive(Debug)]
pub(super) enum Switch {
    /// Play alternate `index` after `pause`.
    To { index: usize, pause: Duration },
    /// Stop trying; players get this error.
    GiveUp(ChannelError),
}

impl Rounds {
    pub(super) fn new(count: usize, max_rounds: u32) -> Self {
        Self {
            count: count.max(1),
            max_rounds,
            index: 0,
            rounds_without_play: 0,
            played_this_round: false,
            claimed_this_round: 0,
        }
    }

    /// The alternate to play now.
    pub(super) fn current(&self) -> usize {
        self.index
    }

    /// The alternate playing went live.
    pub(super) fn played(&mut self) {
        self.played_this_round = true;
    }

    /// The alternate playing failed with `error`: the next one, or the end.
    pub(super) fn failed(&mut self, error: ChannelError) -> Switch {
        if error.engine_is_away() || matches!(error, ChannelError::Stopped) {
            // Not the id's fault: another id would fail the same way.
            return Switch::GiveUp(error);
        }
        if matches!(error, ChannelError::ClaimedElsewhere(_)) {
            self.claimed_this_round += 1;
        }
        self.index = (self.index + 1) % self.count;
        if self.index != 0 {
            return Switch::To {
                index: self.index,
                pause: Duration::ZERO,
            };
        }
        let all_claimed = self.claimed_this_round == self.count;
        self.claimed_this_round = 0;
        self.rounds_without_play = if std::mem::take(&mut self.played_this_round) {
            0
        } else {
            self.rounds_without_play + 1
        };
        if self.rounds_without_play >= self.max_rounds {
            return Switch::GiveUp(if all_claimed {
                ChannelError::AllClaimedElsewhere(self.count)
            } else {
                ChannelError::NoAlternatePlayed {
                    count: self.count,
                    rounds: self.rounds_without_play,
                    last: Box::new(error),
                }
            });
        }
        Switch::To {
            index: 0,
            pause: backoff(self.rounds_without_play),
        }
    }
}

impl Channel {
    /// Runs the channel's upstream, failing over between its alternates and
    /// moving between engines as [`Plan`] decides; returns why it gave up.
    pub(super) async fn run_alternates(&self) -> ChannelError {
        let settings = &self.hub.settings;
        let mut cutter = Cutter::new(settings);
        let mut plan = Plan::new(self.alternates.len(), settings.failover_rounds);
        loop {
            let id = self.alternates[plan.current()].clone();
            let claimed = self.hub.claim(self, &id);
            let error = if claimed {
                if self.alternates.len() > 1 {
                    tracing::info!(channel = %self.key, %id, "playing alternate");
                }
                self.play_one(&mut plan, &mut cutter).await
            } else {
                ChannelError::ClaimedElsewhere(id.clone())
            };
            let from = self.member();
            let pool = &self.hub.pool;
            let engines = Engines {
                down: error.engine_is_away() || from.state() == EngineState::Down,
                others: pool.movable_from(&from),
            };
            let step = plan.after(error.clone(), engines);
            if let Step::GiveUp(error) = step {
                return error;
            }
            if claimed {
                // One engine session at a time: the old one is gone (or its
                // engine is) before the next starts.
                self.release(&id, engines.down).await;
            }
            let pause = match step {
                Step::GiveUp(_) => unreachable!("returned above"),
                Step::Move => {
                    plan.leaving(from.url());
                    let Ok(seat) = pool.place_avoiding(Some(&from), plan.left()) else {
                        // The other engines filled up meanwhile.
                        return error;
                    };
                    let to = seat.member().url().clone();
                    tracing::warn!(channel = %self.key, %id, from = %from.url(), %to, %error, "moving channel to another engine");
                    self.hub.problems.record(
                        &self.key,
                        &id,
                        format!("moved from engine {} to {to}: {error}", from.url()),
                    );
                    self.hub.metrics.note_move(from.url().as_str());
                    self.move_to(seat);
                    Duration::ZERO
                }
                Step::Switch { index, pause } => {
                    let next = &self.alternates[index];
                    tracing::warn!(channel = %self.key, from = %id, to = %next, %error, ?pause, "switching alternate");
                    self.hub.problems.record(
                        &self.key,
                        &id,
                        format!("switched to {next}: {error}"),
                    );
                    self.switches.fetch_add(1, Ordering::Relaxed);
                    *self.last_switch.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(format!("{id} -> {next}: {error}"));
                    self.hub.metrics.failovers.inc();
                    pause
                }
            };
            self.report(Event::Lost);
            cutter.restart(self);
            tokio::time::sleep(pause).await;
        }
    }

    /// Plays the current alternate on the current engine until it fails;
    /// returns why. A channel that could go elsewhere (another alternate,
    /// another engine) gives up on a silent upstream after `failover_after`.
    async fn play_one(&self, plan: &mut Plan, cutter: &mut Cutter) -> ChannelError {
        let failover_after = self.hub.settings.failover_after;
        let has_alternates = self.alternates.len() > 1;
        let give_up_after = (has_alternates || self.hub.pool.len() > 1).then_some(failover_after);
        let run = self.run_upstream(cutter, give_up_after);
        tokio::pin!(run);
        let mut state = self.state.subscribe();
        state.mark_unchanged();
        let mut live = false;
        loop {
            tokio::select! {
                error = &mut run => return error,
                changed = state.changed(), if !live => {
                    if changed.is_err() {
                        return ChannelError::Stopped;
                    }
                    if state.borrow_and_update().label() == "live" {
                        live = true;
                        plan.played();
                        if let Some(id) = self.playing() {
                            self.hub.remember(self, &id);
                        }
                    }
                }
                () = self.engine_reports_dead(failover_after), if has_alternates => {
                    return ChannelError::NoPeers(failover_after);
                }
            }
        }
    }

    /// Completes once the engine's stats of the current session have shown no
    /// peers and no downloaded bytes added for `failover_after`.
    async fn engine_reports_dead(&self, failover_after: Duration) {
        let mut last_progress: Option<(u64, Instant)> = None;
        loop {
            tokio::time::sleep(self.hub.settings.stat_interval).await;
            let Some(stat) = self.session.stat() else {
                last_progress = None;
                continue;
            };
            if stat.peers != Some(0) {
                last_progress = None;
                continue;
            }
            let downloaded = stat.downloaded.unwrap_or(0);
            match last_progress {
                Some((seen, since)) if seen == downloaded => {
                    if since.elapsed() >= failover_after {
                        return;
                    }
                }
                _ => last_progress = Some((downloaded, Instant::now())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_id::ContentId;
    use crate::engine::EngineError;

    fn id_failed() -> ChannelError {
        ChannelError::Engine(EngineError::Engine("no such content".into()))
    }

    fn claimed() -> ChannelError {
        let id = ContentId::parse("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").expect("id");
        ChannelError::ClaimedElsewhere(id)
    }

    /// Fails every alternate until the policy gives up; the indexes tried
    /// and the pauses between rounds.
    fn run_out(
        rounds: &mut Rounds,
        error: impl Fn() -> ChannelError,
    ) -> (Vec<usize>, Vec<Duration>, ChannelError) {
        let (mut tried, mut pauses) = (vec![rounds.current()], Vec::new());
        loop {
            match rounds.failed(error()) {
                Switch::To { index, pause } => {
                    tried.push(index);
                    if !pause.is_zero() {
                        pauses.push(pause);
                    }
                }
                Switch::GiveUp(error) => return (tried, pauses, error),
            }
        }
    }

    #[test]
    fn alternates_are_tried_in_order_for_the_rounds_then_given_up() {
        let mut rounds = Rounds::new(3, 2);
        let (tried, pauses, error) = run_out(&mut rounds, id_failed);
        assert_eq!(tried, [0, 1, 2, 0, 1, 2]);
        assert_eq!(pauses, [backoff(1)], "a pause between rounds only");
        assert!(matches!(
            error,
            ChannelError::NoAlternatePlayed {
                count: 3,
                rounds: 2,
                ..
            }
        ));
    }

    #[test]
    fn a_round_in_which_one_played_starts_the_count_again() {
        let mut rounds = Rounds::new(2, 1);
        rounds.played();
        assert!(matches!(
            rounds.failed(id_failed()),
            Switch::To { index: 1, .. }
        ));
        assert!(matches!(
            rounds.failed(id_failed()),
            Switch::To { index: 0, .. }
        ));
        assert!(matches!(
            rounds.failed(id_failed()),
            Switch::To { index: 1, .. }
        ));
        assert!(matches!(rounds.failed(id_failed()), Switch::GiveUp(_)));
    }

    #[test]
    fn an_engine_that_went_away_burns_no_alternate() {
        let mut rounds = Rounds::new(3, 3);
        let away = ChannelError::Engine(EngineError::Unreachable {
            url: "http://127.0.0.1:6878/".into(),
            reason: "connection refused".into(),
        });
        let Switch::GiveUp(error) = rounds.failed(away) else {
            panic!("an unreachable engine moved to the next alternate");
        };
        assert!(error.engine_is_away());
    }

    #[test]
    fn ids_all_claimed_by_other_channels_is_a_limit_not_an_engine_error() {
        let mut rounds = Rounds::new(2, 1);
        let (_, _, error) = run_out(&mut rounds, claimed);
        assert!(matches!(error, ChannelError::AllClaimedElsewhere(2)));
        assert_eq!(error.fault(), super::super::Fault::Limits);
    }

    #[test]
    fn a_timeout_stays_a_timeout_through_the_failover() {
        let mut rounds = Rounds::new(2, 1);
        let timeout = Duration::from_secs(2);
        let (_, _, error) = run_out(&mut rounds, || ChannelError::StartTimeout(timeout));
        let ChannelError::NoAlternatePlayed { last, .. } = error else {
            panic!("gave up with {error:?}");
        };
        assert!(matches!(*last, ChannelError::StartTimeout(t) if t == timeout));
    }
}
