//! The simulated engine against its contract: the engine API's JSON shapes,
//! a clean paced TS stream that loops without timestamp jumps, a live HLS
//! playlist, stop handling, and every fault observable from a client.

use std::time::{Duration, Instant};

use acebridge_testkit::engine::{Fault, SessionKind, SimEngine, SimOptions};
use acebridge_testkit::wait::{wait_until, wait_until_sync};
use acebridge_testkit::{ffmpeg, fixtures, ts};
use serde_json::Value;

const ID: &str = "0123456789abcdef0123456789abcdef01234567";
const ID2: &str = "fedcba9876543210fedcba9876543210fedcba98";
const SECOND: Duration = Duration::from_secs(1);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(url: &str) -> reqwest::Response {
    http().get(url).send().await.expect("request")
}

async fn get_json(url: &str) -> Value {
    get(url).await.json().await.expect("json")
}

async fn get_text(url: &str) -> (u16, String) {
    let response = get(url).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

/// Starts a session with `format=json` and returns its `response` object.
async fn start(engine: &SimEngine, endpoint: &str, selector: &str, id: &str) -> Value {
    let url = format!(
        "{}/ace/{endpoint}?{selector}={id}&format=json&pid=test-pid",
        engine.url()
    );
    let body = get_json(&url).await;
    assert_eq!(body["error"], Value::Null, "{body}");
    body["response"].clone()
}

async fn start_ts(engine: &SimEngine, id: &str) -> Value {
    start(engine, "getstream", "id", id).await
}

async fn start_hls(engine: &SimEngine, id: &str) -> Value {
    start(engine, "manifest.m3u8", "id", id).await
}

fn field(response: &Value, key: &str) -> String {
    response[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {response}"))
        .to_owned()
}

/// Reads at least `total` bytes from `response`, failing after `deadline`.
async fn read_at_least(
    response: &mut reqwest::Response,
    total: usize,
    deadline: Duration,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = async {
        while bytes.len() < total {
            match response.chunk().await.expect("stream read") {
                Some(chunk) => bytes.extend_from_slice(&chunk),
                None => panic!("stream ended after {} bytes", bytes.len()),
            }
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .expect("enough bytes in time");
    bytes
}

/// Reads to the end of `response`, failing after `deadline`.
async fn read_to_end(response: &mut reqwest::Response, deadline: Duration) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            bytes.extend_from_slice(&chunk);
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .expect("stream ended in time");
    bytes
}

fn tag(playlist: &str, name: &str) -> Option<u64> {
    playlist
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
}

fn uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every PID's DTS (or PTS) only grows.
fn assert_monotonic(bytes: &[u8]) {
    let info = ts::program_info(bytes).expect("program tables");
    for es in &info.streams {
        let stamps: Vec<u64> = ts::timestamps(bytes, es.pid)
            .iter()
            .filter_map(|t| t.dts.or(t.pts))
            .collect();
        assert!(stamps.len() > 10, "pid {}", es.pid);
        assert!(
            stamps.windows(2).all(|w| w[0] < w[1]),
            "timestamps of pid {} go back",
            es.pid
        );
    }
}

#[tokio::test]
async fn start_calls_answer_the_engine_json_shape() {
    let engine = SimEngine::start().await;
    let base = engine.url();
    assert_eq!(base, format!("http://127.0.0.1:{}", engine.port()));

    let body = get_json(&format!(
        "{base}/ace/getstream?content_id={}&format=json&pid=p1",
        ID.to_uppercase()
    ))
    .await;
    assert_eq!(body["error"], Value::Null);
    let response = &body["response"];
    assert_eq!(response.as_object().map(|o| o.len()), Some(8), "{body}");
    let session = field(response, "playback_session_id");
    let infohash = field(response, "infohash");
    assert_eq!(session.len(), 32);
    assert!(infohash.len() == 40 && infohash != ID, "{infohash}");
    assert_eq!(
        field(response, "playback_url"),
        format!("{base}/ace/r/{session}/{infohash}")
    );
    assert_eq!(
        field(response, "stat_url"),
        format!("{base}/ace/stat/{infohash}/{session}")
    );
    assert_eq!(
        field(response, "command_url"),
        format!("{base}/ace/cmd/{infohash}/{session}")
    );
    assert_eq!(response["is_live"], 1);
    assert_eq!(response["is_encrypted"], 0);
    assert_eq!(response["client_session_id"], -1);

    let sessions = engine.sessions(ID);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].selector, "content_id");
    assert_eq!(sessions[0].pid.as_deref(), Some("p1"));
    assert_eq!(sessions[0].kind, SessionKind::Ts);

    // infohash= keeps the hash; every call is a new session.
    let by_hash = start(&engine, "getstream", "infohash", ID).await;
    assert_eq!(field(&by_hash, "infohash"), ID);
    assert_eq!(engine.sessions_started(ID), 2);
    assert_eq!(engine.sessions(ID)[1].selector, "infohash");

    // Without format=json: a 302 to the playback URL.
    let redirect = get(&format!("{base}/ace/getstream?id={ID}&pid=p2")).await;
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().expect("location");
    assert_eq!(location, engine.sessions(ID)[2].playback_url);

    // HLS start: the playlist URL.
    let hls = start_hls(&engine, ID2).await;
    let hash = field(&hls, "infohash");
    let session = field(&hls, "playback_session_id");
    assert_eq!(
        field(&hls, "playback_url"),
        format!("{base}/ace/m/{hash}/{session}.m3u8")
    );
    assert_eq!(engine.sessions(ID2)[0].kind, SessionKind::Hls);

    // Bad ids: the engine's JSON error, and nothing started.
    for query in [
        "",
        "id=",
        "id=1234",
        "infohash=zz23456789abcdef0123456789abcdef01234567",
    ] {
        let body = get_json(&format!("{base}/ace/getstream?{query}&format=json")).await;
        assert_eq!(body["response"], Value::Null);
        assert_eq!(body["error"], "failed to load content", "{query}");
    }
    assert_eq!(engine.sessions_started_total(), 4);
    assert_eq!(engine.active_sessions(), 4);

    let version = get_json(&format!("{base}/webui/api/service?method=get_version")).await;
    assert_eq!(version["result"]["version"], "3.2.3");
    assert_eq!(version["result"]["code"], 3_020_300);
    assert_eq!(version["error"], Value::Null);
    let status = get_json(&format!(
        "{base}/server/api?api_version=3&method=get_status"
    ))
    .await;
    assert_eq!(status["result"]["status"], 1);
}

#[tokio::test]
async fn playback_is_clean_ts_at_the_clip_bitrate_and_stats_count_it() {
    let engine = SimEngine::start().await;
    let rate = engine.bytes_per_second() as usize;
    assert!((45_000..55_000).contains(&rate), "{rate} B/s");
    let session = start_ts(&engine, ID).await;

    let asked = Instant::now();
    let mut response = get(&field(&session, "playback_url")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp2t");
    let bytes = read_at_least(&mut response, rate * 2, 10 * SECOND).await;
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(1800),
        "2 s of stream in {took:?}"
    );
    assert!(took < 5 * SECOND, "2 s of stream in {took:?}");

    let whole = &bytes[..bytes.len() / 188 * 188];
    assert_eq!(ts::count_sync_errors(&bytes), 0);
    assert_eq!(ts::continuity_errors(whole), 0);
    assert!(ts::pat_pmt_before_first_video(whole));
    assert!(ts::first_video_packet_is_keyframe(whole));
    assert_eq!(engine.playback_connections_open(), 1);

    let stat = get_json(&field(&session, "stat_url")).await;
    assert_eq!(stat["error"], Value::Null);
    assert_eq!(stat["response"]["status"], "dl");
    assert!(stat["response"]["downloaded"].as_u64() >= Some(bytes.len() as u64));
    assert!(engine.sessions(ID)[0].bytes_served >= bytes.len() as u64);

    drop(response);
    wait_until_sync(5 * SECOND, "playback connection closed", || {
        engine.playback_connections_open() == 0
    })
    .await;
}

/// The engine writes once per tick (40 ms by default). The simulator used
/// to send whatever was due at every poll, so right after each tick's chunk
/// came a trail of 1-2 byte chunks, and a slow reader got nothing but those.
#[tokio::test]
async fn playback_writes_one_chunk_per_tick_not_a_trail_of_tiny_chunks() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let engine = SimEngine::start().await;
    let session = start_ts(&engine, ID).await;
    let url = reqwest::Url::parse(&field(&session, "playback_url")).expect("playback url");
    let addr = url.socket_addrs(|| None).expect("address")[0];
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {}?{} HTTP/1.1\r\nHost: {addr}\r\n\r\n",
        url.path(),
        url.query().unwrap_or_default()
    );
    socket.write_all(request.as_bytes()).await.expect("request");

    let window = 2 * SECOND;
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while started.elapsed() < window {
        let left = window.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0)) => panic!("stream ended"),
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Ok(Err(error)) => panic!("read: {error}"),
            Err(_) => break,
        }
    }
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let sizes = chunk_sizes(&raw[head_end..]);
    let ticks = window.as_millis() / SimOptions::default().write_interval.as_millis();
    assert!(
        sizes.len() as u128 <= ticks + 2,
        "{} chunks in {window:?} ({ticks} ticks): {:?}",
        sizes.len(),
        &sizes[..sizes.len().min(20)]
    );
    assert!(
        sizes.len() >= 5,
        "only {} chunks in {window:?}",
        sizes.len()
    );
}

