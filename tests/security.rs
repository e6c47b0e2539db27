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
