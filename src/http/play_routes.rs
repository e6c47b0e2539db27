//! The routes players use: the streams (`/ace/*` with the engine's own
//! paths, `/channel/*` for saved channels) and the playlists that lead to
//! them, the engine's client API (`format=json` sessions, see [`engine_api`]),
//! and the network tuner's HDHomeRun API at the root (see [`tuner`]),
//! which is how media centres find those streams. Other devices may use these with the LAN token; the [`guard::play`]
//! layer owns that rule, so every route registered here is one a token opens.

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

use super::guard::{self, Guard};
use super::{engine_api, guide, media, method_not_allowed, playlists, tuner, AppState};

pub(super) fn routes(guard: Guard) -> Router<AppState> {
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
        .route("/playlist.m3u", get(playlists::playlist))
        .route("/epg.xml", get(guide::epg))
        .route("/epg.xml.gz", get(guide::epg_gz))
        .route("/api/channels/{id}/play.m3u", get(playlists::play_m3u))
        .route("/ace/r/{id}/{session}", get(engine_api::playback_ts))
        .route("/ace/m/{id}/{file}", get(engine_api::playback_hls))
        .route("/ace/stat/{id}/{session}", get(engine_api::stat))
        .route("/ace/cmd/{id}/{session}", get(engine_api::command))
        .route("/webui/api/service", get(engine_api::version))
        .merge(tuner_routes(""))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(guard, guard::play))
}

/// The tuner shared on the LAN, under `/hdhr/<token>/`: the same routes,
/// the token in the path (see [`guard::shared_tuner`]).
pub(super) fn shared_tuner_routes(guard: Guard) -> Router<AppState> {
    tuner_routes("/hdhr/{token}")
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn_with_state(guard, guard::shared_tuner))
}

/// The HDHomeRun API under `prefix`.
fn tuner_routes(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/discover.json"), get(tuner::discover))
        .route(&format!("{prefix}/lineup.json"), get(tuner::lineup))
        .route(
            &format!("{prefix}/lineup_status.json"),
            get(tuner::lineup_status),
        )
        .route(
            &format!("{prefix}/lineup.post"),
            post(tuner::lineup_post).get(tuner::lineup_post),
        )
        .route(&format!("{prefix}/device.xml"), get(tuner::device_xml))
        .route(&format!("{prefix}/capability"), get(tuner::device_xml))
        .route(&format!("{prefix}/auto/{{channel}}"), get(tuner::auto))
}
