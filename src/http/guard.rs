//! Request guards that keep web pages away from a localhost server every page
//! can reach: a `Host` allow-list (stops DNS rebinding), same-origin requests
//! only for state changes (stops CSRF), and no media for other sites' pages
//! (`Sec-Fetch-Site`), while players, which send none of these headers, pass.
//! With LAN sharing on, it also owns who may do what: other devices may only
//! play (with the token); managing the proxy is for this computer only.
//!
//! Four middlewares, one per audience, none knowing any path: [`every_request`]
//! (well-formed requests addressed to this server) wraps the whole router,
//! [`play`] the routes players use, [`shared_tuner`] the tuner shared on the
//! LAN (its token is a path parameter), [`manage`] the rest; the router
//! decides which route belongs to which audience.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::listener::PeerAddr;
use super::ApiError;

/// Who this server is, for the checks.
#[derive(Debug, Clone)]
pub struct Guard {
    port: u16,
    /// The address the server listens on, when it is a specific one.
    listen_ip: Option<IpAddr>,
    /// With LAN sharing on, what clients other than this machine must pass as `?token=`.
    token: Option<Arc<str>>,
    trust_loopback: bool,
}

impl Guard {
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            port: listen.port(),
            listen_ip: Some(canonical(listen.ip())).filter(|ip| !ip.is_unspecified()),
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

    /// Whether `peer` counts as this computer: always when LAN sharing is
    /// off (only this computer can connect then).
    fn is_local(&self, peer: Option<IpAddr>) -> bool {
        self.token.is_none() || self.trust_loopback && peer.is_some_and(is_loopback)
    }

    /// Whether a request from `peer` with this query may pass the LAN check.
    fn token_ok(&self, peer: Option<IpAddr>, query: Option<&str>) -> bool {
        let Some(expected) = self.token.as_deref() else {
            return true;
        };
        if self.is_local(peer) {
            return true;
        }
        let given = query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "token")
                .map(|(_, value)| value.into_owned())
        });
        given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
    }

    /// Whether `authority` (a Host header) names this server. IP literals
    /// always pass (with our port): DNS rebinding needs a host name, and LAN
    /// players address the server by whichever of its IPs they reach.
    fn is_ours(&self, authority: &str) -> bool {
        let (host, port) = split_authority(authority);
        if port.is_some_and(|port| port != self.port) {
            return false;
        }
        host.parse::<IpAddr>().is_ok() || self.is_own_name(host)
    }

    /// Localhost names, loopback IPs and the listen address.
    fn is_own_name(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return is_loopback(ip) || self.listen_ip == Some(canonical(ip));
        }
        host == "localhost" || host.ends_with(".localhost")
    }

    /// The same-origin check for state changes: exactly this server's own
    /// names with its port, not any IP literal.
    fn origin_is_ours(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|authority| {
            let (host, port) = split_authority(authority);
            port.is_none_or(|port| port == self.port) && self.is_own_name(host)
        })
    }
}

/// Loopback, counting IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what
/// a server listening on `[::]` sees for IPv4 clients).
pub fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
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

fn peer(request: &Request<Body>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|info| info.0 .0.ip())
}

/// For every request, before its audience's checks: a request no browser or
/// player sends is refused (400), and so is one addressed to another host (403).
pub async fn every_request(
    State(guard): State<Guard>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if let Err(message) = host_is_well_formed(&request) {
        return ApiError::bad_request(message).into_response();
    }
    if !percent_decodes_to_utf8(request.uri().path()) {
        // Route parameters are text; axum's own answer would be plain text.
        return ApiError::bad_request("the URL path is not valid UTF-8 once decoded")
            .into_response();
    }
    if let Some(host) = header_str(request.headers(), &header::HOST) {
        if !guard.is_ours(host) {
            return forbidden(
                "this server only answers requests addressed to it (Host not allowed)",
            );
        }
    }
    if let Err(message) = security_headers_are_single(request.headers()) {
        return forbidden(message);
    }
    next.run(request).await
}

