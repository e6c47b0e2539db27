//! The HTTP server: the axum router with the player routes (same paths as the
//! engine's, so a player URL only changes host and port), the JSON API, and
//! the error and header conventions every route shares.
//!
//! Routes are grouped by audience, each group with its own guard: what
//! players use ([`play_routes`]; other devices may, with the LAN token) and
//! what manages the proxy ([`manage_routes`]; this computer only). Which
//! group a route joins is its only security decision.

mod api;
mod body_budget;
pub mod engine_api;
mod error;
mod events;
mod guard;
mod guide;
pub mod listener;
mod manage;
mod manage_routes;
mod media;
mod play_routes;
mod playlists;
mod tuner;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ApiError;
pub(crate) use manage::lan::switch_lan;

use crate::channel::Hub;
use crate::player_urls::PlayerUrls;
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
    /// The network tuner media centres see (`/discover.json` and the rest).
    pub tuner: Arc<crate::tuner::Tuner>,
    /// The client sessions of the engine's API (`format=json`).
    pub engine_clients: engine_api::EngineClients,
    /// Recordings of this run and the schedules.
    pub recordings: crate::recording::Recordings,
    /// The programme guide (`/epg.xml`, now/next).
    pub guide: crate::guide::Guide,
    /// The embedding app's players (`/api/players`, `/api/play`); `None` headless.
    pub players: Option<Arc<dyn crate::player_launcher::PlayerLauncher>>,
    /// LAN sharing switched from the web UI (see [`crate::lan`]).
    pub lan: crate::lan::LanSharing,
}

/// The whole application router: the routes players use and the routes
/// that manage the proxy, each behind its audience's guard, both behind the
/// checks every request passes.
pub fn router(state: AppState) -> Router {
    let guard = guard::Guard::new(state.local_addr)
        .with_token(state.lan_token.clone(), state.trust_loopback);
    Router::new()
        .merge(play_routes::routes(guard.clone()))
        .merge(play_routes::shared_tuner_routes(guard.clone()))
        .merge(manage_routes::routes(guard.clone()))
        .layer(axum::middleware::from_fn_with_state(
            body_budget::BodyBudget::default(),
            body_budget::reserve,
        ))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            guard::every_request,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

/// The URLs players should use for this server: on the request's `Host` (so
/// URLs work however the user reached us), falling back to the listen
/// address, with the LAN token when sharing is on (so they work from other
/// devices).
fn base_url(state: &AppState, headers: &HeaderMap) -> PlayerUrls {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.contains('@') && host.parse::<axum::http::uri::Authority>().is_ok());
    let origin = match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", state.local_addr),
    };
    PlayerUrls::new(origin, state.lan_token.as_deref())
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

#[cfg(test)]
mod tests {
    //! The guard rules as the router applies them, in-process: the request
    //! goes through the real router (no socket), from a peer of our choice.
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::extract::{ConnectInfo, Request};
    use axum::http::{HeaderName, StatusCode};
    use tower::ServiceExt as _;

    use super::*;
    use crate::channel::ChannelSettings;
    use crate::engine::EngineClient;
    use crate::engine_pool::Pool;
    use crate::http::listener::PeerAddr;

    const TOKEN: &str = "s3cret";
    const LISTEN: &str = "0.0.0.0:6880";
    const HEX: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// The router of a server sharing on the LAN with [`TOKEN`].
    fn lan_router() -> Router {
        let engine = url::Url::parse("http://127.0.0.1:9").expect("url");
        let hub = Hub::new(
            Pool::single(EngineClient::new(engine)),
            ChannelSettings::default(),
        );
        let store = Store::open(None).expect("store");
        let recordings = crate::recording::Recordings::new(
            hub.clone(),
            store.clone(),
            crate::recording::RecordingSettings::default(),
        );
        router(AppState {
            channels: hub,
            store,
            recordings,
            local_addr: LISTEN.parse().expect("addr"),
            lan_token: Some(TOKEN.into()),
            trust_loopback: true,
            tuner: Arc::new(crate::tuner::Tuner::new(
                crate::tuner::DeviceId::parse("10311E80").expect("id"),
                2,
            )),
            engine_clients: Default::default(),
            guide: Default::default(),
            players: None,
            lan: crate::lan::LanSharing::new(
                LISTEN.parse().expect("addr"),
                std::time::Duration::from_secs(10),
                true,
                None,
            ),
        })
    }