/// The sizes of the complete chunks of an HTTP/1.1 chunked body.
fn chunk_sizes(mut body: &[u8]) -> Vec<usize> {
    let mut sizes = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let line = std::str::from_utf8(&body[..line_end]).expect("chunk size line");
        let size = usize::from_str_radix(line.trim(), 16).expect("hex chunk size");
        let next = line_end + 2 + size + 2;
        if size == 0 || body.len() < next {
            break;
        }
        sizes.push(size);
        body = &body[next..];
    }
    sizes
}

#[tokio::test]
async fn looped_stream_keeps_timestamps_and_counters_continuous() {
    let engine = SimEngine::start_with(SimOptions {
        bitrate: Some(16_000_000),
        ..SimOptions::default()
    })
    .await;
    let session = start_ts(&engine, ID).await;
    let mut response = get(&field(&session, "playback_url")).await;
    // Three loops of the 400 kB clip.
    let bytes = read_at_least(&mut response, 1_250_000, 20 * SECOND).await;
    let whole = &bytes[..bytes.len() / 188 * 188];
    assert_eq!(ts::count_sync_errors(whole), 0);
    assert_eq!(ts::continuity_errors(whole), 0);
    assert_monotonic(whole);
    let pcrs = ts::pcrs(whole);
    assert!(pcrs.windows(2).all(|w| w[0] < w[1]), "PCR goes back");
    assert!(ts::keyframe_count(whole) >= 24);
}

