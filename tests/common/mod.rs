//! Shared by the integration tests: runs the real acebridge server in-process on
//! a real socket (port 0) against a simulated engine, and reads from it like a player.
#![allow(dead_code, unused_imports)] // each test binary uses a different part of this module

use std::net::SocketAddr;
use std::time::Duration;

use acebridge::config::Config;
use acebridge::Server;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use acebridge_testkit as kit;

pub mod floods;
pub mod players;
pub mod process;

/// Channel ids used across tests: 40 hex characters.
pub const ID_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const ID_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const ID_C: &str = "cccccccccccccccccccccccccccccccccccccccc";

/// A running proxy; stops (and waits for a clean shutdown) on [`Proxy::stop`].
///
/// In-process by default; with `ACEBRIDGE_TEST_BIN` set, the binary it names
/// runs with the same tuned [`Config`] (see `acebridge::config::test_hook`),
/// so the tests that only speak HTTP to it drive that build, such as the
/// Windows `.exe` under Wine.
pub struct Proxy {
    pub addr: SocketAddr,
    running: Running,
}

enum Running {
    InProcess {
        /// The in-process handle the tray app uses.
        control: acebridge::control::Control,
        shutdown: Option<oneshot::Sender<()>>,
        task: JoinHandle<std::io::Result<()>>,
    },
    External(std::process::Child),
}

impl Proxy {
    /// A proxy in front of `engine_url` with short test timings, adjusted by `tune`.
    pub async fn start_with(engine_url: &str, tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_adjusted(engine_url, tune, |server| server).await
    }

