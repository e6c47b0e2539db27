//! The one window: the web UI of the proxy (ours, or the acebridge that ran on
//! our port before us), created on demand and destroyed on close, which gives
//! WebKit's memory back while the app sits in the tray.

use tauri::webview::DownloadEvent;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

use crate::state::{self, debug_assert_off_proxy_thread};
use crate::{links, playing};

/// The label of the one window.
const MAIN_WINDOW: &str = "main";
/// The part of the page with the engine settings (the web UI's engine card
/// has this id and takes the focus when the page is opened at it).
const ENGINE_SECTION: &str = "engine";

/// Shows the window, creating it if it was closed.
pub fn show(app: &AppHandle) {
    show_at(app, None);
}

/// Shows the window at the engine settings: the way out when the engine does
/// not answer.
pub fn show_engine_settings(app: &AppHandle) {
    show_at(app, Some(ENGINE_SECTION));
}

/// [`show`] from async code: on the main thread, where building the window
/// makes nobody wait.
pub fn show_soon(app: &AppHandle) {
    let main_app = app.clone();
    if let Err(error) = app.run_on_main_thread(move || show(&main_app)) {
        tracing::warn!(%error, "cannot open the window");
    }
}

fn show_at(app: &AppHandle, section: Option<&str>) {
    debug_assert_off_proxy_thread();
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        if let Some(section) = section {
            // An open page moves there without a reload (which would lose
            // what the user typed); the same hash again fires no event, so
            // the page is told directly.
            let script = format!(
                "if (location.hash === '#{section}') {{ \
                 window.dispatchEvent(new HashChangeEvent('hashchange')); \
                 }} else {{ location.hash = '{section}'; }}"
            );
            if let Err(error) = window.eval(&script) {
                tracing::warn!(%error, "cannot move the window to {section}");
            }
        }
        raise(&window);
        return;
    }
    let Some(origin) = state::ui_origin(app) else {
        return;
    };
    let page = match section {
        Some(section) => format!("{origin}/#{section}"),
        None => format!("{origin}/"),
    };
    let url = match page.parse() {
        Ok(url) => url,
        Err(error) => return tracing::error!(%error, %page, "bad UI URL"),
    };
    let player_app = app.clone();
    let built = WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::External(url))
        .title("acebridge")
        .inner_size(440.0, 780.0)
        .min_inner_size(360.0, 420.0)
        .on_download(move |_webview, event| match event {
            // The page's "Open in player" is a one-entry .m3u download meant for
            // browsers; in the app, start the player instead.
            DownloadEvent::Requested { url, .. } => match links::play_m3u_channel(&url) {
                Some(hex) if state::control(&player_app).is_some() => {
                    playing::play_saved(&player_app, hex, None);
                    false
                }
                // A channel of the acebridge that runs instead of ours.
                Some(_)
                    if state::ui_origin(&player_app)
                        == Some(url.origin().ascii_serialization()) =>
                {
                    playing::play_elsewhere(&player_app, url.to_string());
                    false
                }
                _ => true,
            },
            _ => true,
        })
        .build();
    // Two launches at once may race to create it: the loser raises the winner's.
    if let Err(error) = built {
        match app.get_webview_window(MAIN_WINDOW) {
            Some(window) => raise(&window),
            None => tracing::warn!(%error, "cannot open the window"),
        }
    }
}

fn raise(window: &tauri::WebviewWindow) {
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}
