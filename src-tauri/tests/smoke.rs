//! Smoke test of the real tray app: the built `acebridge-desktop` binary runs
//! under Xvfb with a private D-Bus session bus and a throwaway home, against
//! the simulated engine. It checks what only the whole app can show: the
//! embedded proxy answers, a second launch hands over to the first and exits
//! 0, an `acestream://` argument adds the channel in the first instance,
//! Quit (`--quit` from another launch, the menu's code path) stops every
//! engine session before the app exits 0, `--minimized` opens no window, a
//! port taken by another program is a question to the user, and a port taken
//! by acebridge means using that one. See `harness` for what they need.

mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acebridge_testkit::engine::SimEngine;
use acebridge_testkit::wait::{wait_until, wait_until_sync};
use harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn tray_app_serves_hands_over_to_the_first_instance_and_quits_cleanly() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let engine = SimEngine::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let started = Instant::now();
    let mut first = desktop.launch(&engine, port, &[]);
    wait_until(
        Duration::from_secs(60),
        "the app's proxy answers /api/health",
        || async {
            let health = get_json(&http, &format!("{base}/api/health")).await;
            health.is_some_and(|h| h["engine"]["version"] == "3.2.3")
        },
    )
    .await;
    let cold_start = started.elapsed();
    let pid = first.0.id();
    wait_until_sync(Duration::from_secs(30), "the window opens", || {
        has_webview(pid)
    })
    .await;
    let window_after = started.elapsed();

    // A second launch hands over and exits 0; the first keeps serving.
    let mut second = desktop.app(&engine, port, &[]).spawn().expect("second");
    let status = exit_within(&mut second, Duration::from_secs(10)).expect("second launch exits");
    assert!(status.success(), "second launch: {status}");
    assert!(
        first.0.try_wait().expect("first").is_none(),
        "first instance died"
    );
    assert!(get_json(&http, &format!("{base}/api/health"))
        .await
        .is_some());

    // A launch with a link adds the channel in the first instance.
    let link = format!("acestream://{LINKED}");
    let mut linked = desktop.app(&engine, port, &[&link]).spawn().expect("link");
    let status = exit_within(&mut linked, Duration::from_secs(10)).expect("link launch exits");
    assert!(status.success(), "link launch: {status}");
    wait_until(
        Duration::from_secs(10),
        "the linked channel is saved",
        || async {
            get_json(&http, &format!("{base}/api/channels"))
                .await
                .is_some_and(|list| {
                    list["channels"]
                        .as_array()
                        .is_some_and(|channels| channels.iter().any(|c| c["id"] == LINKED))
                })
        },
    )
    .await;
    let saved = std::fs::read_to_string(desktop.settings_file()).expect("settings file");
    assert!(saved.contains(LINKED), "settings file: {saved}");

    // A player watches a channel: one engine session.
    let mut stream = http
        .get(format!("{base}/ace/getstream?id={ID}"))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut received = 0;
    while received < 64 * 1024 {
        let chunk = stream.chunk().await.expect("read").expect("stream ended");
        received += chunk.len();
    }
    assert_eq!(engine.active_sessions(), 1);
    let idle_rss = tree_rss_kib(pid);
    eprintln!(
        "desktop smoke: cold start to a listening proxy {:.2} s, window {:.2} s; app + WebKit RSS {:.1} MiB",
        cold_start.as_secs_f64(),
        window_after.as_secs_f64(),
        idle_rss as f64 / 1024.0
    );

    // Quit, from another launch, while the player still watches: its stream
    // ends, the engine session is stopped, the app exits 0.
    let mut quit = desktop
        .app(&engine, port, &["--quit"])
        .spawn()
        .expect("quit");
    let status = exit_within(&mut quit, Duration::from_secs(10)).expect("--quit exits");
    assert!(status.success(), "--quit launch: {status}");
    let status = exit_within(&mut first.0, Duration::from_secs(20)).expect("the app quits");
    assert!(status.success(), "app exit: {status}");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the player's stream did not end at Quit");
    assert_eq!(
        engine.active_sessions(),
        0,
        "an engine session was left behind"
    );
    assert_eq!(engine.stops_total(), engine.sessions_started_total());
}

