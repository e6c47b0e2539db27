//! The tray icon and its menu, the app's only controls besides the window.
//! On Linux the icon gets no clicks or tooltip (libappindicator), so every
//! action is a menu item; a refresh loop keeps the icon, the status lines,
//! what plays (with its programme) and records, and the player submenu
//! (players, saved channels) in step with the server.
//!
//! Owns the menu item handles ([`Tray`], managed by Tauri).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt as _;
use tauri_plugin_deep_link::DeepLinkExt as _;

use crate::dialog::{self, Kind};
use crate::players::{self, Player};
use crate::state::{self, Running};
use crate::status::{self, Action, EngineAction, Snapshot, TrayState};
use crate::{playing, quit, window};

/// How often the engine and the streams are checked when nothing wakes the loop.
const REFRESH: Duration = Duration::from_secs(5);
/// While a recording runs: its line counts the seconds.
const REFRESH_RECORDING: Duration = Duration::from_secs(1);
/// Menu ids: a player for the last stream, a saved channel for the preferred player.
const PLAYER_PREFIX: &str = "player:";
const SAVED_PREFIX: &str = "saved:";

/// Handles on what the refresh loop changes.
struct Tray {
    icon: TrayIcon,
    menu: Menu<Wry>,
    playing: PlayingItems,
    copy: MenuItem<Wry>,
    players: Submenu<Wry>,
    engine: MenuItem<Wry>,
    detail: MenuItem<Wry>,
    engine_action: MenuItem<Wry>,
    autostart: CheckMenuItem<Wry>,
    play_links: CheckMenuItem<Wry>,
}

/// Whether a tray icon can be shown. On Linux the tray needs
/// libayatana-appindicator (or the older libappindicator), which Tauri loads
/// at run time and panics without: look for it first.
pub fn supported() -> bool {
    #[cfg(target_os = "linux")]
    {
        ["libayatana-appindicator3.so.1", "libappindicator3.so.1"]
            .iter()
            // SAFETY: loading these libraries runs only their (GLib) initialisers,
            // the same code Tauri's tray would load a moment later.
            .any(|name| unsafe { libloading::Library::new(name) }.is_ok())
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

fn icon_png(state: TrayState) -> &'static [u8] {
    match state {
        TrayState::Idle => include_bytes!("../../icons/tray-idle.png"),
        TrayState::Streaming => include_bytes!("../../icons/tray-streaming.png"),
        TrayState::Recording => include_bytes!("../../icons/tray-recording.png"),
        TrayState::EngineDown => include_bytes!("../../icons/tray-engine-down.png"),
    }
}

fn icon(state: TrayState) -> Image<'static> {
    // The PNGs are ours and checked by a test: decoding cannot fail at run time.
    Image::from_bytes(icon_png(state)).unwrap_or_else(|_| Image::new(&[0, 0, 0, 0], 1, 1))
}