    /// Sends `request` from `peer` (Host 127.0.0.1:6880 unless it has one):
    /// its status and `error` message.
    async fn send(peer: &str, mut request: Request<Body>) -> (StatusCode, String) {
        let peer: SocketAddr = peer.parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        if !request.headers().contains_key(header::HOST) {
            request
                .headers_mut()
                .insert(header::HOST, HeaderValue::from_static("127.0.0.1:6880"));
        }
        let response = lan_router().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        (
            status,
            json["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).expect("request")
    }

    const LAN: &str = "192.168.1.7:50000";
    const LOCAL: &str = "127.0.0.1:50000";

    #[tokio::test]
    async fn the_lan_token_opens_the_play_routes_only() {
        let play = [
            format!("/ace/getstream?id=zz&token={TOKEN}"),
            format!("/ace/manifest.m3u8?id=zz&token={TOKEN}"),
            format!("/ace/hls/{HEX}/segment/1.ts?token={TOKEN}"),
            format!("/channel/{HEX}.ts?token={TOKEN}"),
            format!("/playlist.m3u?token={TOKEN}"),
            format!("/epg.xml?token={TOKEN}"),
            format!("/epg.xml.gz?token={TOKEN}"),
            format!("/api/channels/{HEX}/play.m3u?token={TOKEN}"),
            format!("/discover.json?token={TOKEN}"),
            format!("/lineup.json?token={TOKEN}"),
            format!("/auto/v1?token={TOKEN}"),
            format!("/webui/api/service?method=get_version&token={TOKEN}"),
        ];
        for uri in &play {
            let (status, error) = send(LAN, get(uri)).await;
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{uri}: {status} {error}"
            );
            let without = uri.replace(&format!("token={TOKEN}"), "token=wrong");
            let (status, error) = send(LAN, get(&without)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{without}");
            assert!(error.contains("token"), "{error}");
        }
        for uri in [
            "/",
            "/app.js",
            "/metrics",
            "/api/health",
            "/api/settings",
            "/api/channels",
            "/api/guide/sources",
            "/api/events",
            "/nope",
            "/ace/getstream/x",
        ] {
            let (status, error) = send(LAN, get(&format!("{uri}?token={TOKEN}"))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert!(
                error.contains("only possible from this computer"),
                "{uri}: {error}"
            );
        }
        // The shared tuner's token is its path: the same from every device.
        for peer in [LAN, LOCAL] {
            let (status, error) = send(peer, get(&format!("/hdhr/{TOKEN}/discover.json"))).await;
            assert_eq!(status, StatusCode::OK, "{peer}: {error}");
            let (status, _) = send(peer, get("/hdhr/wrong/discover.json")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{peer}");
        }
        // This computer needs no token for either.
        for uri in ["/playlist.m3u", "/api/settings"] {
            let (status, error) = send(LOCAL, get(uri)).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {error}");
        }
    }

    #[tokio::test]
    async fn other_sites_may_link_to_the_ui_but_not_embed_streams_or_change_anything() {
        let cross_site = |request: Request<Body>| {
            let mut request = request;
            request.headers_mut().insert(
                HeaderName::from_static("sec-fetch-site"),
                HeaderValue::from_static("cross-site"),
            );
            request
        };
        for uri in ["/playlist.m3u", "/ace/getstream?id=zz", "/channel/x.ts"] {
            let (status, error) = send(LOCAL, cross_site(get(uri))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert!(error.contains("embedded"), "{uri}: {error}");
        }
        let (status, _) = send(LOCAL, cross_site(get("/"))).await;
        assert_eq!(status, StatusCode::OK, "a link to the web UI opens it");
        let put = |origin: Option<&'static str>| {
            let mut request = Request::put("/api/settings")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"engine":"http://127.0.0.1:1"}"#))
                .expect("request");
            if let Some(origin) = origin {
                request
                    .headers_mut()
                    .insert(header::ORIGIN, HeaderValue::from_static(origin));
            }
            request
        };
        let (status, error) = send(LOCAL, put(Some("http://evil.example"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(error.contains("cross-origin"), "{error}");
        let (status, error) = send(LOCAL, cross_site(put(None))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(error.contains("cross-site"), "{error}");
        let (status, error) = send(LOCAL, put(Some("http://localhost:6880"))).await;
        assert_eq!(status, StatusCode::OK, "{error}");
    }

    #[tokio::test]
    async fn duplicate_sec_fetch_site_or_origin_headers_are_refused() {
        let twice = |method: &str, uri: &str, name: &'static str, values: [&'static str; 2]| {
            let mut request = Request::builder()
                .method(method)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .expect("request");
            for value in values {
                request.headers_mut().append(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            request
        };
        let origins = ["http://127.0.0.1:6880", "http://evil.example"];
        for request in [
            twice(
                "GET",
                &format!("/ace/getstream?id={HEX}"),
                "sec-fetch-site",
                ["none", "cross-site"],
            ),
            twice(
                "GET",
                "/playlist.m3u",
                "sec-fetch-site",
                ["same-origin", "cross-site"],
            ),
            twice("PUT", "/api/settings", "origin", origins),
            twice("POST", "/api/channels", "origin", origins),
        ] {
            let uri = request.uri().clone();
            let (status, error) = send(LOCAL, request).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert!(
                error.contains("repeats a security header"),
                "{uri}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn every_route_checks_host_and_form_before_its_audience() {
        let foreign = |uri: &str| {
            Request::get(uri)
                .header(header::HOST, "rebind.example:6880")
                .body(Body::empty())
                .expect("request")
        };
        for uri in [
            "/",
            "/api/health",
            "/playlist.m3u",
            "/ace/getstream?id=zz",
            "/nope",
        ] {
            let (status, error) = send(LOCAL, foreign(uri)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert!(error.contains("Host"), "{uri}: {error}");
        }
        let (status, error) = send(LOCAL, get("/api/channels/%FF/play.m3u")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(error.contains("UTF-8"), "{error}");
        let absolute = Request::get("http://evil.example:6880/api/health")
            .body(Body::empty())
            .expect("request");
        let (status, error) = send(LOCAL, absolute).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(error.contains("Host"), "{error}");
    }

    #[tokio::test]
    async fn a_wrong_method_is_answered_after_the_guard_of_its_route() {
        let post = |uri: &str| Request::post(uri).body(Body::empty()).expect("request");
        let (status, _) = send(LAN, post("/ace/getstream?id=zz")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = send(LAN, post(&format!("/api/settings?token={TOKEN}"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        for uri in ["/ace/getstream?id=zz", "/api/settings"] {
            let (status, error) = send(LOCAL, post(uri)).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
            assert!(error.contains("not allowed"), "{error}");
        }
    }
}
