//! The proxy as a separate process, for tests of what hostile engines and
//! clients cost it: the real `acebridge` binary (so its peak RSS is its own),
//! and a TS player of a healthy channel that measures the longest gap.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{http, kit};

/// The `acebridge` binary the tests run: this build's own, or the one
/// `ACEBRIDGE_TEST_BIN` names (a wrapper running the Windows `.exe` under
/// Wine, say: `scripts/test-windows`).
pub fn acebridge_bin() -> std::path::PathBuf {
    std::env::var_os("ACEBRIDGE_TEST_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_acebridge").into())
}

/// Whether the tests run another build of the binary (`ACEBRIDGE_TEST_BIN`).
pub fn external_binary() -> bool {
    std::env::var_os("ACEBRIDGE_TEST_BIN").is_some()
}

/// A path the binary reported, as this test process can open it: a Windows
/// build under Wine joins a folder it was given (a Unix path here) and a
/// file name with `\`.
pub fn local_path(reported: &str) -> std::path::PathBuf {
    if external_binary() {
        reported.replace('\\', "/").into()
    } else {
        reported.into()
    }
}

/// The `kill` flag of the signal service managers stop acebridge with:
/// SIGTERM, or under Wine SIGINT, which Wine turns into the Ctrl-C a Windows
/// console program stops on (Windows has no SIGTERM).
pub fn stop_signal() -> &'static str {
    if external_binary() {
        "-INT"
    } else {
        "-TERM"
    }
}

/// Spawns `acebridge serve` as `command` describes (logs on stderr, drained
/// for ever after) and returns it with the address it logged it listens on.
pub fn spawn_serving(command: &mut Command) -> (Child, String) {
    let mut child = command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn acebridge");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("addr=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    sent = tx.send(addr.to_owned()).is_ok();
                }
            }
        }
    });
    // Wine's first start in a fresh prefix is slow.
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("acebridge logged no listening line");
    (child, addr)
}
/// The proxy's peak RSS must stay under this against a hostile engine. It
/// idles at ~13 MiB (debug build); one HLS segment is bounded at 16 MiB, and
/// reading it may briefly hold twice that.
pub const PEAK_RSS_BOUND_KIB: u64 = 64 * 1024;
/// Longest a player of another channel may go without data (chunks come
/// every 400 ms at the simulated engine's bitrate).
pub const MAX_GAP: Duration = Duration::from_secs(1);

/// The `acebridge serve` binary, killed on drop.
pub struct ProxyProcess {
    child: Child,
    addr: String,
    settings: std::path::PathBuf,
    /// Added to RSS bounds: see [`ProxyProcess::assert_peak_rss_under`].
    wine_allowance_kib: u64,
}

impl ProxyProcess {
    pub fn start(engine: &str) -> Self {
        Self::start_on(engine, "127.0.0.1:0")
    }

    /// Listening on `listen` (e.g. `0.0.0.0:0` for LAN sharing).
    pub fn start_on(engine: &str, listen: &str) -> Self {
        Self::start_with(engine, listen, &[])
    }

    /// With extra `serve` flags (e.g. `--upstream hls`).
    pub fn start_with(engine: &str, listen: &str, flags: &[&str]) -> Self {
        let settings =
            std::env::temp_dir().join(format!("acebridge-hostile-{}.toml", uuid::Uuid::new_v4()));
        let mut command = Command::new(acebridge_bin());
        command
            .args(["serve", "--listen", listen, "--engine", engine])
            // A linger longer than the start timeout: an HLS channel whose first
            // segment never comes times out (504) before it idles out.
            .args(["--start-timeout", "10", "--linger", "10"])
            // HDHomeRun discovery's fixed port is the tuner tests' business.
            .args(["--discovery-port", "0"])
            .args(flags)
            .arg("--settings")
            .arg(&settings);
        let (child, addr) = spawn_serving(&mut command);
        let mut proxy = Self {
            child,
            addr,
            settings,
            wine_allowance_kib: 0,
        };
        if external_binary() {
            proxy.wine_allowance_kib = proxy.peak_rss_kib();
        }
        proxy
    }