/// Creates the tray icon with its menu and starts the refresh loop.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let no_shortcut = None::<&str>;
    let show = MenuItem::with_id(app, "show", "Open acebridge", true, no_shortcut)?;
    let playing = PlayingItems::new(app)?;
    let copy = MenuItem::with_id(app, "copy", "Copy last stream URL", false, no_shortcut)?;
    let tuner = MenuItem::with_id(app, "tuner", "Copy tuner address", true, no_shortcut)?;
    let players = Submenu::with_id(app, "players", "Open in player", true)?;
    // Clickable while the engine does not answer: they open its settings.
    let engine = MenuItem::with_id(app, "engine", "Engine: checking…", false, no_shortcut)?;
    let detail = MenuItem::with_id(app, "detail", "", false, no_shortcut)?;
    let engine_action =
        MenuItem::with_id(app, "engine_action", "Start engine", false, no_shortcut)?;
    let autostart_on = app.autolaunch().is_enabled().unwrap_or(false);
    let autostart = CheckMenuItem::with_id(
        app,
        "autostart",
        "Start at login",
        true,
        autostart_on,
        no_shortcut,
    )?;
    let play_links = CheckMenuItem::with_id(
        app,
        "play_links",
        "Play acestream:// links at once",
        true,
        false,
        no_shortcut,
    )?;
    let make_default = MenuItem::with_id(
        app,
        "make_default",
        "Make default for acestream:// links",
        true,
        no_shortcut,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, no_shortcut)?;
    let items: [&dyn IsMenuItem<Wry>; 17] = [
        &show,
        &playing.line,
        &playing.record,
        &playing.show_file,
        &copy,
        &tuner,
        &players,
        &PredefinedMenuItem::separator(app)?,
        &engine,
        &detail,
        &engine_action,
        &PredefinedMenuItem::separator(app)?,
        &autostart,
        &play_links,
        &make_default,
        &PredefinedMenuItem::separator(app)?,
        &quit,
    ];
    let menu = Menu::with_items(app, &items)?;
    let icon = TrayIconBuilder::with_id("acebridge")
        .icon(icon(TrayState::Idle))
        .tooltip("acebridge")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .build(app)?;
    app.manage(Tray {
        icon,
        menu,
        playing,
        copy,
        players,
        engine,
        detail,
        engine_action,
        autostart,
        play_links,
    });
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut shown: Option<View> = None;
        let mut full_due = Instant::now();
        loop {
            let now = Instant::now();
            shown = match refresh_kind(shown.as_ref(), now, full_due) {
                Refresh::RecordingLine => match (shown, refresh_recording(&app).await) {
                    (Some(view), Some(line)) => Some(show_recording(&app, view, line).await),
                    // The recording ended (or the server is gone): the icon,
                    // the Record item and the menu change too.
                    (old, _) => {
                        full_due = now + REFRESH;
                        refresh(&app, old).await
                    }
                },
                Refresh::Full => {
                    full_due = now + REFRESH;
                    refresh(&app, shown).await
                }
            };
            let Some(running) = app.try_state::<Running>() else {
                return;
            };
            let recording = shown.as_ref().is_some_and(|view| view.recording.is_some());
            let period = if recording {
                REFRESH_RECORDING
            } else {
                REFRESH
            };
            if tokio::time::timeout(period, running.changed.notified())
                .await
                .is_ok()
            {
                full_due = Instant::now();
            }
        }
    });
    Ok(())
}

/// What one turn of the refresh loop reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Everything: the engine (one request to it), the settings, the
    /// players on `PATH`, what plays and records.
    Full,
    /// Only the recordings, for the "● Recording m:ss" line's clock: the
    /// once-a-second turns while a recording runs, so that they do not ask
    /// the engine or scan `PATH` every second.
    RecordingLine,
}

/// A full refresh when one is due (every [`REFRESH`], or at once after a
/// change was notified), else only the recording line while one is shown.
fn refresh_kind(shown: Option<&View>, now: Instant, full_due: Instant) -> Refresh {
    let recording = shown.is_some_and(|view| view.recording.is_some());
    if recording && now < full_due {
        Refresh::RecordingLine
    } else {
        Refresh::Full
    }
}

/// The recording line as it is now; `None` when no recording runs any more.
async fn refresh_recording(app: &AppHandle) -> Option<(String, bool)> {
    let control = state::control(app)?;
    let recordings = control.recordings().await;
    let line = status::recording_line(&recordings)?;
    Some((line, status::latest_file(&recordings).is_some()))
}

/// Shows `line` in the menu in place of `view`'s recording line.
async fn show_recording(app: &AppHandle, view: View, (line, has_file): (String, bool)) -> View {
    let new = View {
        recording: Some(line),
        has_file,
        ..view.clone()
    };
    let (app, old) = (app.clone(), view.clone());
    state::on_desktop(move || {
        let tray = app.try_state::<Tray>()?;
        show(&app, &tray, Some(&old), &new);
        Some(new)
    })
    .await
    .flatten()
    .unwrap_or(view)
}

