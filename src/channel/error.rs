//! Why a player could not be served or a channel ended, typed by whose fault
//! it is ([`Fault`]), so that a log line, a recorded problem and an HTTP
//! status (see `http::error`) all say the same thing. Proxy decisions (an id
//! claimed elsewhere, no alternate played) are variants of their own, never
//! an engine error with a made-up message.

use std::time::Duration;

use crate::engine::EngineError;
use crate::engine_process::ProcessError;

/// Whose fault a failure is: the question a user asks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The engine (or the content it plays): an error answer, a dead
    /// swarm, a stream that ends, an engine that cannot be reached.
    Engine,
    /// The player's request.
    Player,
    /// A limit acebridge keeps (channels, players, one session per content).
    Limits,
    /// Acebridge's own settings (for example an engine command that does not run).
    Configuration,
    /// Stopped on purpose: by the user or at shutdown.
    Stopped,
    /// A bug in acebridge.
    Proxy,
}

/// A channel's or a player's failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// The engine failed: it answered an error, sent what is not its API, or
    /// could not be reached.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The engine process acebridge manages could not be started.
    #[error("the engine could not be started: {0}")]
    EngineProcess(#[from] ProcessError),
    /// The stream did not start within the start timeout.
    #[error("the stream did not start within {0:?}")]
    StartTimeout(Duration),
    /// The engine ended the stream and would not give it back.
    #[error("the engine ended the stream")]
    UpstreamEnded,
    /// The engine's stats showed no peers and no progress for this long.
    #[error("the engine reports no peers and no progress for {0:?}")]
    NoPeers(Duration),
    /// Every alternate was tried for `rounds` rounds and none played.
    #[error("none of the {count} alternates played in {rounds} rounds; last: {last}")]
    NoAlternatePlayed {
        count: usize,
        rounds: u32,
        last: Box<ChannelError>,
    },
    /// This id plays on another channel (one engine session per content).
    #[error("{0} is playing on another channel")]
    ClaimedElsewhere(crate::content_id::ContentId),
    /// Every id of a saved channel plays on other channels.
    #[error("all {0} ids of this channel are playing on other channels")]
    AllClaimedElsewhere(usize),
    /// The channel was stopped (by the user, at shutdown) while the player waited.
    #[error("the channel was stopped")]
    Stopped,
    /// A limit: too many channels playing.
    #[error("too many channels playing (at most {0}); stop one first")]
    TooManyChannels(usize),
    /// A limit: every engine of the pool plays all the channels it may (or is down).
    #[error("every engine is busy")]
    EnginesBusy,
    /// A limit: too many players on one channel.
    #[error("too many players on this channel (at most {0})")]
    TooManyPlayers(usize),
    /// A bug in acebridge, contained to one channel.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ChannelError {
    /// Whose fault it is; a failover that ran out carries its last cause's.
    pub fn fault(&self) -> Fault {
        match self {
            ChannelError::Engine(_)
            | ChannelError::StartTimeout(_)
            | ChannelError::UpstreamEnded
            | ChannelError::NoPeers(_) => Fault::Engine,
            ChannelError::EngineProcess(error) => error.fault(),
            ChannelError::NoAlternatePlayed { last, .. } => last.fault(),
            ChannelError::ClaimedElsewhere(_)
            | ChannelError::AllClaimedElsewhere(_)
            | ChannelError::TooManyChannels(_)
            | ChannelError::EnginesBusy
            | ChannelError::TooManyPlayers(_) => Fault::Limits,
            ChannelError::Stopped => Fault::Stopped,
            ChannelError::Internal(_) => Fault::Proxy,
        }
    }

    /// The engine itself is away (not answering, or its process failing a
    /// start that acebridge will retry): no fault of the id, so a channel
    /// waits for the engine rather than trying alternates. Once acebridge
    /// gives up starting the engine (or the user stopped it), nobody waits.
    pub(crate) fn engine_is_away(&self) -> bool {
        matches!(
            self,
            ChannelError::Engine(EngineError::Unreachable { .. })
                | ChannelError::EngineProcess(ProcessError::Failed(_))
        )
    }
}
