//! The in-process control handle the tray app uses: it must report what the
//! HTTP API reports and save channels exactly as the web UI does.

mod common;

use std::time::Duration;

use acebridge::content_id::ContentId;
use common::{kit, Player, Proxy, ID_A, ID_B, ID_C};
use kit::engine::SimEngine;
use kit::wait::wait_until;

fn id(hex: &str) -> ContentId {
    ContentId::parse(hex).expect("id")
}

#[tokio::test]
async fn saved_channels_are_the_web_uis_channels() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let control = proxy.control();

    assert_eq!(control.last_stream().await, None);
    assert!(control.save_channel(&id(ID_A)).await.expect("save"));
    assert!(!control.save_channel(&id(ID_A)).await.expect("save again"));
    assert!(control.save_channel(&id(ID_B)).await.expect("save"));
    let listed = proxy.json("/api/channels").await;
    let ids: Vec<_> = listed["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|channel| channel["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, [ID_A, ID_B]);
    // Nothing played yet: no last stream (not the channel saved last).
    assert_eq!(control.last_stream().await, None);
    assert_eq!(
        control.play_url(&id(ID_A)).await,
        proxy.url(&format!("/channel/{ID_A}.ts")),
        "the URL the tray copies and plays is the one the UI shows"
    );
    assert_eq!(
        control.play_url(&id(ID_C)).await,
        proxy.stream_url(ID_C),
        "an id no saved channel has plays by its own URL"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn last_stream_is_the_newest_playing_channel() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let control = proxy.control();
    control.save_channel(&id(ID_B)).await.expect("save");

    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(1, Duration::from_secs(10)).await;
    wait_until(Duration::from_secs(5), "the stream is listed", || async {
        control
            .streams()
            .iter()
            .any(|s| s.id == id(ID_A) && s.players == 1)
    })
    .await;
    assert_eq!(control.last_stream().await, Some(id(ID_A)));
    drop(player);
    proxy.stop().await;
}

/// "Last stream" and the tray's recent channels are the channels played,
/// most recent first, kept after they stop and across a restart; not the
/// last lines of the saved list.
#[tokio::test]
async fn the_last_stream_is_the_channel_played_last_not_the_one_saved_last() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let settings = dir.path().join("settings.toml");
    let path = settings.clone();
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(path);
        config.channels.linger = Duration::from_millis(300);
    })
    .await;
    let control = proxy.control();
    for hex in [ID_A, ID_B, ID_C] {
        control.save_channel(&id(hex)).await.expect("save");
    }
    for hex in [ID_B, ID_A] {
        let mut player = Player::open(&proxy.url(&format!("/channel/{hex}.ts"))).await;
        player.read_until(1, Duration::from_secs(10)).await;
        wait_until(Duration::from_secs(5), "the play remembered", || async {
            control
                .settings()
                .await
                .desktop
                .recent
                .first()
                .map(String::as_str)
                == Some(hex)
        })
        .await;
    }
    wait_until(Duration::from_secs(10), "nothing plays", || async {
        control.streams().is_empty()
    })
    .await;
    assert_eq!(control.last_stream().await, Some(id(ID_A)));
    let recent = |settings: &acebridge::config::Settings| -> Vec<String> {
        acebridge::recent::recent_channels(settings)
            .iter()
            .map(|channel| channel.key().to_owned())
            .collect()
    };
    assert_eq!(recent(&control.settings().await), [ID_A, ID_B]);
    proxy.stop().await;
    let reloaded = acebridge::config::load_settings(&settings).expect("settings");
    assert_eq!(recent(&reloaded), [ID_A, ID_B]);
}

#[tokio::test]
async fn engine_status_says_whether_the_engine_answers() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    assert_eq!(
        proxy.control().engine_status().await.version,
        Ok("3.2.3".to_owned())
    );
    engine.set_down(true);
    assert!(proxy.control().engine_status().await.version.is_err());
    proxy.stop().await;
}

