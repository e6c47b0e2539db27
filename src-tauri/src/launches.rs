//! What later launches and the OS hand the running app: `acestream://` links
//! and ids (saved, and played if the user asked for that), `--quit`, or just
//! "show yourself". When another acebridge owned our port at start, links go
//! to that one through its HTTP API.
//!
//! Owns [`PendingLinks`]: links that arrived while the app was still asking
//! which port to use.

use std::sync::Mutex;

use acebridge::content_id::ContentId;
use acebridge::taken_port;
use clap::Parser;
use tauri::{AppHandle, Manager};

use crate::cli::Cli;
use crate::dialog::{self, Kind};
use crate::state::{self, Elsewhere, Running};
use crate::{links, playing, quit, window};

/// Links from later launches that arrived before the proxy listened (while
/// the port dialog waits for an answer); opened once it does.
#[derive(Default)]
pub struct PendingLinks(Mutex<Vec<ContentId>>);

/// The links that waited for the proxy, and `links` after them.
pub fn with_pending(app: &AppHandle, mut links: Vec<ContentId>) -> Vec<ContentId> {
    if let Some(pending) = app.try_state::<PendingLinks>() {
        if let Ok(mut pending) = pending.0.lock() {
            links.append(&mut pending);
        }
    }
    links
}

/// A later launch forwarded its arguments: links open channels, `--quit`
/// quits, anything else shows the window.
pub fn on_second_launch(app: &AppHandle, argv: Vec<String>) {
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(error) => {
            tracing::warn!(%error, "a second launch passed arguments we do not understand");
            window::show(app);
            return;
        }
    };
    if cli.quit {
        quit::quit(app);
        return;
    }
    let mut ids = links::ids_in(cli.links.iter().map(String::as_str));
    tracing::info!(links = ids.len(), "second launch");
    let started = app.try_state::<Running>().is_some() || app.try_state::<Elsewhere>().is_some();
    if !started {
        // Still starting (the port dialog is open): keep the links for later.
        if let Some(pending) = app.try_state::<PendingLinks>() {
            if let Ok(mut pending) = pending.0.lock() {
                pending.append(&mut ids);
            }
        }
        return;
    }
    if ids.is_empty() {
        window::show(app);
    } else {
        open_links(app, ids);
    }
}

/// Saves the channels (so the window lists them) and, if the user asked for
/// it, plays the first in the preferred player; otherwise shows the window.
pub fn open_links(app: &AppHandle, ids: Vec<ContentId>) {
    if let Some(elsewhere) = app.try_state::<Elsewhere>() {
        hand_over(app, elsewhere.origin.clone(), ids);
        return;
    }
    state::spawn_with_control(app, |app, control| async move {
        for id in &ids {
            match control.save_channel(id).await {
                Ok(true) => tracing::info!(channel = %id, "channel added from a link"),
                Ok(false) => {}
                Err(error) => tracing::warn!(channel = %id, %error, "cannot save the channel"),
            }
        }
        state::notify_changed(&app);
        let desktop = control.settings().await.desktop;
        if desktop.play_links {
            if let Some(id) = ids.first() {
                match playing::play(&control, id, None).await {
                    Ok(()) => return,
                    Err(why) => dialog::tell(&app, Kind::Warning, &why),
                }
            }
        }
        window::show_soon(&app);
    });
}

/// Gives `ids` to the acebridge at `origin` (it saves them, as its web UI
/// would), then shows its web UI, where they now are.
fn hand_over(app: &AppHandle, origin: String, ids: Vec<ContentId>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match taken_port::hand_over(&origin, &ids).await {
            Ok(()) => {
                tracing::info!(links = ids.len(), %origin, "links handed to the running acebridge")
            }
            Err(error) => {
                tracing::warn!(%error, "cannot hand the links over");
                dialog::tell(&app, Kind::Error, &error.to_string());
            }
        }
        window::show_soon(&app);
    });
}
