//! The engine on demand, with the simulated engine BINARY as the engine
//! command: a player's request starts a cold engine, a killed engine is
//! restarted under a watching player, quit stops only the engine acebridge
//! started, bad commands fail clearly without a retry storm, the idle stop
//! of a pool's managed engine counts only its own channels, and no test
//! leaves a zombie behind.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acebridge::engine_pool::EngineSpec;
use acebridge::engine_process::{ProcessTimeouts, MAX_ATTEMPTS};
use common::{
    engine_answers as answers, free_port, http, kit, sim_engine, Player, Proxy, ID_A, ID_B,
};
use kit::wait::wait_until;
use serde_json::{json, Value};

/// A port nobody listens on now (the engine acebridge starts binds it).
/// The simulated engine's command line for `port`.
fn sim_command(port: u16) -> Vec<String> {
    vec![
        sim_engine().display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ]
}

/// A temp dir for the settings file (the engine log goes next to it).
fn settings_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acebridge-engine-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A proxy that starts the engine at `port` with `command` on demand.
async fn managed_proxy(port: u16, command: Vec<String>, dir: &std::path::Path) -> Proxy {
    let settings = dir.join("settings.toml");
    Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        config.engine_command = Some(command);
        config.settings_path = Some(settings);
        config.channels.start_timeout = Duration::from_secs(30);
    })
    .await
}

/// A pool of the engine acebridge manages on `port` (no limit), then `other`
/// with `other_max` channels at most.
fn managed_then(
    port: u16,
    other: &kit::engine::SimEngine,
    other_max: Option<usize>,
) -> Vec<EngineSpec> {
    let spec = |url: &str, max_channels| EngineSpec {
        url: url::Url::parse(url).expect("url"),
        max_channels,
    };
    vec![
        spec(&format!("http://127.0.0.1:{port}"), None),
        spec(&other.url(), other_max),
    ]
}

async fn process(proxy: &Proxy) -> Value {
    proxy.json("/api/health").await["engine"]["process"].clone()
}

async fn post(proxy: &Proxy, path: &str) -> (u16, Value) {
    let response = http()
        .post(proxy.url(path))
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Children of this test process that are zombies (exited, never waited for).
fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|ppid| ppid.parse::<u32>().ok());
            state == Some("Z") && ppid == Some(me)
        })
        .collect()
}

/// Fails unless every child this process had was waited for (tests run in
/// parallel, so a child reaped a moment later is waited for, bounded).
async fn assert_no_zombies() {
    wait_until(Duration::from_secs(10), "no zombie children", || async {
        zombie_children().is_empty()
    })
    .await;
}

