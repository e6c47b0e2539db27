//! Quitting: the menu's Quit, `--quit` from another launch, and the signals of
//! a logout, `kill` or Ctrl-C all finish every recording's file and stop every
//! channel and its engine session before the app exits 0. The menu's Quit
//! asks first while a recording runs; the others (no one to ask) do not.

use std::time::Duration;

use tauri::{AppHandle, Manager};

use crate::dialog;
use crate::state::{self, Running, ServerTask};
use crate::status;

/// How long Quit waits for engine sessions to be stopped before exiting anyway.
const QUIT_TIMEOUT: Duration = Duration::from_secs(15);

/// The title of the question Quit asks while a recording runs (the desktop
/// tests look for it).
pub const RECORDING_DIALOG: &str = "Stop the recording and quit?";

/// The menu's Quit: asks first while a recording runs (quitting ends it),
/// then [`quit`]s.
pub fn quit_asking(app: &AppHandle) {
    if app.try_state::<Running>().is_none() {
        return quit(app);
    }
    state::spawn_with_control(app, |app, control| async move {
        let Some(question) = status::quit_question(&control.recordings().await) else {
            return quit(&app);
        };
        let asked = app.clone();
        dialog::ask(
            &app,
            RECORDING_DIALOG,
            &question,
            ("Stop and quit", "Keep recording"),
            move |stop| {
                if stop {
                    quit(&asked);
                }
            },
        );
    });
}

/// Stops the proxy (every recording, channel and engine session), then exits 0.
pub fn quit(app: &AppHandle) {
    let Some(running) = app.try_state::<Running>() else {
        app.exit(0);
        return;
    };
    // Only the first Quit finds the server; later ones have nothing to do.
    let Some(ServerTask { stop, task }) =
        running.server.lock().ok().and_then(|mut slot| slot.take())
    else {
        return;
    };
    tracing::info!("quitting: stopping every channel");
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let _ = stop.send(());
        match tokio::time::timeout(QUIT_TIMEOUT, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "the proxy ended with an error"),
            Ok(Err(error)) => tracing::warn!(%error, "the proxy task failed"),
            Err(_) => tracing::warn!("engine sessions did not stop in time; exiting anyway"),
        }
        app.exit(0);
    });
}

/// SIGINT/SIGTERM/SIGHUP (logout, `kill`, Ctrl-C or a closed terminal) quit like the menu does.
pub fn spawn_signal_handler(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        quit(&app);
    });
}
