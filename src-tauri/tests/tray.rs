//! The tray menu as a desktop shell sees it. On Linux the tray icon is a
//! StatusNotifierItem on the session bus with its menu exported over
//! `com.canonical.dbusmenu`; this test plays the shell: it owns
//! `org.kde.StatusNotifierWatcher` on the test's private bus, waits for the
//! app to register its item, reads the menu and clicks its entries: Copy,
//! Start at login, Make default, a saved channel, the engine-down line,
//! Record, Stop recording, Show recorded file (answered by a fake
//! `org.freedesktop.FileManager1`), Quit.

mod harness;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acebridge_testkit::engine::SimEngine;
use acebridge_testkit::guide::{self, ServedFiles};
use acebridge_testkit::wait::{wait_until, wait_until_sync};
use harness::*;
use zbus::message::Header;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// A registered item: the app's bus name and the item's object path.
type Item = (String, String);

/// The shell's side of the tray protocol, just enough for libappindicator.
struct Watcher {
    items: Arc<Mutex<Vec<Item>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String, #[zbus(header)] header: Header<'_>) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        // The item says either its object path or its bus name.
        let item = if service.starts_with('/') {
            (sender, service)
        } else {
            (service, "/StatusNotifierItem".to_owned())
        };
        if let Ok(mut items) = self.items.lock() {
            items.push(item);
        }
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items
            .lock()
            .map(|items| {
                items
                    .iter()
                    .map(|(name, path)| format!("{name}{path}"))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// A menu entry: dbusmenu id, label, enabled.
#[derive(Debug, Clone)]
struct Entry {
    id: i32,
    label: String,
    enabled: bool,
}

type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

fn flatten(layout: Layout, out: &mut Vec<Entry>) {
    let (id, properties, children) = layout;
    let label = properties
        .get("label")
        .and_then(|value| String::try_from(value.clone()).ok())
        .unwrap_or_default();
    let enabled = properties
        .get("enabled")
        .and_then(|value| bool::try_from(value).ok())
        .unwrap_or(true);
    out.push(Entry {
        id,
        label: label.replace('_', ""),
        enabled,
    });
    for child in children {
        if let Ok(child) = Layout::try_from(child) {
            flatten(child, out);
        }
    }
}

async fn menu_entries(bus: &zbus::Connection, item: &Item) -> Option<(String, Vec<Entry>)> {
    let (name, path) = item;
    let properties = zbus::fdo::PropertiesProxy::builder(bus)
        .destination(name.as_str())
        .ok()?
        .path(path.as_str())
        .ok()?
        .build()
        .await
        .ok()?;
    let menu = properties
        .get("org.kde.StatusNotifierItem".try_into().ok()?, "Menu")
        .await
        .ok()?;
    let menu = OwnedObjectPath::try_from(menu).ok()?;
    let reply = bus
        .call_method(
            Some(name.as_str()),
            menu.as_str(),
            Some("com.canonical.dbusmenu"),
            "GetLayout",
            &(0i32, -1i32, Vec::<String>::new()),
        )
        .await
        .ok()?;
    let (_revision, layout): (u32, Layout) = reply.body().deserialize().ok()?;
    let mut entries = Vec::new();
    flatten(layout, &mut entries);
    Some((menu.to_string(), entries))
}

async fn entry(bus: &zbus::Connection, item: &Item, label: &str) -> Option<Entry> {
    entry_where(bus, item, |text| text == label).await
}

async fn entry_starting(bus: &zbus::Connection, item: &Item, prefix: &str) -> Option<Entry> {
    entry_where(bus, item, |text| text.starts_with(prefix)).await
}

async fn entry_where(
    bus: &zbus::Connection,
    item: &Item,
    matches: impl Fn(&str) -> bool,
) -> Option<Entry> {
    let (_, entries) = menu_entries(bus, item).await?;
    entries.into_iter().find(|e| matches(&e.label))
}

/// Clicks the menu entry `label`, as the shell does when the user picks it.
async fn click(bus: &zbus::Connection, item: &Item, menu_path: &str, label: &str) {
    let target = entry(bus, item, label)
        .await
        .unwrap_or_else(|| panic!("no menu entry {label:?}"));
    bus.call_method(
        Some(item.0.as_str()),
        menu_path,
        Some("com.canonical.dbusmenu"),
        "Event",
        &(target.id, "clicked", Value::from(0i32), 0u32),
    )
    .await
    .unwrap_or_else(|error| panic!("click {label:?}: {error}"));
}

/// The X clipboard of `display`, as another application would paste it.
/// Waits (bounded) until the clipboard of `display` holds `expected`.
async fn wait_for_clipboard(display: &str, expected: &str) {
    wait_until_sync(
        Duration::from_secs(10),
        &format!("the clipboard holds {expected}"),
        || clipboard_text(display).is_some_and(|text| text == expected),
    )
    .await;
}

fn clipboard_text(display: &str) -> Option<String> {
    let output = std::process::Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .env("DISPLAY", display)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The desktop shell's side: the watcher on the test's bus, and the items
/// registered with it.
struct Shell {
    bus: zbus::Connection,
    items: Arc<Mutex<Vec<Item>>>,
}

impl Shell {
    async fn start(desktop: &Desktop) -> Self {
        let items = Arc::new(Mutex::new(Vec::new()));
        let watcher = Watcher {
            items: Arc::clone(&items),
        };
        let bus = serve_on_test_bus(
            desktop,
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            watcher,
        )
        .await;
        Self { bus, items }
    }

    /// The app's tray item, once it registers.
    async fn item(&self) -> Item {
        wait_until(
            Duration::from_secs(60),
            "the tray item registers",
            || async {
                self.items
                    .lock()
                    .map(|items| !items.is_empty())
                    .unwrap_or(false)
            },
        )
        .await;
        self.items.lock().expect("items")[0].clone()
    }
}

/// A property of the tray item, as the shell reads it to draw the item.
async fn item_property(bus: &zbus::Connection, item: &Item, name: &str) -> Option<OwnedValue> {
    let properties = zbus::fdo::PropertiesProxy::builder(bus)
        .destination(item.0.as_str())
        .ok()?
        .path(item.1.as_str())
        .ok()?
        .build()
        .await
        .ok()?;
    properties
        .get("org.kde.StatusNotifierItem".try_into().ok()?, name)
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn tray_menu_shows_the_engine_and_its_quit_stops_every_session() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let shell = Shell::start(&desktop).await;
    let bus = &shell.bus;
    let engine = SimEngine::start().await;
    let port = free_port();
    let mut app = desktop.launch(&engine, port, &["--minimized"]);
    let item = &shell.item().await;

    // The status lines follow the engine: the refresh loop fills them in,
    // then the players submenu (a menu read in between lacks its entries).
    wait_until(
        Duration::from_secs(30),
        "the menu shows the engine version and the players submenu",
        || async {
            menu_entries(bus, item).await.is_some_and(|(_, entries)| {
                entries
                    .iter()
                    .any(|e| e.label == "Engine 3.2.3: running" && !e.enabled)
                    && entries
                        .iter()
                        .any(|e| e.label.starts_with("Nothing played yet:"))
            })
        },
    )
    .await;
    let (menu_path, entries) = menu_entries(bus, item).await.expect("menu");
    let labels: Vec<_> = entries.iter().map(|e| e.label.as_str()).collect();
    eprintln!("tray menu: {labels:?}");
    for expected in [
        "Open acebridge",
        "Copy last stream URL",
        "Copy tuner address",
        "Open in player",
        "Nothing playing",
        "Start at login",
        "Play acestream:// links at once",
        "Make default for acestream:// links",
        "Quit",
    ] {
        assert!(
            labels.contains(&expected),
            "{expected:?} missing from {labels:?}"
        );
    }
    // Nothing was ever played or saved: there is no last stream to copy,
    // and the players submenu says so above its greyed-out players.
    let copy = entries.iter().find(|e| e.label == "Copy last stream URL");
    assert!(copy.is_some_and(|e| !e.enabled), "{entries:?}");
    // A greyed Start engine says why: someone else's engine runs.
    let start = entries
        .iter()
        .find(|e| e.label == "Start engine (already running)");
    assert!(start.is_some_and(|e| !e.enabled), "{entries:?}");
    assert!(
        labels.contains(&"Nothing played yet: play a channel from the window"),
        "{labels:?}"
    );

    // The engine stops answering: the menu says so and how to fix it.
    engine.set_down(true);
    wait_until(
        Duration::from_secs(15),
        "the menu shows the engine down",
        || async { entry(bus, item, "Engine not reachable").await.is_some() },
    )
    .await;
    let hint = entry_starting(bus, item, "Start AceStream, or set the engine URL").await;
    assert!(hint.is_some(), "no hint on how to fix the engine");
    // No engine program is installed here: nothing acebridge could start.
    let start = entry(bus, item, "Start engine (no engine program found)").await;
    assert!(
        start.is_some_and(|e| !e.enabled),
        "no reason for a greyed Start engine"
    );
    // Both lines lead to the engine settings: they can be clicked.
    let down = entry(bus, item, "Engine not reachable").await;
    assert!(
        down.is_some_and(|e| e.enabled),
        "the engine-down line is greyed out"
    );
    engine.set_down(false);
    wait_until(
        Duration::from_secs(15),
        "the menu shows the engine back",
        || async { entry(bus, item, "Engine 3.2.3: running").await.is_some() },
    )
    .await;

    // A player watches a channel whose linger (30 s) outlasts the test: only
    // Quit can stop its engine session in time.
    let http = reqwest::Client::new();
    let mut stream = http
        .get(format!("http://127.0.0.1:{port}/ace/getstream?id={ID}"))
        .send()
        .await
        .expect("stream");
    let _ = stream.chunk().await.expect("read").expect("data");
    drop(stream);
    assert_eq!(engine.active_sessions(), 1);

    // Copy: the stream just played is the last one; its URL lands on the clipboard.
    wait_until(
        Duration::from_secs(15),
        "Copy last stream URL is enabled",
        || async {
            entry(bus, item, "Copy last stream URL")
                .await
                .is_some_and(|e| e.enabled)
        },
    )
    .await;
    click(bus, item, &menu_path, "Copy last stream URL").await;
    let stream_url = format!("http://127.0.0.1:{port}/ace/getstream?id={ID}");
    wait_for_clipboard(&desktop.display, &stream_url).await;

    // Copy tuner address: what media centres on this computer are given.
    click(bus, item, &menu_path, "Copy tuner address").await;
    wait_for_clipboard(&desktop.display, &format!("http://127.0.0.1:{port}")).await;

    // Start at login: an XDG autostart entry that starts minimized.
    click(bus, item, &menu_path, "Start at login").await;
    let autostart = desktop
        .home
        .path()
        .join(".config/autostart/acebridge.desktop");
    wait_until(
        Duration::from_secs(10),
        "the autostart entry is written",
        || async {
            std::fs::read_to_string(&autostart).is_ok_and(|text| text.contains("--minimized"))
        },
    )
    .await;

    // Make default: a handler .desktop file registered for acestream:// links.
    click(bus, item, &menu_path, "Make default for acestream:// links").await;
    let handler = desktop
        .home
        .path()
        .join(".local/share/applications/acebridge-desktop-handler.desktop");
    wait_until(
        Duration::from_secs(10),
        "the link handler is registered",
        || async {
            std::fs::read_to_string(&handler)
                .is_ok_and(|text| text.contains("x-scheme-handler/acestream"))
        },
    )
    .await;

    click(bus, item, &menu_path, "Quit").await;
    let status = exit_within(&mut app.0, Duration::from_secs(20)).expect("the app quits");
    assert!(status.success(), "exit after Quit: {status}");
    assert_eq!(
        engine.active_sessions(),
        0,
        "an engine session was left behind"
    );
}

/// Issue 16: the tray plays the recently played channels (most recent
/// first, unnamed ones as "Channel 89abcd…"), with the channel's name as the
/// player's title; "Last stream" is the channel played last, not the list's
/// last line; the item is titled "acebridge"; the engine-down line opens the window.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn saved_channels_play_from_the_tray_with_their_names() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let settings = desktop.settings_file();
    std::fs::create_dir_all(settings.parent().expect("dir")).expect("settings dir");
    std::fs::write(
        &settings,
        format!(
            "[desktop]\nplayer = \"mpv\"\nrecent = [\"{ID}\", \"{LINKED}\"]\n\n\
             [[channels]]\nid = \"{ID}\"\nname = \"Old News\"\n\n\
             [[channels]]\nid = \"{LINKED}\"\n"
        ),
    )
    .expect("write the settings");
    let bin = desktop.home.path().join("bin");
    let played = fake_player(&bin, "mpv");

    let shell = Shell::start(&desktop).await;
    let bus = &shell.bus;
    let engine = SimEngine::start().await;
    let port = free_port();
    let mut app = Reaped(
        desktop
            .app(&engine, port, &["--minimized"])
            .env("PATH", path_with(&bin))
            .spawn()
            .expect("start the app"),
    );
    let item = &shell.item().await;
    let title = item_property(bus, item, "Title")
        .await
        .and_then(|title| String::try_from(title).ok());
    assert_eq!(title.as_deref(), Some("acebridge"));

    let unnamed = format!("Channel {}…", &LINKED[..6]);
    wait_until(
        Duration::from_secs(30),
        "the saved channels are in the menu",
        || async { entry(bus, item, "Old News").await.is_some() },
    )
    .await;
    let (menu_path, entries) = menu_entries(bus, item).await.expect("menu");
    let labels: Vec<_> = entries.iter().map(|e| e.label.as_str()).collect();
    eprintln!("tray menu: {labels:?}");
    let position = |label: &str| labels.iter().position(|l| *l == label);
    // Old News was played last, though it is not the list's last line.
    let (Some(saved), Some(newest), Some(oldest)) = (
        position("Recently played"),
        position("Old News"),
        position(&unnamed),
    ) else {
        panic!("recently played channels missing from {labels:?}");
    };
    assert!(saved < newest && newest < oldest, "{labels:?}");
    // The players open the last stream, which the submenu names.
    assert!(labels.contains(&"Last stream: Old News"), "{labels:?}");
    assert!(
        entries
            .iter()
            .any(|e| e.label == "Play in mpv" && e.enabled),
        "{entries:?}"
    );

    click(bus, item, &menu_path, "Old News").await;
    wait_until_sync(Duration::from_secs(20), "the player starts", || {
        played.exists()
    })
    .await;
    let args = std::fs::read_to_string(&played).expect("the player's arguments");
    let args: Vec<_> = args.lines().collect();
    // A saved channel plays by its stable URL, which fails over between its alternates.
    let url = format!("http://127.0.0.1:{port}/channel/{ID}.ts");
    assert!(args.contains(&"--force-media-title=Old News"), "{args:?}");
    assert_eq!(args.last(), Some(&url.as_str()), "{args:?}");

    // The engine stops answering: its line opens the window (at the engine settings).
    engine.set_down(true);
    wait_until(
        Duration::from_secs(15),
        "the engine-down line can be clicked",
        || async {
            entry(bus, item, "Engine not reachable")
                .await
                .is_some_and(|e| e.enabled)
        },
    )
    .await;
    let pid = app.0.id();
    assert!(!has_webview(pid), "--minimized opened a window");
    click(bus, item, &menu_path, "Engine not reachable").await;
    wait_until_sync(Duration::from_secs(30), "the window opens", || {
        has_webview(pid)
    })
    .await;
    app.terminate_cleanly();
}

/// The file manager's side of "Show recorded file": what it was asked to show.
struct FileManager {
    shown: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.FileManager1")]
impl FileManager {
    fn show_items(&self, uris: Vec<String>, _startup_id: String) {
        if let Ok(mut shown) = self.shown.lock() {
            shown.extend(uris);
        }
    }
}

/// Plays the file manager on the test's bus; returns the URIs it is asked to show.
async fn file_manager(desktop: &Desktop) -> (zbus::Connection, Arc<Mutex<Vec<String>>>) {
    let shown = Arc::new(Mutex::new(Vec::new()));
    let file_manager = FileManager {
        shown: Arc::clone(&shown),
    };
    let bus = serve_on_test_bus(
        desktop,
        "org.freedesktop.FileManager1",
        "/org/freedesktop/FileManager1",
        file_manager,
    )
    .await;
    (bus, shown)
}

/// Owns `name` on the test's bus and serves `interface` at `path`, as a
/// desktop service would.
async fn serve_on_test_bus(
    desktop: &Desktop,
    name: &'static str,
    path: &'static str,
    interface: impl zbus::object_server::Interface,
) -> zbus::Connection {
    zbus::connection::Builder::address(desktop.bus.as_str())
        .expect("bus address")
        .name(name)
        .expect("name")
        .serve_at(path, interface)
        .expect("serve")
        .build()
        .await
        .expect("connect to the test bus")
}

/// A saved channel whose guide id is that of the sample guide's Sky Sports F1.
fn save_sky_f1(desktop: &Desktop) {
    let settings = desktop.settings_file();
    std::fs::create_dir_all(settings.parent().expect("dir")).expect("settings dir");
    std::fs::write(
        &settings,
        format!("[[channels]]\nid = \"{ID}\"\nname = \"Sky Sports F1\"\ntvg_id = \"Sky.F1.uk\"\n"),
    )
    .expect("write the settings");
}

/// A player reading the saved channel by its stable URL until the task is aborted.
fn watch(port: u16) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let url = format!("http://127.0.0.1:{port}/channel/{ID}.ts");
        let Ok(mut stream) = reqwest::get(url).await else {
            return;
        };
        while let Ok(Some(_)) = stream.chunk().await {}
    })
}

/// The recordings `GET /api/recordings` lists.
async fn recordings(port: u16) -> Vec<serde_json::Value> {
    let url = format!("http://127.0.0.1:{port}/api/recordings");
    get_json(&reqwest::Client::new(), &url)
        .await
        .and_then(|list| list["recordings"].as_array().cloned())
        .unwrap_or_default()
}

/// Waits until the only recording is in `state` with data written; returns it.
async fn wait_for_recording(port: u16, state: &str) -> serde_json::Value {
    let found = Arc::new(Mutex::new(None));
    wait_until(
        Duration::from_secs(60),
        &format!("a recording {state} with data"),
        || async {
            let list = recordings(port).await;
            let hit = list
                .first()
                .filter(|r| r["state"] == state && r["bytes"].as_u64().unwrap_or(0) > 0)
                .cloned();
            let done = hit.is_some();
            if let (Some(hit), Ok(mut found)) = (hit, found.lock()) {
                *found = Some(hit);
            }
            done
        },
    )
    .await;
    let found = found.lock().expect("found").take();
    found.expect("the recording")
}

/// With `ACEBRIDGE_TRAY_SCREENSHOTS=<dir>`, saves the test's screen as
/// `<dir>/<name>` (Pillow's ImageGrab), so a person can look at a dialog.
fn photograph(desktop: &Desktop, name: &str) {
    let Some(dir) = std::env::var_os("ACEBRIDGE_TRAY_SCREENSHOTS") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(name);
    let script = format!(
        "from PIL import ImageGrab; ImageGrab.grab(xdisplay={:?}).save({:?})",
        desktop.display,
        path.display().to_string()
    );
    let saved = std::process::Command::new("python3")
        .args(["-c", &script])
        .status();
    assert!(saved.is_ok_and(|s| s.success()), "cannot save {path:?}");
}

/// Issues 23 and 24 in the tray: the playing line names the channel and
/// its programme from the guide, as the recently played submenu does;
/// Record (clicked over D-Bus) records the channel playing now, and the
/// menu and the icon show it ("● Recording …"); Show recorded file asks the
/// file manager to select the file; Stop recording ends it, leaving a
/// playable file. A greyed Record or Show says why.
#[tokio::test(flavor = "multi_thread")]
async fn record_from_the_tray_with_the_programme_and_show_the_file() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    save_sky_f1(&desktop);
    let files = ServedFiles::default();
    let guide_url = format!("{}/guide.xml", files.start().await);
    files.set("/guide.xml", 200, guide::sample(guide::now()));
    let videos = desktop.home.path().join("Videos");
    let shell = Shell::start(&desktop).await;
    let bus = &shell.bus;
    let (_file_manager, shown) = file_manager(&desktop).await;
    let engine = SimEngine::start().await;
    let port = free_port();
    let mut app = app_recording_to(&desktop, &engine, port, &videos);
    let item = &shell.item().await;
    wait_until(
        Duration::from_secs(60),
        "the menu offers Record, greyed with its reason",
        || async {
            entry(bus, item, "Record (nothing playing)")
                .await
                .is_some_and(|e| !e.enabled)
        },
    )
    .await;
    let idle_icon = item_property(bus, item, "IconName").await;
    let (menu_path, entries) = menu_entries(bus, item).await.expect("menu");
    let labels: Vec<_> = entries.iter().map(|e| e.label.as_str()).collect();
    eprintln!("tray menu: {labels:?}");
    assert!(labels.contains(&"Nothing played yet"), "{labels:?}");
    let show = entries
        .iter()
        .find(|e| e.label == "Show recorded file (none yet)");
    assert!(show.is_some_and(|e| !e.enabled), "{entries:?}");

