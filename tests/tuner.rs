//! acebridge as a network tuner, as media centres see it, over real sockets
//! against the simulated engine: `hdhomerun_config` (a real libhdhomerun
//! client) discovers it with the id `discover.json` gives, stable across
//! restarts; `discover.json` and `lineup.json` parse with the field names and
//! types Jellyfin's and Plex's tuner code read; ffmpeg decodes lineup URLs
//! with the `?transcode=…` media centres append and `/auto/v<n>`; and one
//! channel more than `TunerCount` gets the 503 of a busy tuner.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use acebridge::tuner::discovery;
use acebridge::tuner::DeviceId;
use common::{get_json, http, kit, Player, Proxy, ID_A, ID_B, ID_C};
use kit::engine::SimEngine;
use kit::wait::wait_until;
use serde::Deserialize;

/// `discover.json` as Jellyfin's `DiscoverResponse` reads it (Plex reads
/// the same names); `TunerCount` must be a JSON integer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)] // fields are read by deserializing: their presence and types are the check
struct Discover {
    friendly_name: String,
    model_number: String,
    firmware_name: String,
    firmware_version: String,
    #[serde(rename = "DeviceID")]
    device_id: String,
    device_auth: String,
    #[serde(rename = "BaseURL")]
    base_url: String,
    #[serde(rename = "LineupURL")]
    lineup_url: String,
    tuner_count: u32,
}

/// A `lineup.json` entry as Jellyfin's tuner code reads it (`HD`,
/// `Favorite` and `DRM` are 0/1 numbers read as booleans).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LineupEntry {
    guide_number: String,
    guide_name: String,
    #[serde(rename = "URL")]
    url: String,
    #[serde(rename = "HD")]
    hd: u8,
    favorite: u8,
    #[serde(rename = "DRM", default)]
    drm: u8,
}

/// A settings file with `channels` saved (id, name), in that order, and
/// `extra` lines before them.
fn settings_with(extra: &str, channels: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("settings.toml");
    let mut text = format!("{extra}\n");
    for (id, name) in channels {
        text.push_str(&format!(
            "[[channels]]\nid = \"{id}\"\nname = \"{name}\"\n\n"
        ));
    }
    std::fs::write(&path, text).expect("write settings");
    (dir, path)
}

async fn proxy(engine: &SimEngine, settings: &Path, discovery: bool) -> Proxy {
    let settings = settings.to_owned();
    Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(settings);
        if discovery {
            config.discovery_port = Some(discovery::DISCOVERY_PORT);
        }
    })
    .await
}

/// `GET path` read into `T`, as a media centre's JSON reader would.
async fn document<T: serde::de::DeserializeOwned>(proxy: &Proxy, path: &str) -> T {
    let response = http().get(proxy.url(path)).send().await.expect(path);
    assert_eq!(response.status(), 200, "{path}");
    response
        .json()
        .await
        .unwrap_or_else(|err| panic!("{path} as media centres read it: {err}"))
}

async fn discover_json(proxy: &Proxy) -> Discover {
    document(proxy, "/discover.json").await
}

async fn lineup_json(proxy: &Proxy) -> Vec<LineupEntry> {
    document(proxy, "/lineup.json").await
}

#[tokio::test]
async fn hdhomerun_config_finds_the_tuner_with_the_id_of_discover_json_across_restarts() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with("", &[(ID_A, "News")]);
    let first = proxy(&engine, &settings, true).await;
    let discover = discover_json(&first).await;
    let id = DeviceId::parse(&discover.device_id).expect("DeviceID passes the checksum");
    assert_eq!(discover.tuner_count, 4, "the default tuner count");
    if let Some(found) = kit::hdhomerun::discover(std::net::Ipv4Addr::LOCALHOST.into()).await {
        assert_eq!(
            found,
            vec![discover.device_id.clone()],
            "hdhomerun_config found"
        );
    }
    // Our own request, to read what the reply announces beyond the id.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let request = discovery::request(0xFFFF_FFFF, id.value());
    socket
        .send_to(&request, ("127.0.0.1", discovery::DISCOVERY_PORT))
        .await
        .expect("send");
    let mut buffer = [0u8; 1500];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
        .await
        .expect("a discovery reply")
        .expect("recv");
    let reply = discovery::Frame::decode(&buffer[..len]).expect("a valid frame");
    let text = |tag: u8| {
        reply
            .tlvs
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    assert_eq!(text(0x2A), Some(first.url("")), "base URL");
    assert_eq!(text(0x27), Some(first.url("/lineup.json")), "lineup URL");
    first.stop().await;

    let again = proxy(&engine, &settings, true).await;
    assert_eq!(
        discover_json(&again).await.device_id,
        discover.device_id,
        "the same id after a restart"
    );
    if let Some(found) = kit::hdhomerun::discover(std::net::Ipv4Addr::LOCALHOST.into()).await {
        assert_eq!(found, vec![discover.device_id.clone()]);
    }
    again.stop().await;
}