/// `Origin` and `Sec-Fetch-Site` at most once each, and readable, as every
/// browser sends them: the checks read one value, and a second one (`none`,
/// then `cross-site`) or an unreadable one must not slip past them.
fn security_headers_are_single(headers: &HeaderMap) -> Result<(), &'static str> {
    for name in [header::ORIGIN, HeaderName::from_static("sec-fetch-site")] {
        let mut values = headers.get_all(&name).iter();
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => {
                return Err("the request repeats a security header (Origin or Sec-Fetch-Site)")
            }
            (Some(value), None) if value.to_str().is_err() => {
                return Err("the request has an unreadable Origin or Sec-Fetch-Site header")
            }
            _ => {}
        }
    }
    Ok(())
}

/// For the routes players use (streams and the playlists that lead to
/// them): other devices need the LAN token, and no other site's page may
/// embed them.
pub async fn play(State(guard): State<Guard>, request: Request<Body>, next: Next) -> Response {
    if !guard.token_ok(peer(&request), request.uri().query()) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "LAN sharing is on: add ?token=<the token shown in the acebridge window> to the URL",
        )
        .into_response();
    }
    if let Err(refused) = player_request(&guard, &request) {
        return forbidden(refused);
    }
    next.run(request).await
}

/// For the network tuner shared on the LAN: media centres cannot add a
/// `?token=` to the URLs they build, so the token is the route's `{token}`
/// path parameter, checked from every client alike. It grants what the play
/// routes grant; with LAN sharing off there is no shared tuner (404).
pub async fn shared_tuner(
    State(guard): State<Guard>,
    Path(params): Path<HashMap<String, String>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let Some(expected) = guard.token.as_deref() else {
        return ApiError::not_found("the tuner is not shared: LAN sharing is off").into_response();
    };
    let given = params
        .get("token")
        .map(String::as_bytes)
        .unwrap_or_default();
    if !constant_time_eq(given, expected.as_bytes()) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong token in the tuner address: copy it from the acebridge window",
        )
        .into_response();
    }
    if let Err(refused) = player_request(&guard, &request) {
        return forbidden(refused);
    }
    next.run(request).await
}

/// For managing the proxy (the API, the web UI, metrics, events): this
/// computer only, and changes only from this server's own pages.
pub async fn manage(State(guard): State<Guard>, request: Request<Body>, next: Next) -> Response {
    if !guard.is_local(peer(&request)) {
        return forbidden(
            "managing acebridge is only possible from this computer; other devices may only play",
        );
    }
    if is_unsafe(request.method()) {
        if let Err(refused) = same_origin_change(&guard, request.headers()) {
            return forbidden(refused);
        }
    }
    next.run(request).await
}

/// What a player's request must be: a change only from this server's own
/// pages, and no media for another site's page.
fn player_request(guard: &Guard, request: &Request<Body>) -> Result<(), &'static str> {
    if is_unsafe(request.method()) {
        same_origin_change(guard, request.headers())
    } else if from_other_site(request.headers()) {
        Err("streams may not be embedded by other sites")
    } else {
        Ok(())
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a browser says another site's page sent the request.
fn from_other_site(headers: &HeaderMap) -> bool {
    header_str(headers, &HeaderName::from_static("sec-fetch-site")).is_some_and(|site| {
        site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site")
    })
}

/// A state change passes only from this server's own pages (or from a
/// client that is no browser, which sends neither header).
fn same_origin_change(guard: &Guard, headers: &HeaderMap) -> Result<(), &'static str> {
    if let Some(origin) = header_str(headers, &header::ORIGIN) {
        if !guard.origin_is_ours(origin) {
            return Err("cross-origin requests may not change anything");
        }
    }
    if from_other_site(headers) {
        return Err("cross-site requests may not change anything");
    }
    // The JSON content type a form cannot send is enforced by the body
    // extractor of every route that takes a body (400 with the reason).
    Ok(())
}

