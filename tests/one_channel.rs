//! One channel per content id, whatever the mix of players: TS and HLS
//! players of a content share one engine session in every order of joining
//! and leaving, through upstream drops and with either upstream mode; limits
//! count channels and players of every kind together; an HLS player is one
//! viewer; `HEAD` starts nothing; `/metrics` tells what happened.

mod common;

use std::time::{Duration, Instant};

use acebridge::UpstreamMode;
use common::{get_json, http, kit, Player, Proxy, ID_A, ID_B};
use kit::engine::{Fault, SessionKind, SimEngine};
use kit::wait::wait_until;

const SECOND: Duration = Duration::from_secs(1);

/// An HLS player: fetches the playlist and its newest segment, as players do.
struct HlsPlayer {
    client: reqwest::Client,
    url: String,
}

impl HlsPlayer {
    fn new(proxy: &Proxy, id: &str, agent: &str) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent(agent)
            .build()
            .expect("client");
        Self {
            client,
            url: proxy.url(&format!("/ace/manifest.m3u8?id={id}")),
        }
    }

    async fn playlist(&self) -> String {
        let response = self.client.get(&self.url).send().await.expect("manifest");
        assert_eq!(response.status(), 200, "manifest status");
        response.text().await.expect("playlist text")
    }

    /// One round of a player's work: the playlist, then its newest segment
    /// (returned, after checking it is whole TS starting with PAT/PMT).
    async fn poll(&self) -> (String, Vec<u8>) {
        let text = self.playlist().await;
        let uri = text
            .lines()
            .rfind(|line| !line.starts_with('#') && !line.is_empty())
            .expect("a segment in the playlist")
            .to_owned();
        let base = url::Url::parse(&self.url).expect("url");
        let segment = base.join(&uri).expect("segment url");
        let response = self.client.get(segment).send().await.expect("segment");
        assert_eq!(response.status(), 200, "segment status for {uri}");
        let bytes = response.bytes().await.expect("segment body").to_vec();
        assert_eq!(kit::ts::count_sync_errors(&bytes), 0, "whole packets");
        assert!(kit::ts::pat_pmt_before_first_video(&bytes), "PAT/PMT first");
        (text, bytes)
    }
}

/// Keeps `player` polling like a real HLS player until `done` holds.
async fn keep_watching(player: &HlsPlayer, what: &str, mut done: impl FnMut() -> bool) {
    wait_until(30 * SECOND, what, || {
        let finished = done();
        async move {
            if !finished {
                player.poll().await;
            }
            finished
        }
    })
    .await;
}

async fn ts_player(proxy: &Proxy, id: &str) -> Player {
    let mut player = Player::open(&proxy.stream_url(id)).await;
    player.read_until(100_000, 30 * SECOND).await;
    assert!(kit::ts::first_video_packet_is_keyframe(&player.received));
    player
}

fn assert_one_session_at_most(engine: &SimEngine, id: &str) {
    assert_eq!(
        engine.peak_open_sessions(id),
        1,
        "engine sessions open at once for one content: {:?}",
        engine.sessions(id)
    );
}

/// Waits until the proxy has stopped every engine session it opened.
async fn all_sessions_stopped(engine: &SimEngine) {
    wait_until(30 * SECOND, "every engine session stopped", || async {
        engine.active_sessions() == 0
    })
    .await;
}

/// Regression: a channel playing as TS opened a second engine session when an
/// HLS player asked for it, and stopping either broke the other's stream.
#[tokio::test]
async fn hls_player_of_a_channel_playing_as_ts_shares_its_engine_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let mut tv = ts_player(&proxy, ID_A).await;
    let hls = HlsPlayer::new(&proxy, ID_A, "tv-app");
    hls.poll().await;
    tv.read_until(tv.received.len() + 50_000, 10 * SECOND).await;
    assert_one_session_at_most(&engine, ID_A);
    assert_eq!(engine.sessions(ID_A)[0].kind, SessionKind::Ts);
    drop(tv);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn ts_player_of_a_channel_playing_as_hls_shares_its_engine_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let hls = HlsPlayer::new(&proxy, ID_A, "tv-app");
    hls.poll().await;
    let tv = ts_player(&proxy, ID_A).await;
    hls.poll().await;
    assert_one_session_at_most(&engine, ID_A);
    drop(tv);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

