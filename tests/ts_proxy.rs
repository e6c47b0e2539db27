//! The TS proxy end to end: real server, real sockets, simulated engine serving
//! a real H.264/AAC clip. Each test names the behaviour it pins.

mod common;

use std::time::{Duration, Instant};

use common::{get_json, kit, Player, Proxy, StalledPlayer, ID_A, ID_B};
use kit::engine::{Fault, SimEngine, SimOptions};
use kit::wait::wait_until;

const SECOND: Duration = Duration::from_secs(1);

/// Bytes of the fixture stream per second, roughly (400 kbit/s).
const CLIP_BYTES_PER_SEC: usize = 50_000;

#[tokio::test]
async fn three_players_share_one_engine_session_and_the_same_bytes() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.stream_url(ID_A);

    let mut first = Player::open(&url).await;
    first.read_until(20_000, 10 * SECOND).await;
    let mut second = Player::open(&url).await;
    let mut third = Player::open(&url).await;
    second.read_until(60_000, 10 * SECOND).await;
    third.read_until(60_000, 10 * SECOND).await;
    first
        .read_until(first.received.len() + 150_000, 10 * SECOND)
        .await;

    assert_eq!(
        engine.sessions_started(ID_A),
        1,
        "one engine session for three players"
    );
    // Late joiners get the same upstream bytes: what they received after their
    // program tables appears verbatim in the first player's stream.
    for late in [&second, &third] {
        let sample = &late.received[376..376 + 40_000];
        assert!(
            first.received.windows(sample.len()).any(|w| w == sample),
            "a joiner received bytes the first player never saw"
        );
    }
    let streams = proxy.streams().await;
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["players"], 3);
    drop((first, second, third));
    proxy.stop().await;
}

#[tokio::test]
async fn late_joiner_gets_pat_pmt_then_a_keyframe_first() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.stream_url(ID_A);

    let mut first = Player::open(&url).await;
    // Well past the first GOP, so the joiner lands mid-stream.
    first
        .read_until(3 * CLIP_BYTES_PER_SEC / 2, 10 * SECOND)
        .await;
    let asked = Instant::now();
    let mut joiner = Player::open(&url).await;
    joiner.read_until(1, SECOND).await;
    let first_byte = asked.elapsed();
    joiner.read_until(100_000, 10 * SECOND).await;

    let bytes = &joiner.received;
    assert_eq!(bytes.len() % 188, 0, "whole packets only");
    assert_eq!(kit::ts::count_sync_errors(bytes), 0);
    assert!(
        kit::ts::pat_pmt_before_first_video(bytes),
        "PAT/PMT must come first"
    );
    assert!(
        kit::ts::first_video_packet_is_keyframe(bytes),
        "the joiner's first video packet must start a keyframe"
    );
    assert!(first_byte < SECOND, "warm join took {first_byte:?}");
    assert_eq!(engine.sessions_started(ID_A), 1);
    drop((first, joiner));
    proxy.stop().await;
}

#[tokio::test]
async fn ffprobe_and_ffmpeg_decode_the_proxied_stream() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.stream_url(ID_A);

    let codecs = kit::ffmpeg::probe_codecs(&url).await.expect("ffprobe");
    assert!(codecs.iter().any(|c| c == "h264"), "codecs: {codecs:?}");
    assert!(codecs.iter().any(|c| c == "aac"), "codecs: {codecs:?}");
    // Decode across the clip's loop point (8 s) with a second player attached.
    let _other = Player::open(&url).await;
    kit::ffmpeg::decode(&url, 10)
        .await
        .expect("ffmpeg decodes 10 s");
    proxy.stop().await;
}

