//! What a channel does after its session failed: the one policy that
//! composes moves between engines with failover between alternates, so a
//! channel holds one engine session at a time whatever happens.
//!
//! - The engine is down (does not answer, or is marked down) and another
//!   engine can take the channel: move there, same alternate. The id did
//!   nothing wrong, so no round is spent.
//! - The engine answers but the id failed: a channel with alternates tries
//!   the next one on the same engine (see [`Rounds`]); a channel of one id
//!   tries it on each other engine once before it gives up.
//! - Limits (an id claimed elsewhere, every engine busy) and stops never move.
//!
//! Pure, like [`Rounds`] and the reconnect policy: the driver
//! ([`super::failover`]) asks it and does the I/O.

use super::failover::{Rounds, Switch};
use super::ChannelError;
use std::time::Duration;
use url::Url;

/// The channel's engine as the policy needs to know it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Engines {
    /// The engine the session failed on does not answer (or is marked down).
    pub down: bool,
    /// Other engines that could take the channel now.
    pub others: usize,
}

/// What to do after the session failed.
#[derive(Debug)]
pub(super) enum Step {
    /// Play the same alternate on another engine.
    Move,
    /// Play alternate `index` after `pause`, on the same engine.
    Switch {
        index: usize,
        pause: Duration,
    },
    GiveUp(ChannelError),
}

/// A channel's place in its alternates and its moves.
#[derive(Debug)]
pub(super) struct Plan {
    rounds: Rounds,
    alternates: usize,
    max_rounds: u32,
    /// Moves since the channel last played: bounds moves between engines
    /// that keep failing one after the other.
    moves_without_play: u32,
    /// Engines left since the channel last played: a move goes to the others
    /// first, so a channel of one id is tried on every engine in turn.
    left: Vec<Url>,
}

impl Plan {
    pub(super) fn new(alternates: usize, max_rounds: u32) -> Self {
        Self {
            rounds: Rounds::new(alternates, max_rounds),
            alternates: alternates.max(1),
            max_rounds,
            moves_without_play: 0,
            left: Vec::new(),
        }
    }

    /// The channel moves off `engine`.
    pub(super) fn leaving(&mut self, engine: &Url) {
        if !self.left.contains(engine) {
            self.left.push(engine.clone());
        }
    }

    /// Engines left since the channel last played.
    pub(super) fn left(&self) -> &[Url] {
        &self.left
    }

    /// The alternate to play now.
    pub(super) fn current(&self) -> usize {
        self.rounds.current()
    }

    /// The session playing went live.
    pub(super) fn played(&mut self) {
        self.rounds.played();
        self.moves_without_play = 0;
        self.left.clear();
    }

    pub(super) fn after(&mut self, error: ChannelError, engines: Engines) -> Step {
        if matches!(error, ChannelError::Stopped) || is_limit(&error) {
            return self.switch_or_give_up(error);
        }
        let others = u32::try_from(engines.others).unwrap_or(u32::MAX);
        if others > 0 {
            // A dead engine may be left as often as there are engines to go
            // to, round after round; an id failing on live engines is tried
            // once on each.
            let bound = if engines.down {
                self.max_rounds.max(1).saturating_mul(others + 1)
            } else if self.alternates == 1 {
                others
            } else {
                0
            };
            if self.moves_without_play < bound {
                self.moves_without_play += 1;
                return Step::Move;
            }
        }
        self.switch_or_give_up(error)
    }

    fn switch_or_give_up(&mut self, error: ChannelError) -> Step {
        if self.alternates == 1 || matches!(error, ChannelError::Stopped) {
            return Step::GiveUp(error);
        }
        match self.rounds.failed(error) {
            Switch::To { index, pause } => Step::Switch { index, pause },
            Switch::GiveUp(error) => Step::GiveUp(error),
        }
    }
}

/// A limit acebridge keeps: another engine would not change it.
fn is_limit(error: &ChannelError) -> bool {
    matches!(
        error,
        ChannelError::ClaimedElsewhere(_)
            | ChannelError::AllClaimedElsewhere(_)
            | ChannelError::TooManyChannels(_)
            | ChannelError::TooManyPlayers(_)
            | ChannelError::EnginesBusy
    )
}

