//! The localhost server against web pages: DNS rebinding (foreign `Host`),
//! CSRF (foreign `Origin`, cross-site fetches) and embedding of streams by
//! other sites are refused with 403 JSON, while players pass untouched.

mod common;

use common::{http, kit, Player, Proxy, ID_A};
use kit::engine::SimEngine;

#[tokio::test]
async fn foreign_host_is_refused_on_every_route() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    for path in [
        "/",
        "/api/health",
        "/api/streams",
        "/api/settings",
        "/playlist.m3u",
        "/nope",
        &format!("/ace/getstream?id={ID_A}"),
    ] {
        let response = http()
            .get(proxy.url(path))
            .header(
                "host",
                format!("rebind.attacker.example:{}", proxy.addr.port()),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(
            body["error"].as_str().unwrap_or_default().contains("Host"),
            "{path}: {body}"
        );
    }
    // A loopback address or localhost with another port is not us either.
    let response = http()
        .get(proxy.url("/api/health"))
        .header("host", "localhost:1")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    assert_eq!(
        engine.sessions_started_total(),
        0,
        "nothing reached the engine"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn cross_origin_state_changes_are_refused() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let body = serde_json::json!({"engine": "http://127.0.0.1:1"});
    let attempts = [
        ("origin", "http://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
    ];
    for (name, value) in attempts {
        let response = http()
            .put(proxy.url("/api/settings"))
            .header(name, &value)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{name}: {value}");
    }
    let settings = proxy.json("/api/settings").await;
    assert_eq!(
        settings["engine"].as_str(),
        Some(format!("{}/", engine.url()).as_str()),
        "unchanged"
    );

    // A form post (no JSON content type) changes nothing either.
    let response = http()
        .post(proxy.url("/api/channels"))
        .header("content-type", "text/plain")
        .body(format!("{{\"channels\":[{{\"id\":\"{ID_A}\"}}]}}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);

    // Our own page's requests pass.
    let own = format!("http://127.0.0.1:{}", proxy.addr.port());
    let response = http()
        .put(proxy.url("/api/settings"))
        .header("origin", own)
        .header("sec-fetch-site", "same-origin")
        .json(&serde_json::json!({"engine": engine.url()}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn streams_embedded_by_other_sites_are_refused_but_players_pass() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    for path in [
        format!("/ace/getstream?id={ID_A}"),
        format!("/ace/manifest.m3u8?id={ID_A}"),
        "/playlist.m3u".to_owned(),
    ] {
        let response = http()
            .get(proxy.url(&path))
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "no-cors")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{path}");
    }
    assert_eq!(
        engine.sessions_started_total(),
        0,
        "no web page made the engine join a swarm"
    );
    // A player sends no Sec-Fetch-* headers and plays.
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player
        .read_until(10_000, std::time::Duration::from_secs(10))
        .await;
    drop(player);
    proxy.stop().await;
}

#[tokio::test]
async fn slowloris_connection_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let mut socket = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    socket
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("write");
    // The server must close the connection by itself: a read sees EOF or an error.
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a client trickling its headers kept the connection open"
    );
    proxy.stop().await;
}

/// Sends `request` as is on a new connection and reads the answer until its
/// JSON body is complete (or, with `until_closed`, until the server closes),
/// or 20 s pass: (status, JSON body or `Null`, time taken).
async fn raw_until(
    addr: std::net::SocketAddr,
    request: &[u8],
    until_closed: bool,
) -> (u16, serde_json::Value, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before it has read everything.
    let _ = socket.write_all(request).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    // One answer is enough: stop at the end of a JSON body.
                    if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                        if !until_closed && answer[end + 4..].ends_with(b"}") {
                            return;
                        }
                    }
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        status == 0
            || head
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
        "not JSON: {head}"
    );
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, json, started.elapsed())
}

async fn raw(
    addr: std::net::SocketAddr,
    request: &[u8],
) -> (u16, serde_json::Value, std::time::Duration) {
    raw_until(addr, request, false).await
}

#[tokio::test]
async fn every_error_hyper_answers_itself_is_json_too() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let host = proxy.addr;
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        "a".repeat(70_000)
    );
    let huge_header = format!(
        "GET /api/health HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
        "b".repeat(500_000)
    );
    let cases: [(&str, Vec<u8>, u16); 5] = [
        (
            "bad UTF-8 in the path",
            format!("GET /api/channels/%FF/play.m3u HTTP/1.1\r\nHost: {host}\r\n\r\n").into(),
            400,
        ),
        ("URI too long", long_uri.into(), 414),
        ("headers too large", huge_header.into(), 431),
        ("malformed request line", b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            "malformed header",
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nNo colon here\r\n\r\n").into(),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let (status, body, _) = raw(proxy.addr, &request).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn requests_no_browser_or_player_sends_are_400() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let host = proxy.addr;
    let cases = [
        ("no Host", "GET /api/health HTTP/1.1\r\n\r\n".to_owned()),
        (
            "two Host headers",
            format!("GET /api/health HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n\r\n"),
        ),
        (
            "absolute-form target naming another host",
            format!(
                "GET http://evil.example:{}/api/health HTTP/1.1\r\nHost: {host}\r\n\r\n",
                host.port()
            ),
        ),
    ];
    for (what, request) in cases {
        let (status, body, _) = raw(proxy.addr, request.as_bytes()).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains("Host"),
            "{what}: {body}"
        );
    }
    // The absolute form naming this server is what a proxy-aware client sends: fine.
    let request = format!("GET http://{host}/api/health HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (status, body, _) = raw(proxy.addr, request.as_bytes()).await;
    assert_eq!(status, 200, "{body}");

    // Sec-Fetch-Site in another case is the same value.
    let response = http()
        .get(proxy.url(&format!("/ace/getstream?id={ID_A}")))
        .header("sec-fetch-site", "Cross-Site")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    assert_eq!(engine.sessions_started_total(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn same_origin_is_this_servers_own_names_not_any_ip_literal_with_our_port() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let port = proxy.addr.port();
    let body = serde_json::json!({"engine": "http://127.0.0.1:1"});
    for (origin, expected) in [
        (format!("http://203.0.113.5:{port}"), 403),
        (format!("http://10.0.0.1:{port}"), 403),
        (format!("http://127.0.0.1:{port}"), 200),
        (format!("http://localhost:{port}"), 200),
    ] {
        let response = http()
            .put(proxy.url("/api/settings"))
            .header("origin", &origin)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), expected, "{origin}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn post_whose_body_stalls_is_answered_and_closed_by_the_request_deadline() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let host = proxy.addr;
    // 1000 bytes announced, 10 sent, then nothing.
    let request = format!(
        "POST /api/parse HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"text\": "
    );
    // Answered, and the connection closed (its slot freed), within the deadline.
    let (status, body, took) = raw_until(proxy.addr, request.as_bytes(), true).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("did not arrive"),
        "{body}"
    );
    assert!(
        took < acebridge::http::listener::BODY_READ_TIMEOUT + std::time::Duration::from_secs(3),
        "took {took:?}"
    );
    proxy.stop().await;
}
