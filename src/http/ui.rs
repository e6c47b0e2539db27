//! The web UI: plain HTML, CSS and JavaScript from `ui/`, embedded in the
//! binary (no build step, nothing fetched at run time) and served with exact
//! MIME types and a strict Content-Security-Policy (only our own scripts,
//! styles and API; no framing).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_CSS: &str = include_str!("../../ui/app.css");
const APP_JS: &str = include_str!("../../ui/app.js");
const GUIDE_JS: &str = include_str!("../../ui/guide.js");
const DEVICES_JS: &str = include_str!("../../ui/devices.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            // Small, and changes with every release: always revalidate.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /app.css`.
pub async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// `GET /app.js`.
pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /guide.js`: the guide and recording controls of each channel.
pub async fn guide_js() -> Response {
    asset("text/javascript; charset=utf-8", GUIDE_JS)
}

/// `GET /devices.js`: the player on this computer and sharing with other devices.
pub async fn devices_js() -> Response {
    asset("text/javascript; charset=utf-8", DEVICES_JS)
}
