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

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let status = match error {
            EngineError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, error.to_string())
    }
}

impl From<ChannelError> for ApiError {
    fn from(error: ChannelError) -> Self {
        let status = match &error {
            ChannelError::Engine(engine) => return engine.clone().into(),
            ChannelError::StartTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ChannelError::Stopped | ChannelError::TooManyChannels(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ChannelError::TooManyPlayers(_) => StatusCode::TOO_MANY_REQUESTS,
            ChannelError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}
