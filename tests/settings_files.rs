//! The settings file is never lost (issue 15, rows 7 and 11): a server started
//! on a file with bad parts keeps the rest, copies the file aside under its own
//! name, and tells the user (the web UI's `/api/settings` and the tray app's
//! `Control::settings_warnings`); the settings directory it creates is 0700
//! whatever the umask. Its own test binary, because it changes the umask.

mod common;

use std::path::Path;

use common::{Proxy, ID_A, ID_B};

const DEAD_ENGINE: &str = "http://127.0.0.1:9";

async fn start(settings: &Path) -> Proxy {
    Proxy::with_settings(DEAD_ENGINE, settings).await
}

#[tokio::test]
async fn a_bad_field_or_channel_costs_only_itself_and_the_user_is_told() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("settings.toml");
    let text = format!(
        "linger_secs = \"ten\"\n\n[[channels]]\nid = \"{ID_A}\"\nname = \"Kept\"\n\n[[channels]]\nname = \"no id\"\n\n[[channels]]\nid = \"xyz\"\nname = \"Bad id\"\n\n[[channels]]\nid = \"{ID_B}\"\n"
    );
    std::fs::write(&path, &text).expect("write");
    let proxy = start(&path).await;

    let channels = proxy.json("/api/channels").await;
    let ids: Vec<_> = channels["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, [ID_A, ID_B]);

    let warnings = proxy.control().settings_warnings().await;
    let settings = proxy.json("/api/settings").await;
    assert_eq!(settings["warnings"], serde_json::json!(warnings));
    let all = warnings.join("\n");
    let file = path.display().to_string();
    assert!(
        all.contains(&format!("{file} line 1: linger_secs")),
        "{all}"
    );
    assert!(
        all.contains(&format!("{file} line 7: entry 2 of channels was dropped")),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "{file} line 10: channel \"xyz\" (Bad id) was dropped: invalid id"
        )),
        "{all}"
    );
    assert!(warnings[0].contains("2 saved channels"), "{all}");

    // The file as it was is kept aside, under a name of its own.
    let copies: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("settings.toml.corrupt-")
        })
        .collect();
    assert_eq!(copies.len(), 1);
    assert!(
        warnings[0].contains(&copies[0].path().display().to_string()),
        "{all}"
    );
    assert_eq!(
        std::fs::read_to_string(copies[0].path()).expect("copy"),
        text
    );
    proxy.stop().await;

    // A second bad start (another bad file) keeps the first copy and adds one.
    std::fs::write(&path, "engine = [broken\n").expect("write");
    let proxy = start(&path).await;
    assert!(!proxy.control().settings_warnings().await.is_empty());
    proxy.stop().await;
    let count = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("settings.toml.corrupt-")
        })
        .count();
    assert_eq!(count, 2);
}

/// Unix modes and umask; on Windows the per-user `%APPDATA%` is private already.
#[cfg(unix)]
#[tokio::test]
async fn the_settings_directory_is_private_even_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only changes this process's file-creation mask (which is
    // why this is its own test binary; the other test here only loses the
    // mask's protection for its own temp files meanwhile).
    let previous = unsafe { libc::umask(0) };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir
        .path()
        .join("new")
        .join("acebridge")
        .join("settings.toml");
    let proxy = start(&path).await;
    let id = acebridge::content_id::ContentId::parse(ID_A).expect("id");
    proxy.control().save_channel(&id).await.expect("save");
    proxy.stop().await;
    unsafe { libc::umask(previous) };
    for dir in [
        path.parent().expect("dir"),
        path.parent().and_then(Path::parent).expect("dir"),
    ] {
        let mode = std::fs::metadata(dir).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