    /// [`Proxy::start_with`], with the bound server changed by `adjust` as
    /// an embedding app would (the tray app installs its player launcher).
    pub async fn start_adjusted(
        engine_url: &str,
        tune: impl FnOnce(&mut Config),
        adjust: impl FnOnce(Server) -> Server,
    ) -> Self {
        let engine = url::Url::parse(engine_url).expect("engine url");
        let mut config = Config::new(engine, SocketAddr::from(([127, 0, 0, 1], 0)));
        config.channels.linger = Duration::from_secs(2);
        config.channels.start_timeout = Duration::from_secs(10);
        config.channels.upstream_idle_timeout = Duration::from_secs(5);
        config.channels.stat_interval = Duration::from_millis(500);
        tune(&mut config);
        if process::external_binary() {
            return Self::start_external(&config);
        }
        let server = adjust(Server::bind(config).await.expect("bind"));
        let addr = server.local_addr().expect("addr");
        let control = server.control().expect("control");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            running: Running::InProcess {
                control,
                shutdown: Some(tx),
                task,
            },
        }
    }

    fn start_external(config: &Config) -> Self {
        use acebridge::config::test_hook;
        let mut command = std::process::Command::new(process::acebridge_bin());
        command
            .arg("serve")
            .env(test_hook::TEST_CONFIG_ENV, test_hook::to_json(config));
        let (child, addr) = process::spawn_serving(&mut command);
        Self {
            addr: addr.parse().expect("listening address"),
            running: Running::External(child),
        }
    }

    pub async fn start(engine_url: &str) -> Self {
        Self::start_with(engine_url, |_| {}).await
    }

    /// The in-process handle the tray app uses; tests that need it cannot
    /// run against another build of the binary (`scripts/test-windows` skips them).
    pub fn control(&self) -> &acebridge::control::Control {
        match &self.running {
            Running::InProcess { control, .. } => control,
            Running::External(_) => panic!("this test needs the in-process proxy's Control"),
        }
    }

    /// A proxy in front of `engine_url` keeping its settings in the file at `settings`.
    pub async fn with_settings(engine_url: &str, settings: &std::path::Path) -> Self {
        let settings = settings.to_owned();
        Self::start_with(engine_url, move |config| {
            config.settings_path = Some(settings);
        })
        .await
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub fn stream_url(&self, id: &str) -> String {
        self.url(&format!("/ace/getstream?id={id}"))
    }

    /// Shuts the proxy down and waits until it has stopped (bounded). Another
    /// build of the binary gets its platform's stop signal ([`process::stop_signal`]).
    pub async fn stop(mut self) {
        match &mut self.running {
            Running::InProcess { shutdown, task, .. } => {
                if let Some(tx) = shutdown.take() {
                    let _ = tx.send(());
                }
                tokio::time::timeout(Duration::from_secs(15), task)
                    .await
                    .expect("proxy did not shut down in time")
                    .expect("proxy task panicked")
                    .expect("proxy failed");
            }
            Running::External(child) => {
                let signalled = std::process::Command::new("kill")
                    .args([process::stop_signal(), &child.id().to_string()])
                    .status()
                    .expect("kill");
                assert!(signalled.success(), "kill failed");
                let started = std::time::Instant::now();
                while child.try_wait().expect("try_wait").is_none() {
                    assert!(
                        started.elapsed() < Duration::from_secs(15),
                        "proxy did not shut down in time"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// `GET` a JSON document.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        http()
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// The entries of `/api/streams`.
    pub async fn streams(&self) -> Vec<serde_json::Value> {
        self.json("/api/streams").await["streams"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// A player: an open response whose body is read on demand.
pub struct Player {
    pub response: reqwest::Response,
    pub received: Vec<u8>,
}

impl Player {
    /// Opens `url` and expects `200 video/mp2t`.
    pub async fn open(url: &str) -> Self {
        let response = http().get(url).send().await.expect("open stream");
        assert_eq!(response.status(), 200, "stream status for {url}");
        assert_eq!(
            response.headers()["content-type"],
            "video/mp2t",
            "content type for {url}"
        );
        Self {
            response,
            received: Vec::new(),
        }
    }

    /// Reads until at least `total` bytes were received, failing after `deadline`.
    pub async fn read_until(&mut self, total: usize, deadline: Duration) {
        let read = async {
            while self.received.len() < total {
                match self.response.chunk().await {
                    Ok(Some(bytes)) => self.received.extend_from_slice(&bytes),
                    Ok(None) => panic!("stream ended after {} bytes", self.received.len()),
                    Err(err) => panic!("stream failed after {} bytes: {err}", self.received.len()),
                }
            }
        };
        tokio::time::timeout(deadline, read)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "received only {} of {total} bytes within {deadline:?}",
                    self.received.len()
                )
            });
    }

    /// Reads to the end of the stream, failing after `deadline`; returns the byte count.
    pub async fn read_to_end(&mut self, deadline: Duration) -> usize {
        let read = async {
            while let Ok(Some(bytes)) = self.response.chunk().await {
                self.received.extend_from_slice(&bytes);
            }
        };
        tokio::time::timeout(deadline, read)
            .await
            .expect("stream did not end in time");
        self.received.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Running::External(child) = &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP port free on 127.0.0.1 just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// Whether the engine at `port` answers its version call.
pub async fn engine_answers(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/webui/api/service?method=get_version");
    matches!(http().get(url).send().await, Ok(response) if response.status().is_success())
}

/// `GET url`, expecting 200: the body as text.
pub async fn get_text(url: &str) -> String {
    let response = http().get(url).send().await.expect("request");
    assert_eq!(response.status(), 200, "{url}");
    response.text().await.expect("text body")
}

/// The LAN token a server sharing on the LAN saved in its settings file.
pub fn lan_token(settings: &std::path::Path) -> String {
    let text = std::fs::read_to_string(settings).expect("settings file");
    text.lines()
        .find_map(|line| line.strip_prefix("lan_token = "))
        .map(|value| value.trim_matches('"').to_owned())
        .expect("token saved")
}

/// `GET url` and return status and JSON body (the error shape every route shares).
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = http().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// A player that connects, asks for a stream, and never reads: its socket
/// buffers are kept tiny so it stalls the sooner.
pub struct StalledPlayer {
    _stream: tokio::net::TcpStream,
}

impl StalledPlayer {
    pub async fn connect(addr: SocketAddr, path: &str) -> std::io::Result<Self> {
        use tokio::io::AsyncWriteExt;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(4096)?;
        let mut stream = socket.connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        Ok(Self { _stream: stream })
    }
}

/// The simulated engine binary of the testkit. `cargo test --workspace`
/// builds it next to this test's own directory; a run of this test alone
/// builds it first (the testkit is another package, so no
/// `CARGO_BIN_EXE_` names it).
pub fn sim_engine() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("ACEBRIDGE_SIM_ENGINE") {
            return std::path::PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("test executable");
        // target/<profile>/deps/<this test> -> target/<profile>/acebridge-sim-engine
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target dir");
        let bin = dir.join(format!(
            "acebridge-sim-engine{}",
            std::env::consts::EXE_SUFFIX
        ));
        if !bin.exists() {
            let status = std::process::Command::new(env!("CARGO"))
                .args([
                    "build",
                    "-p",
                    "acebridge-testkit",
                    "--bin",
                    "acebridge-sim-engine",
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build for the simulated engine");
            assert!(
                status.success(),
                "cargo build of acebridge-sim-engine failed"
            );
        }
        assert!(bin.exists(), "no simulated engine at {}", bin.display());
        bin
    })
    .clone()
}
