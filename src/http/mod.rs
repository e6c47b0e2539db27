//! The HTTP server: the axum router with the player routes (same paths as the
//! engine's, so a player URL only changes host and port), the JSON API, and
//! the error and header conventions every route shares.

mod api;
mod error;
pub mod listener;
mod media;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ApiError;

use crate::hls::HlsHub;
use crate::ts::TsHub;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub ts: TsHub,
    pub hls: HlsHub,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ace/getstream", get(media::getstream))
        .route("/ace/manifest.m3u8", get(media::manifest))
        .route("/ace/hls/{id}/segment/{file}", get(media::segment))
        .route("/api/health", get(api::health))
        .route("/api/streams", get(api::streams))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on this route"),
    )
}