#[tokio::test]
async fn discover_and_lineup_parse_as_media_centres_read_them() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(
        "tuner_count = 3",
        &[
            (ID_B, "Sport 1"),
            (ID_A, "News & Weather"),
            (ID_C, "Movies"),
        ],
    );
    let proxy = proxy(&engine, &settings, false).await;
    let discover = discover_json(&proxy).await;
    assert_eq!(discover.tuner_count, 3);
    assert_eq!(discover.base_url, proxy.url(""));
    assert_eq!(discover.lineup_url, proxy.url("/lineup.json"));
    assert!(!discover.model_number.contains("HDTC"));

    let lineup = lineup_json(&proxy).await;
    let seen: Vec<_> = lineup
        .iter()
        .map(|entry| (entry.guide_number.as_str(), entry.guide_name.as_str()))
        .collect();
    assert_eq!(
        seen,
        [("1", "Sport 1"), ("2", "News & Weather"), ("3", "Movies")],
        "the user's order, numbered from 1"
    );
    for (entry, id) in lineup.iter().zip([ID_B, ID_A, ID_C]) {
        assert_eq!(
            entry.url,
            proxy.url(&format!("/channel/{id}.ts?tuner=1")),
            "the stable channel URL"
        );
        assert!(entry.hd <= 1 && entry.favorite <= 1 && entry.drm == 0);
    }

    let (status, body) = get_json(&proxy.url("/lineup_status.json")).await;
    assert_eq!(status, 200);
    assert_eq!(body["ScanInProgress"], 0);
    assert_eq!(body["ScanPossible"], 1);
    let scan = http()
        .post(proxy.url("/lineup.post?scan=start&source=Cable"))
        .send()
        .await
        .expect("lineup.post");
    assert_eq!(scan.status(), 200, "a 405 makes Plex say device not found");
    for path in ["/device.xml", "/capability"] {
        let response = http().get(proxy.url(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
        let xml = response.text().await.expect("xml");
        assert!(
            xml.contains(&format!("<UDN>uuid:{}</UDN>", discover.device_id)),
            "{xml}"
        );
        assert!(
            xml.contains(&format!("<URLBase>{}</URLBase>", proxy.url(""))),
            "{xml}"
        );
    }
    let (status, body) = get_json(&proxy.url("/auto/v9")).await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains('9')),
        "{body}"
    );
    assert_eq!(engine.sessions_started_total(), 0, "nothing played");
    proxy.stop().await;
}

#[tokio::test]
async fn ffmpeg_decodes_a_lineup_url_with_transcode_appended_and_auto_v_n() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with("", &[(ID_A, "News"), (ID_B, "Sport")]);
    let proxy = proxy(&engine, &settings, false).await;
    let lineup = lineup_json(&proxy).await;
    // As Jellyfin appends it: a second `?`, whatever the URL already has.
    let transcoded = format!("{}?transcode=mobile", lineup[0].url);
    let auto = proxy.url("/auto/v2");
    let (lineup_url, auto_url) = tokio::join!(
        kit::ffmpeg::decode(&transcoded, 10),
        kit::ffmpeg::decode(&auto, 10)
    );
    lineup_url.expect("the lineup URL decodes");
    auto_url.expect("/auto/v2 decodes");
    assert_eq!(engine.sessions_started(ID_A), 1);
    assert_eq!(engine.sessions_started(ID_B), 1);
    proxy.stop().await;
}

