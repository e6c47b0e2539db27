//! Nothing a local client sends can freeze the runtime every channel shares
//! or blow up the proxy's memory: big lists imported and pasted, thousands
//! of connections stalling their bodies or heads. The proxy runs as the
//! real binary (its peak RSS is its own) with a TS player of a healthy
//! channel measuring its longest pause, and `/api/health` asked throughout.
//! The inputs are the figures of the reports these tests pin.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::floods::{raise_open_files_limit, slowest_health, stall_connections};
use common::process::{GapWatcher, ProxyProcess};
use common::{http, kit, ID_B};
use kit::engine::SimEngine;
use kit::served::ServedText;
use serde_json::{json, Value};

/// Longest pause another channel's player may see.
const MAX_PAUSE: Duration = Duration::from_millis(1500);
/// Slowest `/api/health` may answer under a flood.
const MAX_HEALTH: Duration = Duration::from_secs(1);
/// The proxy's peak RSS bound, whatever local clients send.
const PEAK_RSS_BOUND_KIB: u64 = 256 * 1024;

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// `POST url` with a JSON body: the status, the JSON answer, how long it took.
async fn post(url: String, body: &Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = http()
        .post(url)
        .json(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json, started.elapsed())
}

/// An M3U list of `count` distinct ids, entry `n` named `name(n)`.
fn m3u(count: usize, name: impl Fn(usize) -> String) -> String {
    let mut text = String::from("#EXTM3U\n");
    for n in 0..count {
        text.push_str(&format!("#EXTINF:-1,{}\nacestream://{n:040x}\n", name(n)));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_imports_and_pastes_never_pause_another_channels_player() {
    let engine = SimEngine::start().await;
    let proxy = ProxyProcess::start(&engine.url());
    let watcher = GapWatcher::start(proxy.url(&format!("/ace/getstream?id={ID_B}"))).await;

    // 100k bare ids: 4.1 MB, under the list size cap.
    let ids: String = (0..100_000).map(|n| format!("{n:040x}\n")).collect();
    assert!(ids.len() < 4 * 1024 * 1024);
    let served = ServedText::start(ids).await;
    let import = json!({ "url": served.url() });
    let (status, answer, took) = post(proxy.url("/api/imports"), &import).await;
    eprintln!("100k-id import: {status} in {took:?}: {answer}");
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]
        .as_str()
        .is_some_and(|e| e.contains("too many ids")));

    // 30k ids under one name: one channel with 30k alternates.
    served.set(m3u(30_000, |_| "DAZN 1".into()));
    let (status, answer, took) = post(proxy.url("/api/imports"), &import).await;
    eprintln!("30k ids under one name: {status} in {took:?}: {answer}");
    assert_eq!(status, 400, "{answer}");

    // A list at the limits (1000 channels of 20 ids), imported and read again.
    served.set(m3u(20_000, |n| format!("Channel {} Sport", n / 20)));
    for read in ["first read", "re-read"] {
        let (status, answer, took) = post(proxy.url("/api/imports"), &import).await;
        eprintln!("20k ids in 1000 channels, {read}: {status} in {took:?}");
        assert_eq!(status, 200, "{read}: {answer}");
    }

    // A paste of 20k entries, then one of 24.8k ids to parse.
    let entries: Vec<Value> = (0..20_000)
        .map(|n| json!({ "id": format!("{:040x}", 1_000_000 + n) }))
        .collect();
    let (status, answer, took) =
        post(proxy.url("/api/channels"), &json!({ "channels": entries })).await;
    eprintln!("20k-entry paste: {status} in {took:?}: {answer}");
    assert_eq!(status, 400, "{answer}");
    let text: String = (0..24_800).map(|n| format!("{n:040x}\n")).collect();
    let (status, answer, took) = post(proxy.url("/api/parse"), &json!({ "text": text })).await;
    eprintln!("24.8k-id parse: {status} in {took:?}: {answer}");
    assert_eq!(status, 400, "{answer}");

    watcher
        .assert_no_gap_over("big imports and pastes", MAX_PAUSE)
        .await;
}

/// A proxy about to be flooded from this computer (the open files limit
/// raised for thousands of sockets).
async fn flooded_proxy() -> (SimEngine, ProxyProcess, SocketAddr) {
    let limit = raise_open_files_limit(8192);
    assert!(limit >= 4096, "open files limit {limit}");
    let engine = SimEngine::start().await;
    let proxy = ProxyProcess::start(&engine.url());
    let target = SocketAddr::from((LOCALHOST, proxy.port()));
    (engine, proxy, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_and_unfinished_heads_keep_memory_bounded() {
    let (_engine, proxy, target) = flooded_proxy().await;
    let watcher = GapWatcher::start(proxy.url(&format!("/ace/getstream?id={ID_B}"))).await;

    // 1500 connections each announcing a 1 MB body and sending 64 KiB of it.
    let mut post = format!(
        "POST /api/channels HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    .into_bytes();
    post.resize(post.len() + 64 * 1024, b' ');
    let bodies = stall_connections(LOCALHOST, target, 1500, post).await;
    // 2000 connections each sending 387 KB of a head that never ends.
    let mut head = format!("GET /api/health HTTP/1.1\r\nHost: {target}\r\nX-Pad: ").into_bytes();
    head.resize(head.len() + 387 * 1024, b'a');
    let heads = stall_connections(LOCALHOST, target, 2000, head).await;

    eprintln!(
        "{} stalled bodies, {} unfinished heads connected",
        bodies.len(),
        heads.len()
    );
    // Let the proxy's read deadlines run out with the connections held.
    tokio::time::sleep(Duration::from_secs(12)).await;
    proxy.assert_peak_rss_under("stalled bodies and unfinished heads", PEAK_RSS_BOUND_KIB);
    // The other channel kept playing; its pauses while the proxy reads
    // ~900 MB of refused requests on one thread are CPU time, not memory,
    // and are reported, not bounded to MAX_PAUSE here (the other tests
    // bound pauses and health).
    watcher
        .assert_no_gap_over(
            "stalled bodies and unfinished heads",
            Duration::from_secs(10),
        )
        .await;
    drop((bodies, heads));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_slow_connections_cannot_delay_health() {
    let (_engine, proxy, target) = flooded_proxy().await;
    let health = tokio::spawn(slowest_health(
        proxy.url("/api/health"),
        Duration::from_secs(12),
    ));
    // 2300 connections at once, each sending the start of a head and no more.
    let slow = format!("GET /api/health HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    let started = Instant::now();
    let open = stall_connections(LOCALHOST, target, 2300, slow).await;
    eprintln!(
        "2300 slow connections: {} connected within {:?}",
        open.len(),
        started.elapsed()
    );
    let slowest = health.await.expect("health probe");
    eprintln!("2300 slow connections: slowest health {slowest:?}");
    assert_eq!(open.len(), 2300, "connections the backlog dropped");
    assert!(slowest < MAX_HEALTH, "health took {slowest:?}");
    drop(open);
}