/// Reads at least `more` bytes beyond what `player` has, within `deadline`.
#[tokio::test]
async fn a_player_starts_a_cold_engine_and_plays() {
    let port = free_port();
    let dir = settings_dir();
    let proxy = managed_proxy(port, sim_command(port), &dir).await;
    let before = process(&proxy).await;
    assert_eq!(before["state"], "stopped", "{before}");
    assert_eq!(before["attempts"], 0);
    assert!(
        !answers(port).await,
        "no engine runs before the player asks"
    );

    let asked = Instant::now();
    let mut response = http()
        .get(proxy.stream_url(ID_A))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let first = response
        .chunk()
        .await
        .expect("read")
        .expect("a first chunk");
    let first_byte = asked.elapsed();
    assert!(!first.is_empty());
    println!("cold engine: start to first byte {first_byte:?}");

    let status = process(&proxy).await;
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["started_by_acebridge"], true);
    assert_eq!(status["attempts"], 1);
    let log = std::fs::read_to_string(dir.join("engine.log")).expect("engine.log");
    assert!(log.contains("acebridge starts the engine"), "{log}");

    // For comparison: another channel on the engine that now runs.
    let asked = Instant::now();
    let mut warm = http()
        .get(proxy.stream_url(ID_B))
        .send()
        .await
        .expect("request");
    assert_eq!(warm.status(), 200);
    warm.chunk().await.expect("read").expect("a first chunk");
    println!("warm engine: start to first byte {:?}", asked.elapsed());
    assert_eq!(process(&proxy).await["attempts"], 1, "no second start");

    let pid = status["pid"].as_u64().expect("pid") as u32;
    drop((response, warm));
    proxy.stop().await;
    assert!(!pid_alive(pid), "quit stops the engine acebridge started");
    assert!(!answers(port).await);
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn players_see_starting_engine_and_share_one_start() {
    let port = free_port();
    let dir = settings_dir();
    // The engine takes a few seconds to come up, as a real one does: long
    // enough that a loaded machine still sees it starting (with one second,
    // the engine was up before the checks below ran under a load of 14).
    let command = vec![
        "sh".into(),
        "-c".into(),
        "sleep 3 && exec \"$0\" --listen \"$1\"".into(),
        sim_engine().display().to_string(),
        format!("127.0.0.1:{port}"),
    ];
    let proxy = managed_proxy(port, command, &dir).await;
    let (url_a, url_b) = (proxy.stream_url(ID_A), proxy.stream_url(ID_B));
    let a = tokio::spawn(async move { Player::open(&url_a).await });
    let b = tokio::spawn(async move { Player::open(&url_b).await });
    wait_until(
        Duration::from_secs(5),
        "both channels starting the engine",
        || async {
            let streams = proxy.streams().await;
            streams.len() == 2
                && streams
                    .iter()
                    .all(|stream| stream["state"] == "starting engine")
        },
    )
    .await;
    assert_eq!(process(&proxy).await["state"], "starting");
    let (mut a, mut b) = (a.await.expect("player a"), b.await.expect("player b"));
    a.read_until(1000, Duration::from_secs(20)).await;
    b.read_until(1000, Duration::from_secs(20)).await;
    let status = process(&proxy).await;
    assert_eq!(
        status["attempts"], 1,
        "one start for both channels: {status}"
    );
    assert!(proxy
        .streams()
        .await
        .iter()
        .all(|stream| stream["state"] == "live"));
    drop((a, b));
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_engine_killed_under_a_player_is_restarted_and_the_player_resumes() {
    let port = free_port();
    let dir = settings_dir();
    let proxy = managed_proxy(port, sim_command(port), &dir).await;
    let player = Player::open(&proxy.stream_url(ID_A)).await;
    // The player reads all the time, as a real one does: what it received
    // after the restart cannot have been buffered before the kill.
    let received = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let (received, ended) = (Arc::clone(&received), Arc::clone(&ended));
        let mut response = player.response;
        async move {
            while let Ok(Some(bytes)) = response.chunk().await {
                received.fetch_add(bytes.len(), Ordering::Relaxed);
            }
            ended.store(true, Ordering::Relaxed);
        }
    });
    wait_until(Duration::from_secs(20), "the player plays", || async {
        received.load(Ordering::Relaxed) > 20_000
    })
    .await;
    let first = process(&proxy).await;
    let pid = first["pid"].as_u64().expect("pid");

    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let at_kill = Instant::now();
    wait_until(Duration::from_secs(30), "a new engine answers", || async {
        let status = process(&proxy).await;
        status["state"] == "running" && status["pid"].is_u64() && status["pid"] != first["pid"]
    })
    .await;
    let before = received.load(Ordering::Relaxed);
    wait_until(Duration::from_secs(30), "the player resumes", || async {
        received.load(Ordering::Relaxed) >= before + 50_000
    })
    .await;
    println!(
        "player resumed: 50 kB from the new engine {:?} after the kill",
        at_kill.elapsed()
    );
    assert!(
        !ended.load(Ordering::Relaxed),
        "the player's stream never ended"
    );

    let status = process(&proxy).await;
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["restarts"], 1, "{status}");
    assert_eq!(status["attempts"], 2, "{status}");
    assert_ne!(status["pid"], first["pid"], "a new engine process");
    assert!(!pid_alive(pid as u32), "the killed engine was reaped");
    reader.abort();
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn quit_leaves_alone_an_engine_acebridge_did_not_start() {
    let port = free_port();
    let dir = settings_dir();
    let mut theirs: Child = Command::new(sim_engine())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a simulated engine");
    wait_until(Duration::from_secs(10), "their engine answers", || {
        answers(port)
    })
    .await;

    let proxy = managed_proxy(port, sim_command(port), &dir).await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(1000, Duration::from_secs(20)).await;
    let status = process(&proxy).await;
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["started_by_acebridge"], false);
    assert_eq!(status["attempts"], 0, "nothing was spawned");

    let (code, body) = post(&proxy, "/api/engine/stop").await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not start")),
        "{body}"
    );
    let (code, body) = post(&proxy, "/api/engine/start").await;
    assert_eq!(
        code, 200,
        "start of an engine that answers is a no-op: {body}"
    );
    assert_eq!(body["started_by_acebridge"], false);

    drop(player);
    proxy.stop().await;
    assert!(
        theirs.try_wait().expect("try_wait").is_none(),
        "their engine survives acebridge's quit"
    );
    assert!(answers(port).await);
    theirs.kill().expect("kill");
    theirs.wait().expect("wait");
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_api_starts_and_stops_the_engine_acebridge_started() {
    let port = free_port();
    let dir = settings_dir();
    let proxy = managed_proxy(port, sim_command(port), &dir).await;
    let (code, body) = post(&proxy, "/api/engine/start").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["state"], "running");
    assert_eq!(body["started_by_acebridge"], true);
    let pid = body["pid"].as_u64().expect("pid") as u32;

    // Same guards as other state changes: JSON only.
    let form = http()
        .post(proxy.url("/api/engine/stop"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("post");
    assert_eq!(form.status(), 400);
    assert!(answers(port).await);

    let (code, body) = post(&proxy, "/api/engine/stop").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["state"], "stopped", "{body}");
    assert!(!pid_alive(pid));
    // A stop by the user holds: a player gets a clear error, no start.
    let (code, body) = common::get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("stopped in acebridge")),
        "{body}"
    );
    assert_eq!(process(&proxy).await["attempts"], 1);
    let (code, _) = post(&proxy, "/api/engine/stop").await;
    assert_eq!(code, 409, "nothing of ours runs");
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

