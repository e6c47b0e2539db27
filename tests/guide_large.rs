//! A large guide (2 000 channels, 200 000 programmes, gzip) read by the real
//! binary while 5 of its channels are saved: the proxy's memory grows by
//! what it keeps, not by the file; the time to read it is reported; and a TS
//! player of another channel sees no gap meanwhile (the parser runs off the
//! runtime the players share).

mod common;

use std::time::{Duration, Instant};

use common::process::{GapWatcher, ProxyProcess};
use common::{http, kit, ID_B};
use kit::engine::SimEngine;
use kit::guide::{self, ServedFiles};
use serde_json::{json, Value};

const CHANNELS: usize = 2000;
const PER_CHANNEL: usize = 100;
/// Most the proxy's peak RSS may grow while reading the guide: its
/// decompression and parse buffers, the channel list (2 000 names) and the
/// 5 channels' programmes, with the allocator's slack. The file itself is
/// tens of MiB uncompressed.
const PEAK_GROWTH_BOUND_KIB: u64 = 16 * 1024;

fn status_kib(pid_status: &str, key: &str) -> u64 {
    pid_status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("status field")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_guide_is_read_in_bounded_memory_while_another_channel_plays() {
    let now = guide::now();
    let generated = Instant::now();
    let body = tokio::task::spawn_blocking(move || guide::large(CHANNELS, PER_CHANNEL, now))
        .await
        .expect("generate");
    let mut plain = 0u64;
    let counted = body.clone();
    let counting = tokio::task::spawn_blocking(move || {
        std::io::copy(
            &mut flate2::read::GzDecoder::new(&counted[..]),
            &mut std::io::sink(),
        )
    });
    if let Ok(Ok(bytes)) = counting.await {
        plain = bytes;
    }
    eprintln!(
        "generated {CHANNELS} channels, {} programmes: {:.1} MiB gzip, {:.1} MiB XML, in {:?}",
        CHANNELS * PER_CHANNEL,
        body.len() as f64 / 1048576.0,
        plain as f64 / 1048576.0,
        generated.elapsed()
    );
    let files = ServedFiles::default();
    let origin = files.start().await;
    files.set("/large.xml.gz", 200, body);

    let engine = SimEngine::start().await;
    let proxy = ProxyProcess::start(&engine.url());
    let saved: Vec<Value> = [7usize, 250, 999, 1500, 1999]
        .iter()
        .map(|n| json!({"id": format!("{:040x}", n + 1), "name": format!("Saved {n}"), "tvg_id": format!("ch{n}.test")}))
        .collect();
    let response = http()
        .post(proxy.url("/api/channels"))
        .json(&json!({ "channels": saved }))
        .send()
        .await
        .expect("save channels");
    assert_eq!(response.status(), 200);
    let watcher = GapWatcher::start(proxy.url(&format!("/ace/getstream?id={ID_B}"))).await;

    let pid = proxy.pid();
    let status = || std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    // The peak is measured from here: clear_refs 5 resets VmHWM to the current RSS.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");
    let before = status_kib(&status(), "VmRSS:");
    let started = Instant::now();
    let response = http()
        .post(proxy.url("/api/guide/sources"))
        .json(&json!({"url": format!("{origin}/large.xml.gz")}))
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .expect("add the guide");
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    let source: Value = response.json().await.expect("source");
    assert_eq!(source["last_error"], Value::Null, "{source}");
    assert_eq!(source["channels"], CHANNELS);
    assert_eq!(source["programmes"], CHANNELS * PER_CHANNEL);
    let kept = source["programmes_kept"].as_u64().expect("kept");
    assert!(kept > 0 && kept <= 5 * PER_CHANNEL as u64, "{source}");
    let after = status();
    let (peak, rss) = (status_kib(&after, "VmHWM:"), status_kib(&after, "VmRSS:"));
    eprintln!(
        "read in {took:?}; proxy RSS {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB), {:.1} MiB after; {kept} programmes kept",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    let channels: Value = http()
        .get(proxy.url("/api/channels"))
        .send()
        .await
        .expect("channels")
        .json()
        .await
        .expect("json");
    assert!(
        channels["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .all(|c| c["now"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Show "))),
        "every saved channel has its programme now: {channels}"
    );
    watcher.assert_no_gap("reading a large guide").await;
    assert!(
        peak.saturating_sub(before) < PEAK_GROWTH_BOUND_KIB,
        "the proxy's peak RSS grew by {} KiB reading the guide",
        peak - before
    );
    let cache = proxy.settings_path().with_extension("guide-cache.json");
    drop(proxy);
    let _ = std::fs::remove_file(cache);
}
