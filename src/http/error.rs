//! The API's error type: every failure a client sees is an HTTP status with a
//! JSON body `{"error": "…"}`, including axum's own extractor rejections.
//! The status of each domain error is decided here, and only here: handlers
//! pass their errors on with `?`.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::manage::MAX_BODY_BYTES;
use crate::channel::ChannelError;
use crate::config::ConfigError;
use crate::engine::EngineError;
use crate::engine_process::ProcessError;
use crate::import::ImportError;
use crate::recording::RecordingError;
use crate::store::{AlternatesError, TooManyChannels};

/// An error answer: status and a message meant for the user.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// The status for each cause, in one place: the engine's failures are a
/// 502 (a 504 when it did not answer in time), acebridge's limits a 503 or
/// 429, a stop on purpose a 503, a bug a 500. A failover that ran out answers
/// as its last cause did.
fn engine_status(error: &EngineError) -> StatusCode {
    match error {
        EngineError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        EngineError::Engine(_)
        | EngineError::Unreachable { .. }
        | EngineError::Protocol(_)
        | EngineError::TooLarge { .. } => StatusCode::BAD_GATEWAY,
    }
}

fn channel_status(error: &ChannelError) -> StatusCode {
    match error {
        ChannelError::Engine(engine) => engine_status(engine),
        ChannelError::StartTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        ChannelError::EngineProcess(_) | ChannelError::UpstreamEnded | ChannelError::NoPeers(_) => {
            StatusCode::BAD_GATEWAY
        }
        ChannelError::NoAlternatePlayed { last, .. } => channel_status(last),
        ChannelError::ClaimedElsewhere(_)
        | ChannelError::AllClaimedElsewhere(_)
        | ChannelError::TooManyChannels(_)
        | ChannelError::EnginesBusy
        | ChannelError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        ChannelError::TooManyPlayers(_) => StatusCode::TOO_MANY_REQUESTS,
        ChannelError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        Self::new(engine_status(&error), error.to_string())
    }
}

/// A recording: bad input a 400, an unknown channel or recording a 404, a
/// schedule over the channel limit a 409, a disk without room a 507; a
/// channel that cannot play answers as any player's would.
impl From<RecordingError> for ApiError {
    fn from(error: RecordingError) -> Self {
        let status = match &error {
            RecordingError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RecordingError::NoChannel(_) | RecordingError::NotFound(_) => StatusCode::NOT_FOUND,
            RecordingError::NoRoom(_) => StatusCode::CONFLICT,
            RecordingError::LowDisk { .. } => StatusCode::INSUFFICIENT_STORAGE,
            RecordingError::Disk { .. } | RecordingError::Settings(_) => {
                tracing::warn!(%error, "recording failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            RecordingError::Channel(channel) => channel_status(channel),
        };
        Self::new(status, error.to_string())
    }
}

impl From<ChannelError> for ApiError {
    fn from(error: ChannelError) -> Self {
        Self::new(channel_status(&error), error.to_string())
    }
}

/// Starting or stopping the engine from the API: a refusal of the settings
/// or of whose engine runs is a 409, an engine that does not start a 502.
impl From<ProcessError> for ApiError {
    fn from(error: ProcessError) -> Self {
        let status = match error {
            ProcessError::NoCommand | ProcessError::NotLocal(_) | ProcessError::NotOurs => {
                StatusCode::CONFLICT
            }
            ProcessError::Held | ProcessError::TooSoon { .. } | ProcessError::Failed(_) => {
                StatusCode::BAD_GATEWAY
            }
            ProcessError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, error.to_string())
    }
}

/// A setting the client sent is a 400; a settings file that cannot be
/// written is acebridge's problem, a 500 (and logged).
impl From<ConfigError> for ApiError {
    fn from(error: ConfigError) -> Self {
        match error {
            ConfigError::EngineUrl { .. }
            | ConfigError::Engines(_)
            | ConfigError::EngineCommand { .. } => Self::bad_request(error.to_string()),
            ConfigError::Read { .. } | ConfigError::Write { .. } => {
                tracing::warn!(%error, "could not save settings");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
            }
        }
    }
}

/// LAN sharing that the listen address decides, or that finds no address
/// to share on, is a 409; a listener or a settings file that fails, a 500.
impl From<crate::lan::LanError> for ApiError {
    fn from(error: crate::lan::LanError) -> Self {
        use crate::lan::LanError;
        match error {
            LanError::Fixed(_) | LanError::NoAddress => {
                Self::new(StatusCode::CONFLICT, error.to_string())
            }
            LanError::Settings(error) => error.into(),
            LanError::Bind(_) | LanError::Token(_) => {
                tracing::warn!(%error, "cannot switch LAN sharing");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
            }
        }
    }
}

/// A list URL or a list too big is the client's (400); a list server that
/// fails or sends no channels is a 502.
impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::BadUrl(_)
            | ImportError::TooMany(_)
            | ImportError::TooManyIds
            | ImportError::TooManyLists => Self::bad_request(error.to_string()),
            ImportError::Settings(error) => error.into(),
            ImportError::Status(_)
            | ImportError::TooLarge
            | ImportError::Timeout
            | ImportError::Network(_)
            | ImportError::NoChannels(_) => Self::new(StatusCode::BAD_GATEWAY, error.to_string()),
        }
    }
}

impl From<TooManyChannels> for ApiError {
    fn from(error: TooManyChannels) -> Self {
        Self::bad_request(error.to_string())
    }
}

/// An id another saved channel has is a conflict; the other refusals are
/// requests that cannot apply.
impl From<AlternatesError> for ApiError {
    fn from(error: AlternatesError) -> Self {
        match error {
            AlternatesError::Taken { .. } => Self::new(StatusCode::CONFLICT, error.to_string()),
            AlternatesError::NotAnAlternate(_)
            | AlternatesError::NotAPermutation
            | AlternatesError::LastId
            | AlternatesError::SameChannel => Self::bad_request(error.to_string()),
        }
    }
}

/// A JSON body axum could not read: 413 over the size limit, else 400.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                Self::bad_request("send JSON with Content-Type: application/json")
            }
            JsonRejection::JsonSyntaxError(err) => {
                Self::bad_request(format!("invalid JSON: {}", err.body_text()))
            }
            JsonRejection::JsonDataError(err) => {
                Self::bad_request(format!("unexpected JSON: {}", err.body_text()))
            }
            JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body too large (at most {MAX_BODY_BYTES} bytes)"),
                )
            }
            other => Self::bad_request(format!("cannot read the request: {}", other.body_text())),
        }
    }
}
