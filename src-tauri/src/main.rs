//! acebridge-desktop: the tray app. It runs the same proxy as `acebridge
//! serve` (same flags, env vars and settings file), puts it in the system
//! tray, shows the web UI in a window, and opens `acestream://` links.
//!
//! Modules, each using only those after it (no circles): [`app`] (start-up:
//! the port, the proxy, the tray), [`tray`] (icon and menu), [`launches`]
//! (later launches and links), [`window`], [`playing`] (a channel in a
//! player), [`quit`] (Quit and signals), [`dialog`] (every message box),
//! [`state`] (the running proxy and the thread rule), and the Tauri-free
//! [`cli`], [`status`], [`players`], [`links`].

// No console window next to the tray app on Windows release builds.
#![cfg_attr(all(not(debug_assertions), windows), windows_subsystem = "windows")]

mod app;
mod cli;
mod dialog;
mod launches;
mod links;
mod players;
mod playing;
mod quit;
mod state;
mod status;
mod tray;
mod window;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    acebridge::init_logging();
    // Desktop shells show this as the tray item's title; GLib's default is
    // the program name, acebridge-desktop.
    #[cfg(target_os = "linux")]
    glib::set_application_name("acebridge");
    // A bad setting is reported in a dialog once the app runs: a user who
    // launched it from a menu never sees stderr.
    let config = cli.config.resolve();
    let code = app::run(cli, config);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
