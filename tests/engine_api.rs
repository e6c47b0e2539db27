//! Clients written for the engine's own API, pointed at acebridge: a
//! `format=json` start answers the engine's JSON; its `playback_url` decodes;
//! its `stat_url`, polled every second as clients do, answers the engine's
//! stat fields; its `command_url?method=stop` ends that client only, while
//! another player of the same channel keeps playing on the one engine
//! session, which stops once nobody plays. For the TS and the HLS view alike.

mod common;

use std::time::Duration;

use common::{get_json, http, kit, Player, Proxy, ID_A};
use kit::engine::SimEngine;
use kit::wait::wait_until;
use serde_json::Value;

/// The eight keys of the engine's `format=json` answer.
const START_KEYS: [&str; 8] = [
    "playback_url",
    "stat_url",
    "command_url",
    "infohash",
    "playback_session_id",
    "is_live",
    "is_encrypted",
    "client_session_id",
];
const STAT_KEYS: [&str; 7] = [
    "status",
    "peers",
    "speed_down",
    "speed_up",
    "downloaded",
    "uploaded",
    "total_progress",
];

/// `GET url` expecting the engine's success shape: its `response`.
async fn engine_ok(url: &str) -> Value {
    let (status, body) = get_json(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    assert_eq!(body["error"], Value::Null, "{url}: {body}");
    body["response"].clone()
}

/// `GET url` expecting the engine's error shape (HTTP 200, as the engine): its message.
async fn engine_error(url: &str) -> String {
    let (status, body) = get_json(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    assert_eq!(body["response"], Value::Null, "{url}: {body}");
    body["error"].as_str().unwrap_or_default().to_owned()
}

fn url_of<'a>(started: &'a Value, key: &str) -> &'a str {
    started[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {started}"))
}

/// Polls `stat_url` every second, as engine clients do, until it reports
/// `dl` (the engine's "flowing"); every answer must carry the stat fields.
async fn poll_stat_until_flowing(stat_url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stat = engine_ok(stat_url).await;
        for key in STAT_KEYS {
            assert!(!stat[key].is_null(), "{key} in {stat}");
        }
        if stat["status"] == "dl" && stat["downloaded"].as_u64() > Some(0) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stat never said dl: {stat}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The whole life of one engine-API client beside a plain TS player of the
/// same channel; `start` is the `format=json` path (TS or HLS).
async fn client_stops_only_itself(start: &str, hls: bool) {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let started = engine_ok(&proxy.url(start)).await;
    for key in START_KEYS {
        assert!(!started[key].is_null(), "{key} in {started}");
    }
    assert_eq!(started["is_live"], 1);
    let playback = url_of(&started, "playback_url").to_owned();
    let stat_url = url_of(&started, "stat_url").to_owned();
    let command_url = url_of(&started, "command_url").to_owned();
    assert!(playback.starts_with(&proxy.url("/ace/")), "{playback}");

    let mut other = Player::open(&proxy.stream_url(ID_A)).await;
    other.read_until(10_000, Duration::from_secs(15)).await;
    kit::ffmpeg::decode(&playback, 5)
        .await
        .expect("playback_url decodes");
    poll_stat_until_flowing(&stat_url).await;
    // A TS client reading its playback when it stops.
    let mut playing = if hls {
        None
    } else {
        let mut client = Player::open(&playback).await;
        client.read_until(10_000, Duration::from_secs(10)).await;
        Some(client)
    };

    let stopped = engine_ok(&format!("{command_url}?method=stop")).await;
    assert_eq!(stopped, "ok");
    if let Some(client) = playing.as_mut() {
        client.read_to_end(Duration::from_secs(10)).await;
    }
    let (status, _) = get_json(&playback).await;
    assert_eq!(status, 404, "the stopped client's playback is gone");
    assert!(engine_error(&stat_url)
        .await
        .contains("unknown playback session"));
    let before = other.received.len();
    other
        .read_until(before + 50_000, Duration::from_secs(10))
        .await;
    assert_eq!(engine.sessions_started(ID_A), 1, "one engine session");
    assert_eq!(
        engine.stops_total(),
        0,
        "never under the other player's feet"
    );

    drop(other);
    wait_until(
        Duration::from_secs(15),
        "the engine session stops once nobody plays",
        || async { engine.active_sessions() == 0 },
    )
    .await;
    assert_eq!(engine.stops_total(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn an_engine_api_client_of_ts_stops_only_itself() {
    client_stops_only_itself(
        &format!("/ace/getstream?id={ID_A}&format=json&pid=kodi-1&transcode_audio=0"),
        false,
    )
    .await;
}

#[tokio::test]
async fn an_engine_api_client_of_hls_stops_only_itself() {
    client_stops_only_itself(
        &format!("/ace/manifest.m3u8?id={ID_A}&format=json&pid=kodi-2&hlc=1"),
        true,
    )
    .await;
}

#[tokio::test]
async fn errors_and_version_come_in_the_engines_shape() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let error = engine_error(&proxy.url("/ace/getstream?id=zz&format=json")).await;
    assert!(error.contains("invalid id"), "{error}");
    let error = engine_error(&proxy.url("/ace/manifest.m3u8?format=json")).await;
    assert!(error.contains("missing channel"), "{error}");
    let unknown = format!("/ace/stat/{ID_A}/0123456789abcdef0123456789abcdef");
    assert!(engine_error(&proxy.url(&unknown))
        .await
        .contains("unknown playback session"));
    let started = engine_ok(&proxy.url(&format!("/ace/getstream?id={ID_A}&format=json"))).await;
    let command_url = url_of(&started, "command_url");
    assert!(engine_error(command_url).await.contains("missing method"));
    assert!(engine_error(&format!("{command_url}?method=pause"))
        .await
        .contains("unknown method"));
    // Another content's id with this session's token is not this session.
    let other_id = command_url.replace(ID_A, &"b".repeat(40));
    assert!(engine_error(&format!("{other_id}?method=stop"))
        .await
        .contains("unknown playback session"));

    let response = http()
        .get(proxy.url("/webui/api/service?method=get_version"))
        .send()
        .await
        .expect("get_version");
    assert_eq!(response.status(), 200);
    let version: Value = response.json().await.expect("json");
    assert_eq!(version["error"], Value::Null, "{version}");
    assert_eq!(version["result"]["version"], "3.2.3");
    assert_eq!(version["result"]["code"], 3_020_300);
    engine.set_down(true);
    let (status, down) = get_json(&proxy.url("/webui/api/service?method=get_version")).await;
    assert_eq!(status, 200);
    assert_eq!(down["result"], Value::Null);
    assert!(
        down["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{down}"
    );
    proxy.stop().await;
}