/// Both kinds leave, in either order; the channel outlives the first to leave
/// and its one session is stopped once after the last.
#[tokio::test]
async fn players_of_both_kinds_leaving_in_either_order_keep_one_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = SECOND;
    })
    .await;
    for (id, ts_leaves_first) in [(ID_A, true), (ID_B, false)] {
        let hls = HlsPlayer::new(&proxy, id, "tv-app");
        let tv = ts_player(&proxy, id).await;
        hls.poll().await;
        if ts_leaves_first {
            drop(tv);
            // The HLS player goes on for longer than the linger.
            let until = Instant::now() + 3 * SECOND;
            keep_watching(&hls, "HLS player watches on", || Instant::now() >= until).await;
            assert_eq!(
                engine.open_sessions(id),
                1,
                "the channel outlived the TS player"
            );
        } else {
            // The HLS player stops asking; the TS player goes on.
            let mut tv = tv;
            let until = Instant::now() + 12 * SECOND;
            while Instant::now() < until {
                tv.read_until(tv.received.len() + 20_000, 10 * SECOND).await;
            }
            assert_eq!(
                engine.open_sessions(id),
                1,
                "the channel outlived the HLS player"
            );
            drop(tv);
        }
        wait_until(30 * SECOND, "the channel's session stopped", || async {
            engine.open_sessions(id) == 0
        })
        .await;
        assert_one_session_at_most(&engine, id);
        assert_eq!(engine.sessions_started(id), 1);
        assert_eq!(engine.sessions(id)[0].stop_calls, 1, "stopped exactly once");
    }
    proxy.stop().await;
}

/// An upstream drop while both kinds play: one session, reopened; TS players
/// resume on a keyframe and the HLS playlist marks the break.
#[tokio::test]
async fn upstream_drop_while_ts_and_hls_play_keeps_one_session() {
    let engine = SimEngine::start().await;
    // Each playback connection ends after 4 s (read when it opens).
    engine.set_fault(ID_A, Fault::DropAfter(4 * SECOND));
    let proxy = Proxy::start(&engine.url()).await;
    let mut tv = ts_player(&proxy, ID_A).await;
    let hls = HlsPlayer::new(&proxy, ID_A, "tv-app");
    hls.poll().await;
    wait_until(30 * SECOND, "the proxy reconnected", || async {
        proxy
            .streams()
            .await
            .first()
            .and_then(|s| s["reconnects"].as_u64())
            >= Some(1)
    })
    .await;
    engine.set_fault(ID_A, Fault::None);
    wait_until(30 * SECOND, "a discontinuity in the playlist", || async {
        hls.poll().await.0.contains("#EXT-X-DISCONTINUITY")
    })
    .await;
    let before = tv.received.len();
    tv.read_until(before + 100_000, 20 * SECOND).await;
    assert_eq!(kit::ts::count_sync_errors(&tv.received), 0);
    assert_one_session_at_most(&engine, ID_A);
    drop(tv);
    proxy.stop().await;
    all_sessions_stopped(&engine).await;
}

#[tokio::test]
async fn hls_upstream_serves_both_kinds_from_one_session_in_either_order() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.upstream = UpstreamMode::Hls;
    })
    .await;
    let tv = ts_player(&proxy, ID_A).await;
    HlsPlayer::new(&proxy, ID_A, "tv-app").poll().await;
    let hls = HlsPlayer::new(&proxy, ID_B, "tv-app");
    hls.poll().await;
    let tv_b = ts_player(&proxy, ID_B).await;
    for id in [ID_A, ID_B] {
        assert_one_session_at_most(&engine, id);
        assert_eq!(engine.sessions(id)[0].kind, SessionKind::Hls);
    }
    drop((tv, tv_b));
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