/// What the icon and menu show; a refresh touches only what changed, since
/// on Linux every update re-sends the icon or menu over D-Bus and makes an
/// open menu flicker.
#[derive(Debug, Clone, PartialEq)]
struct View {
    state: TrayState,
    tooltip: String,
    engine: String,
    detail: String,
    engine_action: EngineAction,
    /// The name of the stream the players submenu opens, if any.
    last: Option<String>,
    play_links: bool,
    autostart: Option<bool>,
    players: Vec<Player>,
    /// Recently played channels as (id, label), most recent first.
    saved: Vec<(String, String)>,
    /// What plays now (with its programme), else what played last.
    playing: String,
    record: Action,
    /// "● Recording …" while a recording runs.
    recording: Option<String>,
    /// A recording of this run has a file to show.
    has_file: bool,
}

/// Reads the server's state (here, on the proxy's thread) and updates the icon
/// and menu to match (on the desktop side, see [`state::on_desktop`]); returns
/// what is shown now.
async fn refresh(app: &AppHandle, shown: Option<View>) -> Option<View> {
    let Some(control) = state::control(app) else {
        return shown;
    };
    let process = control.engine_process().await;
    let recordings = control.recordings().await;
    let snapshot = Snapshot {
        engine: control.engine_status().await,
        process: (&process).into(),
        streams: control.streams(),
        recording: control.recording_now(),
        engines_up: {
            let (up, of) = control.engines_up();
            status::EnginesUp { up, of }
        },
    };
    let settings = control.settings().await;
    // The playing id may be an alternate: the title follows it to its channel.
    let last = match control.last_stream().await {
        Some(id) => Some(control.channel_title(&id).await),
        None => None,
    };
    let now_playing = control.playing().await;
    let playing = status::playing_line(
        now_playing
            .as_ref()
            .map(|now| status::with_programme(&now.title, now.programme.as_ref(), local_clock))
            .as_deref(),
        last.as_deref().map(status::menu_label).as_deref(),
    );
    let saved = status::saved_for_tray(
        &acebridge::recent::recent_channels(&settings),
        |channel| control.programme_now(channel),
        local_clock,
    );
    let app = app.clone();
    state::on_desktop(move || {
        let Some(tray) = app.try_state::<Tray>() else {
            return shown;
        };
        let view = View {
            state: snapshot.tray_state(),
            tooltip: snapshot.tooltip(),
            engine: snapshot.engine_line(),
            detail: snapshot.detail_line(),
            engine_action: snapshot.engine_action(),
            last,
            play_links: settings.desktop.play_links,
            autostart: app.autolaunch().is_enabled().ok(),
            players: players::available(std::env::var_os("PATH"), &settings.desktop.player_command),
            saved,
            playing,
            record: status::record_action(now_playing.as_ref()),
            recording: status::recording_line(&recordings),
            has_file: status::latest_file(&recordings).is_some(),
        };
        show(&app, &tray, shown.as_ref(), &view);
        Some(view)
    })
    .await
    .flatten()
}

/// Puts `view` in the icon and menu, touching only what differs from `old`.
fn show(app: &AppHandle, tray: &Tray, old: Option<&View>, view: &View) {
    state::debug_assert_off_proxy_thread();
    if old.is_none_or(|old| old.state != view.state) {
        let _ = tray.icon.set_icon(Some(icon(view.state)));
    }
    if old.is_none_or(|old| old.tooltip != view.tooltip) {
        let _ = tray.icon.set_tooltip(Some(&view.tooltip));
    }
    if old.is_none_or(|old| old.engine != view.engine) {
        let _ = tray.engine.set_text(&view.engine);
    }
    if old.is_none_or(|old| old.detail != view.detail) {
        let _ = tray.detail.set_text(&view.detail);
    }
    if old.is_none_or(|old| old.engine_action != view.engine_action) {
        let _ = tray.engine_action.set_text(view.engine_action.label);
        let _ = tray.engine_action.set_enabled(view.engine_action.enabled);
    }
    tray.playing.show(&tray.menu, old, view);
    if old.is_none_or(|old| old.state != view.state) {
        let down = view.state == TrayState::EngineDown;
        let _ = tray.engine.set_enabled(down);
        let _ = tray.detail.set_enabled(down);
    }
    if old.is_none_or(|old| old.last.is_some() != view.last.is_some()) {
        let _ = tray.copy.set_enabled(view.last.is_some());
    }
    if old.is_none_or(|old| old.play_links != view.play_links) {
        let _ = tray.play_links.set_checked(view.play_links);
    }
    if let Some(on) = view
        .autostart
        .filter(|_| old.is_none_or(|old| old.autostart != view.autostart))
    {
        let _ = tray.autostart.set_checked(on);
    }
    let submenu_changed = |old: &View| {
        old.players != view.players || old.last != view.last || old.saved != view.saved
    };
    if old.is_none_or(submenu_changed) {
        if let Err(error) = fill_players(app, &tray.players, view) {
            tracing::warn!(%error, "cannot update the players menu");
        }
    }
}