#[tokio::test]
async fn stalled_player_does_not_slow_the_others_and_is_dropped() {
    // A fast stream fills a stalled socket's buffers within a second or two.
    let engine = SimEngine::start_with(SimOptions {
        bitrate: Some(16_000_000),
        ..SimOptions::default()
    })
    .await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        // Long enough that a live reader starved by a loaded CI machine is not
        // mistaken for a stalled one.
        config.write_stall = 8 * SECOND;
        config.channels.ring_bytes = 2 * 1024 * 1024;
    })
    .await;
    let url = proxy.stream_url(ID_A);

    let stalled = StalledPlayer::connect(proxy.addr, &format!("/ace/getstream?id={ID_A}"))
        .await
        .expect("stalled player");
    let mut live = Player::open(&url).await;
    wait_until(5 * SECOND, "both players joined", || async {
        proxy.streams().await.first().map(|s| s["players"].clone()) == Some(2.into())
    })
    .await;
    // 2 MB/s upstream: 12 MB is 6 s of stream, far beyond what the stalled
    // socket buffers hold (up to 4 MiB of kernel send buffer), so a shared
    // writer would have blocked long before. The deadline allows for a loaded CI.
    live.read_until(12_000_000, 45 * SECOND).await;
    assert_eq!(kit::ts::count_sync_errors(&live.received), 0);

    // The stalled player is disconnected after the write-stall limit.
    wait_until(30 * SECOND, "stalled player dropped", || async {
        proxy.streams().await.first().map(|s| s["players"].clone()) == Some(1.into())
    })
    .await;
    drop((stalled, live));
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_drop_reconnects_while_the_player_keeps_receiving() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::DropAfter(Duration::from_millis(1500)));
    let proxy = Proxy::start(&engine.url()).await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;

    // Six seconds of stream is at least three upstream drops.
    player.read_until(6 * CLIP_BYTES_PER_SEC, 30 * SECOND).await;
    assert_eq!(
        kit::ts::count_sync_errors(&player.received),
        0,
        "no torn packet after a reconnect"
    );
    let streams = proxy.streams().await;
    assert!(streams[0]["reconnects"].as_u64() >= Some(2), "{streams:?}");
    drop(player);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0, "every session stopped");
}

#[tokio::test]
async fn linger_then_stop_is_called_exactly_once() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = SECOND;
    })
    .await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(10_000, 10 * SECOND).await;
    drop(player);

    wait_until(10 * SECOND, "channel removed after linger", || async {
        proxy.streams().await.is_empty()
    })
    .await;
    wait_until(5 * SECOND, "engine session stopped", || async {
        engine.stops_total() == 1
    })
    .await;
    let sessions = engine.sessions(ID_A);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].stop_calls, 1, "stopped exactly once");
    assert_eq!(engine.active_sessions(), 0);
    proxy.stop().await;
    assert_eq!(engine.stops_total(), 1, "shutdown must not stop it again");
}

#[tokio::test]
async fn rejoin_within_linger_reuses_the_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = 30 * SECOND;
    })
    .await;
    let url = proxy.stream_url(ID_A);
    let mut player = Player::open(&url).await;
    player.read_until(10_000, 10 * SECOND).await;
    drop(player);
    wait_until(5 * SECOND, "player gone", || async {
        proxy.streams().await.first().map(|s| s["players"].clone()) == Some(0.into())
    })
    .await;

    let mut again = Player::open(&url).await;
    again.read_until(10_000, 5 * SECOND).await;
    assert_eq!(
        engine.sessions_started(ID_A),
        1,
        "rejoining must not start a new session"
    );
    assert_eq!(engine.stops_total(), 0);
    drop(again);
    proxy.stop().await;
    assert_eq!(
        engine.active_sessions(),
        0,
        "shutdown stops the lingering session"
    );
}

#[tokio::test]
async fn bad_ids_get_400_with_a_reason() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let cases = [
        ("/ace/getstream", "missing"),
        ("/ace/getstream?id=", "no content id"),
        ("/ace/getstream?id=1234", "40 hexadecimal"),
        (
            "/ace/getstream?id=zz3456789012345678901234567890123456789z",
            "hexadecimal",
        ),
        ("/ace/getstream?infohash=abc%20def", "hexadecimal"),
        ("/ace/getstream?id=magnet:?xt=urn", "unsupported"),
    ];
    for (path, expected) in cases {
        let (status, body) = get_json(&proxy.url(path)).await;
        assert_eq!(status, 400, "{path}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(expected),
            "{path}: {error:?} should mention {expected:?}"
        );
    }
    assert_eq!(
        engine.sessions_started_total(),
        0,
        "nothing reached the engine"
    );
    let (status, body) = get_json(&proxy.url("/nope")).await;
    assert_eq!((status, body["error"].is_string()), (404, true));
    proxy.stop().await;
}