/// Hammers the proxy with players for a few seconds against a command that
/// cannot start an engine; returns the process status after.
async fn hammer_failing_command(command: Vec<String>, dir: &std::path::Path) -> Value {
    let port = free_port();
    let proxy = managed_proxy(port, command, dir).await;
    let (code, body) = common::get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(code, 502, "{body}");
    let first_error = body["error"].as_str().unwrap_or_default().to_owned();
    let until = Instant::now() + Duration::from_secs(4);
    let mut requests = 1;
    while Instant::now() < until {
        let (code, body) = common::get_json(&proxy.stream_url(ID_A)).await;
        assert_eq!(code, 502, "{body}");
        assert!(body["error"].is_string(), "{body}");
        requests += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = process(&proxy).await;
    let attempts = status["attempts"].as_u64().unwrap_or(u64::MAX);
    println!("{requests} requests, {attempts} engine starts tried: {first_error}");
    assert!(
        (1..=u64::from(MAX_ATTEMPTS)).contains(&attempts),
        "bounded attempts: {status}"
    );
    assert_eq!(status["state"], "failed", "{status}");
    let (code, body) = post(&proxy, "/api/engine/start").await;
    assert_eq!(code, 502, "an explicit start reports the failure: {body}");
    proxy.stop().await;
    let mut status = status;
    status["first_error"] = first_error.into();
    status
}

#[tokio::test]
async fn a_command_that_does_not_exist_fails_clearly_without_a_retry_storm() {
    let dir = settings_dir();
    let status = hammer_failing_command(vec!["/nonexistent/acestreamengine".into()], &dir).await;
    let error = status["first_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot run the engine command")
            && error.contains("/nonexistent/acestreamengine"),
        "{status}"
    );
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_command_that_exits_at_once_fails_clearly_without_a_retry_storm() {
    let dir = settings_dir();
    let command = vec![sim_engine().display().to_string(), "--no-such-flag".into()];
    let status = hammer_failing_command(command, &dir).await;
    let error = status["first_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("exited (exit status 2) before the engine answered"),
        "{status}"
    );
    let log = std::fs::read_to_string(dir.join("engine.log")).expect("engine.log");
    assert!(
        log.contains("--no-such-flag"),
        "the engine's own error is in its log: {log}"
    );
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_engine_is_stopped_after_the_idle_time_and_started_again_on_demand() {
    let port = free_port();
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let command = sim_command(port);
    let proxy = Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        config.engine_command = Some(command);
        config.settings_path = Some(settings);
        config.engine_idle_stop = Some(Duration::from_secs(1));
        config.channels.linger = Duration::from_millis(500);
    })
    .await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(1000, Duration::from_secs(20)).await;
    let pid = process(&proxy).await["pid"].as_u64().expect("pid") as u32;
    drop(player);
    wait_until(
        Duration::from_secs(10),
        "engine stopped after the idle time",
        || async { process(&proxy).await["state"] == "stopped" },
    )
    .await;
    assert!(!pid_alive(pid));
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(1000, Duration::from_secs(20)).await;
    assert_eq!(
        process(&proxy).await["attempts"],
        2,
        "an idle stop does not hold"
    );
    drop(player);
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

/// In a pool, the managed engine (the first on this machine, started on
/// demand) idles once no channel of its own plays: channels on the pool's
/// other engines do not keep it running.
#[tokio::test]
async fn the_managed_engine_of_a_pool_is_stopped_when_idle_while_other_engines_play() {
    let port = free_port();
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let command = sim_command(port);
    let other = kit::engine::SimEngine::start().await;
    let specs = managed_then(port, &other, None);
    let proxy = Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        config.engines = specs;
        config.engine_command = Some(command);
        config.settings_path = Some(settings);
        config.engine_idle_stop = Some(Duration::from_secs(1));
        config.channels.linger = Duration::from_millis(500);
        config.pool.health_interval = Duration::from_millis(250);
    })
    .await;
    let engine_state = |index: usize| {
        let proxy = &proxy;
        async move { proxy.json("/api/health").await["engines"][index]["state"].clone() }
    };
    // With the other engine down, the first channel goes to the managed
    // engine, which starts for it.
    other.set_down(true);
    wait_until(Duration::from_secs(10), "the other engine down", || async {
        engine_state(1).await == "down"
    })
    .await;
    let mut own = Player::open(&proxy.stream_url(ID_A)).await;
    own.read_until(1000, Duration::from_secs(20)).await;
    assert_eq!(process(&proxy).await["state"], "running");
    let pid = process(&proxy).await["pid"].as_u64().expect("pid") as u32;
    other.set_down(false);
    wait_until(Duration::from_secs(10), "the other engine up", || async {
        engine_state(1).await == "up"
    })
    .await;
    let mut elsewhere = Player::open(&proxy.stream_url(ID_B)).await;
    elsewhere.read_until(1000, Duration::from_secs(20)).await;
    assert_eq!(
        other.open_sessions(ID_B),
        1,
        "the second channel is on the other engine"
    );
    drop(own);
    wait_until(
        Duration::from_secs(10),
        "the managed engine stopped after its idle time, the other engine playing on",
        || async { process(&proxy).await["state"] == "stopped" },
    )
    .await;
    assert!(!pid_alive(pid));
    let more = elsewhere.received.len() + 1000;
    elsewhere.read_until(more, Duration::from_secs(10)).await;
    drop(elsewhere);
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

