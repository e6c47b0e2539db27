//! HLS players end to end: the proxy's own playlist and segments, cut by the
//! proxy from the channel's TS session (the default), or taken from one engine
//! HLS session (`--upstream hls`), which then also feeds TS players.

mod common;

use std::time::Duration;

use acebridge::UpstreamMode;
use common::{get_json, http, kit, Player, Proxy, ID_A, ID_B};
use kit::engine::{Fault, SessionKind, SimEngine, SimOptions};
use kit::wait::wait_until;

const SECOND: Duration = Duration::from_secs(1);

/// Fetches the proxy's playlist and returns its text (asserting the content type).
async fn playlist(proxy: &Proxy, id: &str) -> String {
    let response = http()
        .get(proxy.url(&format!("/ace/manifest.m3u8?id={id}")))
        .send()
        .await
        .expect("manifest");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    response.text().await.expect("text")
}

/// The segment URIs and `#EXTINF` durations of a playlist.
fn segments(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest.split(',').next().and_then(|d| d.parse().ok());
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_owned(), duration.take().expect("EXTINF before URI")));
        }
    }
    out
}

fn tag(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
}

/// `#EXT-X-MEDIA-SEQUENCE`, which HLS lets a playlist omit when it is 0.
fn media_sequence(text: &str) -> u64 {
    tag(text, "#EXT-X-MEDIA-SEQUENCE:").unwrap_or(0)
}

/// A proxy whose channels use the engine's HLS (`--upstream hls`).
async fn hls_upstream_proxy(engine: &SimEngine) -> Proxy {
    Proxy::start_with(&engine.url(), |config| {
        config.channels.upstream = UpstreamMode::Hls;
    })
    .await
}

#[tokio::test]
async fn playlist_has_own_urls_rounded_target_and_a_window() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let text = playlist(&proxy, ID_A).await;

    assert!(text.starts_with("#EXTM3U"), "{text}");
    assert!(!text.contains("#EXT-X-ENDLIST"), "live playlists never end");
    let segs = segments(&text);
    assert!(!segs.is_empty() && segs.len() <= 6, "{text}");
    let longest = segs.iter().map(|(_, d)| *d).fold(0.0, f64::max);
    assert_eq!(
        tag(&text, "#EXT-X-TARGETDURATION:"),
        Some(longest.ceil() as u64),
        "target duration is the ceiling of the longest segment: {text}"
    );
    let first = media_sequence(&text);
    for (index, (uri, _)) in segs.iter().enumerate() {
        assert_eq!(
            uri,
            &format!("/ace/hls/{ID_A}/segment/{}.ts", first + index as u64)
        );
    }
    // A segment is real TS with the program tables.
    let (uri, _) = &segs[0];
    let bytes = http().get(proxy.url(uri)).send().await.expect("segment");
    assert_eq!(bytes.headers()["content-type"], "video/mp2t");
    let bytes = bytes.bytes().await.expect("body");
    assert_eq!(kit::ts::count_sync_errors(&bytes), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn three_hls_players_share_one_engine_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let (a, b, c) = tokio::join!(
        playlist(&proxy, ID_A),
        playlist(&proxy, ID_A),
        playlist(&proxy, ID_A)
    );
    for text in [&a, &b, &c] {
        let (uri, _) = &segments(text)[0];
        let status = http()
            .get(proxy.url(uri))
            .send()
            .await
            .expect("seg")
            .status();
        assert_eq!(status, 200);
    }
    assert_eq!(engine.sessions_started(ID_A), 1);
    assert_eq!(engine.sessions(ID_A)[0].kind, SessionKind::Ts);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn every_upstream_segment_is_fetched_once_and_in_order() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    let first = segments(&playlist(&proxy, ID_A).await).len();
    assert!(first >= 1);
    // Keep the channel alive while the engine publishes three more segments.
    let session_segments = || engine.segment_fetch_counts(ID_A);
    wait_until(20 * SECOND, "three more segments fetched", || async {
        playlist(&proxy, ID_A).await;
        session_segments().len() >= first + 3
    })
    .await;
    let fetched = session_segments();
    let numbers: Vec<u64> = fetched.iter().map(|(n, _)| *n).collect();
    let start = numbers[0];
    assert_eq!(
        numbers,
        (start..start + numbers.len() as u64).collect::<Vec<_>>(),
        "no upstream segment skipped"
    );
    assert!(
        fetched.iter().all(|(_, count)| *count == 1),
        "fetched once each: {fetched:?}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn missing_and_malformed_segments_are_404_json() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let text = playlist(&proxy, ID_A).await;
    let first = media_sequence(&text);
    for path in [
        format!("/ace/hls/{ID_A}/segment/{}.ts", first + 1000),
        format!("/ace/hls/{ID_A}/segment/abc.ts"),
        format!("/ace/hls/{ID_A}/segment/1"),
        format!("/ace/hls/{ID_B}/segment/0.ts"),
    ] {
        let (status, body) = get_json(&proxy.url(&path)).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, _) = get_json(&proxy.url("/ace/hls/xyz/segment/0.ts")).await;
    assert_eq!(status, 400);
    let (status, _) = get_json(&proxy.url("/ace/manifest.m3u8?id=nope")).await;
    assert_eq!(status, 400);
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_restart_adds_a_discontinuity() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    playlist(&proxy, ID_A).await;
    engine.set_fault(ID_A, Fault::HlsRestart);
    wait_until(30 * SECOND, "discontinuity in the playlist", || async {
        playlist(&proxy, ID_A)
            .await
            .contains("#EXT-X-DISCONTINUITY")
    })
    .await;
    let text = playlist(&proxy, ID_A).await;
    let first = media_sequence(&text);
    assert!(segments(&text)
        .iter()
        .enumerate()
        .all(|(i, (uri, _))| uri.ends_with(&format!("/{}.ts", first + i as u64))));
    proxy.stop().await;
}

#[tokio::test]
async fn idle_hls_channel_stops_its_engine_session() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = SECOND;
    })
    .await;
    playlist(&proxy, ID_A).await;
    wait_until(30 * SECOND, "idle HLS session stopped", || async {
        engine.stops_total() == 1
    })
    .await;
    wait_until(5 * SECOND, "channel gone", || async {
        proxy.streams().await.is_empty()
    })
    .await;
    proxy.stop().await;
    assert_eq!(engine.stops_total(), 1);
}