#[tokio::test(flavor = "multi_thread")]
async fn minimized_start_opens_no_window_until_launched_again() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let engine = SimEngine::start().await;
    let port = free_port();
    let mut app = desktop
        .launch_serving(&engine, port, &["--minimized"])
        .await;
    let pid = app.0.id();
    // The tray app idles without WebKit: the window only exists once asked
    // for. An absence cannot be waited for: look for a while longer than a
    // window takes to appear in the other test (well under a second).
    let quiet = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet {
        assert!(!has_webview(pid), "--minimized opened a window");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "desktop smoke: minimized app RSS {:.1} MiB",
        tree_rss_kib(pid) as f64 / 1024.0
    );

    let mut again = desktop.app(&engine, port, &[]).spawn().expect("second");
    let status = exit_within(&mut again, Duration::from_secs(10)).expect("second launch exits");
    assert!(status.success(), "second launch: {status}");
    wait_until_sync(
        Duration::from_secs(30),
        "the second launch shows the window",
        || has_webview(pid),
    )
    .await;

    app.terminate_cleanly();
}

/// Regression: the app's async work shares the proxy's one thread, and a link
/// that opened the window made that thread wait while GTK built the webview
/// (and every tray refresh while the menu updated): every stream paused, for
/// 50-250 ms per window here. Desktop work now asserts (in debug builds) that
/// it runs elsewhere, so the old path panics and no window opens; the probe,
/// asking the proxy for its stream list every 10 ms meanwhile, catches stalls
/// (7-13 ms at worst now).
#[tokio::test(flavor = "multi_thread")]
async fn a_link_opening_the_window_does_not_pause_the_proxy() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let engine = SimEngine::start().await;
    let port = free_port();
    let mut app = desktop
        .launch_serving(&engine, port, &["--minimized"])
        .await;
    let pid = app.0.id();
    let streams = format!("http://127.0.0.1:{port}/api/streams");
    let http = reqwest::Client::new();

    let done = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn({
        let done = Arc::clone(&done);
        async move {
            let mut slowest = Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                let asked = Instant::now();
                if get_json(&http, &streams).await.is_none() {
                    return Err("the proxy stopped answering");
                }
                slowest = slowest.max(asked.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(slowest)
        }
    });
    let link = format!("acestream://{LINKED}");
    let mut linked = desktop.app(&engine, port, &[&link]).spawn().expect("link");
    let status = exit_within(&mut linked, Duration::from_secs(10)).expect("link launch exits");
    assert!(status.success(), "link launch: {status}");
    wait_until_sync(
        Duration::from_secs(30),
        "the link opens the window (no player is installed)",
        || has_webview(pid),
    )
    .await;
    // The web process starts before the window is done: keep probing a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    done.store(true, Ordering::Relaxed);
    let slowest = probe.await.expect("probe task").expect("probe");
    eprintln!("desktop smoke: slowest proxy answer while the window opened {slowest:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "the proxy stalled for {slowest:?} while the window opened"
    );

    app.terminate_cleanly();
}