    /// Its process id, for reading its `/proc` entries.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The settings file it was started with (a temp file, removed on drop).
    pub fn settings_path(&self) -> &std::path::Path {
        &self.settings
    }

    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("port")
    }

    /// A URL on this computer's address (whatever the proxy listens on).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port(), path)
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proxy status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Asserts [`PEAK_RSS_BOUND_KIB`] and reports the figure.
    pub fn assert_peak_rss(&self, what: &str) {
        self.assert_peak_rss_under(what, PEAK_RSS_BOUND_KIB);
    }

    /// Asserts the peak RSS is under `bound_kib` and reports the figure.
    /// Under Wine the bound is raised by what the process held once it
    /// listened: Wine's own libraries (~80 MiB), not acebridge's.
    pub fn assert_peak_rss_under(&self, what: &str, bound_kib: u64) {
        let peak = self.peak_rss_kib();
        let bound_kib = bound_kib + self.wine_allowance_kib;
        eprintln!("{what}: proxy peak RSS {:.1} MiB", peak as f64 / 1024.0);
        assert!(
            peak < bound_kib,
            "{what}: proxy peak RSS {peak} KiB, bound {bound_kib} KiB"
        );
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.settings);
    }
}

/// A TS player of a healthy channel that records the longest gap between chunks.
pub struct GapWatcher {
    longest_ms: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl GapWatcher {
    /// Opens the stream and waits for its first data, so start-up is not a gap.
    pub async fn start(url: String) -> Self {
        let mut response = http().get(&url).send().await.expect("open stream");
        assert_eq!(response.status(), 200, "healthy channel");
        tokio::time::timeout(Duration::from_secs(15), response.chunk())
            .await
            .expect("first data of the healthy channel")
            .expect("read")
            .expect("data");
        let longest_ms = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (longest, total) = (longest_ms.clone(), bytes.clone());
        let task = tokio::spawn(async move {
            let mut last = Instant::now();
            while let Ok(Some(chunk)) = response.chunk().await {
                let gap = last.elapsed().as_millis() as u64;
                longest.fetch_max(gap, Ordering::Relaxed);
                total.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                last = Instant::now();
            }
        });
        Self {
            longest_ms,
            bytes,
            task,
        }
    }

    /// An HLS player of `url` (a playlist) asking every 100 ms: with the
    /// engine's HLS upstream a TS player gets data once per segment, so the
    /// proxy's responsiveness to another channel is measured on its playlist.
    pub async fn start_hls(url: String) -> Self {
        let first = http().get(&url).send().await.expect("playlist");
        assert_eq!(first.status(), 200, "healthy channel");
        let longest_ms = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (longest, total) = (longest_ms.clone(), bytes.clone());
        let task = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                let Ok(response) = http().get(&url).send().await else {
                    return;
                };
                let Ok(body) = response.bytes().await else {
                    return;
                };
                longest.fetch_max(last.elapsed().as_millis() as u64, Ordering::Relaxed);
                total.fetch_add(body.len() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                last = Instant::now();
            }
        });
        Self {
            longest_ms,
            bytes,
            task,
        }
    }

    /// Asserts the stream kept flowing with no gap over [`MAX_GAP`].
    pub async fn assert_no_gap(self, what: &str) {
        self.assert_no_gap_over(what, MAX_GAP).await;
    }

    /// Asserts the stream kept flowing with no gap over `bound`.
    pub async fn assert_no_gap_over(self, what: &str, bound: Duration) {
        let before = self.bytes.load(Ordering::Relaxed);
        // One more chunk must arrive: the stream did not die quietly.
        kit::wait::wait_until(
            Duration::from_secs(3),
            "the healthy stream goes on",
            || async { self.bytes.load(Ordering::Relaxed) > before },
        )
        .await;
        self.task.abort();
        let longest = Duration::from_millis(self.longest_ms.load(Ordering::Relaxed));
        eprintln!("{what}: longest gap on the other channel {longest:?}");
        assert!(
            longest <= bound,
            "{what}: the other channel's player saw a {longest:?} gap"
        );
    }
}
