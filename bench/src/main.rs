//! `acebridge-bench`: how cheaply the proxy fans one channel out to many
//! players, measured against a reference copier in the same run.
//!
//! For each player count it starts the simulated engine at the chosen bitrate,
//! runs the proxy (or the copier) as a child process, attaches N players plus
//! one stalled player, and reports the child's CPU seconds per GB delivered,
//! peak RSS, per-player bitrate, joiner time to first byte, and engine sessions.
//! The copier runs twice: as is (the reference), and `batched`, gathering the
//! upstream into the proxy's chunk sizes: what moving the bytes costs at all.
//! The proxy runs three times: N TS players (`proxy`), N HLS viewers polling
//! the playlist and fetching segments at their natural pace (`hls`), and half
//! of each on one channel (`mixed`). With `--before` an earlier build's proxy
//! runs beside this one's (`before`, `before-hls`), so one run compares them.
//! `--channels` measures many channels at once, `--cold` how soon a player's
//! first picture comes on a channel nobody plays (see [`first_picture`]).
//! The same binary is the child: hidden `proxy` and `copier` subcommands.

mod channels;
mod copier;
mod first_picture;
mod measure;
mod players;
mod proxy_exe;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acebridge_testkit::engine::{SimEngine, SimOptions};
use clap::{Parser, Subcommand};

const CHANNEL: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Debug, Parser)]
#[command(
    name = "acebridge-bench",
    about = "Fan-out benchmark: proxy vs reference copier"
)]
struct Cli {
    /// Player counts to run, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "10,50,200")]
    players: Vec<usize>,
    /// Seconds each measurement runs
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Stream bitrate in bits per second
    #[arg(long, default_value_t = 3_000_000)]
    bitrate: u64,
    /// Sequential joins on the warm channel for time to first byte
    #[arg(long, default_value_t = 50)]
    joins: usize,
    /// Each proxy run also records the channel to a file (its bytes count as
    /// delivered): run with and without to see what a recording costs
    #[arg(long)]
    record: bool,
    /// CI mode: assert only what cannot be flaky (all players got data, one engine session)
    #[arg(long)]
    check: bool,
    /// Instead of the fan-out table: zap for this many seconds (players joining and
    /// leaving 20 channels) and report the proxy's memory at the start and the end
    #[arg(long, value_name = "SECONDS")]
    churn: Option<u64>,
    /// With --churn: seconds the players of a round watch before leaving (longer
    /// rounds fill the channels' buffers, so the peak is higher)
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    churn_play: u64,
    /// With --churn: print the proxy's memory and the engine's open sessions after every round
    #[arg(long)]
    verbose: bool,
    /// An earlier build of this bench: its proxy is measured beside this one's
    /// (rows `before` and `before-hls`)
    #[arg(long, value_name = "PATH")]
    before: Option<PathBuf>,
    /// Measure this `acebridge` binary (run as `acebridge serve`) as the
    /// proxy instead of the bench's own build of it
    #[arg(long, value_name = "PATH")]
    proxy_exe: Option<PathBuf>,
    /// Instead of the fan-out table: many channels at once, as CHANNELSxPLAYERS
    /// (players per channel), comma-separated, e.g. 16x4,32x2
    #[arg(long, value_delimiter = ',', value_name = "CxP")]
    channels: Vec<channels::Spec>,
    /// With --channels: also run the proxy with this many simulated engines,
    /// the channels placed on them by the pool (`engines` setting)
    #[arg(long, value_name = "N", default_value_t = 1)]
    engines: usize,
    /// With --channels: seconds the players play before the measurement
    /// starts. A channel's ring and HLS window grow for its first ~10 s at
    /// 3 Mbit/s, memory taken from the system page by page: with 16 channels
    /// a 3 s settle measured about twice the CPU per GB of a 15 s one, a
    /// cold start's page faults rather than the steady cost meant here
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    settle: u64,
    /// Instead of the fan-out table: this many rounds of first-picture times
    /// for TS and HLS players on cold and on playing channels
    #[arg(long, value_name = "ROUNDS")]
    cold: Option<usize>,
    #[command(subcommand)]
    child: Option<Internal>,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// (internal) run the proxy
    #[command(hide = true)]
    Proxy {
        engine: String,
        listen: SocketAddr,
        /// Seconds a channel without players lingers
        #[arg(long, default_value_t = 10)]
        linger: u64,
        /// Channels playing at once
        #[arg(long, default_value_t = 32)]
        max_channels: usize,
        /// Where recordings go (the bench's own temp folder)
        #[arg(long)]
        recordings_dir: Option<std::path::PathBuf>,
        /// More engines beside ENGINE: the proxy places channels on the pool
        #[arg(long = "also-engine", value_name = "URL")]
        also_engines: Vec<String>,
    },
    /// (internal) run the reference copier
    #[command(hide = true)]
    Copier {
        upstream: String,
        listen: SocketAddr,
        /// More upstreams, one per channel: `/n` plays the n-th (`/` the first)
        #[arg(long = "also-upstream", value_name = "URL")]
        also_upstreams: Vec<String>,
        /// Gather upstream reads into the proxy's chunk sizes before sending
        #[arg(long)]
        batch: bool,
    },
}

