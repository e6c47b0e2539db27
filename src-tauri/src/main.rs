//! acebridge-desktop: the tray app. It runs the same proxy as `acebridge
//! serve` (same flags, env vars and settings file), puts it in the system
//! tray, shows the web UI in a window, and opens `acestream://` links.
//!
//! Modules: [`app`] (life cycle, window, quit), [`tray`] (icon and menu),
//! [`status`] (what the tray shows), [`players`] (VLC/mpv), [`links`] (ids
//! from arguments).

// No console window next to the tray app on Windows release builds.
#![cfg_attr(all(not(debug_assertions), windows), windows_subsystem = "windows")]

mod app;
mod links;
mod players;
mod status;
mod tray;

use std::process::ExitCode;

use acebridge::config::ConfigArgs;
use clap::Parser;

/// The command line; later launches' arguments are parsed with it too.
#[derive(Debug, Parser)]
#[command(
    name = "acebridge-desktop",
    version,
    about = "acebridge in the system tray: share AceStream channels with any player"
)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    /// Start in the tray without opening the window (used by Start at login)
    #[arg(long)]
    minimized: bool,
    /// Ask the running acebridge to stop every stream and quit
    #[arg(long)]
    quit: bool,
    /// acestream:// links or content ids to add (and play, if set so)
    #[arg(value_name = "LINK")]
    links: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    acebridge::init_logging();
    let config = match cli.config.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("acebridge-desktop: {error}");
            return ExitCode::from(2);
        }
    };
    let code = app::run(cli, config);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
