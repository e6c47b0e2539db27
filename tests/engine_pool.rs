//! A pool of three simulated engines behind the real proxy, over sockets:
//! channels are placed by load within each engine's `max_channels`, one
//! engine session per content across the pool, every engine busy is a 503,
//! a killed engine's channels move to the others with their players
//! connected (TS and HLS upstream), an engine that comes back is used again,
//! one whose failed contents play elsewhere is marked down, dead content ids
//! mark no engine down, and bad lists of engines are refused. Placement and
//! move times are printed (run with `--nocapture`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acebridge::engine_pool::EngineSpec;
use acebridge::UpstreamMode;
use common::{http, kit, Player, Proxy};
use kit::engine::{Fault, SimEngine};
use kit::wait::wait_until;

const SECOND: Duration = Duration::from_secs(1);
const FAILOVER_AFTER: Duration = Duration::from_secs(2);
/// What the simulated engine takes to start a session and deliver a keyframe.
const ONE_START: Duration = Duration::from_secs(1);
/// Headroom for scheduling on a busy 2-core machine (debug build).
const SLACK: Duration = Duration::from_millis(2500);
/// Bytes of the fixture stream per second, roughly (400 kbit/s).
const CLIP_BYTES_PER_SEC: usize = 50_000;

/// The `n`th content id of these tests: 40 hex digits.
fn id(n: usize) -> String {
    format!("{:040x}", 0xace0 + n)
}

async fn engines() -> [SimEngine; 3] {
    [
        SimEngine::start().await,
        SimEngine::start().await,
        SimEngine::start().await,
    ]
}

/// A proxy in front of `engines`, each taking at most `max` channels.
async fn pool_proxy(engines: &[SimEngine], max: Option<usize>) -> Proxy {
    pool_proxy_with(engines, max, UpstreamMode::Ts).await
}

/// The same, reading the engines' `upstream` (TS or HLS).
async fn pool_proxy_with(
    engines: &[SimEngine],
    max: Option<usize>,
    upstream: UpstreamMode,
) -> Proxy {
    let specs: Vec<EngineSpec> = engines
        .iter()
        .map(|engine| EngineSpec {
            url: url::Url::parse(&engine.url()).expect("url"),
            max_channels: max,
        })
        .collect();
    Proxy::start_with(&engines[0].url(), move |config| {
        config.engines = specs;
        config.channels.failover_after = FAILOVER_AFTER;
        config.channels.linger = Duration::from_secs(3);
        config.pool.health_interval = Duration::from_millis(250);
        config.channels.upstream = upstream;
    })
    .await
}

/// `url` with the trailing slash the proxy reports engines with.
fn reported(engine: &SimEngine) -> String {
    format!("{}/", engine.url())
}

