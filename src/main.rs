//! The headless CLI: `acebridge serve` runs the proxy without a GUI, for
//! servers, scripts and tests. Logs go to stderr, filtered by `RUST_LOG`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use acebridge::config::ConfigArgs;
use acebridge::taken_port;
use acebridge::Server;

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
    #[command(about = format!(
        "Run the proxy: players open http://{}/ace/getstream?id=<content id>",
        acebridge::config::DEFAULT_LISTEN
    ))]
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
    #[cfg(feature = "test-config")]
    let config = match acebridge::config::test_hook::from_env() {
        Ok(tests) => tests.unwrap_or(config),
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
    runtime.block_on(serve(config))
}

/// Binds and serves until a signal; a taken port gets advice, not a bare OS error.
async fn serve(config: acebridge::Config) -> ExitCode {
    let shutdown = shutdown_signal();
    let listen = config.listen;
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            let occupant = taken_port::who_listens(listen).await;
            let next_free = taken_port::next_free_port(listen);
            eprintln!(
                "acebridge: cannot serve on {listen}: the port is in use.\n{}",
                taken_port::advice(listen, &occupant, next_free)
            );
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("acebridge: cannot serve on {listen}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match server.control() {
        Ok(control) => tracing::info!("web UI at {}/", control.origin()),
        Err(error) => tracing::warn!(%error, "cannot tell the web UI address"),
    }
    match server.run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("acebridge: cannot serve on {listen}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (on Windows: Ctrl-C, or the console window
/// closed), so service managers stop us cleanly too. The handlers are
/// installed now, not when the future is first polled (after the listening
/// line): a SIGTERM right after start killed the process outright, with no
/// engine session stopped.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    #[cfg(windows)]
    let (interrupt, close) = {
        use tokio::signal::windows::{ctrl_c, ctrl_close};
        (ctrl_c().ok(), ctrl_close().ok())
    };
    async move {
        #[cfg(unix)]
        {
            let received = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = received(interrupt) => {}
                _ = received(terminate) => {}
            }
        }
        #[cfg(windows)]
        {
            let interrupted = async move {
                match interrupt {
                    Some(mut signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let closed = async move {
                match close {
                    Some(mut signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupted => {}
                _ = closed => {}
            }
        }
    }
}