/// A pool of the managed engine (stopped, so down) and another one that is
/// full: a new channel got 503 "every engine is busy" instead of starting
/// the managed engine.
#[tokio::test]
async fn a_full_pool_starts_its_stopped_managed_engine_instead_of_refusing() {
    let port = free_port();
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let command = sim_command(port);
    let other = kit::engine::SimEngine::start().await;
    let specs = managed_then(port, &other, Some(1));
    let proxy = Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        config.engines = specs;
        config.engine_command = Some(command);
        config.settings_path = Some(settings);
        config.pool.health_interval = Duration::from_millis(250);
    })
    .await;
    wait_until(
        Duration::from_secs(10),
        "the stopped managed engine down",
        || async { proxy.json("/api/health").await["engines"][0]["state"] == "down" },
    )
    .await;
    // The engine that runs takes the first channel...
    let mut first = Player::open(&proxy.stream_url(ID_A)).await;
    first.read_until(1000, Duration::from_secs(20)).await;
    assert_eq!(
        other.open_sessions(ID_A),
        1,
        "the first channel on the running engine"
    );
    assert_eq!(process(&proxy).await["state"], "stopped");
    // ...and, full, leaves the next to the managed engine, started for it.
    let mut second = Player::open(&proxy.stream_url(ID_B)).await;
    second.read_until(1000, Duration::from_secs(20)).await;
    assert_eq!(process(&proxy).await["state"], "running");
    assert_eq!(
        other.open_sessions(ID_B),
        0,
        "the second channel on the managed engine"
    );
    drop((first, second));
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_engine_command_set_through_the_settings_api_is_used_and_saved() {
    let port = free_port();
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let file = settings.clone();
    let proxy = Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        config.settings_path = Some(file);
    })
    .await;
    assert_eq!(process(&proxy).await["state"], "not managed");
    let (code, body) = common::get_json(&proxy.stream_url(ID_A)).await;
    assert_eq!(code, 502, "no command, no start: {body}");
    assert_eq!(process(&proxy).await["attempts"], 0);

    let put = |body: Value| {
        let url = proxy.url("/api/settings");
        async move {
            let response = http().put(url).json(&body).send().await.expect("put");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (code, body) = put(json!({"engine_command": [""]})).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = put(json!({"engine_command": sim_command(port)})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["engine_command"], json!(sim_command(port)));
    let saved = std::fs::read_to_string(&settings).expect("settings file");
    assert!(saved.contains("engine_command = ["), "{saved}");

    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(1000, Duration::from_secs(20)).await;
    assert_eq!(process(&proxy).await["started_by_acebridge"], true);
    drop(player);

    let (code, body) = put(json!({"engine_command": []})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["engine_command"], Value::Null);
    proxy.stop().await;
    assert!(
        !answers(port).await,
        "the engine it started is stopped at quit"
    );
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

/// `acebridge serve` as users run it; returns the child and the address it logged.
fn serve(
    dir: &std::path::Path,
    port: u16,
    args: &[&str],
    env_command: Option<&str>,
) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new(common::process::acebridge_bin());
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(["--engine", &format!("127.0.0.1:{port}")])
        .arg("--settings")
        .arg(dir.join("settings.toml"))
        .args(args)
        .env_remove("ACEBRIDGE_ENGINE_COMMAND")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(text) = env_command {
        command.env("ACEBRIDGE_ENGINE_COMMAND", text);
    }
    let mut child = command.spawn().expect("spawn acebridge");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("acebridge logged no listening line");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    // Keep draining stderr so acebridge never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, addr)
}

/// SIGTERM, then the exit status (bounded).
async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "acebridge did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn headless_serve_starts_the_engine_only_with_an_engine_command() {
    let port = free_port();
    let dir = settings_dir();

    let (child, addr) = serve(&dir, port, &[], None);
    let health: Value = http()
        .get(format!("http://{addr}/api/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(
        health["engine"]["process"]["state"], "not managed",
        "{health}"
    );
    let (code, _) = common::get_json(&format!("http://{addr}/ace/getstream?id={ID_A}")).await;
    assert_eq!(code, 502);
    assert!(!answers(port).await, "off by default: nothing was started");
    assert!(terminate(child).await.success());

    // The env var, quoted as in a shell.
    let text = format!("\"{}\" --listen 127.0.0.1:{port}", sim_engine().display());
    let (child, addr) = serve(&dir, port, &[], Some(&text));
    let mut player = Player::open(&format!("http://{addr}/ace/getstream?id={ID_A}")).await;
    player.read_until(1000, Duration::from_secs(20)).await;
    assert!(answers(port).await);
    drop(player);
    assert!(terminate(child).await.success());
    assert!(
        !answers(port).await,
        "quit stopped the engine acebridge started"
    );
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_engine_command_with_unbalanced_quotes_is_refused_at_start() {
    let output = Command::new(common::process::acebridge_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--engine-command",
            "acestreamengine \"--client",
        ])
        .env(
            "ACEBRIDGE_SETTINGS",
            std::env::temp_dir().join(format!("acebridge-{}.toml", uuid::Uuid::new_v4())),
        )
        .output()
        .expect("run acebridge");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid engine command") && stderr.contains("unbalanced quotes"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_zombie_check_sees_a_child_nobody_waited_for() {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    wait_until(
        Duration::from_secs(10),
        "an unwaited child shows as a zombie",
        || async { zombie_children().contains(&pid) },
    )
    .await;
    child.wait().expect("wait");
    assert!(!zombie_children().contains(&pid));
}