#[tokio::test]
async fn ffmpeg_plays_the_proxy_playlist() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}"));
    kit::ffmpeg::decode(&url, 8)
        .await
        .expect("ffmpeg decodes 8 s of HLS");
    assert_eq!(engine.sessions_started(ID_A), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_hls_gives_ts_players_a_continuous_ts_stream() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    let url = proxy.stream_url(ID_A);
    let mut player = Player::open(&url).await;
    player.read_until(200_000, 30 * SECOND).await;
    let bytes = &player.received;
    assert!(
        !bytes.windows(7).any(|w| w == b"#EXTM3U"),
        "a TS player must never receive a playlist"
    );
    assert_eq!(kit::ts::count_sync_errors(bytes), 0);
    assert!(kit::ts::first_video_packet_is_keyframe(bytes));
    let sessions = engine.sessions(ID_A);
    assert_eq!(sessions.len(), 1, "one engine session in all");
    assert_eq!(sessions[0].kind, SessionKind::Hls);
    if kit::ffmpeg::available() {
        kit::ffmpeg::decode(&url, 6)
            .await
            .expect("ffmpeg decodes TS made from HLS");
    }
    drop(player);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

/// Regression: a TS player of a channel already playing as HLS opened a second
/// engine session on the same content, and the engine breaks one session's
/// stream when the other is stopped (the TS one, after its player left).
#[tokio::test]
async fn ts_player_of_a_channel_playing_as_hls_shares_its_engine_session() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    assert!(!segments(&playlist(&proxy, ID_A).await).is_empty());
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(200_000, 30 * SECOND).await;
    assert_eq!(kit::ts::count_sync_errors(&player.received), 0);
    assert!(kit::ts::first_video_packet_is_keyframe(&player.received));
    let sessions = engine.sessions(ID_A);
    assert_eq!(
        sessions.len(),
        1,
        "one engine session for both kinds of players"
    );
    assert_eq!(sessions[0].kind, SessionKind::Hls);
    drop(player);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn hls_engine_error_is_502_with_its_message() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::EngineError("failed to load content".into()));
    let proxy = hls_upstream_proxy(&engine).await;
    let (status, body) = get_json(&proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}"))).await;
    assert_eq!(status, 502);
    assert!(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("failed to load content"));
    proxy.stop().await;
}