/// Regression: `--max-channels` was per kind (32 TS + 32 HLS channels), and
/// with `--upstream hls` a full table answered 502 instead of 503.
#[tokio::test]
async fn the_channel_limit_counts_every_kind_and_answers_503() {
    let engine = SimEngine::start().await;
    for upstream in [UpstreamMode::Ts, UpstreamMode::Hls] {
        let proxy = Proxy::start_with(&engine.url(), |config| {
            config.channels.upstream = upstream;
            config.channels.max_channels = 1;
        })
        .await;
        let tv = ts_player(&proxy, ID_A).await;
        let (status, body) = get_json(&proxy.url(&format!("/ace/manifest.m3u8?id={ID_B}"))).await;
        assert_eq!(status, 503, "{upstream:?}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("too many channels"));
        let (status, _) = get_json(&proxy.stream_url(ID_B)).await;
        assert_eq!(status, 503, "{upstream:?}");
        drop(tv);
        proxy.stop().await;
    }
}

/// Regression: an HLS player counted once per connection (one mpv showed as 2).
#[tokio::test]
async fn an_hls_player_is_one_viewer_however_many_connections_it_opens() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    // Two clients with the same User-Agent: separate connections of one player.
    let playlist_side = HlsPlayer::new(&proxy, ID_A, "mpv 0.38");
    let segment_side = HlsPlayer::new(&proxy, ID_A, "mpv 0.38");
    playlist_side.poll().await;
    segment_side.poll().await;
    let tv = ts_player(&proxy, ID_A).await;
    let streams = proxy.streams().await;
    assert_eq!(streams[0]["viewers"]["hls"], 1, "{streams:?}");
    assert_eq!(streams[0]["viewers"]["ts"], 1, "{streams:?}");
    assert_eq!(streams[0]["players"], 2);
    HlsPlayer::new(&proxy, ID_A, "VLC/3.0.21").poll().await;
    assert_eq!(proxy.streams().await[0]["viewers"]["hls"], 2);
    drop(tv);
    proxy.stop().await;
}

#[tokio::test]
async fn head_answers_a_players_headers_and_starts_nothing() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    for (path, content_type) in [
        (format!("/ace/getstream?id={ID_A}"), "video/mp2t"),
        (
            format!("/ace/manifest.m3u8?id={ID_A}"),
            "application/vnd.apple.mpegurl",
        ),
    ] {
        let response = http().head(proxy.url(&path)).send().await.expect("HEAD");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
    }
    let bad = http()
        .head(proxy.url("/ace/getstream?id=nope"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(bad.status(), 400);
    assert_eq!(engine.sessions_started_total(), 0, "HEAD started a channel");
    assert!(proxy.streams().await.is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn metrics_tell_sessions_players_and_bytes_in_prometheus_text() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_B, Fault::EngineError("failed to load content".into()));
    let proxy = Proxy::start(&engine.url()).await;
    let tv = ts_player(&proxy, ID_A).await;
    HlsPlayer::new(&proxy, ID_A, "tv-app").poll().await;
    let (status, _) = get_json(&proxy.stream_url(ID_B)).await;
    assert_eq!(status, 502);
    let response = http()
        .get(proxy.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("application/openmetrics-text"));
    let text = response.text().await.expect("text");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert_eq!(value("acebridge_engine_sessions_opened_total"), 1.0);
    assert_eq!(value("acebridge_start_failures_total"), 1.0);
    assert_eq!(value("acebridge_players{kind=\"ts\"}"), 1.0);
    assert_eq!(value("acebridge_players{kind=\"hls\"}"), 1.0);
    assert_eq!(value("acebridge_channels{state=\"live\"}"), 1.0);
    assert!(value("acebridge_bytes_out_total") > 100_000.0);
    assert!(value("acebridge_bytes_in_total") > 100_000.0);
    assert_eq!(value("acebridge_start_seconds_count"), 1.0);
    // The recent problems explain the 502.
    let problems = proxy.json("/api/streams").await["problems"].clone();
    assert!(problems[0]["error"]
        .as_str()
        .unwrap_or_default()
        .contains("failed to load content"));
    drop(tv);
    proxy.stop().await;
}

/// An HLS player joining a channel that plays gets a playlist with segments at
/// once and its first segment from memory: p99 of 20 joins under 1 s.
#[tokio::test]
async fn hls_joiners_of_a_playing_channel_get_a_segment_within_a_second() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let _tv = ts_player(&proxy, ID_A).await;
    wait_until(30 * SECOND, "the first segment cut", || async {
        proxy
            .streams()
            .await
            .first()
            .and_then(|s| s["segments_buffered"].as_u64())
            >= Some(1)
    })
    .await;
    let mut joins = Vec::new();
    for join in 0..20 {
        let player = HlsPlayer::new(&proxy, ID_A, &format!("joiner {join}"));
        let started = Instant::now();
        player.poll().await;
        joins.push(started.elapsed());
    }
    joins.sort();
    eprintln!(
        "HLS join to first segment: p50 {:?}, p99 {:?}",
        joins[joins.len() / 2],
        joins[joins.len() - 1]
    );
    assert!(joins[joins.len() - 1] < SECOND, "{joins:?}");
    proxy.stop().await;
}