/// Expects `url` to be refused with 503: its JSON body. A stream answered
/// instead fails the check at once rather than being read forever.
async fn busy(url: &str) -> serde_json::Value {
    let response = tokio::time::timeout(Duration::from_secs(20), http().get(url).send())
        .await
        .expect("an answer in time")
        .expect("request");
    assert_eq!(response.status(), 503, "{url}");
    response.json().await.expect("a JSON error")
}

/// Players of `channel`, as `/api/streams` counts them.
async fn players_of(proxy: &Proxy, channel: &str) -> u64 {
    proxy
        .streams()
        .await
        .iter()
        .find(|stream| stream["channel"] == channel)
        .and_then(|stream| stream["players"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn one_channel_more_than_tuner_count_gets_a_busy_503() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(
        "tuner_count = 2",
        &[(ID_A, "One"), (ID_B, "Two"), (ID_C, "Three")],
    );
    let proxy = proxy(&engine, &settings, false).await;
    let lineup = lineup_json(&proxy).await;
    let mut one = Player::open(&lineup[0].url).await;
    let mut two = Player::open(&proxy.url("/auto/v2")).await;
    one.read_until(10_000, Duration::from_secs(10)).await;
    two.read_until(10_000, Duration::from_secs(10)).await;

    for url in [lineup[2].url.clone(), proxy.url("/auto/v3")] {
        let body = busy(&url).await;
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("tuners")),
            "{body}"
        );
    }
    assert_eq!(
        engine.sessions_started(ID_C),
        0,
        "a busy tuner starts nothing"
    );
    // A channel already tuned is shared; the channel's own URL is no tuner's.
    let mut shared = Player::open(&proxy.url("/auto/v1")).await;
    shared.read_until(10_000, Duration::from_secs(10)).await;
    drop(shared);

    // A tuner whose viewer left is free again, though its channel lingers.
    drop(two);
    wait_until(
        Duration::from_secs(10),
        "channel two has no players",
        || async { players_of(&proxy, ID_B).await == 0 },
    )
    .await;
    let mut three = Player::open(&proxy.url("/auto/v3")).await;
    three.read_until(10_000, Duration::from_secs(10)).await;
    drop((one, three));
    proxy.stop().await;
}

#[tokio::test]
async fn the_channel_url_outside_the_lineup_does_not_count_against_tuners() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with("tuner_count = 1", &[(ID_A, "One"), (ID_B, "Two")]);
    let proxy = proxy(&engine, &settings, false).await;
    let mut one = Player::open(&proxy.url("/auto/v1")).await;
    one.read_until(10_000, Duration::from_secs(10)).await;
    busy(&proxy.url("/auto/v2")).await;
    let mut direct = Player::open(&proxy.url(&format!("/channel/{ID_B}.ts?transcode=heavy"))).await;
    direct.read_until(10_000, Duration::from_secs(10)).await;
    drop((one, direct));
    proxy.stop().await;
}

