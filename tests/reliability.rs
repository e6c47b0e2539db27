//! Bounds and lifecycle under abuse: limits answer 503/429 JSON, and a storm of
//! zapping (opens, aborts mid-start, fast switches) leaves no engine session
//! and no channel behind.

mod common;

use std::time::Duration;

use common::{get_json, http, kit, Player, Proxy, ID_A, ID_B, ID_C};
use kit::engine::{Fault, SimEngine};
use kit::wait::wait_until;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn channel_and_player_limits_are_clear_errors() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.max_channels = 2;
        config.channels.max_players = 2;
    })
    .await;
    let mut a1 = Player::open(&proxy.stream_url(ID_A)).await;
    let mut a2 = Player::open(&proxy.stream_url(ID_A)).await;
    let mut b = Player::open(&proxy.stream_url(ID_B)).await;
    for player in [&mut a1, &mut a2, &mut b] {
        player.read_until(1000, 10 * SECOND).await;
    }
    let (status, body) = get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("too many players"));
    let (status, body) = get_json(&proxy.stream_url(ID_C)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("too many channels"));
    assert_eq!(engine.sessions_started(ID_C), 0);
    drop((a1, a2, b));
    proxy.stop().await;
}

/// A tiny deterministic generator, so a failing soak run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// 1000 zap cycles over 20 channels by default (`ACEBRIDGE_SOAK_CYCLES` to change).
#[tokio::test]
async fn zap_soak_leaves_no_session_behind() {
    let cycles: u64 = std::env::var("ACEBRIDGE_SOAK_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let engine = SimEngine::start().await;
    let ids: Vec<String> = (0..20).map(|n| format!("{n:040x}")).collect();
    // Some channels start slowly, so some aborts land mid-start.
    for id in ids.iter().step_by(4) {
        engine.set_fault(id, Fault::StartDelay(Duration::from_millis(150)));
    }
    let proxy = Proxy::start_with(&engine.url(), |config| {
        config.channels.linger = Duration::from_millis(50);
    })
    .await;
    let mut rng = Lcg(0x5eed);
    let mut batch = Vec::new();
    for cycle in 0..cycles {
        let url = proxy.stream_url(&ids[rng.next(ids.len() as u64) as usize]);
        let abort_after = Duration::from_millis(rng.next(200));
        let read_bytes = rng.next(3) == 0;
        batch.push(tokio::spawn(async move {
            let zap = async {
                let Ok(mut response) = http().get(&url).send().await else {
                    return;
                };
                if read_bytes {
                    let _ = response.chunk().await;
                }
            };
            // Either the player finishes its zap or it is cut off wherever it is.
            let _ = tokio::time::timeout(abort_after, zap).await;
        }));
        if batch.len() == 16 || cycle + 1 == cycles {
            for task in batch.drain(..) {
                task.await.expect("zap task");
            }
        }
    }
    wait_until(
        30 * SECOND,
        "every channel gone after the linger",
        || async { proxy.streams().await.is_empty() },
    )
    .await;
    wait_until(10 * SECOND, "every engine session stopped", || async {
        engine.active_sessions() == 0
    })
    .await;
    eprintln!(
        "zap soak: {cycles} cycles, {} engine sessions started, {} stops, 0 left",
        engine.sessions_started_total(),
        engine.stops_total()
    );
    assert!(engine.sessions_started_total() > 0);
    proxy.stop().await;
}

#[tokio::test]
async fn garbage_and_torn_packets_never_reach_players() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::GarbageTs);
    let proxy = Proxy::start(&engine.url()).await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    // About three seconds of stream: several garbage injections.
    player.read_until(150_000, 20 * SECOND).await;
    let bytes = &player.received;
    assert_eq!(bytes.len() % 188, 0);
    assert_eq!(
        kit::ts::count_sync_errors(bytes),
        0,
        "a torn packet was forwarded"
    );
    drop(player);
    proxy.stop().await;
}

#[tokio::test]
async fn engine_down_at_start_then_back_works_without_restarting_the_proxy() {
    let engine = SimEngine::start().await;
    engine.set_down(true);
    let proxy = Proxy::start(&engine.url()).await;
    let (status, body) = get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        proxy.json("/api/health").await["engine"]["reachable"],
        false
    );
    engine.set_down(false);
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(10_000, 10 * SECOND).await;
    assert_eq!(proxy.json("/api/health").await["engine"]["reachable"], true);
    drop(player);
    proxy.stop().await;
}

#[tokio::test]
async fn many_players_starting_one_channel_at_once_open_one_session() {
    let engine = SimEngine::start().await;
    // A slow start, so every player arrives while the first start is in flight.
    engine.set_fault(ID_A, Fault::StartDelay(Duration::from_millis(500)));
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.stream_url(ID_A);
    let players = futures_util::future::join_all((0..10).map(|_| Player::open(&url))).await;
    assert_eq!(players.len(), 10);
    assert_eq!(engine.sessions_started(ID_A), 1);
    drop(players);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}
