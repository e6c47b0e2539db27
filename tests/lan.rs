//! LAN sharing: when clients other than this machine may connect, every request
//! from them needs the generated token (`?token=`), which the URLs the proxy
//! hands out carry. Tests play the part of another device by not trusting
//! loopback clients.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{get_json, http, kit, Player, Proxy, ID_A};
use kit::engine::SimEngine;

fn settings_file() -> PathBuf {
    std::env::temp_dir().join(format!(
        "acebridge-lan-{}/settings.toml",
        uuid::Uuid::new_v4()
    ))
}

async fn lan_proxy(engine: &str, settings: &Path) -> Proxy {
    let settings = settings.to_owned();
    Proxy::start_with(engine, move |config| {
        config.trust_loopback = false;
        config.settings_path = Some(settings);
    })
    .await
}

#[tokio::test]
async fn other_devices_need_the_token_that_the_urls_carry() {
    let engine = SimEngine::start().await;
    let path = settings_file();
    let proxy = lan_proxy(&engine.url(), &path).await;

    for route in [
        format!("/ace/getstream?id={ID_A}"),
        "/api/streams".into(),
        "/playlist.m3u".into(),
        "/api/settings".into(),
    ] {
        let (status, body) = get_json(&proxy.url(&route)).await;
        assert_eq!(status, 401, "{route}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains("token"),
            "{route}: {body}"
        );
    }
    let (status, _) = get_json(&proxy.url(&format!("/ace/getstream?id={ID_A}&token=wrong"))).await;
    assert_eq!(status, 401);
    assert_eq!(
        engine.sessions_started_total(),
        0,
        "nothing reached the engine"
    );

    // The token is in the settings file (readable by the user only) and nowhere else.
    let text = std::fs::read_to_string(&path).expect("settings file");
    let token = text
        .lines()
        .find_map(|line| line.strip_prefix("lan_token = "))
        .map(|value| value.trim_matches('"').to_owned())
        .expect("token saved");
    assert_eq!(token.len(), 32, "128 random bits in hex");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // With it, everything works, and the URLs the API hands out carry it.
    let settings = proxy.json(&format!("/api/settings?token={token}")).await;
    assert_eq!(settings["lan_token"], token.as_str());
    let parsed: serde_json::Value = http()
        .post(proxy.url(&format!("/api/parse?token={token}")))
        .json(&serde_json::json!({ "text": ID_A }))
        .send()
        .await
        .expect("parse")
        .json()
        .await
        .expect("json");
    let ts_url = parsed["entries"][0]["ts_url"]
        .as_str()
        .expect("ts url")
        .to_owned();
    assert!(ts_url.ends_with(&format!("&token={token}")), "{ts_url}");
    let mut player = Player::open(&ts_url).await;
    player.read_until(10_000, Duration::from_secs(10)).await;

    // HLS segment URIs carry it too, so an HLS player on the LAN gets every segment.
    let hls_url = parsed["entries"][0]["hls_url"]
        .as_str()
        .expect("hls url")
        .to_owned();
    let playlist = http()
        .get(&hls_url)
        .send()
        .await
        .expect("manifest")
        .text()
        .await
        .expect("text");
    let segment = playlist
        .lines()
        .find(|line| line.starts_with("/ace/hls/"))
        .expect("segment uri");
    assert!(segment.ends_with(&format!("?token={token}")), "{segment}");
    let status = http()
        .get(proxy.url(segment))
        .send()
        .await
        .expect("segment")
        .status();
    assert_eq!(status, 200);

    // The page itself is static and opens with the token in its URL.
    let status = http()
        .get(proxy.url("/"))
        .send()
        .await
        .expect("page")
        .status();
    assert_eq!(status, 200);
    drop(player);
    proxy.stop().await;

    // The same token after a restart: URLs saved on TVs keep working.
    let again = lan_proxy(&engine.url(), &path).await;
    let settings = again.json(&format!("/api/settings?token={token}")).await;
    assert_eq!(settings["lan_token"], token.as_str());
    again.stop().await;
    if let Some(dir) = path.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test]
async fn loopback_clients_need_no_token() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let settings = proxy.json("/api/settings").await;
    assert!(
        settings["lan_token"].is_null(),
        "no LAN sharing on 127.0.0.1"
    );
    proxy.stop().await;
}
