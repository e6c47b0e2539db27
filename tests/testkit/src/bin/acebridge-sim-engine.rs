//! `acebridge-sim-engine`: the simulated AceStream engine as a process, for
//! humans, the desktop smoke test and browser tests. Prints
//! `listening on http://ADDR` on stdout once it accepts connections, and runs
//! until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use acebridge_testkit::engine::{SimEngine, SimOptions};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Simulated AceStream engine serving a looped test clip"
)]
struct Args {
    /// Address to listen on (port 0 picks a free one). The env var lets a
    /// test start it as a detected engine install, which gets no flags.
    #[arg(
        long,
        env = "ACEBRIDGE_SIM_ENGINE_LISTEN",
        default_value = "127.0.0.1:6878"
    )]
    listen: SocketAddr,
    /// Playback bitrate in bits per second (default: the clip's own, ~400 kbit/s).
    #[arg(long)]
    bitrate: Option<u64>,
    /// Above the clip's own bitrate, pad with null packets so media time
    /// passes at wall-clock speed instead of sending the clip faster.
    #[arg(long)]
    real_time: bool,
    /// Write absolute segment URLs in HLS playlists.
    #[arg(long)]
    hls_absolute_urls: bool,
    /// Serve a master playlist at the HLS playback URL.
    #[arg(long)]
    hls_master_playlist: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "acebridge_testkit=debug".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let options = SimOptions {
        listen: args.listen,
        bitrate: args.bitrate,
        real_time_media: args.real_time,
        hls_absolute_urls: args.hls_absolute_urls,
        hls_master_playlist: args.hls_master_playlist,
        ..SimOptions::default()
    };
    let engine = match SimEngine::try_start_with(options).await {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!(
                "acebridge-sim-engine: cannot start on {}: {err}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", engine.url());
    if let Err(err) = shutdown_signal().await {
        eprintln!("acebridge-sim-engine: signal handling failed: {err}");
    }
    drop(engine);
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
