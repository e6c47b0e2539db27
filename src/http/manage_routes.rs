//! The routes that manage the proxy: the JSON API, its event stream, the
//! metrics and the web UI, and the answer to unknown paths. For this
//! computer only, and changed only by its own pages: the [`guard::manage`]
//! layer owns that rule for every route registered here.

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};
use axum::Router;

use super::guard::{self, Guard};
use super::manage::{
    self, alternates, channels, engine, imports, lan, order, parse, players, recordings, settings,
    streams,
};
use super::{api, events, guide, method_not_allowed, not_found, ui, AppState};

pub(super) fn routes(guard: Guard) -> Router<AppState> {
    Router::new()
        .route("/api/health", get(api::health))
        .route("/api/streams", get(api::streams))
        .route("/metrics", get(api::metrics))
        .route("/api/events", get(events::events))
        .route(
            "/api/imports",
            post(imports::import_list).delete(imports::forget_list),
        )
        .route("/api/imports/bring-back", post(imports::bring_back))
        .route("/api/streams/{id}", delete(streams::stop_stream))
        .route("/api/parse", post(parse::parse))
        .route(
            "/api/recordings",
            get(recordings::list).post(recordings::start),
        )
        .route("/api/recordings/{id}", delete(recordings::stop))
        .route(
            "/api/channels",
            get(channels::list_channels).post(channels::add_channels),
        )
        .route(
            "/api/channels/{id}",
            put(channels::rename_channel).delete(channels::delete_channel),
        )
        .route(
            "/api/channels/{id}/alternates",
            post(alternates::add).put(alternates::reorder),
        )
        .route("/api/channels/{id}/reset", post(channels::reset_channel))
        .route("/api/channels/{id}/move", post(order::move_channel))
        .route("/api/channels/{id}/split", post(alternates::split))
        .route("/api/channels/{id}/guide", put(guide::pick))
        .route("/api/guide", get(guide::programmes))
        .route(
            "/api/guide/sources",
            get(guide::list_sources)
                .post(guide::add_source)
                .delete(guide::remove_source),
        )
        .route("/api/guide/options", put(guide::set_options))
        .route("/api/guide/channels", get(guide::search_channels))
        .route("/api/guide/search", get(guide::search_titles))
        .route("/api/channels/{id}/merge", post(alternates::merge))
        .route(
            "/api/settings",
            get(settings::get_settings).put(settings::put_settings),
        )
        .route("/api/players", get(players::list).put(players::choose))
        .route("/api/play", post(players::play))
        .route("/api/lan", get(lan::get).put(lan::put))
        .route("/api/lan/qr.svg", get(lan::qr))
        .route("/api/engine/test", post(engine::test_engine))
        .route("/api/engine/start", post(engine::start_engine))
        .route("/api/engine/stop", post(engine::stop_engine))
        .route("/", get(ui::index))
        .route("/app.css", get(ui::css))
        .route("/app.js", get(ui::js))
        .route("/guide.js", get(ui::guide_js))
        .route("/devices.js", get(ui::devices_js))
        .layer(DefaultBodyLimit::max(manage::MAX_BODY_BYTES))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(guard, guard::manage))
}
