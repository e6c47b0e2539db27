//! Many channels at once: C channels with P TS players each on one proxy,
//! against the `batched` copier sending the same number of players the same
//! chunks from one upstream (the cost of the bytes alone), the same copier
//! reading one upstream per channel (`batchedN`: the floor for C channels,
//! which pays each upstream's read too), and all C×P players on one channel,
//! so that what one more channel costs can be read off.
//! With `--before`, that build's proxy runs the C channels too; with
//! `--engines N`, this build's proxy runs them once more on a pool of N
//! simulated engines, the channels placed by the pool (`pooled`).

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acebridge_testkit::engine::SimEngine;

use super::{
    free_addr, measure, players, spawn_child, start_engine, start_playback, wait_listening, Cli,
};

/// `CxP`: C channels with P players each.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    channels: usize,
    players: usize,
}

impl FromStr for Spec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (channels, players) = text
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("{text:?} is not CHANNELSxPLAYERS"))?;
        let parse = |n: &str| {
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{n:?} is not a positive number"))
        };
        Ok(Self {
            channels: parse(channels)?,
            players: parse(players)?,
        })
    }
}

/// What one run measured.
struct Figures {
    cpu_per_gb: f64,
    peak_rss_mib: f64,
    median_pct: f64,
    sessions: usize,
    /// Engine sessions started on each engine, in the order listed.
    per_engine: Vec<usize>,
}