/// One measurement's figures.
#[derive(Debug, Default)]
struct Figures {
    cpu_per_gb: f64,
    peak_rss_mib: f64,
    worst_pct: f64,
    median_pct: f64,
    starved: usize,
    ttfb_p50_ms: f64,
    ttfb_p99_ms: f64,
    sessions: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(exe) = &cli.proxy_exe {
        proxy_exe::set(exe.clone());
    }
    // The proxy runs on the runtime `acebridge serve` uses, and so does the
    // copier, so the ratio compares fan-outs, not runtimes.
    let runtime = if cli.child.is_some() {
        acebridge::runtime()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("acebridge-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.child {
        Some(Internal::Proxy {
            engine,
            listen,
            linger,
            max_channels,
            recordings_dir,
            also_engines,
        }) => runtime.block_on(run_proxy(
            engine,
            also_engines,
            listen,
            linger,
            max_channels,
            recordings_dir,
        )),
        Some(Internal::Copier {
            upstream,
            listen,
            also_upstreams,
            batch,
        }) => {
            let batch = batch.then_some(copier::Batch {
                bytes: acebridge::channel::COALESCE_BYTES,
                delay: acebridge::channel::COALESCE_DELAY,
            });
            let upstreams = std::iter::once(upstream).chain(also_upstreams).collect();
            runtime.block_on(run_copier(upstreams, listen, batch))
        }
        None if !cli.channels.is_empty() => runtime.block_on(channels::run(&cli)),
        None if cli.cold.is_some() => runtime.block_on(first_picture::run(&cli)),
        None => match cli.churn {
            Some(seconds) => runtime.block_on(churn(&cli, seconds)),
            None => runtime.block_on(bench(&cli)),
        },
    }
}

async fn run_proxy(
    engine: String,
    also_engines: Vec<String>,
    listen: SocketAddr,
    linger: u64,
    max_channels: usize,
    recordings_dir: Option<std::path::PathBuf>,
) -> ExitCode {
    let Ok(engine) = acebridge::config::parse_engine_url(&engine) else {
        return ExitCode::from(2);
    };
    let mut pool = Vec::new();
    for url in &also_engines {
        let Ok(url) = acebridge::config::parse_engine_url(url) else {
            return ExitCode::from(2);
        };
        pool.push(url);
    }
    let mut config = acebridge::Config::new(engine.clone(), listen);
    if !pool.is_empty() {
        config.engines = std::iter::once(engine)
            .chain(pool)
            .map(|url| acebridge::engine_pool::EngineSpec {
                url,
                max_channels: None,
            })
            .collect();
    }
    // The bench is the one place where hundreds of players on a channel are wanted.
    config.channels.max_players = 10_000;
    config.channels.linger = Duration::from_secs(linger);
    config.channels.max_channels = max_channels;
    if let Some(dir) = recordings_dir {
        config.recordings.dir = dir;
        config.recordings.min_free_bytes = 0;
    }
    match acebridge::serve(config, std::future::pending()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("proxy: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run_copier(
    upstreams: Vec<String>,
    listen: SocketAddr,
    batch: Option<copier::Batch>,
) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("copier: {error}");
            return ExitCode::FAILURE;
        }
    };
    match copier::run(upstreams, listener, batch).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("copier: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Starts recording the channel on the proxy at `base`: the file's path.
async fn start_recording(base: &str) -> Result<std::path::PathBuf, String> {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/recordings"))
        .json(&serde_json::json!({ "channel": CHANNEL }))
        .send()
        .await
        .map_err(|e| format!("start the recording: {e}"))?;
    if response.status() != reqwest::StatusCode::CREATED {
        return Err(format!("start the recording: HTTP {}", response.status()));
    }
    let recording: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    recording["file"]
        .as_str()
        .map(std::path::PathBuf::from)
        .ok_or_else(|| "the recording has no file".to_owned())
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

/// Kills the child process when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Runs `exe` (this bench when `None`) with `args`, its stdout discarded.
fn spawn_child(exe: Option<&Path>, args: &[String]) -> std::io::Result<ChildGuard> {
    let exe = proxy_exe::choose(exe, args)?;
    let args = if proxy_exe::is_acebridge(&exe) {
        proxy_exe::serve_args(args)
    } else {
        args.to_vec()
    };
    let child = Command::new(exe)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    Ok(ChildGuard(child))
}

async fn wait_listening(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn bench(cli: &Cli) -> ExitCode {
    println!(
        "acebridge fan-out benchmark: {} bit/s stream, {} s per run, plus one stalled player",
        cli.bitrate, cli.seconds
    );
    println!(
        "(batched: the copier sending the proxy's chunks, {} KiB or {} ms: the cost of the bytes alone)",
        acebridge::channel::COALESCE_BYTES / 1024,
        acebridge::channel::COALESCE_DELAY.as_millis()
    );
    if cli.record {
        println!("(--record: every proxy run also records the channel; its file's bytes count as delivered)");
    }
    println!(
        "{:>7} {:>8} | {:>10} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8}",
        "players",
        "subject",
        "CPU-s/GB",
        "peakRSS",
        "worst%",
        "median%",
        "starved",
        "TTFB p50",
        "TTFB p99",
        "sessions"
    );
    let mut failed = false;
    let subjects: Vec<Subject> = Subject::ALL
        .into_iter()
        .filter(|subject| cli.before.is_some() || !subject.is_before())
        .collect();
    for &players in &cli.players {
        let mut row = Vec::new();
        for &subject in &subjects {
            match measure(cli, players, subject).await {
                Ok(figures) => {
                    println!(
                        "{:>7} {:>8} | {:>10.3} {:>7.1}Mi {:>8.1} {:>8.1} {:>8} {:>7.1}ms {:>7.1}ms {:>8}",
                        players,
                        subject.name(),
                        figures.cpu_per_gb,
                        figures.peak_rss_mib,
                        figures.worst_pct,
                        figures.median_pct,
                        figures.starved,
                        figures.ttfb_p50_ms,
                        figures.ttfb_p99_ms,
                        figures.sessions
                    );
                    if cli.check
                        && subject.is_proxy()
                        && (figures.starved > 0 || figures.sessions != 1)
                    {
                        eprintln!(
                            "check failed: {} players got no data, {} engine sessions",
                            figures.starved, figures.sessions
                        );
                        failed = true;
                    }
                    row.push((subject, figures));
                }
                Err(error) => {
                    eprintln!("{} with {players} players failed: {error}", subject.name());
                    failed = true;
                }
            }
        }
        let of = |wanted: Subject| {
            row.iter()
                .find(|(subject, _)| *subject == wanted)
                .map(|(_, figures)| figures)
        };
        let ratios = [
            ("proxy/copier", Subject::Proxy, Subject::Copier),
            ("proxy/batched", Subject::Proxy, Subject::Batched),
            ("hls/batched", Subject::Hls, Subject::Batched),
            ("hls/proxy", Subject::Hls, Subject::Proxy),
            ("mixed/batched", Subject::Mixed, Subject::Batched),
            ("before/batched", Subject::Before, Subject::Batched),
            ("before-hls/batched", Subject::BeforeHls, Subject::Batched),
            ("before-hls/before", Subject::BeforeHls, Subject::Before),
        ];
        for (name, subject, reference) in ratios {
            let (Some(subject), Some(reference)) = (of(subject), of(reference)) else {
                continue;
            };
            if reference.cpu_per_gb > 0.0 {
                println!(
                    "{:>7} {:>18} | {:>5.2}x CPU/GB {:>6.2}x RSS",
                    players,
                    name,
                    subject.cpu_per_gb / reference.cpu_per_gb,
                    subject.peak_rss_mib / reference.peak_rss_mib.max(0.1)
                );
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// The proxy with N TS players.
    Proxy,
    Copier,
    Batched,
    /// The proxy with N HLS viewers.
    Hls,
    /// The proxy with N/2 TS players and N/2 HLS viewers on the same channel.
    Mixed,
    /// `--before`'s proxy with N TS players.
    Before,
    /// `--before`'s proxy with N HLS viewers.
    BeforeHls,
}

impl Subject {
    const ALL: [Subject; 7] = [
        Subject::Proxy,
        Subject::Copier,
        Subject::Batched,
        Subject::Hls,
        Subject::Mixed,
        Subject::Before,
        Subject::BeforeHls,
    ];

    fn name(self) -> &'static str {
        match self {
            Subject::Proxy => "proxy",
            Subject::Copier => "copier",
            Subject::Batched => "batched",
            Subject::Hls => "hls",
            Subject::Mixed => "mixed",
            Subject::Before => "before",
            Subject::BeforeHls => "before-hls",
        }
    }

    fn is_proxy(self) -> bool {
        !matches!(self, Subject::Copier | Subject::Batched)
    }

    fn is_before(self) -> bool {
        matches!(self, Subject::Before | Subject::BeforeHls)
    }

    /// Only HLS viewers, the warm-up one included.
    fn is_hls(self) -> bool {
        matches!(self, Subject::Hls | Subject::BeforeHls)
    }

    /// How many of `players` are HLS viewers.
    fn hls_viewers(self, players: usize) -> usize {
        match self {
            Subject::Hls | Subject::BeforeHls => players,
            Subject::Mixed => players / 2,
            _ => 0,
        }
    }
}

async fn measure(cli: &Cli, players: usize, subject: Subject) -> Result<Figures, String> {
    let engine = start_engine(cli.bitrate).await;
    let addr = free_addr().map_err(|e| e.to_string())?;
    // An earlier build may not record: only this build's proxy runs do.
    let recordings = (cli.record && subject.is_proxy() && !subject.is_before())
        .then(|| std::env::temp_dir().join(format!("acebridge-bench-rec-{}", addr.port())));
    let (args, path) = match subject {
        Subject::Proxy | Subject::Hls | Subject::Mixed | Subject::Before | Subject::BeforeHls => {
            let mut args = vec!["proxy".to_owned(), engine.url(), addr.to_string()];
            if let Some(dir) = &recordings {
                args.extend(["--recordings-dir".to_owned(), dir.display().to_string()]);
            }
            (args, format!("/ace/getstream?id={CHANNEL}"))
        }
        Subject::Copier | Subject::Batched => {
            let upstream = start_playback(&engine.url(), CHANNEL).await?;
            let mut args = vec!["copier".to_owned(), upstream, addr.to_string()];
            if subject == Subject::Batched {
                args.push("--batch".to_owned());
            }
            (args, "/".to_owned())
        }
    };
    let exe = cli.before.as_deref().filter(|_| subject.is_before());
    let child = spawn_child(exe, &args).map_err(|e| e.to_string())?;
    let pid = child.0.id();
    if !wait_listening(addr).await {
        return Err("child did not start listening".into());
    }
    let base = format!("http://{addr}");
    let manifest = format!("/ace/manifest.m3u8?id={CHANNEL}");
    let hls_viewers = subject.hls_viewers(players);
    // Warm the channel so the measured players join a running stream.
    let warm = Arc::new(AtomicU64::new(0));
    let warm_task = if subject.is_hls() {
        tokio::spawn(players::watch_hls(
            base.clone(),
            manifest.clone(),
            warm.clone(),
        ))
    } else {
        tokio::spawn(players::play(addr, path.clone(), warm.clone()))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while warm.load(Ordering::Relaxed) == 0 {
        if Instant::now() > deadline {
            return Err("no data from the warm-up player".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let recording = match &recordings {
        Some(_) => Some(start_recording(&base).await?),
        None => None,
    };
    let recorded = || recording.as_ref().map_or(0, |file| file_size(file));

    let _stalled = players::stalled(addr, &path)
        .await
        .map_err(|e| e.to_string())?;
    let counters: Vec<Arc<AtomicU64>> = (0..players).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let tasks: Vec<_> = counters
        .iter()
        .enumerate()
        .map(|(index, counter)| {
            if index < hls_viewers {
                tokio::spawn(players::watch_hls(
                    base.clone(),
                    manifest.clone(),
                    counter.clone(),
                ))
            } else {
                tokio::spawn(players::play(addr, path.clone(), counter.clone()))
            }
        })
        .collect();
    // Let every player join and drain its keyframe burst before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The warm-up player is a live player too: the child's CPU went into its bytes as well.
    let mut all = counters.clone();
    all.push(warm.clone());
    let recorded_start = recorded();
    let measure::Window {
        cpu,
        elapsed,
        mut delivered,
    } = measure::window(pid, &all, Duration::from_secs(cli.seconds)).await?;
    let warm_delivered = delivered.pop().unwrap_or(0);
    // A recording's bytes are delivered too, to the disk.
    let recorded_delivered = recorded().saturating_sub(recorded_start);

    let mut ttfb = Vec::new();
    for _ in 0..cli.joins {
        let time = if subject.is_hls() {
            players::hls_time_to_first_byte(&base, &manifest).await
        } else {
            players::time_to_first_byte(addr, &path).await.ok()
        };
        ttfb.extend(time.map(|time| time.as_micros() as u64));
    }
    let peak_rss = measure::peak_rss(pid).unwrap_or(0);
    for task in tasks {
        task.abort();
    }
    warm_task.abort();
    drop(child);

    if let Some(dir) = &recordings {
        let _ = std::fs::remove_dir_all(dir);
    }
    let total: u64 = delivered.iter().sum::<u64>() + warm_delivered + recorded_delivered;
    let pct = measure::per_mille(&delivered, cli.bitrate, elapsed);
    Ok(Figures {
        cpu_per_gb: if total > 0 {
            cpu.as_secs_f64() / (total as f64 / 1e9)
        } else {
            f64::INFINITY
        },
        peak_rss_mib: peak_rss as f64 / (1024.0 * 1024.0),
        worst_pct: measure::quantile(&pct, 0.0).unwrap_or(0) as f64 / 10.0,
        median_pct: measure::quantile(&pct, 0.5).unwrap_or(0) as f64 / 10.0,
        starved: delivered.iter().filter(|&&b| b == 0).count(),
        ttfb_p50_ms: measure::quantile(&ttfb, 0.5).unwrap_or(0) as f64 / 1000.0,
        ttfb_p99_ms: measure::quantile(&ttfb, 0.99).unwrap_or(0) as f64 / 1000.0,
        sessions: engine.sessions_started_total(),
    })
}

/// The simulated engine, sending `bitrate` bits per second of which the clip
/// is its own ~400 kbit/s and the rest null packets, so that media time runs
/// at wall-clock speed, as on a real channel: a 2 s segment takes 2 s.
async fn start_engine(bitrate: u64) -> SimEngine {
    SimEngine::start_with(SimOptions {
        bitrate: Some(bitrate),
        real_time_media: true,
        ..SimOptions::default()
    })
    .await
}

/// Starts an engine session of `id` the way the proxy does and returns its playback URL.
async fn start_playback(engine: &str, id: &str) -> Result<String, String> {
    let url = format!("{engine}/ace/getstream?id={id}&format=json&pid=acebridge-bench");
    let body: serde_json::Value = reqwest::get(&url)
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    body["response"]["playback_url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no playback_url in {body}"))
}

/// Starts the proxy of `exe` (this bench's when `None`) with a 1 s linger;
/// returns it once it listens.
async fn start_lingering_proxy(
    exe: Option<&Path>,
    engine: &str,
) -> Result<(ChildGuard, SocketAddr), String> {
    let addr = free_addr().map_err(|e| e.to_string())?;
    let args = [
        "proxy".to_owned(),
        engine.to_owned(),
        addr.to_string(),
        "--linger".to_owned(),
        "1".to_owned(),
    ];
    let child = spawn_child(exe, &args).map_err(|e| e.to_string())?;
    if !wait_listening(addr).await {
        return Err("did not start listening".into());
    }
    Ok((child, addr))
}

/// Players join and leave 20 channels for `seconds`; memory must end where it
/// settled after the first round, not grow with uptime or zapping.
async fn churn(cli: &Cli, seconds: u64) -> ExitCode {
    let engine = start_engine(cli.bitrate).await;
    // A 1 s linger, so channels start and stop all the time.
    let (child, addr) = match start_lingering_proxy(None, &engine.url()).await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("proxy: {error}");
            return ExitCode::FAILURE;
        }
    };
    let pid = child.0.id();
    let channels: Vec<String> = (0..20).map(|n| format!("{n:040x}")).collect();
    let streams_url = format!("http://{addr}/api/streams");
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut round = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        // Each round: 10 players on rotating channels for `--churn-play` seconds, then they leave.
        let counters: Vec<_> = (0..10)
            .map(|i| {
                let id = &channels[(round * 7 + i * 3) % channels.len()];
                let counter = Arc::new(AtomicU64::new(0));
                let task = tokio::spawn(players::play(
                    addr,
                    format!("/ace/getstream?id={id}"),
                    counter.clone(),
                ));
                (task, counter)
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(cli.churn_play)).await;
        for (task, _) in counters {
            task.abort();
        }
        round += 1;
        // Let every channel linger out, so samples compare the idle proxy.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rss = measure::rss(pid);
        if let Some(rss) = rss {
            samples.push((started.elapsed().as_secs(), rss));
        }
        if cli.verbose {
            eprintln!(
                "round {round} at {:.1} s: proxy RSS {:.1} MiB, engine sessions open {}, engine playback connections {}",
                started.elapsed().as_secs_f64(),
                mib(rss.unwrap_or(0)),
                engine.active_sessions(),
                engine.playback_connections_open()
            );
        }
    }
    // Idle again: every channel lingered out. Memory should be back where it started.
    let idle_deadline = Instant::now() + Duration::from_secs(30);
    let mut open = open_streams(&streams_url).await;
    while Instant::now() < idle_deadline && !open.as_ref().is_some_and(Vec::is_empty) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        open = open_streams(&streams_url).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_after = measure::rss(pid).unwrap_or(0);
    println!(
        "channels still open: {}",
        open.map_or_else(
            || "unknown".to_owned(),
            |streams| serde_json::Value::Array(streams).to_string()
        )
    );
    drop(child);
    let settled = samples.get(samples.len() / 4).map_or(0, |s| s.1);
    let last = samples.last().map_or(0, |s| s.1);
    println!(
        "churn: {round} rounds of 10 players over 20 channels in {seconds} s, {} engine sessions started, {} still open at the end",
        engine.sessions_started_total(),
        engine.active_sessions()
    );
    println!(
        "idle proxy RSS between rounds: {:.1} MiB after the first quarter, {:.1} MiB at the end, peak {:.1} MiB",
        mib(settled),
        mib(last),
        mib(samples.iter().map(|s| s.1).max().unwrap_or(0))
    );
    println!(
        "idle proxy RSS once every channel closed: {:.1} MiB (first sample {:.1} MiB)",
        mib(idle_after),
        mib(samples.first().map_or(0, |s| s.1))
    );
    ExitCode::SUCCESS
}

/// The proxy's active channels from `/api/streams`, if it answers.
async fn open_streams(url: &str) -> Option<Vec<serde_json::Value>> {
    let body: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    body["streams"].as_array().cloned()
}
