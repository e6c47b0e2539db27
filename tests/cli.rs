//! The headless CLI as users run it: the real `acebridge` binary, its flags,
//! env vars, logs, and a clean stop on SIGTERM that stops engine sessions.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{kit, Player, ID_A};
use kit::engine::SimEngine;

/// A running `acebridge serve` and the address it logged.
struct Cli {
    child: Child,
    addr: String,
    /// The log lines up to the listening line.
    startup: Vec<String>,
    log: std::sync::mpsc::Receiver<String>,
}

impl Cli {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let settings =
            std::env::temp_dir().join(format!("acebridge-cli-{}.toml", uuid::Uuid::new_v4()));
        let mut command = Command::new(common::process::acebridge_bin());
        command
            .arg("serve")
            .arg("--settings")
            .arg(&settings)
            .args(args)
            .args(
                ["--listen", "127.0.0.1:0"]
                    .iter()
                    .filter(|_| !args.contains(&"--listen")),
            )
            .env_remove("ACEBRIDGE_ENGINE")
            .env_remove("ACEBRIDGE_LISTEN")
            .env_remove("ACEBRIDGE_LINGER")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (key, value) in envs {
            command.env(key, value);
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
        let mut startup = Vec::new();
        let addr = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("acebridge logged no listening line");
            startup.push(line.clone());
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        Self {
            child,
            addr,
            startup,
            log: rx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM (Ctrl-C under Wine) and waits for the exit status.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        Command::new("kill")
            .args([common::process::stop_signal(), &self.child.id().to_string()])
            .status()
            .expect("kill");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Every line: the reader thread ends at the closed pipe.
                let log = self.log.iter().collect();
                return (status, log);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "acebridge did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn help_explains_every_flag() {
    let output = Command::new(common::process::acebridge_bin())
        .args(["serve", "--help"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--engine",
        "--listen",
        "--linger",
        "--start-timeout",
        "--upstream",
        "ACEBRIDGE_ENGINE",
        "ACEBRIDGE_LISTEN",
        "ACEBRIDGE_LINGER",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn bad_engine_url_is_a_clear_error_and_exit_code_2() {
    let output = Command::new(common::process::acebridge_bin())
        .args([
            "serve",
            "--engine",
            "ftp://nowhere",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid engine URL"));
}

#[tokio::test]
async fn env_var_picks_the_engine_and_sigterm_stops_sessions() {
    let engine = SimEngine::start().await;
    let cli = Cli::start(&[], &[("ACEBRIDGE_ENGINE", &engine.url())]);
    let health: serde_json::Value = common::http()
        .get(cli.url("/api/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["engine"]["version"], "3.2.3");

    let mut player = Player::open(&cli.url(&format!("/ace/getstream?id={ID_A}"))).await;
    player.read_until(10_000, Duration::from_secs(10)).await;
    let (status, log) = tokio::task::spawn_blocking(move || cli.terminate())
        .await
        .expect("join");
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        engine.active_sessions(),
        0,
        "SIGTERM must stop every engine session"
    );
    let log = log.join("\n");
    for line in [
        "player joined",
        "channel starting",
        "engine session stopped",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
}

#[tokio::test]
async fn flag_beats_env_var() {
    let engine = SimEngine::start().await;
    let cli = Cli::start(
        &["--engine", &engine.url()],
        &[("ACEBRIDGE_ENGINE", "http://127.0.0.1:9")],
    );
    let health: serde_json::Value = common::http()
        .get(cli.url("/api/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["engine"]["reachable"], true, "{health}");
    let (status, _) = tokio::task::spawn_blocking(move || cli.terminate())
        .await
        .expect("join");
    assert!(status.success());
}

#[tokio::test]
async fn listen_accepts_localhost_and_the_log_names_the_web_ui() {
    let engine = SimEngine::start().await;
    let cli = Cli::start(&["--engine", &engine.url(), "--listen", "localhost:0"], &[]);
    assert!(cli.addr.starts_with("127.0.0.1:"), "{}", cli.addr);
    let web_ui = format!("web UI at http://{}/", cli.addr);
    assert!(
        cli.startup.iter().any(|line| line.contains(&web_ui)),
        "no {web_ui:?} in {:?}",
        cli.startup
    );
    let (status, _) = tokio::task::spawn_blocking(move || cli.terminate())
        .await
        .expect("join");
    assert!(status.success());
}

/// Regression: a second `acebridge serve` on the port of a running one said
/// only "Address already in use" (issue 16).
#[tokio::test]
async fn port_taken_by_acebridge_points_at_the_running_one() {
    let engine = SimEngine::start().await;
    let running = Cli::start(&["--engine", &engine.url()], &[]);
    let addr = running.addr.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(common::process::acebridge_bin())
            .args(["serve", "--listen", &addr, "--engine", "http://127.0.0.1:9"])
            .env(
                "ACEBRIDGE_SETTINGS",
                std::env::temp_dir().join(format!("acebridge-cli-{}.toml", uuid::Uuid::new_v4())),
            )
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "acebridge is already running on port {}",
        running.addr.rsplit(':').next().unwrap_or_default()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains(&format!("http://{}/", running.addr)),
        "{stderr}"
    );
    assert!(!stderr.contains("Address already in use"), "{stderr}");
}

#[test]
fn port_taken_by_another_program_offers_a_free_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let output = Command::new(common::process::acebridge_bin())
        .args(["serve", "--listen", &addr, "--engine", "http://127.0.0.1:9"])
        .env(
            "ACEBRIDGE_SETTINGS",
            std::env::temp_dir().join(format!("acebridge-cli-{}.toml", uuid::Uuid::new_v4())),
        )
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not answer as acebridge"), "{stderr}");
    assert!(stderr.contains("--listen 127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains('`'), "{stderr}");
}

#[tokio::test]
async fn sigterm_finishes_a_running_recordings_file() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let recordings = dir.path().to_str().expect("utf-8").to_owned();
    let cli = Cli::start(
        &["--engine", &engine.url(), "--recordings-dir", &recordings],
        &[],
    );
    let response = common::http()
        .post(cli.url("/api/recordings"))
        .json(&serde_json::json!({ "channel": ID_A }))
        .send()
        .await
        .expect("record");
    assert_eq!(response.status(), 201);
    let recording: serde_json::Value = response.json().await.expect("json");
    let file = common::process::local_path(recording["file"].as_str().expect("file"));
    assert!(
        file.starts_with(dir.path()),
        "--recordings-dir: {}",
        file.display()
    );
    kit::wait::wait_until_sync(Duration::from_secs(20), "the recording has data", || {
        std::fs::metadata(&file).is_ok_and(|meta| meta.len() > 200_000)
    })
    .await;
    let (status, log) = tokio::task::spawn_blocking(move || cli.terminate())
        .await
        .expect("join");
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(engine.active_sessions(), 0);
    assert!(
        log.iter()
            .any(|line| line.contains("recording ended") && line.contains("state=Finished")),
        "finished as asked, before its channel stopped: {log:?}"
    );
    let bytes = std::fs::read(&file).expect("the file stays");
    assert_eq!(bytes.len() % 188, 0, "whole packets only");
    if kit::ffmpeg::available() {
        kit::ffmpeg::decode_without_warnings(file.to_str().expect("utf-8"))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
    }
}