#[tokio::test]
async fn ffprobe_and_ffmpeg_decode_ten_seconds_across_the_loop() {
    if !ffmpeg::available() {
        eprintln!("ffmpeg not installed: skipped");
        return;
    }
    let engine = SimEngine::start().await;
    let probe = start_ts(&engine, ID).await;
    let codecs = ffmpeg::probe_codecs(&field(&probe, "playback_url"))
        .await
        .expect("ffprobe");
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");
    assert!(codecs.contains(&"aac".to_owned()), "{codecs:?}");

    let decode = start_ts(&engine, ID2).await;
    ffmpeg::decode(&field(&decode, "playback_url"), 10)
        .await
        .expect("10 s decode without errors");
}

#[tokio::test]
async fn stop_is_counted_ends_the_stream_and_forgets_the_session() {
    let engine = SimEngine::start().await;
    let session = start_ts(&engine, ID).await;
    let id = field(&session, "playback_session_id");
    let mut response = get(&field(&session, "playback_url")).await;
    read_at_least(&mut response, 1000, 5 * SECOND).await;

    let command = format!("{}?method=stop", field(&session, "command_url"));
    let stopped = get_json(&command).await;
    assert_eq!(stopped["response"], "ok");
    assert_eq!(stopped["error"], Value::Null);
    let asked = Instant::now();
    read_to_end(&mut response, 2 * SECOND).await;
    assert!(
        asked.elapsed() < SECOND,
        "stream ended after {:?}",
        asked.elapsed()
    );

    assert_eq!(engine.stop_calls(&id), 1);
    assert_eq!(engine.active_sessions(), 0);
    let again = get_json(&command).await;
    assert_eq!(again["error"], "unknown playback session id");
    assert_eq!(engine.stop_calls(&id), 2);
    assert_eq!(engine.stops_total(), 2);
    assert!(engine.sessions(ID)[0].stopped);

    let stat = get_json(&field(&session, "stat_url")).await;
    assert_eq!(stat["response"], Value::Null);
    assert_eq!(stat["error"], "unknown playback session id");
    let (status, _) = get_text(&field(&session, "playback_url")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn hls_playlist_slides_and_segments_are_continuous_ts() {
    let engine = SimEngine::start().await;
    let session = start_hls(&engine, ID).await;
    let url = field(&session, "playback_url");
    let hash = field(&session, "infohash");

    let (status, text) = get_text(&url).await;
    assert_eq!(status, 200);
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    assert_eq!(tag(&text, "#EXT-X-TARGETDURATION:"), Some(2), "{text}");
    assert_eq!(tag(&text, "#EXT-X-MEDIA-SEQUENCE:"), Some(0), "{text}");
    assert!(text.contains("#EXTINF:2.002000,\n"), "{text}");
    assert!(!text.contains("#EXT-X-ENDLIST"));
    let first = uris(&text);
    assert_eq!(
        first,
        (0..3)
            .map(|n| format!("/ace/c/{hash}/{n}.ts"))
            .collect::<Vec<_>>()
    );

    // Not published yet: 404.
    let (status, _) = get_text(&format!("{}/ace/c/{hash}/3.ts", engine.url())).await;
    assert_eq!(status, 404);

    // One more segment per 2.002 s.
    wait_until(5 * SECOND, "a fourth segment", || async {
        uris(&get_text(&url).await.1).len() == 4
    })
    .await;

    let mut all = Vec::new();
    for n in 0..4 {
        let response = get(&format!("{}/ace/c/{hash}/{n}.ts", engine.url())).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "video/mp2t");
        let bytes = response.bytes().await.expect("segment");
        assert_eq!(ts::count_sync_errors(&bytes), 0);
        assert!(ts::first_video_packet_is_keyframe(&bytes));
        all.extend_from_slice(&bytes);
    }
    assert_eq!(ts::continuity_errors(&all), 0);
    assert_monotonic(&all);
    assert_eq!(
        engine.segment_fetch_counts(ID),
        vec![(0, 1), (1, 1), (2, 1), (3, 1)]
    );
    assert_eq!(engine.segment_fetches(ID, 2), 1);
    assert_eq!(engine.sessions(ID)[0].bytes_served, all.len() as u64);

    // The window slides: five segments at most, sequence advancing.
    let engine_fast = SimEngine::start_with(SimOptions {
        hls_initial_segments: 12,
        hls_absolute_urls: true,
        ..SimOptions::default()
    })
    .await;
    let session = start_hls(&engine_fast, ID).await;
    let (_, text) = get_text(&field(&session, "playback_url")).await;
    assert_eq!(tag(&text, "#EXT-X-MEDIA-SEQUENCE:"), Some(7), "{text}");
    let uris = uris(&text);
    assert_eq!(uris.len(), 5);
    assert_eq!(
        uris[0],
        format!(
            "{}/ace/c/{}/7.ts",
            engine_fast.url(),
            field(&session, "infohash")
        )
    );
    // Segment 11 is 11 / 4 = loop 2 of the fixture: still clean.
    let bytes = get(&uris[4]).await.bytes().await.expect("segment 11");
    assert_eq!(ts::count_sync_errors(&bytes), 0);
}

#[tokio::test]
async fn hls_master_playlist_and_ffmpeg_plays_hls() {
    let engine = SimEngine::start_with(SimOptions {
        hls_master_playlist: true,
        ..SimOptions::default()
    })
    .await;
    let session = start_hls(&engine, ID).await;
    let url = field(&session, "playback_url");
    let (status, master) = get_text(&url).await;
    assert_eq!(status, 200);
    assert!(master.contains("#EXT-X-STREAM-INF:"), "{master}");
    let media = format!("{}{}", engine.url(), uris(&master)[0]);
    let (status, text) = get_text(&media).await;
    assert_eq!(status, 200);
    assert_eq!(uris(&text).len(), 3, "{text}");

    if ffmpeg::available() {
        ffmpeg::decode(&url, 6)
            .await
            .expect("ffmpeg plays the HLS session");
        assert!(!engine.segment_fetch_counts(ID).is_empty());
    }
}

#[tokio::test]
async fn start_faults() {
    let engine = SimEngine::start().await;
    let base = engine.url();
    let json_url = |id: &str| format!("{base}/ace/getstream?id={id}&format=json&pid=x");

    engine.set_fault(ID, Fault::StartDelay(Duration::from_millis(400)));
    let asked = Instant::now();
    let body = get_json(&json_url(ID)).await;
    assert!(asked.elapsed() >= Duration::from_millis(400));
    assert_eq!(body["error"], Value::Null);

    engine.set_fault(ID, Fault::Hang);
    let hung = tokio::time::timeout(Duration::from_millis(500), get(&json_url(ID))).await;
    assert!(hung.is_err(), "a hanging start call answered");
    assert_eq!(engine.sessions_started(ID), 1, "a hung call starts nothing");

    engine.set_fault(ID, Fault::EngineError("start timeout".into()));
    let body = get_json(&json_url(ID)).await;
    assert_eq!(body["response"], Value::Null);
    assert_eq!(body["error"], "start timeout");
    // The manifest endpoint sees the same faults.
    let body = get_json(&format!("{base}/ace/manifest.m3u8?id={ID}&format=json")).await;
    assert_eq!(body["error"], "start timeout");

    engine.set_fault(ID, Fault::Http500("engine trouble".into()));
    assert_eq!(
        get_text(&json_url(ID)).await,
        (500, "engine trouble".into())
    );

    // Faults are per id; a default applies to ids without their own.
    assert_eq!(get_json(&json_url(ID2)).await["error"], Value::Null);
    engine.set_default_fault(Fault::EngineError("failed to load content".into()));
    assert_eq!(
        get_json(&json_url(ID2)).await["error"],
        "failed to load content"
    );
    engine.set_fault(ID, Fault::None);
    assert_eq!(get_json(&json_url(ID)).await["error"], Value::Null);
    assert_eq!(engine.sessions_started(ID), 2);
}

#[tokio::test]
async fn engine_down_refuses_then_recovers() {
    let engine = SimEngine::start().await;
    let session = start_ts(&engine, ID).await;
    let mut response = get(&field(&session, "playback_url")).await;
    read_at_least(&mut response, 1000, 5 * SECOND).await;

    engine.set_down(true);
    read_to_end(&mut response, 2 * SECOND).await;
    let version = format!("{}/webui/api/service?method=get_version", engine.url());
    assert!(
        http().get(&version).send().await.is_err(),
        "down engine answered"
    );

    engine.set_down(false);
    assert_eq!(get_json(&version).await["result"]["version"], "3.2.3");
}

#[tokio::test]
async fn playback_faults() {
    let engine = SimEngine::start().await;
    let rate = engine.bytes_per_second() as usize;

    // DropAfter: each connection ends; a reconnection joins the live position.
    engine.set_fault(ID, Fault::DropAfter(Duration::from_millis(600)));
    let session = start_ts(&engine, ID).await;
    let url = field(&session, "playback_url");
    let first = read_to_end(&mut get(&url).await, 5 * SECOND).await;
    assert!(
        !first.is_empty() && first.len() < rate * 2,
        "{}",
        first.len()
    );
    let again = read_to_end(&mut get(&url).await, 5 * SECOND).await;
    assert!(!again.is_empty());
    let video = ts::program_info(fixtures::CLIP_TS)
        .and_then(|info| info.video_pid())
        .expect("video pid");
    let first_pts = |bytes: &[u8]| ts::timestamps(bytes, video).first().and_then(|t| t.pts);
    assert!(
        first_pts(&again) > first_pts(&first),
        "a reconnection joins at the live position, not at the start"
    );
    assert_eq!(engine.sessions_started(ID), 1);

    // HeaderDelay: no headers meanwhile, stat says prebuf.
    engine.set_fault(ID2, Fault::HeaderDelay(Duration::from_millis(800)));
    let session = start_ts(&engine, ID2).await;
    let asked = Instant::now();
    let playback_url = field(&session, "playback_url");
    let pending = tokio::spawn(async move { get(&playback_url).await });
    let stat_url = field(&session, "stat_url");
    wait_until(2 * SECOND, "stat says prebuf", || async {
        get_json(&stat_url).await["response"]["status"] == "prebuf"
    })
    .await;
    wait_until_sync(2 * SECOND, "only the prebuffering connection open", || {
        engine.playback_connections_open() == 1
    })
    .await;
    let mut response = pending.await.expect("request task");
    assert!(asked.elapsed() >= Duration::from_millis(800));
    assert_eq!(response.status(), 200);
    read_at_least(&mut response, 188, 2 * SECOND).await;
    assert_eq!(get_json(&stat_url).await["response"]["status"], "dl");
    drop(response);

    // PlaylistForTs: a playlist where TS was expected.
    let id3 = "3333333333333333333333333333333333333333";
    engine.set_fault(id3, Fault::PlaylistForTs);
    let session = start_ts(&engine, id3).await;
    let (status, text) = get_text(&field(&session, "playback_url")).await;
    assert_eq!(status, 200);
    assert!(text.starts_with("#EXTM3U"), "{text}");

    // GarbageTs: torn packets and junk in the stream.
    let id4 = "4444444444444444444444444444444444444444";
    engine.set_fault(id4, Fault::GarbageTs);
    let session = start_ts(&engine, id4).await;
    let mut response = get(&field(&session, "playback_url")).await;
    let bytes = read_at_least(&mut response, rate * 3 / 2, 10 * SECOND).await;
    assert!(ts::count_sync_errors(&bytes) > 0, "no garbage seen");
}

#[tokio::test]
async fn hls_faults() {
    let engine = SimEngine::start_with(SimOptions {
        hls_window: 1,
        hls_initial_segments: 1,
        ..SimOptions::default()
    })
    .await;
    let session = start_hls(&engine, ID).await;
    let url = field(&session, "playback_url");
    let segment = format!(
        "{}/ace/c/{}/0.ts",
        engine.url(),
        field(&session, "infohash")
    );

    engine.set_fault(ID, Fault::HlsPlaylist500);
    assert_eq!(get_text(&url).await.0, 500);
    engine.set_fault(ID, Fault::HlsSegment404);
    assert_eq!(get_text(&url).await.0, 200);
    assert_eq!(get(&segment).await.status(), 404);
    engine.set_fault(ID, Fault::None);
    assert_eq!(get(&segment).await.status(), 200);

    // HlsRestart: once the window moved, the sequence goes back to 0, once.
    engine.set_fault(ID, Fault::HlsRestart);
    let sequence = || async { tag(&get_text(&url).await.1, "#EXT-X-MEDIA-SEQUENCE:") };
    assert_eq!(sequence().await, Some(0));
    let highest = std::cell::Cell::new(0);
    wait_until(10 * SECOND, "sequence restarted", || async {
        let now = sequence().await.expect("sequence");
        let restarted = now < highest.get();
        highest.set(highest.get().max(now));
        restarted
    })
    .await;
    assert_eq!(highest.get(), 1);
    // One-shot: it advances again afterwards.
    wait_until(
        10 * SECOND,
        "sequence advances after the restart",
        || async { sequence().await == Some(1) },
    )
    .await;
}
