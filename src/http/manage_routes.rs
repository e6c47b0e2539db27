//! The routes that manage the proxy: the JSON API, its event stream, the
//! metrics and the web UI, and the answer to unknown paths. For this
//! computer only, and changed only by its own pages: the [`guard::manage`]
//! layer owns that rule for every route registered here.

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};
use axum::Router;

use super::guard::{self, Guard};
use super::{alternates, api, events, manage, method_not_allowed, not_found, ui, AppState};

pub(super) fn routes(guard: Guard) -> Router<AppState> {
    Router::new()
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
        .route("/", get(ui::index))
        .route("/app.css", get(ui::css))
        .route("/app.js", get(ui::js))
        .layer(DefaultBodyLimit::max(manage::MAX_BODY_BYTES))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(guard, guard::manage))
}
