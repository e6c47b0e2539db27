//! The tray app's life: bind the proxy (asking what to do when its port is
//! taken), run it on the async runtime it shares with Tauri, open the window,
//! act on arguments from later launches, and quit with every engine session
//! stopped.
//!
//! Owns the [`Running`] state: the server's control handle, its task and the
//! channel that shuts it down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use acebridge::content_id::ContentId;
use acebridge::control::Control;
use acebridge::{Config, Server};
use clap::Parser;
use tauri::async_runtime::JoinHandle;
use tauri::webview::DownloadEvent;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
use tokio::sync::{oneshot, Notify};

use crate::{links, players, tray, Cli};

/// The label of the one window.
const MAIN_WINDOW: &str = "main";
/// How long Quit waits for engine sessions to be stopped before exiting anyway.
const QUIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How many ports after a taken one are tried before asking the OS for any.
const PORT_SEARCH: u16 = 20;
/// The thread that drives the proxy and, with it, Tauri's async tasks.
const PROXY_THREAD: &str = "acebridge-async";

/// The running proxy, managed by Tauri once it listens.
pub struct Running {
    pub control: Control,
    /// Whether a tray icon exists; without one, closing the window quits.
    pub has_tray: AtomicBool,
    /// Wakes the tray's refresh loop after something changed.
    pub changed: Notify,
    /// Taken by the first Quit.
    server: Mutex<Option<ServerTask>>,
}

/// The running server: what stops it, and its task to wait for.
struct ServerTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Links from later launches that arrived before the proxy listened (while
/// the port dialog waits for an answer); opened once it does.
#[derive(Default)]
struct PendingLinks(Mutex<Vec<ContentId>>);

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
/// it does on the desktop goes through [`on_desktop`] or [`show_window_soon`].
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

/// Builds and runs the app; returns the process exit code.
pub fn run(cli: Cli, config: Config) -> i32 {
    if let Err(error) = use_proxy_runtime() {
        eprintln!("acebridge-desktop: cannot start the async runtime: {error}");
        return 1;
    }
    let app = tauri::Builder::default()
        // First, so a second launch hands over its arguments before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            on_second_launch(app, argv);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args(["--minimized"])
                .build(),
        )
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(PendingLinks::default())
        .setup(move |app| {
            let handle = app.handle().clone();
            if cli.quit {
                // `--quit` with no running instance: nothing to stop.
                handle.exit(0);
                return Ok(());
            }
            spawn_signal_handler(handle.clone());
            // macOS hands links to the running app as events, not arguments.
            #[cfg(target_os = "macos")]
            {
                use tauri_plugin_deep_link::DeepLinkExt as _;
                let links_app = handle.clone();
                handle.deep_link().on_open_url(move |event| {
                    let urls: Vec<String> = event.urls().iter().map(|u| u.to_string()).collect();
                    open_links(&links_app, links::ids_in(urls.iter().map(String::as_str)));
                });
            }
            let links = links::ids_in(cli.links.iter().map(String::as_str));
            start(handle, config, cli.minimized, links);
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("acebridge-desktop: cannot start: {error}");
            return 1;
        }
    };
    app.run_return(|app, event| {
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            // The last window closed: stay in the tray. Without a tray there
            // is no other way back, so that is a Quit.
            api.prevent_exit();
            let has_tray = app
                .try_state::<Running>()
                .is_some_and(|r| r.has_tray.load(Ordering::SeqCst));
            if !has_tray {
                quit(app);
            }
        }
    })
}

/// Makes Tauri's async work run where the proxy runs: on acebridge's
/// single-threaded runtime (see [`acebridge::runtime`] for why), driven by a
/// thread of its own for the app's whole life. Called once, before Tauri starts.
fn use_proxy_runtime() -> std::io::Result<()> {
    let runtime = acebridge::runtime()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(PROXY_THREAD.into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    tauri::async_runtime::set(handle);
    Ok(())
}

/// Binds the proxy and starts everything that depends on it; a taken port
/// is a question to the user, not a silent exit.
fn start(app: AppHandle, config: Config, minimized: bool, links: Vec<ContentId>) {
    let listen = config.listen;
    match tauri::async_runtime::block_on(Server::bind(config.clone())) {
        Ok(server) => started(&app, server, minimized, links),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            ask_for_another_port(app, config, minimized, links)
        }
        Err(error) => fatal(
            &app,
            &format!("acebridge cannot listen on {listen}: {error}"),
        ),
    }
}