/// The engine URL each channel of `/api/streams` plays on, by content id.
async fn placement(proxy: &Proxy) -> Vec<(String, String)> {
    proxy
        .streams()
        .await
        .iter()
        .map(|stream| {
            (
                stream["id"].as_str().unwrap_or_default().to_owned(),
                stream["engine_url"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The `engines` list of `/api/health`.
async fn health_engines(proxy: &Proxy) -> Vec<serde_json::Value> {
    proxy.json("/api/health").await["engines"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn engine_state(proxy: &Proxy, index: usize) -> String {
    health_engines(proxy).await[index]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sessions ever started for `id` on all of `engines`: one per content.
fn sessions_across(engines: &[SimEngine], id: &str) -> usize {
    engines
        .iter()
        .map(|engine| engine.sessions_started(id))
        .sum()
}

#[tokio::test]
async fn channels_spread_by_load_one_session_per_content_and_the_tenth_is_refused() {
    let engines = engines().await;
    let proxy = pool_proxy(&engines, Some(3)).await;
    let mut players = Vec::new();
    let mut first_bytes = Vec::new();
    for n in 0..6 {
        let asked = Instant::now();
        let mut player = Player::open(&proxy.stream_url(&id(n))).await;
        player.read_until(1, 10 * SECOND).await;
        first_bytes.push(asked.elapsed());
        players.push(player);
    }
    let on = placement(&proxy).await;
    for engine in &engines {
        let here = on
            .iter()
            .filter(|(_, url)| *url == reported(engine))
            .count();
        assert_eq!(here, 2, "6 channels are 2 on each engine: {on:?}");
        assert_eq!(engine.active_sessions(), 2);
    }
    for n in 6..9 {
        players.push(Player::open(&proxy.stream_url(&id(n))).await);
    }
    let asked = Instant::now();
    let refused = http()
        .get(proxy.stream_url(&id(9)))
        .send()
        .await
        .expect("request");
    let refused_in = asked.elapsed();
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "every engine is busy");
    for n in 0..9 {
        let id = id(n);
        assert_eq!(
            sessions_across(&engines, &id),
            1,
            "one session of {id} in the pool"
        );
        for engine in &engines {
            assert!(engine.peak_open_sessions(&id) <= 1);
        }
    }
    let views = health_engines(&proxy).await;
    assert!(views
        .iter()
        .all(|view| view["channels"] == 3 && view["max_channels"] == 3));
    let metrics = common::get_text(&proxy.url("/metrics")).await;
    assert!(
        metrics.contains(&format!(
            "acebridge_engine_channels{{engine=\"{}\"}} 3",
            reported(&engines[0])
        )),
        "{metrics}"
    );
    eprintln!("pool placement: first bytes of 6 channels {first_bytes:?}; the refused 10th answered in {refused_in:?}");
    drop(players);
    proxy.stop().await;
}

/// An HLS player polling the proxy's playlist for `id` and fetching every
/// new segment, until told to stop; counts failed requests and seams.
struct HlsPlayer {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    discontinuities: Arc<AtomicUsize>,
    segments: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HlsPlayer {
    fn start(proxy: &Proxy, id: &str) -> Self {
        let playlist_url = proxy.url(&format!("/ace/manifest.m3u8?id={id}"));
        let base = proxy.url("");
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicUsize::new(0));
        let discontinuities = Arc::new(AtomicUsize::new(0));
        let segments = Arc::new(AtomicUsize::new(0));
        let (s, f, d, g) = (
            stop.clone(),
            failures.clone(),
            discontinuities.clone(),
            segments.clone(),
        );
        let task = tokio::spawn(async move {
            let client = http();
            let mut fetched = std::collections::BTreeSet::new();
            while !s.load(Ordering::Relaxed) {
                let response = client.get(&playlist_url).send().await;
                let text = match response {
                    Ok(r) if r.status() == 200 => r.text().await.unwrap_or_default(),
                    _ => {
                        f.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let seams = text
                    .lines()
                    .filter(|l| *l == "#EXT-X-DISCONTINUITY")
                    .count();
                d.fetch_max(seams, Ordering::Relaxed);
                for uri in text
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.is_empty())
                {
                    if fetched.insert(uri.to_owned()) {
                        match client.get(format!("{base}{uri}")).send().await {
                            Ok(r) if r.status() == 200 => {
                                let _ = r.bytes().await;
                                g.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                f.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Self {
            stop,
            failures,
            discontinuities,
            segments,
            task,
        }
    }

    async fn finish(self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        (
            self.failures.load(Ordering::Relaxed),
            self.discontinuities.load(Ordering::Relaxed),
            self.segments.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test]
async fn a_killed_engines_channels_move_to_the_others_with_their_players_connected() {
    killed_engine_moves_its_channels(UpstreamMode::Ts).await;
}

#[tokio::test]
async fn with_an_hls_upstream_a_killed_engines_channels_move_with_their_players_connected() {
    killed_engine_moves_its_channels(UpstreamMode::Hls).await;
}

/// An engine is killed while 2 of 6 channels play on it, each with a TS and
/// an HLS player: both play again from other engines within `failover_after`
/// plus one start, no player's connection closes, ffmpeg decodes across.
async fn killed_engine_moves_its_channels(upstream: UpstreamMode) {
    let engines = engines().await;
    let proxy = pool_proxy_with(&engines, Some(3), upstream).await;
    let mut ts_players = Vec::new();
    for n in 0..6 {
        let mut player = Player::open(&proxy.stream_url(&id(n))).await;
        player.read_until(1, 10 * SECOND).await;
        ts_players.push(player);
    }
    let on = placement(&proxy).await;
    let victim = &engines[1];
    let moving: Vec<usize> = (0..6)
        .filter(|n| {
            on.iter()
                .any(|(i, url)| *i == id(*n) && *url == reported(victim))
        })
        .collect();
    assert_eq!(moving.len(), 2, "{on:?}");
    let hls: Vec<HlsPlayer> = moving
        .iter()
        .map(|n| HlsPlayer::start(&proxy, &id(*n)))
        .collect();
    // The HLS players are watching before the engine dies.
    wait_until(10 * SECOND, "HLS segments fetched", || async {
        hls.iter().all(|p| p.segments.load(Ordering::Relaxed) >= 1)
    })
    .await;
    let before: Vec<usize> = moving
        .iter()
        .map(|n| ts_players[*n].received.len())
        .collect();

    let killed = Instant::now();
    victim.set_down(true);
    // Kill to live again elsewhere, as the proxy sees it (polled every 20 ms).
    let live_elsewhere = async {
        let mut moved = vec![None; moving.len()];
        while moved.iter().any(Option::is_none) {
            let streams = proxy.streams().await;
            for (k, n) in moving.iter().enumerate() {
                let back = streams.iter().any(|stream| {
                    stream["id"] == id(*n)
                        && stream["engine_url"] != reported(victim).as_str()
                        && stream["state"] == "live"
                });
                if back && moved[k].is_none() {
                    moved[k] = Some(killed.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        moved.into_iter().flatten().collect::<Vec<_>>()
    };
    let live_again = tokio::time::timeout(FAILOVER_AFTER + ONE_START + SLACK, live_elsewhere)
        .await
        .expect("both channels live on other engines in time");
    let mut moved_in = Vec::new();
    let mut move_time = Duration::ZERO;
    let mut captures = Vec::new();
    for (k, n) in moving.iter().enumerate() {
        let player = &mut ts_players[*n];
        // Whatever was in flight when the engine died.
        let wanted = player.received.len().max(before[k]) + CLIP_BYTES_PER_SEC / 10;
        player
            .read_until(wanted, FAILOVER_AFTER + ONE_START + SLACK)
            .await;
        let on = placement(&proxy).await;
        let now_on = on
            .iter()
            .find(|(i, _)| *i == id(*n))
            .map(|(_, url)| url.clone());
        wait_until(
            FAILOVER_AFTER + ONE_START + SLACK,
            "the channel moved",
            || async {
                placement(&proxy)
                    .await
                    .iter()
                    .any(|(i, url)| *i == id(*n) && *url != reported(victim))
            },
        )
        .await;
        move_time = killed.elapsed();
        moved_in.push((move_time, now_on));
        let wanted = player.received.len() + 3 * CLIP_BYTES_PER_SEC;
        player
            .read_until(wanted, FAILOVER_AFTER + ONE_START + SLACK + 3 * SECOND)
            .await;
        // From the player's first byte, across the move, to now.
        captures.push(player.received.clone());
    }
    for (k, n) in moving.iter().enumerate() {
        let content = id(*n);
        let live: usize = engines
            .iter()
            .filter(|e| !std::ptr::eq(*e, victim))
            .map(|e| e.open_sessions(&content))
            .sum();
        assert_eq!(live, 1, "one session of {content} on the engines alive");
        for engine in &engines {
            assert!(engine.peak_open_sessions(&content) <= 1);
        }
        let bytes = kit::ts::whole_pes_prefix(&captures[k]);
        assert_eq!(kit::ts::count_sync_errors(&bytes), 0);
        if kit::ffmpeg::available() {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("moved.ts");
            std::fs::write(&path, &bytes).expect("write capture");
            // Errors fail; the timestamps starting over on the new engine's
            // session are only a warning, which players ride through.
            kit::ffmpeg::decode(&path.to_string_lossy(), 600)
                .await
                .unwrap_or_else(|error| panic!("across the move: {error}"));
        }
    }
    for player in hls {
        let (failures, seams, segments) = player.finish().await;
        assert_eq!(failures, 0, "an HLS request failed during the move");
        assert!(seams >= 1, "no discontinuity marked at the move");
        assert!(segments >= 2);
    }
    let views = health_engines(&proxy).await;
    assert_eq!(views[1]["state"], "down", "{views:?}");
    let metrics = common::get_text(&proxy.url("/metrics")).await;
    assert!(
        metrics.contains("acebridge_engine_moves_total{engine=\""),
        "{metrics}"
    );
    eprintln!(
        "pool move ({upstream:?} upstream): engine killed -> live on another engine after {live_again:?}; \
         TS players read again by {move_time:?} ({moved_in:?}); bound {:?} + slack",
        FAILOVER_AFTER + ONE_START
    );
    drop(ts_players);
    proxy.stop().await;
}

#[tokio::test]
async fn an_engine_that_comes_back_is_used_again_for_new_channels() {
    let engines = engines().await;
    let proxy = pool_proxy(&engines, None).await;
    engines[0].set_down(true);
    wait_until(10 * SECOND, "the first engine down", || async {
        engine_state(&proxy, 0).await == "down"
    })
    .await;
    let mut players = Vec::new();
    for n in 0..2 {
        players.push(Player::open(&proxy.stream_url(&id(n))).await);
    }
    let on = placement(&proxy).await;
    assert!(
        on.iter().all(|(_, url)| *url != reported(&engines[0])),
        "{on:?}"
    );
    engines[0].set_down(false);
    wait_until(10 * SECOND, "the first engine up again", || async {
        engine_state(&proxy, 0).await == "up"
    })
    .await;
    let mut back = Player::open(&proxy.stream_url(&id(2))).await;
    back.read_until(1, 10 * SECOND).await;
    let on = placement(&proxy).await;
    assert!(
        on.iter()
            .any(|(i, url)| *i == id(2) && *url == reported(&engines[0])),
        "the idle engine that came back takes the new channel: {on:?}"
    );
    drop((players, back));
    proxy.stop().await;
}

#[tokio::test]
async fn an_engine_that_answers_but_fails_every_start_is_marked_down_after_the_bound() {
    let engines = engines().await;
    engines[0].set_default_fault(Fault::EngineError("failed to load content".into()));
    let proxy = pool_proxy(&engines, None).await;
    let mut players = Vec::new();
    for n in 0..5 {
        // Each plays: a start that fails on the first engine moves on.
        let mut player = Player::open(&proxy.stream_url(&id(n))).await;
        player.read_until(1, 10 * SECOND).await;
        players.push(player);
    }
    let views = health_engines(&proxy).await;
    assert_eq!(views[0]["state"], "down", "{views:?}");
    assert!(
        views[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("failed to load content"),
        "{views:?}"
    );
    assert_eq!(
        engines[0].sessions_started_total(),
        0,
        "its starts failed, none opened a session"
    );
    let failures = common::get_text(&proxy.url("/metrics")).await;
    let line = format!(
        "acebridge_engine_start_failures_total{{engine=\"{}\"}} 3",
        reported(&engines[0])
    );
    assert!(
        failures.contains(&line),
        "down after 3 failed starts, no more tried: {failures}"
    );
    drop(players);
    proxy.stop().await;
}

/// The engine answers a dead content id as it would a broken engine
/// ("failed to load content"), and a channel of one id tries it on every
/// engine: such failures must not count against the engines, or a few dead
/// ids in a row mark a good pool down.
#[tokio::test]
async fn a_dead_content_id_does_not_mark_good_engines_down() {
    let engines = engines().await;
    let dead: Vec<String> = (100..104).map(id).collect();
    for engine in &engines {
        for id in &dead {
            engine.set_fault(id, Fault::EngineError("failed to load content".into()));
        }
    }
    let proxy = pool_proxy(&engines, None).await;
    for id in &dead {
        let (status, body) = common::get_json(&proxy.stream_url(id)).await;
        assert_eq!(status, 502, "{id}: {body}");
        assert_eq!(
            sessions_across(&engines, id),
            0,
            "{id} started nowhere (it is dead)"
        );
    }
    let views = health_engines(&proxy).await;
    assert!(
        views.iter().all(|view| view["state"] == "up"),
        "dead ids blamed the engines: {views:?}"
    );
    // Each dead id was tried on every engine.
    let metrics = common::get_text(&proxy.url("/metrics")).await;
    for engine in &engines {
        let line = format!(
            "acebridge_engine_start_failures_total{{engine=\"{}\"}} {}",
            reported(engine),
            dead.len()
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // Good channels are placed by load, one on each engine.
    let mut players = Vec::new();
    for n in 0..3 {
        let mut player = Player::open(&proxy.stream_url(&id(n))).await;
        player.read_until(1, 10 * SECOND).await;
        players.push(player);
    }
    for engine in &engines {
        assert_eq!(engine.active_sessions(), 1, "{:?}", placement(&proxy).await);
    }
    let views = health_engines(&proxy).await;
    assert!(views.iter().all(|view| view["state"] == "up"), "{views:?}");
    drop(players);
    proxy.stop().await;
}

#[tokio::test]
async fn bad_lists_of_engines_are_refused_with_the_reason() {
    let engines = engines().await;
    let proxy = pool_proxy(&engines, None).await;
    let put = |body: serde_json::Value| {
        let url = proxy.url("/api/settings");
        async move {
            let response = http().put(url).json(&body).send().await.expect("request");
            let status = response.status();
            let body: serde_json::Value = response.json().await.expect("json");
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
                body,
            )
        }
    };
    let (status, error, _) =
        put(serde_json::json!({"engines": ["http://127.0.0.1:1", "http://127.0.0.1:1/"]})).await;
    assert_eq!(status, 400);
    assert!(error.contains("listed twice"), "{error}");
    let (status, error, _) =
        put(serde_json::json!({"engines": [{"url": "ftp://engine", "max_channels": 2}]})).await;
    assert_eq!(status, 400);
    assert!(error.contains("http"), "{error}");
    let (status, error, _) =
        put(serde_json::json!({"engines": [{"url": "http://127.0.0.1:1", "max_channels": 0}]}))
            .await;
    assert_eq!(status, 400);
    assert!(error.contains("at least 1"), "{error}");
    let (status, error, _) = put(serde_json::json!({"engines": []})).await;
    assert_eq!(status, 400);
    assert!(error.contains("empty"), "{error}");
    let two = serde_json::json!({"engines": [engines[0].url(), {"url": engines[1].url(), "max_channels": 2}]});
    let (status, _, view) = put(two).await;
    assert_eq!(status, 200);
    assert_eq!(view["engines"].as_array().map(Vec::len), Some(2), "{view}");
    assert_eq!(view["engines"][1]["max_channels"], 2);
    assert_eq!(health_engines(&proxy).await.len(), 2);
    proxy.stop().await;
}