/// Open in player ▸ what the players open (a disabled line that says it),
/// the players, then the saved channels (played in the preferred player).
fn fill_players(app: &AppHandle, menu: &Submenu<Wry>, view: &View) -> tauri::Result<()> {
    let no_shortcut = None::<&str>;
    for item in menu.items()? {
        menu.remove(&item)?;
    }
    // Players are greyed out without a last stream: say why, and where else to look.
    let heading = match &view.last {
        Some(name) => format!("Last stream: {}", status::menu_label(name)),
        None => "Nothing played yet: play a channel from the window".to_owned(),
    };
    menu.append(&MenuItem::with_id(
        app,
        "last",
        heading,
        false,
        no_shortcut,
    )?)?;
    if view.players.is_empty() {
        let none = MenuItem::with_id(app, "no_player", "No VLC or mpv found", false, no_shortcut)?;
        menu.append(&none)?;
    }
    for player in &view.players {
        let id = format!("{PLAYER_PREFIX}{}", player.key);
        let label = format!("Play in {}", player.label);
        let item = MenuItem::with_id(app, id, label, view.last.is_some(), no_shortcut)?;
        menu.append(&item)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    let saved = Submenu::with_id(app, "saved", "Recently played", !view.saved.is_empty())?;
    for (hex, label) in &view.saved {
        let id = format!("{SAVED_PREFIX}{hex}");
        saved.append(&MenuItem::with_id(app, id, label, true, no_shortcut)?)?;
    }
    menu.append(&saved)
}

/// Puts `text` on the clipboard, from the desktop thread.
async fn copy_text(app: AppHandle, text: String) {
    state::on_desktop(move || {
        if let Err(error) = app.clipboard().write_text(text) {
            tracing::warn!(%error, "cannot write the clipboard");
        }
    })
    .await;
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        "show" => window::show(app),
        "engine" | "detail" => window::show_engine_settings(app),
        "copy" => state::spawn_with_control(app, |app, control| async move {
            let Some(id) = control.last_stream().await else {
                return;
            };
            let url = control.play_url(&id).await;
            tracing::info!(channel = %id, "copying the stream URL");
            copy_text(app, url).await;
        }),
        "tuner" => state::spawn_with_control(app, |app, control| async move {
            // What media centres on this computer are given (see the web UI's Media centres).
            copy_text(app, control.origin().to_owned()).await;
        }),
        "engine_action" => state::spawn_with_control(app, |app, control| async move {
            // Decided on what the engine is now, not on the label clicked.
            let ours = control.engine_process().await.started_by_acebridge;
            let done = if ours {
                control.stop_engine().await
            } else {
                control.start_engine().await
            };
            if let Err(error) = done {
                tracing::warn!(%error, "engine start/stop failed");
                dialog::tell(&app, Kind::Error, &error.to_string());
            }
            state::notify_changed(&app);
        }),
        "autostart" => toggle_autostart(app),
        "play_links" => state::spawn_with_control(app, |app, control| async move {
            let changed = control
                .update_desktop(|desktop| desktop.play_links = !desktop.play_links)
                .await;
            if let Err(error) = changed {
                tracing::warn!(%error, "cannot save the setting");
            }
            state::notify_changed(&app);
        }),
        "make_default" => make_default_handler(app),
        "record" => toggle_recording(app),
        "recording" => window::show(app),
        "show_file" => show_latest_file(app),
        "quit" => quit::quit_asking(app),
        other => {
            if let Some(key) = other.strip_prefix(PLAYER_PREFIX) {
                open_last_in(app, key.to_owned());
            } else if let Some(hex) = other.strip_prefix(SAVED_PREFIX) {
                playing::play_saved(app, hex.to_owned(), None);
            }
        }
    }
}