    let http = reqwest::Client::new();
    let added = http
        .post(format!("http://127.0.0.1:{port}/api/guide/sources"))
        .json(&serde_json::json!({ "url": guide_url }))
        .send()
        .await
        .expect("add the guide");
    assert!(added.status().is_success(), "{}", added.status());
    let player = watch(port);

    // What plays, with what is on (the sample guide's programme on now).
    let on_now = "Sky Sports F1 — Race & Build-up (until ";
    wait_until(
        Duration::from_secs(60),
        "the playing line and the recently played channels show the programme",
        || async {
            menu_entries(bus, item).await.is_some_and(|(_, entries)| {
                let starting = |prefix: &str| entries.iter().any(|e| e.label.starts_with(prefix));
                starting(&format!("Playing: {on_now}")) && starting(on_now)
            })
        },
    )
    .await;
    let (_, entries) = menu_entries(bus, item).await.expect("menu");
    let labels: Vec<_> = entries.iter().map(|e| e.label.as_str()).collect();
    eprintln!("tray menu while playing: {labels:?}");
    let line = labels
        .iter()
        .find(|l| l.starts_with("Playing: "))
        .expect("playing line");
    let until = line
        .strip_prefix(&format!("Playing: {on_now}"))
        .and_then(|rest| rest.strip_suffix(')'))
        .expect("an end time");
    assert!(
        until.len() == 5 && until.as_bytes()[2] == b':',
        "until {until:?} in {line:?}"
    );

