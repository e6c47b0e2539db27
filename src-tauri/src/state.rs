//! What the rest of the app shares once it runs: the proxy it serves (or the
//! other acebridge it shows instead), and the rule that desktop work never
//! runs on the proxy's thread.
//!
//! Owns [`Running`] (the server's control handle, its task and what stops it)
//! and [`Elsewhere`] (the origin of an acebridge that already ran on our port).

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use acebridge::control::Control;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Manager};
use tokio::sync::{oneshot, Notify};

/// The thread that drives the proxy and, with it, Tauri's async tasks.
pub const PROXY_THREAD: &str = "acebridge-async";

/// The running proxy, managed by Tauri once it listens.
pub struct Running {
    pub control: Control,
    /// Whether a tray icon exists; without one, closing the window quits.
    pub has_tray: AtomicBool,
    /// Wakes the tray's refresh loop after something changed.
    pub changed: Notify,
    /// Taken by the first Quit.
    pub server: Mutex<Option<ServerTask>>,
}

/// The running server: what stops it, and its task to wait for.
pub struct ServerTask {
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Another acebridge already served our port when we started, so this app
/// runs no proxy: it shows that one's web UI and hands links to it.
pub struct Elsewhere {
    /// `http://127.0.0.1:PORT` of the running acebridge.
    pub origin: String,
}

/// Where the web UI is: our proxy's, or the other acebridge's.
pub fn ui_origin(app: &AppHandle) -> Option<String> {
    if let Some(running) = app.try_state::<Running>() {
        return Some(running.control.origin().to_owned());
    }
    app.try_state::<Elsewhere>()
        .map(|elsewhere| elsewhere.origin.clone())
}

/// Wakes the tray's refresh loop: something it shows may have changed.
pub fn notify_changed(app: &AppHandle) {
    if let Some(running) = app.try_state::<Running>() {
        running.changed.notify_one();
    }
}

/// The control handle of the running proxy, if it runs yet.
pub fn control(app: &AppHandle) -> Option<Control> {
    app.try_state::<Running>()
        .map(|running| running.control.clone())
}

/// Runs `task` on the async runtime with the running proxy's control handle;
/// does nothing before the proxy listens. Menu and link actions need the
/// settings store, which is async. The task runs on the proxy's thread: what
/// it does on the desktop goes through [`on_desktop`] or
/// [`crate::window::show_soon`].
pub fn spawn_with_control<F, Fut>(app: &AppHandle, task: F)
where
    F: FnOnce(AppHandle, Control) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(control) = control(&app) {
            task(app, control).await;
        }
    });
}

/// Runs desktop work (the tray menu, the clipboard, files, starting a player)
/// from async code, on the blocking pool. On the proxy's thread it would pause
/// every stream while it waits: Tauri's menu and window calls wait for GTK's
/// main thread, which can be busy for a quarter of a second (building a window).
pub async fn on_desktop<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .inspect_err(|error| tracing::warn!(%error, "desktop work failed"))
        .ok()
}

/// Called by desktop work: debug builds (the desktop tests) fail loudly when
/// it runs on the proxy's thread instead of going through [`on_desktop`].
pub fn debug_assert_off_proxy_thread() {
    debug_assert_ne!(
        std::thread::current().name(),
        Some(PROXY_THREAD),
        "desktop work on the proxy's thread pauses every stream"
    );
}
