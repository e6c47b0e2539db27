//! Request guards that keep web pages away from a localhost server every page
//! can reach: a `Host` allow-list (stops DNS rebinding), same-origin requests
//! only for state changes (stops CSRF), and no media for other sites' pages
//! (`Sec-Fetch-Site`), while players, which send none of these headers, pass.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// Who this server is, for the checks.
#[derive(Debug, Clone)]
pub struct Guard {
    port: u16,
    /// Extra host names users configured (LAN sharing), lowercase.
    extra_hosts: Arc<[String]>,
}

impl Guard {
    pub fn new(port: u16, extra_hosts: impl IntoIterator<Item = String>) -> Self {
        Self {
            port,
            extra_hosts: extra_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        }
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

fn forbidden(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, message).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The middleware: checks every request before any handler runs.
pub async fn check(State(guard): State<Guard>, request: Request<Body>, next: Next) -> Response {
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
}
