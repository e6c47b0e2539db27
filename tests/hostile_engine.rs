//! A hostile or broken engine cannot hurt the proxy (issue 15, rows 1, 3 and
//! 6): huge bodies, an endless playlist line, redirects off the engine, slow
//! drip, garbage, absurd media sequences and a gzip bomb each end as a clear
//! error for their channel, never as memory growth or a stalled runtime.
//!
//! The proxy runs as the real binary, so its peak RSS (`VmHWM`) is its own;
//! the simulated engine runs in the test on other threads. In every test a TS
//! player of another, healthy channel plays throughout, and the longest gap
//! between its chunks is measured.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{GapWatcher, ProxyProcess};
use common::{get_json, http, kit, ID_A, ID_B, ID_C};
use kit::engine::{Fault, Hostile, SimEngine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the hostile engine offers where a bound should cut it: 2 GiB.
const HUGE: u64 = 2 << 30;

/// An engine whose channel `ID_A` (or everything but `ID_B`) misbehaves, a
/// proxy in front, and a player of `ID_B` already playing.
async fn setup(
    fault: Option<Hostile>,
    default_fault: Option<Hostile>,
) -> (SimEngine, ProxyProcess, GapWatcher) {
    setup_with(&[], fault, default_fault).await
}

/// [`setup`] with channels on the engine's HLS (`--upstream hls`), where the
/// engine's playlists and segments are read.
async fn setup_hls(
    fault: Option<Hostile>,
    default_fault: Option<Hostile>,
) -> (SimEngine, ProxyProcess, GapWatcher) {
    setup_with(&["--upstream", "hls"], fault, default_fault).await
}

async fn setup_with(
    flags: &[&str],
    fault: Option<Hostile>,
    default_fault: Option<Hostile>,
) -> (SimEngine, ProxyProcess, GapWatcher) {
    let engine = SimEngine::start().await;
    if let Some(fault) = default_fault {
        engine.set_default_fault(Fault::Hostile(fault));
        engine.set_fault(ID_B, Fault::None);
    }
    if let Some(fault) = fault {
        engine.set_fault(ID_A, Fault::Hostile(fault));
    }
    let proxy = ProxyProcess::start_with(&engine.url(), "127.0.0.1:0", flags);
    let watcher = if flags.contains(&"hls") {
        GapWatcher::start_hls(proxy.url(&manifest(ID_B))).await
    } else {
        GapWatcher::start(proxy.url(&format!("/ace/getstream?id={ID_B}"))).await
    };
    (engine, proxy, watcher)
}

/// Asserts a JSON error with `status` whose message contains `needle`.
fn assert_error(what: &str, (status, body): (u16, serde_json::Value), expected: u16, needle: &str) {
    let message = body["error"].as_str().unwrap_or_default();
    assert_eq!(status, expected, "{what}: {body}");
    assert!(
        message.contains(needle),
        "{what}: {message:?} lacks {needle:?}"
    );
}

fn manifest(id: &str) -> String {
    format!("/ace/manifest.m3u8?id={id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_version_reply_is_cut_at_its_bound() {
    let (_engine, proxy, watcher) = setup(None, Some(Hostile::HugeVersion(HUGE))).await;
    let (status, body) = get_json(&proxy.url("/api/health")).await;
    assert_eq!(status, 200);
    assert_eq!(body["engine"]["reachable"], false, "{body}");
    let error = body["engine"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("larger than 65536 bytes"), "{error}");
    proxy.assert_peak_rss("2 GiB version reply");
    watcher.assert_no_gap("2 GiB version reply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_start_json_is_a_502_naming_the_bound() {
    let (_engine, proxy, watcher) = setup(Some(Hostile::HugeStart(HUGE)), None).await;
    let reply = get_json(&proxy.url(&format!("/ace/getstream?id={ID_A}"))).await;
    assert_error(
        "2 GiB start JSON",
        reply,
        502,
        "JSON reply larger than 65536 bytes",
    );
    proxy.assert_peak_rss("2 GiB start JSON");
    watcher.assert_no_gap("2 GiB start JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_segment_is_a_502_not_a_buffer_overrun() {
    let (engine, proxy, watcher) = setup_hls(Some(Hostile::HugeSegment(HUGE)), None).await;
    let reply = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_error(
        "2 GiB segment",
        reply,
        502,
        "segment larger than 16777216 bytes",
    );
    assert_eq!(
        engine.segment_fetch_counts(ID_A),
        vec![],
        "nothing counted as served"
    );
    proxy.assert_peak_rss("2 GiB segment");
    watcher.assert_no_gap("2 GiB segment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_playlist_is_a_502_naming_the_bound() {
    let (_engine, proxy, watcher) = setup_hls(Some(Hostile::HugePlaylist(HUGE)), None).await;
    let reply = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_error(
        "2 GiB playlist",
        reply,
        502,
        "playlist larger than 1048576 bytes",
    );
    proxy.assert_peak_rss("2 GiB playlist");
    watcher.assert_no_gap("2 GiB playlist").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_of_a_million_short_lines_is_a_502_naming_the_bound() {
    // Under the byte bound, but ~65 000 segments: refused before parsing.
    let (_engine, proxy, watcher) = setup_hls(Some(Hostile::HugePlaylist(1_000_000)), None).await;
    let reply = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_error("1 MB playlist", reply, 502, "more than 4096 lines");
    proxy.assert_peak_rss("1 MB playlist of short lines");
    watcher.assert_no_gap("1 MB playlist of short lines").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_just_under_its_line_bound_is_parsed_without_stalling_other_channels() {
    // 2 000 segments in ~4 000 lines, parsed at every poll; they do not exist.
    let (_engine, proxy, watcher) = setup_hls(Some(Hostile::HugePlaylist(16 * 2000)), None).await;
    let (status, body) = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_eq!(status, 504, "{body}");
    proxy.assert_peak_rss("playlist of 4 000 lines");
    watcher.assert_no_gap("playlist of 4 000 lines").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_playlist_line_is_cut_without_stalling_other_channels() {
    let (_engine, proxy, watcher) = setup_hls(Some(Hostile::EndlessPlaylistLine(HUGE)), None).await;
    let reply = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_error(
        "endless playlist line",
        reply,
        502,
        "line longer than 16384 bytes",
    );
    proxy.assert_peak_rss("endless playlist line");
    watcher.assert_no_gap("endless playlist line").await;
}

/// A foreign server that counts the connections it gets.
async fn foreign_server() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicU64::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = [0x47u8; 188 * 10];
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: video/mp2t\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (origin, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_off_the_engine_are_refused() {
    let (foreign, hits) = foreign_server().await;
    // ID_A's start call redirects; for every other id (ID_C) TS playback and
    // HLS segments redirect, and so does the version call.
    let (_engine, proxy, watcher) = setup(
        Some(Hostile::RedirectStartTo(foreign.clone())),
        Some(Hostile::RedirectTo(foreign)),
    )
    .await;
    let refused = "redirect off the engine's address";
    let reply = get_json(&proxy.url(&format!("/ace/getstream?id={ID_A}"))).await;
    assert_error("start call redirect", reply, 502, refused);
    let reply = get_json(&proxy.url(&format!("/ace/getstream?id={ID_C}"))).await;
    assert_error("TS playback redirect", reply, 502, refused);
    // The engine's HLS segments are read only with `--upstream hls`.
    let hls = ProxyProcess::start_with(&_engine.url(), "127.0.0.1:0", &["--upstream", "hls"]);
    let reply = get_json(&hls.url(&manifest(ID_C))).await;
    assert_error("HLS segment redirect", reply, 502, refused);
    let (_, health) = get_json(&proxy.url("/api/health")).await;
    let error = health["engine"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(refused), "{health}");
    assert_eq!(
        hits.load(Ordering::Relaxed),
        0,
        "nothing reached the other host"
    );
    proxy.assert_peak_rss("redirects");
    watcher.assert_no_gap("redirects").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loop_on_the_engine_is_cut_after_a_few_hops() {
    let (engine, proxy, watcher) = setup_hls(None, None).await;
    // Segments redirect to themselves, on the engine's own origin.
    engine.set_fault(ID_A, Fault::Hostile(Hostile::RedirectTo(engine.url())));
    let reply = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_error("redirect loop", reply, 502, "more than 5 redirects");
    proxy.assert_peak_rss("redirect loop");
    watcher.assert_no_gap("redirect loop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_playlist_times_out_without_hurting_other_channels() {
    let drip = Hostile::SlowDrip(Duration::from_millis(200));
    let (_engine, proxy, watcher) = setup_hls(Some(drip), None).await;
    let started = Instant::now();
    let (status, body) = get_json(&proxy.url(&manifest(ID_A))).await;
    // The playlist takes ~40 s to drip in: cut at 10 s, and again, until the
    // channel's start timeout (10 s) is over.
    assert_eq!(status, 504, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    proxy.assert_peak_rss("slow drip");
    watcher.assert_no_gap("slow drip").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_start_reply_is_a_502() {
    let (_engine, proxy, watcher) = setup(Some(Hostile::Garbage), None).await;
    let reply = get_json(&proxy.url(&format!("/ace/getstream?id={ID_A}"))).await;
    assert_error("garbage start reply", reply, 502, "not engine JSON");
    proxy.assert_peak_rss("garbage");
    watcher.assert_no_gap("garbage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_sequence_near_2_pow_64_does_not_wrap_into_a_download_loop() {
    let sequence = Hostile::MediaSequence((u64::MAX - 1).to_string());
    let (engine, proxy, watcher) = setup_hls(Some(sequence), None).await;
    let reply = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_error(
        "media sequence near 2^64",
        reply,
        502,
        "impossible media sequence",
    );
    assert_eq!(
        engine.segment_fetch_counts(ID_A),
        vec![],
        "no segment downloaded"
    );
    proxy.assert_peak_rss("media sequence near 2^64");
    watcher.assert_no_gap("media sequence near 2^64").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_media_sequence_never_refetches_a_segment() {
    // m3u8-rs does not read "-5" as a number: the playlist counts from 0.
    let (engine, proxy, watcher) = setup_hls(Some(Hostile::MediaSequence("-5".into())), None).await;
    let (status, body) = get_json(&proxy.url(&manifest(ID_A))).await;
    assert_eq!(status, 200, "{body}");
    kit::wait::wait_until(Duration::from_secs(10), "a few more segments", || async {
        engine.segment_fetch_counts(ID_A).len() >= 5
    })
    .await;
    let counts = engine.segment_fetch_counts(ID_A);
    assert!(counts.iter().all(|&(_, n)| n == 1), "{counts:?}");
    proxy.assert_peak_rss("negative media sequence");
    watcher.assert_no_gap("negative media sequence").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_segment_is_never_inflated() {
    let (_engine, proxy, watcher) = setup_hls(Some(Hostile::GzipBomb(HUGE)), None).await;
    let playlist = http()
        .get(proxy.url(&manifest(ID_A)))
        .send()
        .await
        .expect("manifest");
    assert_eq!(playlist.status(), 200);
    let playlist = playlist.text().await.expect("text");
    let segment = playlist
        .lines()
        .find(|line| line.starts_with("/ace/hls/"))
        .expect("a segment");
    let bytes = http()
        .get(proxy.url(segment))
        .send()
        .await
        .expect("segment")
        .bytes()
        .await
        .expect("body");
    // 2 GiB of zeros as 128 gzip members of ~16 KiB: kept as sent.
    assert!(bytes.len() < 8 << 20, "segment of {} bytes", bytes.len());
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "still gzip");
    proxy.assert_peak_rss("gzip bomb");
    watcher.assert_no_gap("gzip bomb").await;
}
