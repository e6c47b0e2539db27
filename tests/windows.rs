//! Windows only: what only a Windows build does, checked against
//! `acebridge.exe` under Wine by `scripts/test-windows` (which builds it and
//! sets the variables below). Elsewhere these tests say why they do not apply
//! and pass, unless `ACEBRIDGE_REQUIRE_WINE=1` asks for them.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use acebridge::config::{test_hook, Config};
use common::{engine_answers, free_port, get_json, http, kit, process, Player, ID_A};
use kit::wait::wait_until;

/// What the tests need from `scripts/test-windows`: the simulated engine
/// built for Windows, and the `%APPDATA%` of the Wine prefix acebridge.exe
/// runs in (Wine sets `%APPDATA%` itself, so the fake install goes there).
struct WineSetup {
    sim_engine_exe: PathBuf,
    appdata: PathBuf,
}

fn wine_setup() -> Option<WineSetup> {
    let var = |name| std::env::var_os(name).map(PathBuf::from);
    let setup = match (
        process::external_binary(),
        var("ACEBRIDGE_TEST_SIM_ENGINE_EXE"),
        var("ACEBRIDGE_TEST_WINE_APPDATA"),
    ) {
        (true, Some(sim_engine_exe), Some(appdata)) => Some(WineSetup {
            sim_engine_exe,
            appdata,
        }),
        _ => None,
    };
    if setup.is_none() {
        assert!(
            std::env::var_os("ACEBRIDGE_REQUIRE_WINE").is_none(),
            "ACEBRIDGE_REQUIRE_WINE is set, but not the binary, engine and prefix of scripts/test-windows"
        );
        eprintln!("skipped: needs acebridge.exe under Wine (scripts/test-windows)");
    }
    setup
}

#[tokio::test]
async fn an_engine_installed_under_appdata_is_found_started_and_stopped_with_its_tree() {
    let Some(setup) = wine_setup() else { return };
    // A fake install where AceStream's installer puts the engine: the
    // simulated engine as `ace_engine.exe`, with the DLL Wine lacks beside it.
    let install = setup.appdata.join("ACEStream").join("engine");
    std::fs::create_dir_all(&install).expect("install dir");
    std::fs::copy(&setup.sim_engine_exe, install.join("ace_engine.exe")).expect("copy engine");
    let dll = setup.sim_engine_exe.with_file_name("bcryptprimitives.dll");
    std::fs::copy(&dll, install.join("bcryptprimitives.dll")).expect("copy dll");

    let port = free_port();
    let settings = std::env::temp_dir().join(format!("acebridge-{}.toml", uuid::Uuid::new_v4()));
    let engine = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let mut config = Config::new(engine, ([127, 0, 0, 1], 0).into());
    config.engine_autostart = true;
    config.settings_path = Some(settings.clone());
    config.channels.start_timeout = Duration::from_secs(60);
    let mut command = Command::new(process::acebridge_bin());
    command
        .arg("serve")
        .env(test_hook::TEST_CONFIG_ENV, test_hook::to_json(&config))
        // The detected install gets no flags: this tells the engine its port.
        .env("ACEBRIDGE_SIM_ENGINE_LISTEN", format!("127.0.0.1:{port}"));
    let (mut child, addr) = process::spawn_serving(&mut command);

    let (_, health) = get_json(&format!("http://{addr}/api/health")).await;
    let found = health["engine"]["process"]["command"].to_string();
    assert!(
        found.contains(r"AppData\\Roaming\\ACEStream\\engine\\ace_engine.exe"),
        "{health}"
    );

    let mut player = Player::open(&format!("http://{addr}/ace/getstream?id={ID_A}")).await;
    player.read_until(1000, Duration::from_secs(60)).await;
    drop(player);
    assert!(engine_answers(port).await);

    let stopped = http()
        .post(format!("http://{addr}/api/engine/stop"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.status(), 200);
    wait_until(
        Duration::from_secs(30),
        "taskkill /T stopped the engine",
        || async { !engine_answers(port).await },
    )
    .await;

    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_dir_all(setup.appdata.join("ACEStream")).ok();
    std::fs::remove_file(settings).ok();
}