/// Whether `%XX` escapes in `path` decode to UTF-8 text.
fn percent_decodes_to_utf8(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// Exactly one `Host` header, in agreement with an absolute-form target's
/// authority: what every browser and player sends. Anything else is a
/// request built to confuse the checks above.
fn host_is_well_formed(request: &Request<Body>) -> Result<(), &'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (None, _) => return Err("the request has no Host header"),
        (Some(_), Some(_)) => return Err("the request has more than one Host header"),
        (Some(host), None) => host
            .to_str()
            .map_err(|_| "the Host header is not readable")?,
    };
    if let Some(authority) = request.uri().authority() {
        if !authority.as_str().eq_ignore_ascii_case(host) {
            return Err("the request target names another host than its Host header");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allow_list() {
        let guard = Guard::new(([127, 0, 0, 1], 6880).into());
        for ok in [
            "127.0.0.1:6880",
            "localhost:6880",
            "[::1]:6880",
            "localhost",
            "127.0.0.2:6880",
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
            "tv.lan:6880",
        ] {
            assert!(!guard.is_ours(bad), "{bad}");
        }
        assert!(guard.origin_is_ours("http://127.0.0.1:6880"));
        assert!(guard.origin_is_ours("http://localhost:6880"));
        assert!(guard.origin_is_ours("http://[::1]:6880"));
        assert!(!guard.origin_is_ours("https://127.0.0.1:6880"));
        assert!(!guard.origin_is_ours("http://evil.com"));
        assert!(!guard.origin_is_ours("null"));
    }

    #[test]
    fn lan_token_is_required_from_other_devices_only() {
        let lan: IpAddr = "192.168.1.7".parse().expect("ip");
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let guard = Guard::new(([0, 0, 0, 0], 6880).into()).with_token(Some("s3cret".into()), true);
        assert!(guard.token_ok(Some(local), None));
        assert!(!guard.token_ok(Some(lan), None));
        assert!(!guard.token_ok(Some(lan), Some("id=1&token=wrong")));
        assert!(!guard.token_ok(Some(lan), Some("token=s3cre")));
        assert!(guard.token_ok(Some(lan), Some("id=1&token=s3cret")));
        assert!(
            Guard::new(([127, 0, 0, 1], 6880).into()).token_ok(Some(lan), None),
            "no token when sharing is off"
        );
    }

    #[test]
    fn same_origin_is_exactly_our_own_names_not_any_ip_literal() {
        let guard = Guard::new(([192, 168, 1, 20], 6880).into());
        assert!(guard.origin_is_ours("http://192.168.1.20:6880"));
        assert!(guard.origin_is_ours("http://127.0.0.1:6880"));
        for bad in [
            "http://203.0.113.5:6880",
            "http://192.168.1.21:6880",
            "http://[2001:db8::1]:6880",
            "http://192.168.1.20:80",
        ] {
            assert!(!guard.origin_is_ours(bad), "{bad}");
        }
        let any = Guard::new(([0, 0, 0, 0], 6880).into());
        assert!(!any.origin_is_ours("http://0.0.0.0:6880"));
        assert!(!any.origin_is_ours("http://203.0.113.5:6880"));
    }

    #[test]
    fn ipv4_mapped_loopback_is_loopback() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert!(is_loopback(mapped));
        assert!(!is_loopback("::ffff:192.168.1.7".parse().expect("ip")));
        let guard = Guard::new(([0; 16], 6880).into()).with_token(Some("s3cret".into()), true);
        assert!(guard.token_ok(Some(mapped), None));
        assert!(guard.is_local(Some(mapped)));
        assert!(guard.origin_is_ours("http://[::ffff:127.0.0.1]:6880"));
    }

    #[test]
    fn paths_must_decode_to_utf8() {
        assert!(percent_decodes_to_utf8("/api/channels/abc/play.m3u"));
        assert!(percent_decodes_to_utf8("/a%C3%A9b%2"));
        assert!(!percent_decodes_to_utf8("/api/channels/%FF/play.m3u"));
        assert!(!percent_decodes_to_utf8("/%C3"));
    }
}