/// The end of a programme as the menu writes it: "15:30", local time.
fn local_clock(unix: i64) -> String {
    acebridge::recording::names::local_time_of_day(unix)
}

/// The lines about what plays and records: the playing line (the channel
/// with its programme), Record / Stop recording, the "● Recording" line
/// (in the menu only while a recording runs) and Show recorded file.
struct PlayingItems {
    line: MenuItem<Wry>,
    record: MenuItem<Wry>,
    /// Inserted after `record` while a recording runs; clicked, it opens the window.
    recording: MenuItem<Wry>,
    show_file: MenuItem<Wry>,
}

impl PlayingItems {
    fn new(app: &AppHandle) -> tauri::Result<Self> {
        let no_shortcut = None::<&str>;
        Ok(Self {
            line: MenuItem::with_id(app, "playing", "Nothing played yet", false, no_shortcut)?,
            record: MenuItem::with_id(app, "record", "Record", false, no_shortcut)?,
            recording: MenuItem::with_id(app, "recording", "● Recording", true, no_shortcut)?,
            show_file: MenuItem::with_id(app, "show_file", NO_FILE_YET, false, no_shortcut)?,
        })
    }

    /// Puts `view` in these items, touching only what differs from `old`.
    fn show(&self, menu: &Menu<Wry>, old: Option<&View>, view: &View) {
        if old.is_none_or(|old| old.playing != view.playing) {
            let _ = self.line.set_text(&view.playing);
        }
        if old.is_none_or(|old| old.record != view.record) {
            let _ = self.record.set_text(view.record.label);
            let _ = self.record.set_enabled(view.record.enabled);
        }
        if old.is_none_or(|old| old.has_file != view.has_file) {
            let label = if view.has_file {
                "Show recorded file"
            } else {
                NO_FILE_YET
            };
            let _ = self.show_file.set_text(label);
            let _ = self.show_file.set_enabled(view.has_file);
        }
        let was = old.and_then(|old| old.recording.as_ref());
        match (was, &view.recording) {
            (None, Some(text)) => {
                let _ = self.recording.set_text(text);
                if let Err(error) = self.insert_recording_line(menu) {
                    tracing::warn!(%error, "cannot show the recording in the menu");
                }
            }
            (Some(was), Some(text)) if was != text => {
                let _ = self.recording.set_text(text);
            }
            (Some(_), None) => {
                let _ = menu.remove(&self.recording);
            }
            _ => {}
        }
    }

    /// Puts the "● Recording" line right after Record.
    fn insert_recording_line(&self, menu: &Menu<Wry>) -> tauri::Result<()> {
        let after = menu
            .items()?
            .iter()
            .position(|item| item.id() == self.record.id())
            .map_or(0, |at| at + 1);
        menu.insert(&self.recording, after)
    }
}

/// Show recorded file, greyed until something was recorded.
const NO_FILE_YET: &str = "Show recorded file (none yet)";

/// Record: starts recording the channel playing now; Stop recording: stops
/// its recordings. Decided on what plays and records now, not on the label clicked.
fn toggle_recording(app: &AppHandle) {
    state::spawn_with_control(app, |app, control| async move {
        let Some(playing) = control.playing().await else {
            return;
        };
        if playing.recordings.is_empty() {
            tracing::info!(channel = %playing.channel, "recording from the tray");
            if let Err(error) = control.record(&playing.channel).await {
                tracing::warn!(%error, "cannot record");
                let text = format!("Cannot record {}: {error}", playing.title);
                dialog::tell(&app, Kind::Error, &text);
            }
        } else {
            for id in &playing.recordings {
                if let Err(error) = control.stop_recording(id).await {
                    tracing::warn!(%error, recording = %id, "cannot stop the recording");
                }
            }
        }
        state::notify_changed(&app);
    });
}