#[tokio::test]
async fn the_tuner_shared_on_the_lan_lives_under_its_token_and_hands_it_out() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with("", &[(ID_A, "News"), (ID_B, "Sport")]);
    let settings_path = settings.clone();
    // Loopback clients not trusted: this test plays the part of another device.
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(settings_path);
        config.trust_loopback = false;
    })
    .await;
    let token = common::lan_token(&settings);

    // The root tuner is this computer's: another device gets 401 everywhere.
    for path in ["/discover.json", "/lineup.json", "/device.xml", "/auto/v1"] {
        let (status, _) = get_json(&proxy.url(path)).await;
        assert_eq!(status, 401, "{path}");
    }
    for wrong in ["wrong", &token[..token.len() - 1]] {
        let (status, body) = get_json(&proxy.url(&format!("/hdhr/{wrong}/discover.json"))).await;
        assert_eq!(status, 401, "{body}");
    }

    let base = proxy.url(&format!("/hdhr/{token}"));
    let discover: Discover = document(&proxy, &format!("/hdhr/{token}/discover.json")).await;
    assert_eq!(discover.base_url, base);
    assert_eq!(discover.lineup_url, format!("{base}/lineup.json"));
    let lineup: Vec<LineupEntry> = document(&proxy, &format!("/hdhr/{token}/lineup.json")).await;
    assert_eq!(lineup.len(), 2);
    for (entry, id) in lineup.iter().zip([ID_A, ID_B]) {
        assert_eq!(
            entry.url,
            proxy.url(&format!("/channel/{id}.ts?token={token}&tuner=1"))
        );
    }
    let xml = common::get_text(&format!("{base}/capability")).await;
    assert!(xml.contains(&format!("<URLBase>{base}</URLBase>")), "{xml}");
    let scan = http()
        .post(format!("{base}/lineup.post?scan=start"))
        .send()
        .await
        .expect("lineup.post");
    assert_eq!(scan.status(), 200);

    let mut by_lineup = Player::open(&lineup[0].url).await;
    let mut by_number = Player::open(&format!("{base}/auto/v2")).await;
    by_lineup.read_until(10_000, Duration::from_secs(10)).await;
    by_number.read_until(10_000, Duration::from_secs(10)).await;
    // The token opens playing only, as everywhere.
    let (status, _) = get_json(&proxy.url(&format!("/api/settings?token={token}"))).await;
    assert_eq!(status, 403);
    drop((by_lineup, by_number));
    proxy.stop().await;
}

#[tokio::test]
async fn without_lan_sharing_there_is_no_shared_tuner() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with("lan_token = \"abc\"", &[(ID_A, "News")]);
    let proxy = proxy(&engine, &settings, false).await;
    let (status, _) = get_json(&proxy.url("/hdhr/abc/discover.json")).await;
    assert_eq!(status, 404);
    proxy.stop().await;
}

/// `(GuideNumber, GuideName)` of the lineup.
async fn numbers(proxy: &Proxy) -> Vec<(String, String)> {
    lineup_json(proxy)
        .await
        .into_iter()
        .map(|entry| (entry.guide_number, entry.guide_name))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, name)| (n.to_string(), name.to_string()))
        .collect()
}

#[tokio::test]
async fn channel_numbers_survive_adding_removing_and_a_restart() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with("", &[(ID_A, "One"), (ID_B, "Two")]);
    let first = proxy(&engine, &settings, false).await;
    assert_eq!(numbers(&first).await, pairs(&[("1", "One"), ("2", "Two")]));
    let add = |body: serde_json::Value| {
        http()
            .post(first.url("/api/channels"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let added = add(serde_json::json!({"channels": [
        {"id": ID_C, "name": "Three", "tvg_chno": "101"}
    ]}))
    .await
    .expect("add");
    assert_eq!(added.status(), 200);
    let removed = http()
        .delete(first.url(&format!("/api/channels/{ID_A}")))
        .send()
        .await
        .expect("delete");
    assert!(removed.status().is_success(), "{}", removed.status());
    let added = add(serde_json::json!({"channels": [{"id": "d".repeat(40), "name": "Four"}]}))
        .await
        .expect("add");
    assert_eq!(added.status(), 200);
    let expected = pairs(&[("2", "Two"), ("101", "Three"), ("102", "Four")]);
    assert_eq!(numbers(&first).await, expected, "nobody renumbered");
    let playlist = common::get_text(&first.url("/playlist.m3u")).await;
    assert!(
        playlist.contains(&format!(
            "#EXTINF:-1 tvg-chno=\"101\" tvg-id=\"{ID_C}.acebridge\",Three"
        )),
        "{playlist}"
    );
    first.stop().await;

    let again = proxy(&engine, &settings, false).await;
    assert_eq!(numbers(&again).await, expected, "the same after a restart");
    let mut by_number = Player::open(&again.url("/auto/v101")).await;
    by_number.read_until(10_000, Duration::from_secs(10)).await;
    assert_eq!(
        engine.sessions_started(ID_C),
        1,
        "/auto/v101 plays channel 101"
    );
    drop(by_number);
    again.stop().await;
}
