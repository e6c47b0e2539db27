//! The web UI's player choice and Play (`/api/players`, `/api/play`) over
//! real sockets, with a launcher standing in for the tray app's (which the
//! desktop crate tests with real programs): what headless answers, the choice
//! saved where the tray reads it, Play handing the launcher a loopback
//! channel URL and never a command, and a player's failure reported with its
//! message.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::players::{FakePlayers, ROOT_MESSAGE};
use common::{http, Proxy, ID_A};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A proxy with `launcher` installed, as the tray app runs it, keeping its
/// settings in `settings`.
async fn desktop(settings: &Path, launcher: Arc<FakePlayers>) -> Proxy {
    let settings = settings.to_owned();
    Proxy::start_adjusted(
        "http://127.0.0.1:9",
        move |config| config.settings_path = Some(settings),
        move |server| server.with_player_launcher(launcher),
    )
    .await
}

/// Sends `body` (if any) as JSON: the status and the JSON answer.
async fn send(
    proxy: &Proxy,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http().request(method, proxy.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn headless_acebridge_says_it_starts_no_player() {
    let proxy = Proxy::start("http://127.0.0.1:9").await;
    for (method, path, body) in [
        (reqwest::Method::GET, "/api/players", None),
        (
            reqwest::Method::PUT,
            "/api/players",
            Some(json!({"player": "vlc"})),
        ),
        (
            reqwest::Method::POST,
            "/api/play",
            Some(json!({"channel": ID_A})),
        ),
    ] {
        let (status, body) = send(&proxy, method, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("without its desktop app"), "{path}: {error}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn the_window_chooses_the_player_and_play_reports_a_player_that_quits() {
    let dir = tempfile::tempdir().expect("dir");
    let settings = dir.path().join("settings.toml");
    let launcher = Arc::new(FakePlayers::default());
    // The launcher is in-process: this test cannot drive another build.
    let proxy = desktop(&settings, Arc::clone(&launcher)).await;
    use reqwest::Method;

    let (status, players) = send(&proxy, Method::GET, "/api/players", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        players,
        json!({"available": [{"key": "vlc", "name": "VLC"}, {"key": "mpv", "name": "mpv"}], "chosen": "vlc"})
    );

    let (status, _) = send(
        &proxy,
        Method::POST,
        "/api/channels",
        Some(json!({"channels": [{"id": ID_A, "name": "Sky Sports F1"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // VLC, the first found, quits at once: its message comes back.
    let play = json!({"channel": ID_A});
    let (status, body) = send(&proxy, Method::POST, "/api/play", Some(play.clone())).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], ROOT_MESSAGE);

    // Only a player found may be chosen; the page cannot name a program.
    for refused in [json!({"player": "/bin/sh"}), json!({"player": "custom"})] {
        let (status, body) = send(&proxy, Method::PUT, "/api/players", Some(refused)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("found: vlc, mpv"), "{error}");
    }
    let (status, body) = send(
        &proxy,
        Method::PUT,
        "/api/players",
        Some(json!({"player": "mpv", "command": ["sh"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, players) = send(
        &proxy,
        Method::PUT,
        "/api/players",
        Some(json!({"player": "mpv"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(players["chosen"], "mpv");
    let (status, _) = send(&proxy, Method::POST, "/api/play", Some(play)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    {
        let launched = launcher.launched.lock().expect("lock");
        let (player, url, title) = launched.last().expect("launched");
        assert_eq!(player, "mpv");
        assert_eq!(title, "Sky Sports F1");
        // The channel's stable URL on loopback, without any LAN token.
        assert_eq!(url, &proxy.url(&format!("/channel/{ID_A}.ts")));
    }

    let (status, body) = send(
        &proxy,
        Method::POST,
        "/api/play",
        Some(json!({"channel": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A page on another site cannot start a player.
    let response = http()
        .post(proxy.url("/api/play"))
        .header("Origin", "http://evil.example")
        .json(&json!({"channel": ID_A}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(launcher.launched.lock().expect("lock").len(), 2);

    // Saved where the tray menu reads it, and kept across a restart.
    proxy.stop().await;
    let text = std::fs::read_to_string(&settings).expect("settings");
    let saved: toml::Value = toml::from_str(&text).expect("toml");
    assert_eq!(saved["desktop"]["player"].as_str(), Some("mpv"), "{text}");
    let proxy = desktop(&settings, launcher).await;
    let (_, players) = send(&proxy, Method::GET, "/api/players", None).await;
    assert_eq!(players["chosen"], "mpv");
    proxy.stop().await;
}