#[tokio::test]
async fn lost_upstream_segment_is_skipped_with_a_discontinuity() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    playlist(&proxy, ID_A).await;
    engine.set_fault(ID_A, Fault::HlsSegment404);
    wait_until(30 * SECOND, "upstream errors counted", || async {
        playlist(&proxy, ID_A).await;
        proxy
            .streams()
            .await
            .first()
            .and_then(|s| s["upstream_errors"].as_u64())
            > Some(0)
    })
    .await;
    engine.set_fault(ID_A, Fault::None);
    wait_until(
        30 * SECOND,
        "discontinuity after the lost segment",
        || async {
            playlist(&proxy, ID_A)
                .await
                .contains("#EXT-X-DISCONTINUITY")
        },
    )
    .await;
    proxy.stop().await;
}

#[tokio::test]
async fn proxy_playlist_lags_the_engine_by_at_most_one_segment() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    playlist(&proxy, ID_A).await;
    let engine_playlist = engine.sessions(ID_A)[0].playback_url.clone();
    let count = |text: &str| media_sequence(text) + segments(text).len() as u64;
    let engine_count = || async {
        count(
            &http()
                .get(&engine_playlist)
                .send()
                .await
                .expect("engine")
                .text()
                .await
                .expect("text"),
        )
    };

    // The proxy started from the engine's newest three segments; once it holds
    // them, proxy count - engine count stays constant while it keeps up.
    wait_until(10 * SECOND, "initial segments", || async {
        segments(&playlist(&proxy, ID_A).await).len() >= 3
    })
    .await;
    let offset = loop {
        let before = engine_count().await;
        let proxy_count = count(&playlist(&proxy, ID_A).await);
        if engine_count().await == before {
            break proxy_count as i64 - before as i64;
        }
    };
    let mut lags = Vec::new();
    for _ in 0..3 {
        let before = engine_count().await;
        wait_until(10 * SECOND, "engine publishes a segment", || async {
            engine_count().await > before
        })
        .await;
        let published = std::time::Instant::now();
        let target = before as i64 + 1 + offset;
        wait_until(10 * SECOND, "proxy lists it", || async {
            count(&playlist(&proxy, ID_A).await) as i64 >= target
        })
        .await;
        lags.push(published.elapsed());
    }
    let segment = Duration::from_secs_f64(kit::fixtures::hls_durations()[0]);
    eprintln!("proxy playlist lag behind the engine: {lags:?} (segment {segment:?})");
    assert!(
        lags.iter().all(|lag| *lag <= segment),
        "lags {lags:?} exceed one segment"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn master_playlist_is_followed_to_the_media_playlist() {
    let engine = SimEngine::start_with(SimOptions {
        hls_master_playlist: true,
        ..SimOptions::default()
    })
    .await;
    let proxy = hls_upstream_proxy(&engine).await;
    let text = playlist(&proxy, ID_A).await;
    assert!(!segments(&text).is_empty(), "{text}");
    assert!(
        !text.contains("EXT-X-STREAM-INF"),
        "players get a media playlist: {text}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn segments_published_while_the_playlist_failed_are_all_fetched_once() {
    let engine = SimEngine::start().await;
    let proxy = hls_upstream_proxy(&engine).await;
    playlist(&proxy, ID_A).await;
    let published = || async { engine.segment_fetch_counts(ID_A).len() };
    let before = published().await;
    // The engine's playlist fails for long enough that two or more segments are
    // published meanwhile: the next good poll is "late" and must take them all.
    engine.set_fault(ID_A, Fault::HlsPlaylist500);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    engine.set_fault(ID_A, Fault::None);
    wait_until(20 * SECOND, "segments after the outage fetched", || async {
        playlist(&proxy, ID_A).await;
        published().await >= before + 3
    })
    .await;
    let fetched = engine.segment_fetch_counts(ID_A);
    let numbers: Vec<u64> = fetched.iter().map(|(n, _)| *n).collect();
    let start = numbers[0];
    assert_eq!(
        numbers,
        (start..start + numbers.len() as u64).collect::<Vec<_>>(),
        "a segment was skipped"
    );
    assert!(fetched.iter().all(|(_, count)| *count == 1), "{fetched:?}");
    assert!(
        !playlist(&proxy, ID_A)
            .await
            .contains("#EXT-X-DISCONTINUITY"),
        "nothing was lost"
    );
    proxy.stop().await;
}