    click(bus, item, &menu_path, "Record").await;
    let recording = wait_for_recording(port, "recording").await;
    assert_eq!(recording["channel"], ID, "{recording}");
    wait_until(
        Duration::from_secs(30),
        "the menu shows the recording and offers to stop it",
        || async {
            entry_starting(bus, item, "● Recording Sky Sports F1 ")
                .await
                .is_some()
                && entry(bus, item, "Stop recording")
                    .await
                    .is_some_and(|e| e.enabled)
        },
    )
    .await;
    let recording_icon = item_property(bus, item, "IconName").await;
    assert_ne!(recording_icon, idle_icon, "the icon did not change");

    // Show recorded file: the file manager is asked to select the file.
    let file = std::path::PathBuf::from(recording["file"].as_str().expect("file"));
    let file_url = url::Url::from_file_path(std::fs::canonicalize(&file).expect("the file"))
        .expect("file URL")
        .to_string();
    click(bus, item, &menu_path, "Show recorded file").await;
    wait_until_sync(
        Duration::from_secs(30),
        "the file manager is asked to show the file",
        || shown.lock().is_ok_and(|shown| shown.contains(&file_url)),
    )
    .await;

    click(bus, item, &menu_path, "Stop recording").await;
    let done = wait_for_recording(port, "finished").await;
    wait_until(
        Duration::from_secs(30),
        "the menu offers Record again and drops the recording line",
        || async {
            entry(bus, item, "Record").await.is_some_and(|e| e.enabled)
                && entry_starting(bus, item, "● Recording").await.is_none()
        },
    )
    .await;
    let on_disk = std::fs::metadata(&file).expect("the file stays").len();
    assert_eq!(Some(on_disk), done["bytes"].as_u64(), "{done}");
    if acebridge_testkit::ffmpeg::available() {
        let path = file.to_str().expect("utf-8 path");
        acebridge_testkit::ffmpeg::decode(path, 2)
            .await
            .expect("the file decodes");
    }
    player.abort();
    app.terminate_cleanly();
}

