//! The HTTP server: the axum router with the player routes (same paths as the
//! engine's, so a player URL only changes host and port), the JSON API, and
//! the error and header conventions every route shares.

mod alternates;
mod api;
mod error;
mod events;
mod guard;
pub mod listener;
pub mod manage;
mod media;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ApiError;

use crate::channel::Hub;
use crate::store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The channel table every media route and stream API reads.
    pub channels: Hub,
    /// The persisted settings (engine URL, saved channels).
    pub store: Store,
    /// The address the server listens on, for URLs when a request has no `Host`.
    pub local_addr: SocketAddr,
    /// Set when LAN sharing is on: other devices must pass it as `?token=`.
    pub lan_token: Option<Arc<str>>,
    /// Whether loopback clients may skip the token (false only in tests, to
    /// stand in for LAN clients).
    pub trust_loopback: bool,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/ace/getstream",
            get(media::getstream).head(media::getstream_head),
        )
        .route(
            "/ace/manifest.m3u8",
            get(media::manifest).head(media::manifest_head),
        )
        .route("/ace/hls/{id}/segment/{file}", get(media::segment))
        .route(
            "/channel/{file}",
            get(media::channel).head(media::channel_head),
        )
        .route("/channel/{key}/segment/{file}", get(media::channel_segment))
        .route("/api/health", get(api::health))
        .route("/api/streams", get(api::streams))
        .route("/metrics", get(api::metrics))
        .route("/api/events", get(events::events))
        .route(
            "/api/imports",
            post(manage::import_list).delete(manage::forget_list),
        )
        .route("/api/streams/{id}", delete(manage::stop_stream))
        .route("/api/parse", post(manage::parse))
        .route(
            "/api/channels",
            get(manage::list_channels).post(manage::add_channels),
        )
        .route(
            "/api/channels/{id}",
            put(manage::rename_channel).delete(manage::delete_channel),
        )
        .route("/api/channels/{id}/play.m3u", get(manage::play_m3u))
        .route(
            "/api/channels/{id}/alternates",
            post(alternates::add).put(alternates::reorder),
        )
        .route("/api/channels/{id}/split", post(alternates::split))
        .route("/api/channels/{id}/merge", post(alternates::merge))
        .route(
            "/api/settings",
            get(manage::get_settings).put(manage::put_settings),
        )
        .route("/api/engine/test", post(manage::test_engine))
        .route("/api/engine/start", post(manage::start_engine))
        .route("/api/engine/stop", post(manage::stop_engine))
        .route("/playlist.m3u", get(manage::playlist))
        .route("/", get(ui::index))
        .route("/app.css", get(ui::css))
        .route("/app.js", get(ui::js))
        .layer(DefaultBodyLimit::max(manage::MAX_BODY_BYTES))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            guard::Guard::new(state.local_addr, [])
                .with_token(state.lan_token.clone(), state.trust_loopback),
            guard::check,
        ))
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