fn ask_for_another_port(
    app: AppHandle,
    mut config: Config,
    minimized: bool,
    links: Vec<ContentId>,
) {
    let taken = config.listen;
    let Some(port) = free_port_after(taken) else {
        return fatal(
            &app,
            &format!("Port {} is in use and no other port is free.", taken.port()),
        );
    };
    tracing::warn!(%taken, port, "listen port in use; asking the user");
    let message = format!(
        "Port {} is already in use: another acebridge (the tray app or `acebridge serve`) \
         or another program is listening there.\n\n\
         acebridge can use port {port} instead for this session; player URLs will use the new port. \
         To keep a different port, set it in the settings file or with ACEBRIDGE_LISTEN.",
        taken.port()
    );
    let dialog_app = app.clone();
    app.dialog()
        .message(message)
        .title("acebridge: port in use")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom(
            format!("Use port {port}"),
            "Quit".into(),
        ))
        .show(move |use_other| {
            if !use_other {
                dialog_app.exit(1);
                return;
            }
            config.listen.set_port(port);
            start(dialog_app, config, minimized, links);
        });
}

/// The first free port after `taken` (a few are tried), else any free port.
pub fn free_port_after(taken: SocketAddr) -> Option<u16> {
    let ip = taken.ip();
    (1..=PORT_SEARCH)
        .filter_map(|step| taken.port().checked_add(step))
        .chain([0])
        .find_map(|port| {
            let probe = std::net::TcpListener::bind((ip, port)).ok()?;
            probe.local_addr().ok().map(|addr| addr.port())
        })
}

fn fatal(app: &AppHandle, message: &str) {
    tracing::error!("{message}");
    let exit_app = app.clone();
    app.dialog()
        .message(message)
        .title("acebridge")
        .kind(MessageDialogKind::Error)
        .show(move |_| exit_app.exit(1));
}

fn started(app: &AppHandle, server: Server, minimized: bool, links: Vec<ContentId>) {
    let control = match server.control() {
        Ok(control) => control,
        Err(error) => return fatal(app, &format!("acebridge cannot start: {error}")),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tauri::async_runtime::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    app.manage(Running {
        control,
        has_tray: AtomicBool::new(false),
        changed: Notify::new(),
        server: Mutex::new(Some(ServerTask { stop, task })),
    });
    let has_tray = tray::supported()
        && tray::create(app)
            .inspect_err(|error| tracing::error!(%error, "cannot create the tray icon"))
            .is_ok();
    if let Some(running) = app.try_state::<Running>() {
        running.has_tray.store(has_tray, Ordering::SeqCst);
    }
    if !has_tray {
        tracing::warn!("no tray icon: closing the window quits acebridge");
    }
    // Said at interactive starts; at login (--minimized) the window just opens.
    if !has_tray && !minimized {
        app.dialog()
            .message(
                "Your desktop has no tray support (install libayatana-appindicator3-1 to get \
                 the tray icon).\n\nacebridge runs while its window is open; closing the window quits it.",
            )
            .title("acebridge")
            .kind(MessageDialogKind::Info)
            .show(|_| {});
    }
    if !minimized || !has_tray {
        show_window(app);
    }
    let mut links = links;
    if let Some(pending) = app.try_state::<PendingLinks>() {
        if let Ok(mut pending) = pending.0.lock() {
            links.append(&mut pending);
        }
    }
    if !links.is_empty() {
        open_links(app, links);
    }
}

/// Shows the window, creating it if it was closed (closing destroys the
/// webview, which gives WebKit's memory back while the app sits in the tray).
pub fn show_window(app: &AppHandle) {
    debug_assert_off_proxy_thread();
    if raise_window(app) {
        return;
    }
    let Some(running) = app.try_state::<Running>() else {
        return;
    };
    let url = match running.control.origin().parse() {
        Ok(url) => url,
        Err(error) => return tracing::error!(%error, "bad UI URL"),
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
                Some(hex) => {
                    play_saved(&player_app, hex);
                    false
                }
                None => true,
            },
            _ => true,
        })
        .build();
    // Two launches at once may race to create it: the loser raises the winner's.
    if let Err(error) = built {
        if !raise_window(app) {
            tracing::warn!(%error, "cannot open the window");
        }
    }
}