#[tokio::test]
async fn desktop_preferences_are_saved_with_the_other_settings() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("settings.toml");
    let settings_path = path.clone();
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(settings_path);
    })
    .await;
    proxy
        .control()
        .update_desktop(|desktop| {
            desktop.play_links = true;
            desktop.player = Some("mpv".into());
        })
        .await
        .expect("save");
    proxy.control().save_channel(&id(ID_A)).await.expect("save");
    let reloaded = acebridge::config::load_settings(&path).expect("load");
    assert!(reloaded.desktop.play_links);
    assert_eq!(reloaded.desktop.player.as_deref(), Some("mpv"));
    assert_eq!(reloaded.channels.len(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn channel_titles_are_the_saved_name_or_a_readable_default() {
    let proxy = Proxy::start("http://127.0.0.1:9").await;
    let control = proxy.control();
    assert_eq!(
        control.channel_title(&id(ID_A)).await,
        "Channel aaaaaa\u{2026}"
    );
    control.save_channel(&id(ID_A)).await.expect("save");
    assert_eq!(
        control.channel_title(&id(ID_A)).await,
        "Channel aaaaaa\u{2026}"
    );
    let renamed = common::http()
        .put(proxy.url(&format!("/api/channels/{ID_A}")))
        .json(&serde_json::json!({"name": "News"}))
        .send()
        .await
        .expect("rename");
    assert_eq!(renamed.status(), 200);
    assert_eq!(control.channel_title(&id(ID_A)).await, "News");
    assert!(control.settings_warnings().await.is_empty());
    proxy.stop().await;
}

/// A saved channel "News" of `ID_A` (which the engine refuses to start)
/// with the alternate `alternate` (any pasted form of `ID_B`), playing
/// through its stable URL: it has failed over to `ID_B` once this returns.
async fn failed_over(engine: &SimEngine, proxy: &Proxy, alternate: &str) -> Player {
    engine.set_fault(
        ID_A,
        kit::engine::Fault::EngineError("failed to load content".into()),
    );
    proxy.control().save_channel(&id(ID_A)).await.expect("save");
    let http = common::http();
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            format!("/api/channels/{ID_A}"),
            serde_json::json!({"name": "News"}),
        ),
        (
            reqwest::Method::POST,
            format!("/api/channels/{ID_A}/alternates"),
            serde_json::json!({ "id": alternate }),
        ),
    ] {
        let response = http
            .request(method, proxy.url(&path))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
    let mut player = Player::open(&proxy.url(&format!("/channel/{ID_A}.ts"))).await;
    player.read_until(1, Duration::from_secs(20)).await;
    player
}

/// The tray's "Last stream" line and the player's window title come from
/// [`Control::channel_title`] of the id that plays: once a saved channel
/// failed over to an alternate, that id is the alternate's, and the title is
/// still the channel's name.
#[tokio::test]
async fn a_failed_over_channel_keeps_its_name_in_the_tray() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let player = failed_over(&engine, &proxy, ID_B).await;
    let control = proxy.control();
    let playing = control.last_stream().await.expect("a stream plays");
    assert_eq!(playing, id(ID_B), "it failed over to the alternate");
    assert_eq!(control.channel_title(&playing).await, "News");
    let streams = proxy.streams().await;
    assert_eq!(streams[0]["title"], "News", "{streams:?}");
    drop(player);
    proxy.stop().await;
}

/// An alternate given as an infohash is started as one (`infohash=`), not
/// as a content id with the same hex.
#[tokio::test]
async fn an_infohash_alternate_is_started_as_an_infohash() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let player = failed_over(&engine, &proxy, &format!("acestream:?infohash={ID_B}")).await;
    let selectors: Vec<String> = engine
        .sessions(ID_B)
        .into_iter()
        .map(|session| session.selector)
        .collect();
    assert_eq!(selectors, ["infohash"]);
    drop(player);
    proxy.stop().await;
}