#[tokio::test]
async fn the_tray_control_starts_and_stops_the_engine() {
    use acebridge::engine_process::{ProcessError, ProcessState};
    let port = free_port();
    let dir = settings_dir();
    let proxy = managed_proxy(port, sim_command(port), &dir).await;
    let control = proxy.control();
    assert_eq!(control.engine_process().await.state, ProcessState::Stopped);
    control.ensure_engine().await.expect("ensure at launch");
    let status = control.engine_process().await;
    assert_eq!(status.state, ProcessState::Running);
    assert!(status.started_by_acebridge);
    assert_eq!(status.attempts, 1);
    let started = control.start_engine().await.expect("start");
    assert_eq!(started.attempts, 1, "already running: no second start");
    let stopped = control.stop_engine().await.expect("stop");
    assert_eq!(stopped.state, ProcessState::Stopped);
    assert!(!stopped.started_by_acebridge);
    assert_eq!(control.stop_engine().await, Err(ProcessError::NotOurs));
    assert!(
        control.ensure_engine().await.is_err(),
        "a user's stop holds"
    );
    let again = control.start_engine().await.expect("start again");
    assert_eq!(again.state, ProcessState::Running);
    assert_eq!(again.attempts, 2);
    proxy.stop().await;
    assert!(!answers(port).await);
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_engine_that_never_answers_and_ignores_sigterm_is_killed() {
    let port = free_port();
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let proxy = Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        // Never answers, and ignores SIGTERM (the ignored signal survives exec).
        config.engine_command = Some(vec![
            "sh".into(),
            "-c".into(),
            "trap '' TERM; exec sleep 600".into(),
        ]);
        config.settings_path = Some(settings);
        config.engine_timeouts = ProcessTimeouts {
            ready: Duration::from_secs(1),
            stop_grace: Duration::from_secs(1),
        };
    })
    .await;
    let url = proxy.stream_url(ID_A);
    let player = tokio::spawn(async move { common::get_json(&url).await });
    let pid = std::sync::atomic::AtomicU32::new(0);
    wait_until(
        Duration::from_secs(5),
        "the engine process is spawned",
        || async {
            let found = process(&proxy).await["pid"].as_u64().unwrap_or(0) as u32;
            pid.store(found, Ordering::Relaxed);
            found != 0
        },
    )
    .await;
    let pid = pid.load(Ordering::Relaxed);
    let (code, body) = player.await.expect("player");
    assert_eq!(code, 502, "{body}");
    assert!(
        body["error"].as_str().is_some_and(
            |e| e.contains("did not answer within 1s of starting; acebridge stopped it")
        ),
        "{body}"
    );
    wait_until(Duration::from_secs(10), "the engine was killed", || async {
        !pid_alive(pid)
    })
    .await;
    assert_eq!(process(&proxy).await["state"], "failed");
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_hls_player_starts_a_cold_engine_with_an_hls_upstream() {
    let port = free_port();
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let command = sim_command(port);
    let proxy = Proxy::start_with(&format!("http://127.0.0.1:{port}"), move |config| {
        config.engine_command = Some(command);
        config.settings_path = Some(settings);
        config.channels.upstream = acebridge::UpstreamMode::Hls;
    })
    .await;
    let response = http()
        .get(proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}")))
        .send()
        .await
        .expect("manifest");
    assert_eq!(response.status(), 200);
    let playlist = response.text().await.expect("playlist");
    assert!(playlist.contains("#EXTINF"), "{playlist}");
    let status = process(&proxy).await;
    assert_eq!(status["started_by_acebridge"], true, "{status}");
    assert_eq!(status["attempts"], 1);
    proxy.stop().await;
    assert!(!answers(port).await);
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_engine_that_keeps_dying_is_restarted_a_bounded_number_of_times() {
    let port = free_port();
    let dir = settings_dir();
    // Answers, then dies two seconds after each start.
    let command = vec![
        "sh".into(),
        "-c".into(),
        "\"$0\" --listen \"$1\" & engine=$!; sleep 2; kill -9 $engine; wait".into(),
        sim_engine().display().to_string(),
        format!("127.0.0.1:{port}"),
    ];
    let proxy = managed_proxy(port, command, &dir).await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    player.read_until(1000, Duration::from_secs(20)).await;
    wait_until(Duration::from_secs(30), "acebridge gives up", || async {
        process(&proxy).await["state"] == "failed"
    })
    .await;
    let status = process(&proxy).await;
    assert_eq!(status["attempts"], u64::from(MAX_ATTEMPTS), "{status}");
    assert_eq!(status["restarts"], u64::from(MAX_ATTEMPTS) - 1, "{status}");
    assert!(
        status["error"]
            .as_str()
            .is_some_and(|e| e.contains("exited unexpectedly")),
        "{status}"
    );
    // The player's stream ends once its channel gives up; nothing more is spawned.
    player.read_to_end(Duration::from_secs(60)).await;
    assert_eq!(process(&proxy).await["attempts"], u64::from(MAX_ATTEMPTS));
    proxy.stop().await;
    assert_no_zombies().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn another_device_cannot_set_the_engine_command_even_with_the_token() {
    let dir = settings_dir();
    let settings = dir.join("settings.toml");
    let proxy = Proxy::start_with("http://127.0.0.1:9", move |config| {
        config.trust_loopback = false; // this client plays a LAN device
        config.settings_path = Some(settings);
    })
    .await;
    let token = proxy
        .control()
        .settings()
        .await
        .lan_token
        .expect("LAN token");
    let put = |body: Value| {
        let url = proxy.url(&format!("/api/settings?token={token}"));
        async move {
            let response = http().put(url).json(&body).send().await.expect("put");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (code, body) = put(json!({"engine_command": ["/bin/sh", "-c", "id"]})).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            // The LAN guard refuses management from other devices before the
            // handler's own check does; either way nothing is set.
            .is_some_and(|e| e.contains("only possible from this computer")),
        "{body}"
    );
    assert_eq!(
        proxy.control().engine_process().await.command,
        None,
        "nothing was set"
    );
    assert!(proxy.control().settings().await.engine_command.is_empty());
    // Management as a whole is this computer's (see the README's Security).
    let (code, body) = put(json!({"engine": "http://127.0.0.1:6878"})).await;
    assert_eq!(code, 403, "{body}");
    proxy.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
