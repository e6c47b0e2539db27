//! The API's error type: every failure a client sees is an HTTP status with a
//! JSON body `{"error": "…"}`, including axum's own extractor rejections.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::channel::ChannelError;
use crate::engine::EngineError;

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

impl From<ChannelError> for ApiError {
    fn from(error: ChannelError) -> Self {
        Self::new(channel_status(&error), error.to_string())
    }
}