/// [`show_window`] from async code: on the main thread, where building the
/// window makes nobody wait.
fn show_window_soon(app: &AppHandle) {
    let main_app = app.clone();
    if let Err(error) = app.run_on_main_thread(move || show_window(&main_app)) {
        tracing::warn!(%error, "cannot open the window");
    }
}

/// Brings the window to the front; false if there is none.
fn raise_window(app: &AppHandle) -> bool {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return false;
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
    true
}

/// A later launch forwarded its arguments: links open channels, `--quit`
/// quits, anything else shows the window.
fn on_second_launch(app: &AppHandle, argv: Vec<String>) {
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(error) => {
            tracing::warn!(%error, "a second launch passed arguments we do not understand");
            show_window(app);
            return;
        }
    };
    if cli.quit {
        quit(app);
        return;
    }
    let mut ids = links::ids_in(cli.links.iter().map(String::as_str));
    tracing::info!(links = ids.len(), "second launch");
    if app.try_state::<Running>().is_none() {
        // Still starting (the port dialog is open): keep the links for later.
        if let Some(pending) = app.try_state::<PendingLinks>() {
            if let Ok(mut pending) = pending.0.lock() {
                pending.append(&mut ids);
            }
        }
        return;
    }
    if ids.is_empty() {
        show_window(app);
    } else {
        open_links(app, ids);
    }
}

/// Saves the channels (so the window lists them) and, if the user asked for
/// it, plays the first in the preferred player; otherwise shows the window.
pub fn open_links(app: &AppHandle, ids: Vec<ContentId>) {
    spawn_with_control(app, |app, control| async move {
        for id in &ids {
            match control.save_channel(id).await {
                Ok(true) => tracing::info!(channel = %id, "channel added from a link"),
                Ok(false) => {}
                Err(error) => tracing::warn!(channel = %id, %error, "cannot save the channel"),
            }
        }
        notify_changed(&app);
        let desktop = control.settings().await.desktop;
        if desktop.play_links {
            if let Some(id) = ids.first() {
                if play(&control, id, None).await {
                    return;
                }
            }
        }
        show_window_soon(&app);
    });
}

/// Plays the saved channel `hex` in the preferred player, or says why not.
fn play_saved(app: &AppHandle, hex: String) {
    spawn_with_control(app, |app, control| async move {
        let Some(id) = control.saved_channel(&hex).await else {
            return;
        };
        if !play(&control, &id, None).await {
            app.dialog()
                .message(
                    "No player could be started. Install VLC or mpv, or set player_command in \
                     the [desktop] part of the settings file; meanwhile, copy the TS URL into your player.",
                )
                .title("acebridge")
                .kind(MessageDialogKind::Warning)
                .show(|_| {});
        }
    });
}

/// Opens `id` in the player `key` (or the preferred one); false if none could start.
pub async fn play(control: &Control, id: &ContentId, key: Option<&str>) -> bool {
    let desktop = control.settings().await.desktop;
    let url = control.ts_url(id);
    let key = key.or(desktop.player.as_deref()).map(str::to_owned);
    let started = on_desktop(move || {
        let found = players::available(std::env::var_os("PATH"), &desktop.player_command);
        let Some(player) = players::preferred(&found, key.as_deref()) else {
            tracing::warn!("no player found: install VLC or mpv, or set player_command");
            return false;
        };
        match player.launch(&url) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(player = player.key, %error, "cannot start the player");
                false
            }
        }
    });
    started.await.unwrap_or(false)
}

/// Stops the proxy (every channel and its engine session), then exits 0.
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
fn spawn_signal_handler(app: AppHandle) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_replaced_by_a_free_one() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let port = free_port_after(addr).expect("a free port");
        assert_ne!(port, addr.port());
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