#[tokio::test]
async fn pasted_forms_of_an_id_open_the_same_channel() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let upper = ID_A.to_ascii_uppercase();
    let forms = [
        format!("/ace/getstream?id=acestream://{ID_A}"),
        format!("/ace/getstream?content_id=%20{upper}%20"),
        format!("/ace/getstream?id=acestream%3A%3Fcontent_id%3D{ID_A}"),
    ];
    let mut players = Vec::new();
    for form in &forms {
        let mut player = Player::open(&proxy.url(form)).await;
        player.read_until(1000, 10 * SECOND).await;
        players.push(player);
    }
    assert_eq!(engine.sessions_started(ID_A), 1);
    let mut infohash = Player::open(&proxy.url(&format!("/ace/getstream?infohash={ID_B}"))).await;
    infohash.read_until(1000, 10 * SECOND).await;
    assert_eq!(
        engine.sessions(ID_B)[0].selector,
        "infohash",
        "infohash kept as infohash"
    );
    drop((players, infohash));
    proxy.stop().await;
}

#[tokio::test]
async fn engine_error_becomes_502_with_the_engines_message() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::EngineError("failed to load content".into()));
    engine.set_fault(ID_B, Fault::Http500("internal engine trouble".into()));
    let proxy = Proxy::start(&engine.url()).await;
    let (status, body) = get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(status, 502);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("failed to load content"),
        "{body}"
    );
    let (status, body) = get_json(&proxy.stream_url(ID_B)).await;
    assert_eq!(status, 502);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("internal engine trouble"),
        "{body}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn engine_unreachable_is_502_and_health_says_so() {
    // A port nobody listens on: bind, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let proxy = Proxy::start(&format!("http://127.0.0.1:{port}")).await;
    let (status, body) = get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(status, 502);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{body}"
    );
    let health = proxy.json("/api/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["engine"]["reachable"], false);
    proxy.stop().await;
}

#[tokio::test]
async fn health_reports_the_engine_version() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let health = proxy.json("/api/health").await;
    assert_eq!(health["engine"]["reachable"], true);
    assert_eq!(health["engine"]["version"], "3.2.3");
    proxy.stop().await;
}

#[tokio::test]
async fn start_timeout_is_504() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::Hang);
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.start_timeout = SECOND;
    })
    .await;
    let (status, body) = get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(status, 504, "{body}");
    proxy.stop().await;
}

#[tokio::test]
async fn slow_prebuffering_is_waited_for_not_cut_off() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::HeaderDelay(3 * SECOND));
    let proxy = Proxy::start(&engine.url()).await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(10_000, 10 * SECOND).await;
    drop(player);
    proxy.stop().await;
}

#[tokio::test]
async fn hanging_channel_does_not_delay_another() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::Hang);
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.start_timeout = 60 * SECOND;
    })
    .await;
    let hanging_url = proxy.stream_url(ID_A);
    let hanging = tokio::spawn(async move { common::http().get(hanging_url).send().await });
    wait_until(5 * SECOND, "hanging channel registered", || async {
        engine.sessions_started(ID_A) == 0 && !proxy.streams().await.is_empty()
    })
    .await;

    let asked = Instant::now();
    let mut other = Player::open(&proxy.stream_url(ID_B)).await;
    other.read_until(1000, 5 * SECOND).await;
    let (status, _) = get_json(&proxy.url("/api/streams")).await;
    assert_eq!(status, 200);
    assert!(asked.elapsed() < 5 * SECOND);
    hanging.abort();
    drop(other);
    proxy.stop().await;
}

#[tokio::test]
async fn playlist_where_ts_was_asked_for_is_a_clear_502() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::PlaylistForTs);
    let proxy = Proxy::start(&engine.url()).await;
    let (status, body) = get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(status, 502);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("playlist"),
        "{body}"
    );
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn shutdown_ends_streams_and_stops_every_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = 60 * SECOND;
    })
    .await;
    let mut a = Player::open(&proxy.stream_url(ID_A)).await;
    let mut b = Player::open(&proxy.stream_url(ID_B)).await;
    a.read_until(1000, 10 * SECOND).await;
    b.read_until(1000, 10 * SECOND).await;
    let reading = tokio::spawn(async move {
        a.read_to_end(20 * SECOND).await;
    });
    proxy.stop().await;
    reading.await.expect("player A saw a clean end of stream");
    drop(b);
    assert_eq!(engine.active_sessions(), 0);
    assert_eq!(engine.stops_total(), 2);
}
