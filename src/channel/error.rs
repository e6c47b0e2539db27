//! Why a player could not be served, typed by whose fault it is, so that each
//! failure maps to exactly one HTTP status (see `http::error`).

use std::time::Duration;

use crate::engine::EngineError;

/// A channel's or a player's failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// The engine failed: it answered an error, sent what is not its API, or
    /// could not be reached (502; 504 when it did not answer in time).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The stream did not start within the start timeout (504).
    #[error("the stream did not start within {0:?}")]
    StartTimeout(Duration),
    /// The channel was stopped (by the user, at shutdown) while the player waited (503).
    #[error("the channel was stopped")]
    Stopped,
    /// A limit: too many channels playing (503).
    #[error("too many channels playing (at most {0}); stop one first")]
    TooManyChannels(usize),
    /// A limit: too many players on one channel (429).
    #[error("too many players on this channel (at most {0})")]
    TooManyPlayers(usize),
    /// A bug in acebridge, contained to one channel (500).
    #[error("internal error: {0}")]
    Internal(String),
}
