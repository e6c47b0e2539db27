//! How soon players start: on a cold channel (nobody plays it; the engine
//! session starts with the request) a TS and an HLS client open the same
//! channel at the same moment, so both wait for the same engine session; on a
//! playing channel (a TS player has watched it for a while, no HLS viewer
//! yet) they open it again. Measured with the proxy's own probes (the TS
//! player's first byte; the HLS player's playlist and whole first segment)
//! and with real players: ffmpeg (first decoded frame), mpv (first frame
//! shown, `--frames=1`) and VLC (first picture written by its scene filter),
//! each skipped if it is not installed. VLC refuses to run as root, so as
//! root it runs as `nobody`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::{measure, players, start_engine, start_lingering_proxy, ChildGuard, Cli};

/// Longest a player may take to its first picture before it counts as failed.
const GIVE_UP: Duration = Duration::from_secs(30);
/// How long the playing channel plays before the players open it.
const PLAYING_FOR: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ffmpeg,
    Mpv,
    Vlc,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Ffmpeg => "ffmpeg",
            Tool::Mpv => "mpv",
            Tool::Vlc => "vlc",
        }
    }

    fn program(self) -> &'static str {
        match self {
            Tool::Ffmpeg => "ffmpeg",
            Tool::Mpv => "mpv",
            Tool::Vlc => "cvlc",
        }
    }

    fn installed(self) -> bool {
        which(self.program()).is_some()
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// One proxy under test: this build's, or `--before`'s.
struct Proxy {
    name: &'static str,
    addr: SocketAddr,
    _child: ChildGuard,
}

pub async fn run(cli: &Cli) -> ExitCode {
    let rounds = cli.cold.unwrap_or(1).max(1);
    let engine = start_engine(cli.bitrate).await;
    let mut proxies = Vec::new();
    for (name, exe) in [("after", None), ("before", cli.before.as_deref())] {
        if name == "before" && exe.is_none() {
            continue;
        }
        let (child, addr) = match start_lingering_proxy(exe, &engine.url()).await {
            Ok(started) => started,
            Err(error) => {
                eprintln!("the {name} proxy: {error}");
                return ExitCode::FAILURE;
            }
        };
        proxies.push(Proxy {
            name,
            addr,
            _child: child,
        });
    }
    let tools: Vec<Tool> = [Tool::Ffmpeg, Tool::Mpv, Tool::Vlc]
        .into_iter()
        .filter(|tool| tool.installed())
        .collect();
    println!(
        "first picture, {rounds} rounds, median (min-max) seconds from opening; cold: nobody played the channel"
    );
    println!(
        "{:>7} {:>8} {:>7} | {:>18} {:>18} {:>18}",
        "proxy", "channel", "client", "TS", "HLS", "HLS - TS"
    );
    let mut next_id = 0xc01d_0000u64;
    for proxy in &proxies {
        for playing in [false, true] {
            let mut probes = Pairs::default();
            let mut by_tool: Vec<Pairs> = tools.iter().map(|_| Pairs::default()).collect();
            for _ in 0..rounds {
                // The probes share a cold channel; each player gets one of its own.
                next_id += 1;
                let id = format!("{next_id:040x}");
                let warm = warm_up(proxy.addr, &id, playing).await;
                probes.push(probe_pair(proxy.addr, &id).await);
                drop(warm);
                for (tool, pairs) in tools.iter().zip(&mut by_tool) {
                    next_id += 1;
                    let id = format!("{next_id:040x}");
                    let warm = warm_up(proxy.addr, &id, playing).await;
                    pairs.push(tool_pair(*tool, proxy.addr, &id).await);
                    drop(warm);
                }
            }
            let channel = if playing { "playing" } else { "cold" };
            probes.print(proxy.name, channel, "probe");
            for (tool, pairs) in tools.iter().zip(&by_tool) {
                pairs.print(proxy.name, channel, tool.name());
            }
        }
    }
    ExitCode::SUCCESS
}

/// For a playing channel: a TS player that has watched it for a while; it
/// leaves when the returned guard is dropped.
async fn warm_up(addr: SocketAddr, id: &str, playing: bool) -> Option<AbortOnDrop> {
    if !playing {
        return None;
    }
    let task = tokio::spawn(players::play(
        addr,
        format!("/ace/getstream?id={id}"),
        Arc::new(AtomicU64::new(0)),
    ));
    tokio::time::sleep(PLAYING_FOR).await;
    Some(AbortOnDrop(task))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn urls(addr: SocketAddr, id: &str) -> (String, String) {
    (
        format!("http://{addr}/ace/getstream?id={id}"),
        format!("http://{addr}/ace/manifest.m3u8?id={id}"),
    )
}

/// TS and HLS times of one round, in seconds; `None` if that client failed.
type Pair = (Option<f64>, Option<f64>);

async fn probe_pair(addr: SocketAddr, id: &str) -> Pair {
    let base = format!("http://{addr}");
    let (ts_path, hls_path) = (
        format!("/ace/getstream?id={id}"),
        format!("/ace/manifest.m3u8?id={id}"),
    );
    let (ts, hls) = tokio::join!(
        players::time_to_first_byte(addr, &ts_path),
        players::hls_first_segment(&base, &hls_path)
    );
    (
        ts.ok().map(|t| t.as_secs_f64()),
        hls.map(|t| t.as_secs_f64()),
    )
}

async fn tool_pair(tool: Tool, addr: SocketAddr, id: &str) -> Pair {
    let (ts_url, hls_url) = urls(addr, id);
    let (ts, hls) = tokio::join!(first_picture(tool, &ts_url), first_picture(tool, &hls_url));
    (ts, hls)
}

/// Seconds from starting `tool` on `url` to its first picture.
async fn first_picture(tool: Tool, url: &str) -> Option<f64> {
    let started = Instant::now();
    let shots = tempfile_dir().ok()?;
    let mut command = match tool {
        Tool::Ffmpeg => {
            let mut command = Command::new("ffmpeg");
            command.args([
                "-nostdin",
                "-v",
                "error",
                "-i",
                url,
                "-frames:v",
                "1",
                "-f",
                "null",
                "-",
            ]);
            command
        }
        Tool::Mpv => {
            let mut command = Command::new("mpv");
            command.args([
                "--no-config",
                "--really-quiet",
                "--vo=null",
                "--ao=null",
                "--frames=1",
                url,
            ]);
            command
        }
        Tool::Vlc => {
            let path = format!("--scene-path={}", shots.display());
            let vlc = [
                "cvlc",
                "-I",
                "dummy",
                "--no-audio",
                "--vout=dummy",
                "--video-filter=scene",
                "--scene-format=png",
                "--scene-ratio=1",
                "--scene-prefix=f",
                &path,
                url,
            ];
            let root = running_as_root();
            let mut command = if root {
                // setpriv execs VLC in its own place, so the kill below
                // reaches VLC; runuser stayed its parent, and a killed
                // runuser left every VLC playing on.
                let mut command = Command::new("setpriv");
                command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
                command
            } else {
                Command::new(vlc[0])
            };
            command.args(if root { &vlc[..] } else { &vlc[1..] });
            command
        }
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let deadline = started + GIVE_UP;
    let result = loop {
        if Instant::now() > deadline {
            break None;
        }
        if tool == Tool::Vlc {
            let shot = std::fs::read_dir(&shots)
                .ok()
                .is_some_and(|mut dir| dir.next().is_some());
            if shot {
                break Some(started.elapsed().as_secs_f64());
            }
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() && tool != Tool::Vlc => {
                break Some(started.elapsed().as_secs_f64())
            }
            Ok(Some(_)) | Err(_) => break None,
            Ok(None) => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&shots);
    result
}

/// Whether this process runs as root (VLC refuses to, so it runs as `nobody`).
#[cfg(unix)]
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// No root to avoid off Unix.
#[cfg(not(unix))]
fn running_as_root() -> bool {
    false
}

/// A fresh directory every user can write to (VLC may run as `nobody`).
fn tempfile_dir() -> std::io::Result<PathBuf> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("acebridge-bench-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    }
    Ok(dir)
}

/// The rounds of one client kind.
#[derive(Default)]
struct Pairs(Vec<Pair>);

impl Pairs {
    fn push(&mut self, pair: Pair) {
        self.0.push(pair);
    }

    fn print(&self, proxy: &str, channel: &str, client: &str) {
        let ts: Vec<f64> = self.0.iter().filter_map(|p| p.0).collect();
        let hls: Vec<f64> = self.0.iter().filter_map(|p| p.1).collect();
        let gap: Vec<f64> = self.0.iter().filter_map(|p| Some(p.1? - p.0?)).collect();
        println!(
            "{proxy:>7} {channel:>8} {client:>7} | {:>18} {:>18} {:>18}",
            summary(&ts, self.0.len()),
            summary(&hls, self.0.len()),
            summary(&gap, self.0.len())
        );
    }
}

/// `median (min-max)`, and how many rounds failed.
fn summary(values: &[f64], rounds: usize) -> String {
    let micros: Vec<i64> = values.iter().map(|v| (v * 1e6) as i64).collect();
    let of = |q| measure::quantile(&micros, q).map_or(f64::NAN, |v| v as f64 / 1e6);
    let mut text = if values.is_empty() {
        "-".to_owned()
    } else {
        format!("{:.2} ({:.2}-{:.2})", of(0.5), of(0.0), of(1.0))
    };
    if values.len() < rounds {
        text.push_str(&format!(" {}!", rounds - values.len()));
    }
    text
}
