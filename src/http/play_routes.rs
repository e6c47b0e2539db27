//! The routes players use: the streams (`/ace/*` with the engine's own
//! paths, `/channel/*` for saved channels) and the playlists that lead to
//! them. Other devices may use these with the LAN token; the [`guard::play`]
//! layer owns that rule, so every route registered here is one a token opens.

use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;

use super::guard::{self, Guard};
use super::{media, method_not_allowed, playlists, AppState};

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
        .route("/api/channels/{id}/play.m3u", get(playlists::play_m3u))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(guard, guard::play))
}