/// Segments played one after the other are one continuous stream: each starts
/// with the PAT/PMT that stood before its keyframe (a legal duplicate of the
/// previous segment's last), not later ones whose counters would jump (VLC
/// warned "discontinuity received 0xe instead of 0xd (pid=0)").
#[tokio::test]
async fn consecutive_proxy_segments_continue_each_others_packet_counters() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let hls = HlsPlayer::new(&proxy, ID_A, "tv-app");
    wait_until(30 * SECOND, "three segments cut", || async {
        let (text, _) = hls.poll().await;
        text.lines().filter(|l| l.starts_with("#EXTINF")).count() >= 3
    })
    .await;
    let text = hls.playlist().await;
    let uris: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect();
    assert!(!text.contains("#EXT-X-DISCONTINUITY"), "{text}");
    let mut joined = Vec::new();
    for uri in &uris[uris.len() - 3..] {
        let bytes = http().get(proxy.url(uri)).send().await.expect("segment");
        joined.extend_from_slice(&bytes.bytes().await.expect("body"));
    }
    assert_eq!(kit::ts::continuity_errors(&joined), 0);
    proxy.stop().await;
}

/// ffmpeg decodes 30 s of the HLS the proxy cuts from the TS session with no
/// decode error, and a TS player of the same channel shares the session.
#[tokio::test]
async fn ffmpeg_decodes_proxy_made_hls_for_30_seconds() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let _tv = ts_player(&proxy, ID_A).await;
    let url = proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}"));
    kit::ffmpeg::decode(&url, 30)
        .await
        .expect("ffmpeg decodes 30 s of proxy-made HLS without errors");
    assert_one_session_at_most(&engine, ID_A);
    proxy.stop().await;
}

/// A channel stopped while the engine is still answering its start call: the
/// session that arrives afterwards is stopped at once, exactly once, never
/// left behind (a "ghost session").
#[tokio::test]
async fn a_start_that_completes_after_the_channel_was_stopped_is_stopped_once() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::StartDelay(2 * SECOND));
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.stream_url(ID_A);
    let player = tokio::spawn(async move { get_json(&url).await });
    wait_until(10 * SECOND, "the channel starting", || async {
        !proxy.streams().await.is_empty()
    })
    .await;
    let stopped = http()
        .delete(proxy.url(&format!("/api/streams/{ID_A}")))
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.status(), 204);
    let (status, body) = player.await.expect("player");
    assert_eq!(status, 503, "the waiting player is told: {body}");
    wait_until(10 * SECOND, "the late session stopped", || async {
        engine.sessions_started(ID_A) == 1 && engine.active_sessions() == 0
    })
    .await;
    assert_eq!(engine.sessions(ID_A)[0].stop_calls, 1);
    proxy.stop().await;
}

/// Regression: a channel left the table before its engine session's stop was
/// answered, so a player tuning back during the stop opened a second session
/// on the same content, which the old stop then broke on a real engine.
#[tokio::test]
async fn tuning_back_while_the_old_session_is_being_stopped_waits_for_the_stop() {
    let engine = SimEngine::start().await;
    // The engine takes 2 s to stop a session; it stays open meanwhile.
    engine.set_fault(ID_A, Fault::StopDelay(2 * SECOND));
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = Duration::from_millis(300);
    })
    .await;
    drop(ts_player(&proxy, ID_A).await);
    wait_until(10 * SECOND, "the channel left the table", || async {
        proxy.streams().await.is_empty()
    })
    .await;
    assert_eq!(engine.open_sessions(ID_A), 1, "its stop is still in flight");
    let back = ts_player(&proxy, ID_A).await;
    assert_eq!(engine.sessions_started(ID_A), 2);
    assert_one_session_at_most(&engine, ID_A);
    drop(back);
    proxy.stop().await;
}
