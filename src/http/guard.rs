//! Request guards that keep web pages away from a localhost server every page
//! can reach: a `Host` allow-list (stops DNS rebinding), same-origin requests
//! only for state changes (stops CSRF), and no media for other sites' pages
//! (`Sec-Fetch-Site`), while players, which send none of these headers, pass.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::listener::PeerAddr;
use super::ApiError;

/// Who this server is, for the checks.
#[derive(Debug, Clone)]
pub struct Guard {
    port: u16,
    /// Extra host names users configured (LAN sharing), lowercase.
    extra_hosts: Arc<[String]>,
    /// With LAN sharing on, what clients other than this machine must pass as `?token=`.
    token: Option<Arc<str>>,
    trust_loopback: bool,
}

impl Guard {
    pub fn new(port: u16, extra_hosts: impl IntoIterator<Item = String>) -> Self {
        Self {
            port,
            extra_hosts: extra_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            token: None,
            trust_loopback: true,
        }
    }

    /// Requires `token` from clients that are not on this machine.
    pub fn with_token(mut self, token: Option<Arc<str>>, trust_loopback: bool) -> Self {
        self.token = token;
        self.trust_loopback = trust_loopback;
        self
    }

    /// Whether a request from `peer` with this query may pass the LAN check.
    fn token_ok(&self, peer: Option<IpAddr>, query: Option<&str>) -> bool {
        let Some(expected) = self.token.as_deref() else {
            return true;
        };
        if self.trust_loopback && peer.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        let given = query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "token")
                .map(|(_, value)| value.into_owned())
        });
        given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
    }

    /// Whether `authority` (a Host header or an Origin's host:port) names this server.
    /// IP literals always pass (with our port): DNS rebinding needs a host name,
    /// and LAN players address the server by its IP.
    fn is_ours(&self, authority: &str) -> bool {
        let (host, port) = split_authority(authority);
        if port.is_some_and(|port| port != self.port) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        host == "localhost"
            || host.ends_with(".localhost")
            || host.parse::<IpAddr>().is_ok()
            || self.extra_hosts.contains(&host)
    }

    fn origin_is_ours(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|authority| self.is_ours(authority))
    }
}

/// `host:port`, `[v6]:port` or `host` → (host without brackets, port).
fn split_authority(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (authority, Some(0)),
        },
        None => (authority, None),
    }
}

/// Compares without an early exit, so response timing tells nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, message).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The middleware: checks every request before any handler runs.
pub async fn check(State(guard): State<Guard>, request: Request<Body>, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|info| info.0 .0.ip());
    // The page and its assets are static and carry no secret: a LAN device
    // opening `/?token=…` gets them, and the page passes the token on to the API.
    let static_ui = matches!(request.uri().path(), "/" | "/app.css" | "/app.js");
    if !static_ui && !guard.token_ok(peer, request.uri().query()) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "LAN sharing is on: add ?token=<the token shown in the acebridge window> to the URL",
        )
        .into_response();
    }
    let headers = request.headers();
    if let Some(host) = header_str(headers, &header::HOST) {
        if !guard.is_ours(host) {
            return forbidden(
                "this server only answers requests addressed to it (Host not allowed)",
            );
        }
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method {
        if let Some(origin) = header_str(headers, &header::ORIGIN) {
            if !guard.origin_is_ours(origin) {
                return forbidden("cross-origin requests may not change anything");
            }
        }
        if matches!(fetch_site, Some("cross-site" | "same-site")) {
            return forbidden("cross-site requests may not change anything");
        }
        // The JSON content type a form cannot send is enforced by the body
        // extractor of every route that takes a body (400 with the reason).
    } else if matches!(fetch_site, Some("cross-site" | "same-site")) {
        let path = request.uri().path();
        if path.starts_with("/ace/") || path.ends_with(".m3u") {
            return forbidden("streams may not be embedded by other sites");
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allow_list() {
        let guard = Guard::new(6880, ["tv.lan".to_owned()]);
        for ok in [
            "127.0.0.1:6880",
            "localhost:6880",
            "[::1]:6880",
            "localhost",
            "127.0.0.2:6880",
            "TV.lan:6880",
            "192.168.1.20:6880",
        ] {
            assert!(guard.is_ours(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:6880",
            "127.0.0.1:80",
            "127.0.0.1.evil.com:6880",
            "[::1]:1",
            "localhost:abc",
            "10.0.0.1:80",
            "rebind.evil.com:6880",
        ] {
            assert!(!guard.is_ours(bad), "{bad}");
        }
        assert!(guard.origin_is_ours("http://127.0.0.1:6880"));
        assert!(!guard.origin_is_ours("https://127.0.0.1:6880"));
        assert!(!guard.origin_is_ours("http://evil.com"));
        assert!(!guard.origin_is_ours("null"));
    }

    #[test]
    fn lan_token_is_required_from_other_devices_only() {
        let lan: IpAddr = "192.168.1.7".parse().expect("ip");
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let guard = Guard::new(6880, []).with_token(Some("s3cret".into()), true);
        assert!(guard.token_ok(Some(local), None));
        assert!(!guard.token_ok(Some(lan), None));
        assert!(!guard.token_ok(Some(lan), Some("id=1&token=wrong")));
        assert!(!guard.token_ok(Some(lan), Some("token=s3cre")));
        assert!(guard.token_ok(Some(lan), Some("id=1&token=s3cret")));
        assert!(
            Guard::new(6880, []).token_ok(Some(lan), None),
            "no token when sharing is off"
        );
    }
}