#[tokio::test(flavor = "multi_thread")]
async fn port_in_use_asks_and_moves_to_a_free_port_or_quits() {
    const DIALOG: &str = "acebridge: port in use";
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let engine = SimEngine::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();

    // Quit: the dialog's cancel ends the app with an error status, serving nothing.
    let mut app = desktop.launch(&engine, port, &[]);
    let mut exit = None;
    desktop
        .answer_dialog(DIALOG, "Escape", "Escape in the port dialog quits", || {
            exit = app.0.try_wait().ok().flatten();
            std::future::ready(exit.is_some())
        })
        .await;
    assert_eq!(
        exit.and_then(|status| status.code()),
        Some(1),
        "exit after Quit"
    );

    // Use another port: the proxy comes up on the next free port after the taken one.
    let mut app = desktop.launch(&engine, port, &[]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let candidates: Vec<u16> = (1..=20).filter_map(|step| port.checked_add(step)).collect();
    let engine_url = format!("{}/", engine.url().trim_end_matches('/'));
    desktop
        .answer_dialog(
            DIALOG,
            "Return",
            "Return in the port dialog moves the proxy",
            || async {
                for candidate in &candidates {
                    let url = format!("http://127.0.0.1:{candidate}/api/health");
                    // Our app: other tests' apps may listen nearby, each with its own engine.
                    if get_json(&http, &url)
                        .await
                        .is_some_and(|health| health["engine"]["url"] == engine_url.as_str())
                    {
                        return true;
                    }
                }
                false
            },
        )
        .await;
    app.terminate_cleanly();
    drop(taken);
}

/// Regression (issue 16): with `acebridge serve` already on the port, "Use
/// port N" started a second proxy: a second engine session per channel, and
/// playlists saved with the first port broken. Now the app uses the running
/// one: it serves nothing itself, shows that one's web UI, and links given
/// to it (at start and from later launches) are saved there.
#[tokio::test(flavor = "multi_thread")]
async fn port_taken_by_acebridge_is_used_instead_of_a_second_proxy() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let engine = SimEngine::start().await;
    let port = free_port();
    // What `acebridge serve` runs, here in the test: the same server.
    let engine_url = url::Url::parse(&engine.url()).expect("engine URL");
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let serve = acebridge::Server::bind(acebridge::Config::new(engine_url, listen))
        .await
        .expect("bind the running acebridge");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(serve.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let channels = format!("http://127.0.0.1:{port}/api/channels");
    let saved_there = |id: &'static str| {
        let http = http.clone();
        let channels = channels.clone();
        async move {
            get_json(&http, &channels).await.is_some_and(|list| {
                list["channels"]
                    .as_array()
                    .is_some_and(|channels| channels.iter().any(|c| c["id"] == id))
            })
        }
    };

    let link = format!("acestream://{LINKED}");
    let launched = Instant::now();
    let mut app = desktop.launch(&engine, port, &[&link]);
    let pid = app.0.id();
    wait_until(
        Duration::from_secs(60),
        "the link reaches the running acebridge",
        || saved_there(LINKED),
    )
    .await;
    let handed_over = launched.elapsed();
    wait_until_sync(
        Duration::from_secs(30),
        "the window opens on its web UI",
        || has_webview(pid),
    )
    .await;
    eprintln!(
        "desktop smoke: port held by acebridge: link saved there {:.2} s after launch, window {:.2} s",
        handed_over.as_secs_f64(),
        launched.elapsed().as_secs_f64()
    );
    assert_eq!(listening_sockets(pid), 0, "the app started a second proxy");

    // A later launch's link goes the same way, through the first app.
    let second_link = format!("acestream://{ID}");
    let mut second = desktop
        .app(&engine, port, &[&second_link])
        .spawn()
        .expect("second launch");
    let status = exit_within(&mut second, Duration::from_secs(10)).expect("second launch exits");
    assert!(status.success(), "second launch: {status}");
    wait_until(
        Duration::from_secs(20),
        "the second link reaches the running acebridge",
        || saved_there(ID),
    )
    .await;
    assert_eq!(listening_sockets(pid), 0, "the app started a second proxy");

    app.terminate_cleanly();
    let _ = stop.send(());
    running.await.expect("join").expect("the running acebridge");
}

/// Regression (issue 16): a bad setting ended the app with status 2 and a
/// stderr line, which a user who started it from a menu never sees. Now a
/// dialog says what is wrong; closing it ends the app with status 2.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_setting_is_shown_in_a_dialog() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let engine = SimEngine::start().await;
    let port = free_port();
    for bad in ["engine URL", "settings file"] {
        let mut command = desktop.app(&engine, port, &[]);
        match bad {
            "engine URL" => command.env("ACEBRIDGE_ENGINE", "ftp://nowhere"),
            // A directory: it exists but cannot be read as a file.
            _ => command.env("ACEBRIDGE_SETTINGS", desktop.home.path()),
        };
        let mut app = Reaped(command.spawn().expect("start the app"));
        wait_until_sync(
            Duration::from_secs(60),
            &format!("a dialog about the bad {bad}"),
            || desktop.window_visible("^acebridge$"),
        )
        .await;
        assert_eq!(listening_sockets(app.0.id()), 0, "it serves anyway");
        let mut exit = None;
        desktop
            .answer_dialog(
                "^acebridge$",
                "Return",
                "closing the dialog ends the app",
                || {
                    exit = app.0.try_wait().ok().flatten();
                    std::future::ready(exit.is_some())
                },
            )
            .await;
        assert_eq!(exit.and_then(|status| status.code()), Some(2), "{bad}");
    }
}
