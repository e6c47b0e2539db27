//! The headless desktop the tray app's tests run it in: an X server (Xvfb),
//! a private D-Bus session bus and a throwaway home per test, plus helpers
//! to launch the app and watch its processes.
//!
//! Needs `Xvfb`, `dbus-daemon`, `xclip` and `xdotool`; without them tests are skipped, unless
//! `ACEBRIDGE_REQUIRE_DESKTOP=1` (set by `scripts/test`) makes that a failure.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use acebridge_testkit::engine::SimEngine;
use acebridge_testkit::wait::wait_until;

pub const APP: &str = env!("CARGO_BIN_EXE_acebridge-desktop");
pub const ID: &str = "0123456789abcdef0123456789abcdef01234567";
pub const LINKED: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// Kills its process when dropped, so a failing test leaves nothing running.
pub struct Reaped(pub Child);

impl Reaped {
    /// Sends SIGTERM, as a logout does; the app must quit cleanly.
    pub fn terminate_cleanly(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let status = exit_within(&mut self.0, Duration::from_secs(20)).expect("SIGTERM quits");
        assert!(status.success(), "exit on SIGTERM: {status}");
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless desktop session: X server, session bus, home directory.
pub struct Desktop {
    pub home: tempfile::TempDir,
    pub display: String,
    pub bus: String,
    _x: Reaped,
    _dbus: Reaped,
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Desktop {
    /// Starts one, or `None` (after saying why) when the tools are missing.
    pub fn start() -> Option<Self> {
        let missing: Vec<_> = ["Xvfb", "dbus-daemon", "xclip", "xdotool"]
            .into_iter()
            .filter(|program| !have(program))
            .collect();
        if !missing.is_empty() {
            acebridge_testkit::skip::missing_tools(
                "ACEBRIDGE_REQUIRE_DESKTOP",
                "the desktop test",
                &format!("{missing:?}"),
            );
            return None;
        }
        let home = tempfile::tempdir().expect("temp home");
        for dir in [".config", ".local/share", ".cache", "run"] {
            std::fs::create_dir_all(home.path().join(dir)).expect("dir");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                home.path().join("run"),
                std::fs::Permissions::from_mode(0o700),
            )
            .expect("chmod");
        }
        let (x, display) = start_xvfb();
        let (dbus, bus) = start_bus(home.path());
        Some(Self {
            home,
            display,
            bus,
            _x: x,
            _dbus: dbus,
        })
    }

    /// The app as a user would start it in this session.
    pub fn app(&self, engine: &SimEngine, port: u16, args: &[&str]) -> Command {
        let home = self.home.path();
        let mut command = Command::new(APP);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            // WebKitGTK headless: no accessibility bus to wait for, no GPU paths.
            .env("NO_AT_BRIDGE", "1")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("ACEBRIDGE_ENGINE", engine.url())
            .env("ACEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("ACEBRIDGE_LINGER", "30")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    /// Starts the app (killed when the result is dropped).
    pub fn launch(&self, engine: &SimEngine, port: u16, args: &[&str]) -> Reaped {
        Reaped(self.app(engine, port, args).spawn().expect("start the app"))
    }

    /// Starts the app and waits until its proxy answers on `port` (up to a
    /// minute: a cold debug build starts slowly).
    pub async fn launch_serving(&self, engine: &SimEngine, port: u16, args: &[&str]) -> Reaped {
        let app = self.launch(engine, port, args);
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/api/streams");
        wait_until(
            Duration::from_secs(60),
            "the app's proxy answers",
            || async { get_json(&http, &url).await.is_some() },
        )
        .await;
        app
    }

    pub fn settings_file(&self) -> PathBuf {
        self.home.path().join(".config/acebridge/settings.toml")
    }
}

/// Xvfb on a display number it picks itself (`-displayfd`), so tests running
/// at once never share a server; returns once it accepts connections.
/// `-noreset`: by default the server resets when its last client leaves, and
/// an app launched during that reset fails to open the display (seen in CI:
/// "Failed to initialize GTK" right after the previous app of a test quit).
fn start_xvfb() -> (Reaped, String) {
    let mut xvfb = Command::new("Xvfb");
    xvfb.args([
        "-noreset",
        "-displayfd",
        "1",
        "-screen",
        "0",
        "1280x800x24",
        "-nolisten",
        "tcp",
    ]);
    // Xvfb writes the display number once it is ready.
    let (x, number) = spawn_and_read_line(xvfb, "Xvfb");
    let number: u32 = number.parse().expect("Xvfb printed its display number");
    (x, format!(":{number}"))
}

/// A private session bus, so single instance (D-Bus names) is this test's own.
fn start_bus(dir: &Path) -> (Reaped, String) {
    let address = format!("unix:path={}", dir.join("bus").display());
    let mut daemon = Command::new("dbus-daemon");
    daemon
        .args(["--session", "--nofork", "--print-address=1"])
        .arg(format!("--address={address}"));
    // The daemon prints its address once it accepts connections.
    let (bus, line) = spawn_and_read_line(daemon, "dbus-daemon");
    assert!(line.starts_with("unix:"), "dbus-daemon said {line:?}");
    (bus, line)
}

/// Starts a server that announces readiness on stdout; returns it and that first line.
fn spawn_and_read_line(mut command: Command, name: &str) -> (Reaped, String) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("start {name}: {error}"));
    let mut server = Reaped(child);
    let stdout = server.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|error| panic!("read {name}'s first line: {error}"));
    (server, line.trim().to_owned())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// Waits (bounded) for a process to exit.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let response = http.get(url).send().await.ok()?;
    response.json().await.ok()
}

/// `pid` and its descendants (WebKit runs the page in child processes).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = Vec::new();
    let mut pending = vec![pid];
    while let Some(pid) = pending.pop() {
        tree.push(pid);
        // Children are listed per thread that started them.
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pending.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    tree
}

/// Resident memory of the app with its WebKit processes, in KiB.
pub fn tree_rss_kib(pid: u32) -> u64 {
    process_tree(pid)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))?;
            line.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Whether the app has a web view (a window): WebKit starts its web process for it.