/// Quit while a recording runs asks first: Escape (Keep recording) leaves
/// the app and the recording running; Return (Stop and quit) finishes the
/// file, which plays, stops every engine session and exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn quit_while_recording_asks_first_and_finishes_the_file() {
    /// The question's title, as a regular expression for xdotool.
    const QUESTION: &str = "^Stop the recording and quit";
    let Some(desktop) = Desktop::start() else {
        return;
    };
    save_sky_f1(&desktop);
    let videos = desktop.home.path().join("Videos");
    let shell = Shell::start(&desktop).await;
    let bus = &shell.bus;
    let engine = SimEngine::start().await;
    let port = free_port();
    let mut app = app_recording_to(&desktop, &engine, port, &videos);
    let item = &shell.item().await;
    let player = watch(port);
    wait_until(Duration::from_secs(60), "Record can be clicked", || async {
        entry(bus, item, "Record").await.is_some_and(|e| e.enabled)
    })
    .await;
    let (menu_path, _) = menu_entries(bus, item).await.expect("menu");
    click(bus, item, &menu_path, "Record").await;
    let recording = wait_for_recording(port, "recording").await;
    let file = std::path::PathBuf::from(recording["file"].as_str().expect("file"));

    // Keep recording: nothing stops.
    click(bus, item, &menu_path, "Quit").await;
    wait_until_sync(
        harness::DIALOG_PATIENCE,
        "Quit asks before ending the recording",
        || desktop.window_visible(QUESTION),
    )
    .await;
    photograph(&desktop, "tray-quit-while-recording.png");
    desktop
        .answer_dialog(
            QUESTION,
            "Escape",
            "Keep recording closes the question",
            || std::future::ready(!desktop.window_visible(QUESTION)),
        )
        .await;
    assert!(
        app.0.try_wait().ok().flatten().is_none(),
        "Keep recording quit the app"
    );
    let before = wait_for_recording(port, "recording").await["bytes"]
        .as_u64()
        .unwrap_or(0);
    wait_until(Duration::from_secs(30), "the recording goes on", || async {
        recordings(port)
            .await
            .first()
            .is_some_and(|r| r["state"] == "recording" && r["bytes"].as_u64().unwrap_or(0) > before)
    })
    .await;

    // Stop and quit: the file is finished before the app exits. Quit is
    // clicked again whenever no question is up and the app still runs: a
    // click that reached the menu while it was being updated can be lost, or
    // Return can land on "Keep recording" (the test timed out once in a dozen
    // runs, with no "quitting" logged), and asking again is what a user does.
    let deadline = std::time::Instant::now() + harness::DIALOG_PATIENCE;
    click(bus, item, &menu_path, "Quit").await;
    let mut asked_at = Some(std::time::Instant::now());
    let status = loop {
        if let Some(status) = app.0.try_wait().ok().flatten() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Stop and quit did not end the app within {:?}",
            harness::DIALOG_PATIENCE
        );
        if desktop.window_visible(QUESTION) {
            desktop.press_in_window(QUESTION, "Return");
            asked_at = Some(std::time::Instant::now());
        } else if asked_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(20)) {
            // Past the app's own quit timeout: an app still running was not
            // told to quit. The app may exit meanwhile, so a failed click is
            // not this test's failure; the exit status is.
            if let Some(quit) = entry(bus, item, "Quit").await {
                let _ = bus
                    .call_method(
                        Some(item.0.as_str()),
                        menu_path.as_str(),
                        Some("com.canonical.dbusmenu"),
                        "Event",
                        &(quit.id, "clicked", Value::from(0i32), 0u32),
                    )
                    .await;
            }
            asked_at = Some(std::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(status.success(), "exit after Stop and quit: {status}");
    assert_eq!(
        engine.active_sessions(),
        0,
        "an engine session was left behind"
    );
    assert!(std::fs::metadata(&file).expect("the file stays").len() > 0);
    if acebridge_testkit::ffmpeg::available() {
        let path = file.to_str().expect("utf-8 path");
        let seconds = acebridge_testkit::ffmpeg::probe_duration(path)
            .await
            .expect("a finished file has a duration");
        assert!(seconds > 0.0, "{seconds} s");
        acebridge_testkit::ffmpeg::decode(path, 2)
            .await
            .expect("the file decodes");
    }
    player.abort();
}

/// The app in the tray, writing its recordings to `videos`.
fn app_recording_to(
    desktop: &Desktop,
    engine: &SimEngine,
    port: u16,
    videos: &std::path::Path,
) -> Reaped {
    Reaped(
        desktop
            .app(engine, port, &["--minimized"])
            .env("ACEBRIDGE_RECORDINGS_DIR", videos)
            .spawn()
            .expect("start the app"),
    )
}
