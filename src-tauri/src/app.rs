//! The tray app's start and run loop: Tauri and its plugins, the proxy bound
//! on the async runtime it shares with Tauri, and what to do when that cannot
//! happen (a bad setting, a taken port: a dialog, or the acebridge already on
//! the port), then the tray and the window.
//!
//! Uses every other module and is used by none but `main`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use acebridge::config::ConfigError;
use acebridge::content_id::ContentId;
use acebridge::taken_port::{self, Occupant};
use acebridge::{Config, Server};
use tauri::{AppHandle, Manager, RunEvent};
use tokio::sync::{oneshot, Notify};

use crate::cli::Cli;
use crate::dialog::{self, Kind};
use crate::launches::{self, PendingLinks};
use crate::state::{Elsewhere, Running, ServerTask, PROXY_THREAD};
use crate::{links, players, quit, tray, window};

/// The title of the port question (the desktop tests look for it).
const PORT_DIALOG: &str = "acebridge: port in use";

/// Builds and runs the app; returns the process exit code.
pub fn run(cli: Cli, config: Result<Config, ConfigError>) -> i32 {
    if let Err(error) = use_proxy_runtime() {
        eprintln!("acebridge-desktop: cannot start the async runtime: {error}");
        return 1;
    }
    let app = tauri::Builder::default()
        // First, so a second launch hands over its arguments before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            launches::on_second_launch(app, argv);
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
            let config = match config {
                Ok(config) => config,
                Err(error) => {
                    let text = format!(
                        "acebridge cannot start: {error}.\n\nCorrect it in the settings file, or in the \
                         ACEBRIDGE_ environment variable or command-line flag that sets it."
                    );
                    dialog::fatal(&handle, &text, 2);
                    return Ok(());
                }
            };
            quit::spawn_signal_handler(handle.clone());
            // macOS hands links to the running app as events, not arguments.
            #[cfg(target_os = "macos")]
            {
                use tauri_plugin_deep_link::DeepLinkExt as _;
                let links_app = handle.clone();
                handle.deep_link().on_open_url(move |event| {
                    let urls: Vec<String> = event.urls().iter().map(|u| u.to_string()).collect();
                    launches::open_links(&links_app, links::ids_in(urls.iter().map(String::as_str)));
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
                quit::quit(app);
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
fn start(app: AppHandle, mut config: Config, minimized: bool, links: Vec<ContentId>) {
    // Desktop users get the engine started for them: the usual installs are
    // looked for when no engine command is set.
    config.engine_autostart = true;
    let listen = config.listen;
    match tauri::async_runtime::block_on(Server::bind(config.clone())) {
        Ok(server) => {
            // The window's Play and player choice start the players found here.
            let server = server.with_player_launcher(std::sync::Arc::new(players::Launcher));
            started(&app, server, minimized, links)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            port_taken(app, config, minimized, links)
        }
        Err(error) => dialog::fatal(
            &app,
            &format!("acebridge cannot listen on {listen}: {error}"),
            1,
        ),
    }
}

/// The port is taken: by acebridge, use that one; by anything else, ask.
fn port_taken(app: AppHandle, config: Config, minimized: bool, links: Vec<ContentId>) {
    let taken = config.listen;
    // Waits up to a few seconds for an answer; nothing else runs yet.
    match tauri::async_runtime::block_on(taken_port::who_listens(taken)) {
        Occupant::Acebridge { origin, version } => {
            use_running(app, origin, &version, minimized, links)
        }
        Occupant::Other => ask_for_another_port(app, config, minimized, links),
    }
}

/// Another acebridge (`acebridge serve`, or the tray app of another session)
/// serves our port: a second proxy would double every engine session and
/// break playlists saved with this port, so show that one and give it our
/// links. Without a proxy of our own there is no tray; closing the window quits.
fn use_running(
    app: AppHandle,
    origin: String,
    version: &str,
    minimized: bool,
    links: Vec<ContentId>,
) {
    tracing::info!(%origin, version, "acebridge already runs on this port: using it, not starting a second proxy");
    tracing::info!("web UI at {origin}/");
    app.manage(Elsewhere { origin });
    let links = launches::with_pending(&app, links);
    if !links.is_empty() {
        launches::open_links(&app, links);
    } else if !minimized {
        window::show(&app);
    } else {
        // At login with acebridge already running: it is all there is to use.
        app.exit(0);
    }
}

fn ask_for_another_port(
    app: AppHandle,
    mut config: Config,
    minimized: bool,
    links: Vec<ContentId>,
) {
    let taken = config.listen;
    let Some(port) = taken_port::next_free_port(taken) else {
        return dialog::fatal(
            &app,
            &format!("Port {} is in use and no other port is free.", taken.port()),
            1,
        );
    };
    tracing::warn!(%taken, port, "listen port in use by another program; asking the user");
    let message = format!(
        "Port {} is already in use by another program, which does not answer as acebridge.\n\n\
         acebridge can use port {port} instead for this session; players and saved playlists \
         then need the new port. To keep another port, set listen in the settings file or \
         ACEBRIDGE_LISTEN.",
        taken.port()
    );
    let use_port = format!("Use port {port}");
    let dialog_app = app.clone();
    dialog::ask(
        &app,
        PORT_DIALOG,
        &message,
        (use_port.as_str(), "Quit"),
        move |use_other| {
            if !use_other {
                dialog_app.exit(1);
                return;
            }
            config.listen.set_port(port);
            start(dialog_app, config, minimized, links);
        },
    );
}

fn started(app: &AppHandle, server: Server, minimized: bool, links: Vec<ContentId>) {
    let control = match server.control() {
        Ok(control) => control,
        Err(error) => return dialog::fatal(app, &format!("acebridge cannot start: {error}"), 1),
    };
    tracing::info!("web UI at {}/", control.origin());
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
    // The user hears of a settings file that lost values, not only the log.
    crate::state::spawn_with_control(app, |app, control| async move {
        dialog::settings_warnings(&app, &control.settings_warnings().await);
    });
    // The engine is started at launch when acebridge manages it, so the
    // first channel does not wait for it.
    crate::state::spawn_with_control(app, |app, control| async move {
        if let Err(error) = control.ensure_engine().await {
            tracing::info!(%error, "engine not started at launch");
        }
        crate::state::notify_changed(&app);
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
        dialog::tell(
            app,
            Kind::Info,
            "Your desktop has no tray support (install libayatana-appindicator3-1 to get \
             the tray icon).\n\nacebridge runs while its window is open; closing the window quits it.",
        );
    }
    if !minimized || !has_tray {
        window::show(app);
    }
    let links = launches::with_pending(app, links);
    if !links.is_empty() {
        launches::open_links(app, links);
    }
}
