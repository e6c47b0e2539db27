//! The headless CLI: `acebridge serve` runs the proxy without a GUI, for
//! servers, scripts and tests. Logs go to stderr, filtered by `RUST_LOG`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use acebridge::config::ConfigArgs;

#[derive(Debug, Parser)]
#[command(
    name = "acebridge",
    version,
    about = "Share AceStream channels with any player (VLC, mpv, ffmpeg, IPTV apps)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy: players open http://127.0.0.1:6880/ace/getstream?id=<content id>
    Serve(ConfigArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    acebridge::init_logging();
    let Command::Serve(args) = cli.command;
    let config = match args.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("acebridge: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match acebridge::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("acebridge: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listen = config.listen;
    match runtime.block_on(acebridge::serve(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("acebridge: cannot serve on {listen}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM, so service managers stop us cleanly too.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