pub fn has_webview(pid: u32) -> bool {
    process_tree(pid).into_iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|name| name.starts_with("WebKitWebProces"))
    })
}

impl Desktop {
    /// Focuses the visible window titled `title`, if there is one, and
    /// presses `key` in it, as a user answering a dialog does (Return: the
    /// first button; Escape: cancel). Callers check the effect, not this
    /// call: a dialog that closes on the key press makes the key release fail.
    pub fn press_in_window(&self, title: &str, key: &str) {
        let search = ["search", "--onlyvisible", "--name", title];
        self.xdotool(&[&search[..], &["windowfocus", "--sync", "key", key]].concat());
    }

    /// Whether a visible window's title matches the regular expression `title`.
    pub fn window_visible(&self, title: &str) -> bool {
        self.xdotool(&["search", "--onlyvisible", "--name", title])
    }

    /// Answers the dialog titled `title` with `key` until `done` holds (the
    /// app acted on the answer). A press is sent only while the dialog shows,
    /// and again only if it still shows a while later: a press sent before
    /// the dialog takes input is lost, and a stream of presses would land
    /// in whatever window comes next. Panics with `what` after
    /// [`DIALOG_PATIENCE`].
    pub async fn answer_dialog<F, Fut>(&self, title: &str, key: &str, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let answer = async {
            let mut pressed: Option<Instant> = None;
            while !done().await {
                let due = pressed.is_none_or(|at| at.elapsed() >= PRESS_AGAIN_AFTER);
                if due && self.window_visible(title) {
                    self.press_in_window(title, key);
                    pressed = Some(Instant::now());
                }
                tokio::time::sleep(LOOK_EVERY).await;
            }
        };
        if tokio::time::timeout(DIALOG_PATIENCE, answer).await.is_err() {
            panic!("timed out after {DIALOG_PATIENCE:?} waiting for: {what}");
        }
    }

    fn xdotool(&self, args: &[&str]) -> bool {
        let child = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            return false;
        };
        // A focus request that never completes must not stall the test.
        let mut child = Reaped(child);
        exit_within(&mut child.0, XDOTOOL_LIMIT).is_some_and(|status| status.success())
    }
}

/// How long the app, a debug build on a machine loaded with other builds,
/// may take to show a dialog and to act on its answer: the tests check what
/// it does, not how fast.
pub const DIALOG_PATIENCE: Duration = Duration::from_secs(180);
/// See [`Desktop::answer_dialog`].
const PRESS_AGAIN_AFTER: Duration = Duration::from_secs(2);
/// How often [`Desktop::answer_dialog`] looks at the dialog and the app.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// The longest one `xdotool` call may take.
const XDOTOOL_LIMIT: Duration = Duration::from_secs(10);

/// TCP sockets in the LISTEN state that process `pid` holds: a proxy it runs.
pub fn listening_sockets(pid: u32) -> usize {
    let listening_inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    // st (4th column) 0A is LISTEN; the inode is the 10th column.
                    (fields.get(3) == Some(&"0A")).then(|| fields.get(9).map(|s| s.to_string()))?
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .to_owned();
            Some(inode)
        })
        .filter(|inode| listening_inodes.contains(inode))
        .count()
}

/// A fake player `name` in `dir` that writes its arguments, one a line, to
/// the returned file and exits; put `dir` first on the app's `PATH`.
#[cfg(unix)]
pub fn fake_player(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("player dir");
    let program = dir.join(name);
    let args = dir.join(format!("{name}.args"));
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}.tmp' && mv '{}.tmp' '{}'\n",
        args.display(),
        args.display(),
        args.display()
    );
    std::fs::write(&program, script).expect("write the fake player");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    args
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("PATH")
}