#[cfg(test)]
mod tests {
    //! The policy on paused time, as a state machine: what goes in is the
    //! error and the engines' state, what comes out is the next step.
    use super::*;
    use crate::content_id::ContentId;
    use crate::engine::EngineError;

    fn unreachable() -> ChannelError {
        ChannelError::Engine(EngineError::Unreachable {
            url: "http://10.0.0.1:6878/".into(),
            reason: "connection refused".into(),
        })
    }

    fn id_failed() -> ChannelError {
        ChannelError::Engine(EngineError::Engine("failed to load content".into()))
    }

    const DOWN_WITH_TWO_OTHERS: Engines = Engines {
        down: true,
        others: 2,
    };
    const UP_WITH_TWO_OTHERS: Engines = Engines {
        down: false,
        others: 2,
    };
    const ALONE: Engines = Engines {
        down: false,
        others: 0,
    };

    #[tokio::test(start_paused = true)]
    async fn a_dead_engine_moves_the_channel_without_spending_an_alternate() {
        let mut plan = Plan::new(3, 2);
        assert!(matches!(
            plan.after(unreachable(), DOWN_WITH_TWO_OTHERS),
            Step::Move
        ));
        assert_eq!(plan.current(), 0, "the same alternate plays on");
        plan.played();
        // Later its new engine dies too: it moves again.
        assert!(matches!(
            plan.after(ChannelError::UpstreamEnded, DOWN_WITH_TWO_OTHERS),
            Step::Move
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_id_failing_on_a_live_engine_fails_over_to_the_next_alternate_there() {
        let mut plan = Plan::new(2, 1);
        assert!(matches!(
            plan.after(id_failed(), UP_WITH_TWO_OTHERS),
            Step::Switch { index: 1, .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_id_is_tried_once_on_each_other_engine_then_given_up() {
        let mut plan = Plan::new(1, 3);
        let steps: Vec<bool> = (0..3)
            .map(|_| matches!(plan.after(id_failed(), UP_WITH_TWO_OTHERS), Step::Move))
            .collect();
        assert_eq!(steps, [true, true, false]);
        assert!(matches!(
            plan.after(id_failed(), UP_WITH_TWO_OTHERS),
            Step::GiveUp(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_engines_left_are_remembered_until_the_channel_plays() {
        let a = Url::parse("http://10.0.0.1:6878/").expect("url");
        let b = Url::parse("http://10.0.0.2:6878/").expect("url");
        let mut plan = Plan::new(1, 3);
        assert!(matches!(
            plan.after(id_failed(), UP_WITH_TWO_OTHERS),
            Step::Move
        ));
        plan.leaving(&a);
        assert!(matches!(
            plan.after(id_failed(), UP_WITH_TWO_OTHERS),
            Step::Move
        ));
        plan.leaving(&b);
        plan.leaving(&a);
        assert_eq!(plan.left(), [a.clone(), b]);
        plan.played();
        assert!(plan.left().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn with_one_engine_nothing_moves_and_a_lone_id_gives_up_as_before() {
        let mut plan = Plan::new(1, 3);
        let Step::GiveUp(error) = plan.after(
            unreachable(),
            Engines {
                down: true,
                others: 0,
            },
        ) else {
            panic!("moved with nowhere to go");
        };
        assert!(error.engine_is_away());
        let mut plan = Plan::new(1, 3);
        assert!(matches!(plan.after(id_failed(), ALONE), Step::GiveUp(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn engines_dying_one_after_another_are_left_a_bounded_number_of_times() {
        let mut plan = Plan::new(1, 2);
        let mut moves = 0;
        while let Step::Move = plan.after(unreachable(), DOWN_WITH_TWO_OTHERS) {
            moves += 1;
            assert!(moves < 100, "moves without end");
        }
        assert_eq!(moves, 6, "two rounds through three engines");
    }

    #[tokio::test(start_paused = true)]
    async fn limits_and_stops_never_move() {
        let id = ContentId::parse(&"b".repeat(40)).expect("id");
        for error in [
            ChannelError::Stopped,
            ChannelError::EnginesBusy,
            ChannelError::ClaimedElsewhere(id),
        ] {
            let mut plan = Plan::new(1, 3);
            assert!(matches!(
                plan.after(error, DOWN_WITH_TWO_OTHERS),
                Step::GiveUp(_)
            ));
        }
    }
}