/// Shows the newest recording's file in the file manager, selected where
/// the platform allows, else opens its folder.
fn show_latest_file(app: &AppHandle) {
    state::spawn_with_control(app, |app, control| async move {
        let recordings = control.recordings().await;
        let Some(file) = status::latest_file(&recordings).map(PathBuf::from) else {
            return;
        };
        let shown = state::on_desktop(move || reveal(&file)).await;
        if let Some(Err(error)) = shown {
            tracing::warn!(%error, "cannot show the recording");
            dialog::tell(&app, Kind::Error, &format!("Cannot show the file: {error}"));
        }
    });
}

/// The file manager with `file` selected (Explorer, Finder, or on Linux the
/// file manager's D-Bus interface), else `file`'s folder in the default app.
fn reveal(file: &std::path::Path) -> Result<(), String> {
    let Err(error) = tauri_plugin_opener::reveal_item_in_dir(file) else {
        return Ok(());
    };
    tracing::info!(%error, "cannot select the file; opening its folder");
    let folder = file.parent().unwrap_or(file);
    tauri_plugin_opener::open_path(folder, None::<&str>).map_err(|error| error.to_string())
}

/// Opens the last stream in player `key` and remembers it as the preferred one.
fn open_last_in(app: &AppHandle, key: String) {
    state::spawn_with_control(app, |app, control| async move {
        let Some(id) = control.last_stream().await else {
            return;
        };
        playing::play_or_explain(&app, &control, &id, Some(key)).await;
    });
}

fn toggle_autostart(app: &AppHandle) {
    let launcher = app.autolaunch();
    let result = match launcher.is_enabled() {
        Ok(true) => launcher.disable(),
        Ok(false) => launcher.enable(),
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        tracing::warn!(%error, "cannot change Start at login");
        dialog::tell(
            app,
            Kind::Error,
            &format!("Cannot change Start at login: {error}"),
        );
    }
    state::notify_changed(app);
}

/// Registers acebridge for `acestream://` links, only when the user asks:
/// AceStream's own app claims the scheme too, and the last to register wins.
fn make_default_handler(app: &AppHandle) {
    #[cfg(any(windows, target_os = "linux"))]
    let result = app.deep_link().register("acestream");
    #[cfg(not(any(windows, target_os = "linux")))]
    let result: Result<(), String> =
        Err("on macOS the app bundle declares the scheme; nothing to change".into());
    match result {
        Ok(()) => dialog::tell(app, Kind::Info, "acestream:// links now open in acebridge."),
        Err(error) => dialog::tell(
            app,
            Kind::Error,
            &format!("Cannot register for acestream:// links: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_decodable_icon() {
        for state in [
            TrayState::Idle,
            TrayState::Streaming,
            TrayState::Recording,
            TrayState::EngineDown,
        ] {
            let image = Image::from_bytes(icon_png(state)).expect("decodes");
            assert_eq!((image.width(), image.height()), (64, 64));
        }
    }

    fn view(recording: Option<&str>) -> View {
        let action = Action {
            label: "",
            enabled: true,
        };
        View {
            state: TrayState::Idle,
            tooltip: String::new(),
            engine: String::new(),
            detail: String::new(),
            engine_action: action,
            last: None,
            play_links: false,
            autostart: None,
            players: Vec::new(),
            saved: Vec::new(),
            playing: String::new(),
            record: action,
            recording: recording.map(str::to_owned),
            has_file: false,
        }
    }

    #[test]
    fn a_running_recording_refreshes_only_its_line_between_full_refreshes() {
        let now = Instant::now();
        let due = now + REFRESH;
        let recording = view(Some("● Recording News 0:01 · 1 MB"));
        assert_eq!(
            refresh_kind(Some(&recording), now, due),
            Refresh::RecordingLine
        );
        assert_eq!(refresh_kind(Some(&recording), due, due), Refresh::Full);
    }

    #[test]
    fn without_a_recording_every_refresh_is_full() {
        let now = Instant::now();
        let due = now + REFRESH;
        assert_eq!(refresh_kind(None, now, due), Refresh::Full);
        assert_eq!(refresh_kind(Some(&view(None)), now, due), Refresh::Full);
    }
}