pub async fn run(cli: &Cli) -> std::process::ExitCode {
    println!(
        "acebridge many-channel benchmark: {} bit/s per channel, {} s per run after {} s of play, TS players",
        cli.bitrate, cli.seconds, cli.settle
    );
    println!(
        "{:>9} {:>8} | {:>9} {:>9} {:>8} {:>8}",
        "channels", "subject", "CPU-s/GB", "peakRSS", "median%", "sessions"
    );
    let mut failed = false;
    for spec in &cli.channels {
        // The same players on one channel: the same bytes out, one upstream.
        let single = Spec {
            channels: 1,
            players: spec.channels * spec.players,
        };
        let mut rows = Vec::new();
        let mut runs = vec![
            ("proxy", *spec, Child::Proxy),
            ("batched", *spec, Child::Batched { upstreams: 1 }),
            ("proxy", single, Child::Proxy),
            (
                "batchedN",
                *spec,
                Child::Batched {
                    upstreams: spec.channels,
                },
            ),
        ];
        if cli.before.is_some() {
            runs.push(("before", *spec, Child::Before));
        }
        if cli.engines > 1 {
            runs.push(("pooled", *spec, Child::Pooled(cli.engines)));
        }
        for (name, spec, child) in runs {
            match measure_run(cli, spec, child).await {
                Ok(figures) => {
                    let per_engine = if figures.per_engine.len() > 1 {
                        let counts: Vec<String> =
                            figures.per_engine.iter().map(usize::to_string).collect();
                        format!(" ({} per engine)", counts.join("/"))
                    } else {
                        String::new()
                    };
                    println!(
                        "{:>5}x{:<3} {:>8} | {:>9.3} {:>7.1}Mi {:>8.1} {:>8}{per_engine}",
                        spec.channels,
                        spec.players,
                        name,
                        figures.cpu_per_gb,
                        figures.peak_rss_mib,
                        figures.median_pct,
                        figures.sessions
                    );
                    rows.push((name, spec.channels, figures));
                }
                Err(error) => {
                    eprintln!("{name} {}x{} failed: {error}", spec.channels, spec.players);
                    failed = true;
                }
            }
        }
        // A row by its name and channel count: a run that failed leaves none.
        let of = |wanted: &str, channels: usize| {
            rows.iter()
                .find(|(name, count, _)| *name == wanted && *count == channels)
                .map(|(_, _, figures)| figures)
        };
        let ratio = |a: &Figures, b: &Figures| a.cpu_per_gb / b.cpu_per_gb.max(f64::MIN_POSITIVE);
        if let (Some(many), Some(batched), Some(one), Some(floor)) = (
            of("proxy", spec.channels),
            of("batched", spec.channels),
            of("proxy", 1),
            of("batchedN", spec.channels),
        ) {
            println!(
                "{:>5}x{:<3} proxy/batched {:.2}x CPU/GB; proxy {:.2}x its one-channel CPU/GB; {:.2} MiB per extra channel",
                spec.channels,
                spec.players,
                ratio(many, batched),
                ratio(many, one),
                (many.peak_rss_mib - one.peak_rss_mib) / (spec.channels.max(2) - 1) as f64
            );
            // What the channels' own upstream reads cost the floor, and the
            // proxy's overhead above each floor: C channels against one.
            println!(
                "{:>5}x{:<3} batchedN/batched {:.2}x CPU/GB (the floor's {} upstream reads); proxy/batchedN {:.2}x against one channel's proxy/batched {:.2}x: {:.2}x",
                spec.channels,
                spec.players,
                ratio(floor, batched),
                spec.channels,
                ratio(many, floor),
                ratio(one, batched),
                ratio(many, floor) / ratio(one, batched).max(f64::MIN_POSITIVE)
            );
        }
        for other in ["before", "pooled"] {
            if let (Some(figures), Some(many)) =
                (of(other, spec.channels), of("proxy", spec.channels))
            {
                println!(
                    "{:>5}x{:<3} {other}/proxy {:.2}x CPU/GB, {:.2}x peak RSS",
                    spec.channels,
                    spec.players,
                    figures.cpu_per_gb / many.cpu_per_gb.max(f64::MIN_POSITIVE),
                    figures.peak_rss_mib / many.peak_rss_mib.max(f64::MIN_POSITIVE)
                );
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

/// What serves the players.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Proxy,
    /// The batched copier reading this many upstreams, the players spread
    /// over them in order (one upstream: every player on it).
    Batched {
        upstreams: usize,
    },
    /// `--before`'s proxy (its channel limit is its default).
    Before,
    /// This build's proxy on a pool of this many engines.
    Pooled(usize),
}

/// `child` with `spec`'s players, one of each channel's joining first to warm it.
async fn measure_run(cli: &Cli, spec: Spec, child: Child) -> Result<Figures, String> {
    let engines = match child {
        Child::Pooled(count) => count,
        _ => 1,
    };
    let mut pool = Vec::new();
    for _ in 0..engines {
        pool.push(start_engine(cli.bitrate).await);
    }
    let engine = &pool[0];
    let addr = free_addr().map_err(|e| e.to_string())?;
    let ids: Vec<String> = (0..spec.channels)
        .map(|n| format!("{:040x}", 0xbe00 + n))
        .collect();
    let (args, paths): (Vec<String>, Vec<String>) = if let Child::Batched { upstreams } = child {
        let mut playbacks = Vec::new();
        for id in ids.iter().take(upstreams.max(1)) {
            playbacks.push(start_playback(&engine.url(), id).await?);
        }
        let mut args = vec!["copier".to_owned()];
        let mut playbacks = playbacks.into_iter();
        args.extend(playbacks.next());
        args.extend([addr.to_string(), "--batch".to_owned()]);
        for url in playbacks {
            args.extend(["--also-upstream".to_owned(), url]);
        }
        let paths = (0..spec.channels)
            .map(|n| format!("/{}", n % upstreams.max(1)))
            .collect();
        (args, paths)
    } else {
        let mut args = vec!["proxy".to_owned(), engine.url(), addr.to_string()];
        if child != Child::Before {
            args.push("--max-channels".to_owned());
            args.push((spec.channels + 1).to_string());
        }
        for other in &pool[1..] {
            args.push("--also-engine".to_owned());
            args.push(other.url());
        }
        let paths = ids
            .iter()
            .map(|id| format!("/ace/getstream?id={id}"))
            .collect();
        (args, paths)
    };
    let exe = cli.before.as_deref().filter(|_| child == Child::Before);
    let child = spawn_child(exe, &args).map_err(|e| e.to_string())?;
    let pid = child.0.id();
    if !wait_listening(addr).await {
        return Err("child did not start listening".into());
    }
    let counters: Vec<Arc<AtomicU64>> = (0..spec.channels * spec.players)
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let mut tasks = Vec::new();
    // Player 0 of every channel first, until each channel delivers.
    for (index, path) in paths.iter().enumerate() {
        let counter = counters[index * spec.players].clone();
        tasks.push(tokio::spawn(players::play(addr, path.clone(), counter)));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..spec.channels).any(|c| counters[c * spec.players].load(Ordering::Relaxed) == 0) {
        if Instant::now() > deadline {
            return Err("a channel delivered nothing".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (index, path) in paths.iter().enumerate() {
        for player in 1..spec.players {
            let counter = counters[index * spec.players + player].clone();
            tasks.push(tokio::spawn(players::play(addr, path.clone(), counter)));
        }
    }
    tokio::time::sleep(Duration::from_secs(cli.settle)).await;
    let measure::Window {
        cpu,
        elapsed,
        delivered,
    } = measure::window(pid, &counters, Duration::from_secs(cli.seconds)).await?;
    let peak_rss = measure::peak_rss(pid).unwrap_or(0);
    for task in tasks {
        task.abort();
    }
    drop(child);
    let total: u64 = delivered.iter().sum();
    let pct = measure::per_mille(&delivered, cli.bitrate, elapsed);
    Ok(Figures {
        cpu_per_gb: cpu.as_secs_f64() / (total.max(1) as f64 / 1e9),
        peak_rss_mib: peak_rss as f64 / (1024.0 * 1024.0),
        median_pct: measure::quantile(&pct, 0.5).unwrap_or(0) as f64 / 10.0,
        sessions: pool.iter().map(SimEngine::sessions_started_total).sum(),
        per_engine: pool.iter().map(SimEngine::sessions_started_total).collect(),
    })
}
