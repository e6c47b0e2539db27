//! Where a channel is in its life, and the one function that moves it:
//! [`ChannelState::after`] takes the current state and an [`Event`] and gives
//! the next. The channel's driver reports events; nothing else writes the
//! state, so every rule about it (an engine starting under a start, a drop
//! before the first picture, a finished channel staying finished) is here.

use super::ChannelError;

/// What a running channel is doing about its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not live yet: players wait for the first keyframe.
    Starting,
    Live,
    /// The upstream dropped (or the channel is switching alternates); players
    /// stay connected.
    Reconnecting,
    /// The engine does not answer; players stay connected until it does
    /// (bounded), and no alternate is tried meanwhile.
    WaitingForEngine,
}

/// Where a channel is in its life.
#[derive(Debug, Clone)]
pub enum ChannelState {
    Running {
        phase: Phase,
        /// Acebridge is starting the engine process the channel waits for.
        engine_starting: bool,
    },
    /// The channel gave up; players waiting for it get this error.
    Failed(ChannelError),
    /// Stopped after the linger, by the user or at shutdown.
    Stopped,
}

/// What happened to a channel.
#[derive(Debug, Clone)]
pub enum Event {
    /// Acebridge started the engine process and waits for it to answer.
    EngineStarting,
    /// The engine answers (after a start, or again after an outage).
    EngineAnswers,
    /// The first keyframe arrived (at the start or after a drop).
    Live,
    /// The upstream dropped, or the channel moves to another alternate.
    Lost,
    /// The engine could not be reached.
    EngineAway,
    Failed(ChannelError),
    Stopped,
}

impl Default for ChannelState {
    fn default() -> Self {
        ChannelState::Running {
            phase: Phase::Starting,
            engine_starting: false,
        }
    }
}

impl ChannelState {
    /// The state after `event`; a finished channel stays finished.
    pub fn after(&self, event: Event) -> ChannelState {
        let ChannelState::Running { phase, .. } = *self else {
            return self.clone();
        };
        let running = |phase, engine_starting| ChannelState::Running {
            phase,
            engine_starting,
        };
        // Only a start of the engine process sets `engine_starting`: any
        // other news means that start is over.
        match event {
            Event::EngineStarting => running(phase, true),
            Event::EngineAnswers => running(
                match phase {
                    Phase::WaitingForEngine => Phase::Reconnecting,
                    other => other,
                },
                false,
            ),
            Event::Live => running(Phase::Live, false),
            // Before the first picture it is still a start, whatever went wrong.
            Event::Lost if phase == Phase::Starting => running(Phase::Starting, false),
            Event::Lost => running(Phase::Reconnecting, false),
            Event::EngineAway if phase == Phase::Starting => running(Phase::Starting, false),
            Event::EngineAway => running(Phase::WaitingForEngine, false),
            Event::Failed(error) => ChannelState::Failed(error),
            Event::Stopped => ChannelState::Stopped,
        }
    }

    pub fn phase(&self) -> Option<Phase> {
        match self {
            ChannelState::Running { phase, .. } => Some(*phase),
            _ => None,
        }
    }

    /// Not live yet since it began: a failure now is a failed start.
    pub fn is_starting(&self) -> bool {
        self.phase() == Some(Phase::Starting)
    }

    pub fn label(&self) -> &'static str {
        match self {
            ChannelState::Running {
                engine_starting: true,
                ..
            } => "starting engine",
            ChannelState::Running { phase, .. } => match phase {
                Phase::Starting => "starting",
                Phase::Live => "live",
                Phase::Reconnecting => "reconnecting",
                Phase::WaitingForEngine => "waiting for engine",
            },
            ChannelState::Failed(_) => "failed",
            ChannelState::Stopped => "stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: impl IntoIterator<Item = Event>) -> ChannelState {
        events
            .into_iter()
            .fold(ChannelState::default(), |state, event| state.after(event))
    }

    #[test]
    fn an_engine_start_under_a_start_shows_and_then_leaves_the_start() {
        assert_eq!(run([Event::EngineStarting]).label(), "starting engine");
        assert_eq!(
            run([Event::EngineStarting, Event::EngineAnswers]).label(),
            "starting"
        );
        assert_eq!(run([Event::EngineStarting, Event::Live]).label(), "live");
    }

    #[test]
    fn a_drop_before_the_first_picture_is_still_a_start() {
        assert!(run([Event::Lost]).is_starting());
        assert!(run([Event::EngineAway]).is_starting());
        assert_eq!(run([Event::Live, Event::Lost]).label(), "reconnecting");
    }

    #[test]
    fn an_engine_outage_is_waited_out_then_reconnected() {
        let waiting = run([Event::Live, Event::EngineAway]);
        assert_eq!(waiting.label(), "waiting for engine");
        assert_eq!(waiting.after(Event::EngineAnswers).label(), "reconnecting");
        assert_eq!(waiting.after(Event::Live).label(), "live");
    }

    #[test]
    fn a_finished_channel_stays_finished() {
        let stopped = run([Event::Live, Event::Stopped]);
        for event in [Event::Live, Event::Lost, Event::EngineStarting] {
            assert_eq!(stopped.after(event).label(), "stopped");
        }
        let failed = run([Event::Failed(ChannelError::Stopped), Event::Live]);
        assert_eq!(failed.label(), "failed");
    }
}
