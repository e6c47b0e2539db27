//! Recordings on the simulated engine, through the real router on a real
//! socket: the file plays from its first byte for the time asked, shares the
//! channel's one engine session with every other player, goes on across an
//! upstream drop and a failover, a schedule starts and ends on time across a
//! restart, and a failing disk ends only the recording.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::process::GapWatcher;
use common::{http, kit, Player, Proxy, ID_A, ID_B};
use kit::engine::{Fault, SimEngine};
use kit::wait::wait_until;
use serde_json::{json, Value};

/// Headroom for a busy 2-core machine (debug build).
const PATIENCE: Duration = Duration::from_secs(30);
/// Longest a player of the channel may go without data while a recording's disk fails.
const MAX_GAP: Duration = Duration::from_millis(1500);

struct Recorder {
    proxy: Proxy,
    dir: tempfile::TempDir,
}

async fn recorder(engine: &SimEngine, tune: impl FnOnce(&mut acebridge::Config)) -> Recorder {
    let dir = tempfile::tempdir().expect("temp dir");
    let recordings = dir.path().join("recordings");
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.recordings.dir = recordings;
        config.recordings.min_free_bytes = 0;
        tune(config);
    })
    .await;
    Recorder { proxy, dir }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn now_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

async fn post(proxy: &Proxy, body: Value) -> (u16, Value) {
    let response = http()
        .post(proxy.url("/api/recordings"))
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn delete(proxy: &Proxy, id: &str) -> (u16, Value) {
    let response = http()
        .delete(proxy.url(&format!("/api/recordings/{id}")))
        .send()
        .await
        .expect("delete");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Starts recording `channel`; the new recording.
async fn record(proxy: &Proxy, body: Value) -> Value {
    let (status, recording) = post(proxy, body).await;
    assert_eq!(status, 201, "{recording}");
    recording
}

async fn recording(proxy: &Proxy, id: &str) -> Value {
    proxy.json("/api/recordings").await["recordings"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

async fn wait_state(proxy: &Proxy, id: &str, state: &str, timeout: Duration) -> Value {
    wait_until(timeout, &format!("recording {id} {state}"), || async {
        recording(proxy, id).await["state"] == state
    })
    .await;
    recording(proxy, id).await
}

async fn wait_bytes(proxy: &Proxy, id: &str, more_than: u64) -> u64 {
    wait_until(
        PATIENCE,
        &format!("recording {id} over {more_than} bytes"),
        || async { recording(proxy, id).await["bytes"].as_u64().unwrap_or(0) > more_than },
    )
    .await;
    recording(proxy, id).await["bytes"].as_u64().unwrap_or(0)
}

fn file_of(recording: &Value) -> PathBuf {
    common::process::local_path(recording["file"].as_str().expect("file"))
}

/// The file decodes with no error at all.
async fn assert_decodes(file: &Path) {
    if !kit::ffmpeg::available() {
        return;
    }
    let path = file.to_str().expect("utf-8 path");
    kit::ffmpeg::decode(path, 600)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
}

#[tokio::test]
async fn a_ten_second_recording_plays_from_its_first_byte_for_ten_seconds() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |_| {}).await;
    let started = record(&rec.proxy, json!({ "channel": ID_A, "seconds": 10 })).await;
    for field in [
        "id",
        "channel",
        "file",
        "state",
        "started_at",
        "bytes",
        "dropped",
    ] {
        assert!(started.get(field).is_some(), "{field} missing: {started}");
    }
    let id = started["id"].as_str().expect("id");
    let file = file_of(&started);
    assert!(file.starts_with(rec.dir.path()), "{}", file.display());
    let name = file.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        name.starts_with(&format!("{ID_A} – ")) || name.contains(" – "),
        "{name}"
    );
    assert!(name.ends_with(".ts"), "{name}");
    let done = wait_state(&rec.proxy, id, "finished", PATIENCE).await;
    assert!(done["error"].is_null(), "{done}");
    let bytes = std::fs::read(&file).expect("the file stays");
    assert_eq!(done["bytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(
        kit::ts::packets(&bytes).next().map(|p| p.pid()),
        Some(0),
        "PAT first"
    );
    assert!(kit::ts::pat_pmt_before_first_video(&bytes));
    assert!(kit::ts::first_video_packet_is_keyframe(&bytes));
    if kit::ffmpeg::available() {
        let path = file.to_str().expect("utf-8");
        let seconds = kit::ffmpeg::probe_duration(path).await.expect("duration");
        eprintln!("a 10 s recording lasts {seconds:.2} s");
        assert!((seconds - 10.0).abs() <= 1.5, "{seconds} s");
        assert_decodes(&file).await;
    }
    rec.proxy.stop().await;
}

#[tokio::test]
async fn one_engine_session_for_a_ts_player_an_hls_player_and_two_recordings() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |_| {}).await;
    let first = record(&rec.proxy, json!({ "channel": ID_A })).await;
    let first_id = first["id"].as_str().expect("id");
    wait_bytes(&rec.proxy, first_id, 0).await;
    let mut player = Player::open(&rec.proxy.stream_url(ID_A)).await;
    player.read_until(100_000, PATIENCE).await;
    let playlist = common::get_text(&rec.proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}"))).await;
    assert!(playlist.contains("#EXTINF"), "{playlist}");
    let second = record(&rec.proxy, json!({ "channel": ID_A })).await;
    let second_id = second["id"].as_str().expect("id");
    assert_ne!(file_of(&first), file_of(&second), "never the same file");
    wait_bytes(&rec.proxy, second_id, 0).await;
    let streams = rec.proxy.streams().await;
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert_eq!(streams[0]["recordings"], 2, "{:?}", streams[0]);
    assert_eq!(
        streams[0]["viewers"]["ts"], 3,
        "the recordings are TS viewers"
    );
    assert_eq!(engine.peak_open_sessions_total(), 1);
    assert_eq!(engine.sessions_started(ID_A), 1);

    let (status, stopped) = delete(&rec.proxy, first_id).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["state"], "finished");
    let size = std::fs::metadata(file_of(&first))
        .expect("the file stays")
        .len();
    assert!(size > 0);
    let (status, again) = delete(&rec.proxy, first_id).await;
    assert_eq!(status, 200, "a second stop is a no-op: {again}");
    assert_eq!(again["bytes"], size);
    assert_eq!(
        std::fs::metadata(file_of(&first))
            .expect("still there")
            .len(),
        size
    );
    let (status, unknown) = delete(&rec.proxy, "nope").await;
    assert_eq!(status, 404);
    assert!(unknown["error"].is_string());
    delete(&rec.proxy, second_id).await;
    assert_decodes(&file_of(&first)).await;
    rec.proxy.stop().await;
}

#[tokio::test]
async fn bad_recording_requests_get_a_json_error() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |_| {}).await;
    let now = now_unix();
    for (body, want) in [
        (json!({}), 400),
        (json!({ "channel": "" }), 400),
        (json!({ "channel": ID_A, "seconds": 0 }), 400),
        (json!({ "channel": ID_A, "seconds": "ten" }), 400),
        (json!({ "channel": ID_A, "colour": "red" }), 400),
        (json!({ "channel": ID_A, "start_unix": now + 10 }), 400),
        (
            json!({ "channel": ID_A, "seconds": 5, "end_unix": now + 10 }),
            400,
        ),
        (
            json!({ "channel": ID_A, "start_unix": now + 10, "end_unix": now + 5 }),
            400,
        ),
        (
            json!({ "channel": ID_A, "start_unix": now - 20, "end_unix": now - 10 }),
            400,
        ),
        (json!({ "channel": "no such channel" }), 404),
    ] {
        let (status, error) = post(&rec.proxy, body.clone()).await;
        assert_eq!(status, want, "{body}: {error}");
        assert!(error["error"].is_string(), "{body}: {error}");
    }
    assert_eq!(engine.sessions_started_total(), 0);
    rec.proxy.stop().await;
}

#[tokio::test]
async fn no_recording_starts_below_the_free_space_floor() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |config| {
        config.recordings.min_free_bytes = u64::MAX
    })
    .await;
    let (status, error) = post(&rec.proxy, json!({ "channel": ID_A })).await;
    assert_eq!(status, 507, "{error}");
    assert!(
        error["error"].as_str().unwrap_or_default().contains("free"),
        "{error}"
    );
    assert_eq!(
        engine.sessions_started_total(),
        0,
        "no session for a refused recording"
    );
    rec.proxy.stop().await;
}

#[tokio::test]
async fn a_recording_goes_on_across_an_upstream_drop() {
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::DropAfter(Duration::from_secs(3)));
    let rec = recorder(&engine, |_| {}).await;
    let started = record(&rec.proxy, json!({ "channel": ID_A })).await;
    let id = started["id"].as_str().expect("id");
    wait_until(PATIENCE, "the upstream dropped and came back", || async {
        rec.proxy
            .streams()
            .await
            .first()
            .is_some_and(|s| s["reconnects"].as_u64().unwrap_or(0) >= 1)
    })
    .await;
    engine.clear_faults(ID_A);
    let after_drop = recording(&rec.proxy, id).await["bytes"]
        .as_u64()
        .unwrap_or(0);
    wait_bytes(&rec.proxy, id, after_drop + 100_000).await;
    assert_eq!(recording(&rec.proxy, id).await["state"], "recording");
    let (_, stopped) = delete(&rec.proxy, id).await;
    assert_eq!(stopped["state"], "finished", "{stopped}");
    assert_decodes(&file_of(&stopped)).await;
    rec.proxy.stop().await;
}

#[tokio::test]
async fn a_recording_goes_on_across_a_failover() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |config| {
        config.channels.failover_after = Duration::from_secs(2);
        config.channels.stat_interval = Duration::from_millis(250);
    })
    .await;
    let (status, saved) = common::http()
        .post(rec.proxy.url("/api/channels"))
        .json(&json!({ "channels": [{ "id": ID_A, "name": "Sports" }] }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("save");
    assert_eq!(status, 200, "{:?}", saved.text().await);
    let response = common::http()
        .post(rec.proxy.url(&format!("/api/channels/{ID_A}/alternates")))
        .json(&json!({ "id": ID_B }))
        .send()
        .await
        .expect("alternate");
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let started = record(&rec.proxy, json!({ "channel": ID_A })).await;
    let id = started["id"].as_str().expect("id");
    assert_eq!(started["title"], "Sports");
    let name = file_of(&started);
    assert!(
        name.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("Sports – ")),
        "{}",
        name.display()
    );
    let before = wait_bytes(&rec.proxy, id, 100_000).await;
    engine.set_fault(ID_A, Fault::Dead);
    wait_until(PATIENCE, "the channel switched to B", || async {
        rec.proxy
            .streams()
            .await
            .first()
            .is_some_and(|s| s["switches"].as_u64().unwrap_or(0) >= 1)
    })
    .await;
    let switched = recording(&rec.proxy, id).await["bytes"]
        .as_u64()
        .unwrap_or(0);
    assert!(switched >= before);
    wait_bytes(&rec.proxy, id, switched + 100_000).await;
    let (_, stopped) = delete(&rec.proxy, id).await;
    assert_eq!(stopped["state"], "finished", "{stopped}");
    assert_decodes(&file_of(&stopped)).await;
    assert_eq!(engine.sessions_started(ID_B), 1);
    rec.proxy.stop().await;
}

#[tokio::test]
async fn a_schedule_starts_and_ends_on_time_across_a_restart() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = dir.path().join("settings.toml");
    let recordings = dir.path().join("recordings");
    let engine_url = engine.url();
    let start_proxy = || {
        let (settings, recordings) = (settings.clone(), recordings.clone());
        Proxy::start_with(&engine_url, move |config| {
            config.settings_path = Some(settings);
            config.recordings.dir = recordings;
            config.recordings.min_free_bytes = 0;
        })
    };
    let proxy = start_proxy().await;
    let start = now_unix() + 3;
    let end = start + 5;
    let scheduled = record(
        &proxy,
        json!({ "channel": ID_A, "start_unix": start, "end_unix": end }),
    )
    .await;
    assert_eq!(scheduled["state"], "scheduled");
    let id = scheduled["id"].as_str().expect("id").to_owned();
    proxy.stop().await;
    assert!(now_unix() < start, "restarted before the start");
    let proxy = start_proxy().await;
    assert_eq!(recording(&proxy, &id).await["state"], "scheduled");
    wait_state(&proxy, &id, "recording", PATIENCE).await;
    let began = now_secs_f64();
    let done = wait_state(&proxy, &id, "finished", PATIENCE).await;
    let ended = now_secs_f64();
    eprintln!(
        "scheduled {start}..{end}: recording seen at {began:.2}, finished seen at {ended:.2}"
    );
    assert!(
        (began - start as f64).abs() <= 1.0 + 0.5,
        "started at {began}, due {start}"
    );
    assert!(
        (ended - end as f64).abs() <= 1.0 + 0.5,
        "ended at {ended}, due {end}"
    );
    let file = file_of(&done);
    if kit::ffmpeg::available() {
        let seconds = kit::ffmpeg::probe_duration(file.to_str().expect("utf-8"))
            .await
            .expect("duration");
        eprintln!("a 5 s schedule lasts {seconds:.2} s");
        assert!((seconds - 5.0).abs() <= 1.5, "{seconds} s");
    }
    assert!(
        !std::fs::read_to_string(&settings)
            .expect("settings")
            .contains(&id),
        "a started schedule leaves the settings file"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_schedule_missed_while_not_running_is_marked_missed() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = dir.path().join("settings.toml");
    let past = now_unix() - 600;
    std::fs::write(
        &settings,
        format!(
            "[[scheduled_recordings]]\nid = \"old\"\nchannel = \"{ID_A}\"\nstart_unix = {past}\nend_unix = {}\n",
            past + 60
        ),
    )
    .expect("settings");
    let recordings = dir.path().join("recordings");
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(settings);
        config.recordings.dir = recordings;
    })
    .await;
    let missed = recording(&proxy, "old").await;
    assert_eq!(missed["state"], "missed", "{missed}");
    assert_eq!(engine.sessions_started_total(), 0, "not started late");
    let (status, _) = delete(&proxy, "old").await;
    assert_eq!(status, 200);
    assert!(recording(&proxy, "old").await.is_null(), "forgotten");
    proxy.stop().await;
}

#[tokio::test]
async fn a_schedule_over_the_channel_limit_is_refused() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |config| config.channels.max_channels = 1).await;
    let start = now_unix() + 3600;
    record(
        &rec.proxy,
        json!({ "channel": ID_A, "start_unix": start, "end_unix": start + 600 }),
    )
    .await;
    let (status, error) = post(
        &rec.proxy,
        json!({ "channel": ID_B, "start_unix": start + 300, "end_unix": start + 900 }),
    )
    .await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("limit"),
        "{error}"
    );
    record(
        &rec.proxy,
        json!({ "channel": ID_B, "start_unix": start + 600, "end_unix": start + 900 }),
    )
    .await;
    rec.proxy.stop().await;
}

// Its own threads for the proxy: the test's polling must not be the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_ends_the_recording_with_a_problem_and_no_gap_for_players() {
    let engine = SimEngine::start().await;
    let rec = recorder(&engine, |config| {
        config.recordings.fail_writes_after = Some(300_000);
    })
    .await;
    let watcher = GapWatcher::start(rec.proxy.stream_url(ID_A)).await;
    let started = record(&rec.proxy, json!({ "channel": ID_A })).await;
    let id = started["id"].as_str().expect("id");
    let failed = wait_state(&rec.proxy, id, "failed", PATIENCE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("no space left"), "{failed}");
    let problems = rec.proxy.json("/api/streams").await["problems"].clone();
    assert!(
        problems
            .as_array()
            .is_some_and(|all| all.iter().any(|p| p["error"]
                .as_str()
                .unwrap_or_default()
                .contains("recording stopped"))),
        "{problems}"
    );
    let file = file_of(&failed);
    let size = std::fs::metadata(&file).expect("file").len();
    assert!(size > 0 && size <= 300_000, "{size}");
    assert_eq!(failed["bytes"], size);
    watcher
        .assert_no_gap_over("a recording's disk failing", MAX_GAP)
        .await;
    assert_decodes(&file).await;
    rec.proxy.stop().await;
}

/// Posts `body`; asserts the answer is `status` with an error saying `says`.
async fn refused(proxy: &Proxy, body: Value, status: u16, says: &str) {
    let (got, error) = post(proxy, body).await;
    assert_eq!(got, status, "{error}");
    assert!(
        error["error"].as_str().unwrap_or_default().contains(says),
        "{error}"
    );
}

/// A guide of `ID_A`'s guide channel `sky.f1.uk`, with `programmes` as
/// (start, stop, title), served and added as a source of `proxy`.
async fn add_guide(proxy: &Proxy, programmes: &[(i64, i64, &str)]) {
    use kit::guide::{xmltv_time, ServedFiles};
    let mut xml = String::from(
        "<tv><channel id=\"sky.f1.uk\"><display-name>Sky Sports F1</display-name></channel>\n",
    );
    for (start, stop, title) in programmes {
        xml += &format!(
            "<programme start=\"{}\" stop=\"{}\" channel=\"sky.f1.uk\"><title>{title}</title></programme>\n",
            xmltv_time(*start, 60),
            xmltv_time(*stop, 60)
        );
    }
    xml += "</tv>\n";
    let files = ServedFiles::default();
    let origin = files.start().await;
    files.set("/guide.xml", 200, xml);
    let response = http()
        .post(proxy.url("/api/guide/sources"))
        .json(&json!({ "url": format!("{origin}/guide.xml") }))
        .send()
        .await
        .expect("add the guide");
    let source: Value = response.json().await.expect("source");
    assert_eq!(source["programmes_kept"], programmes.len(), "{source}");
}

/// A proxy with `ID_A` saved as "Sky Sports F1" (`tvg-id` `sky.f1.uk`) in a settings file.
async fn programme_recorder(engine: &SimEngine, dir: &Path, max_channels: usize) -> Proxy {
    let settings = dir.join("settings.toml");
    if !settings.exists() {
        std::fs::write(
            &settings,
            format!(
                "[[channels]]\nid = \"{ID_A}\"\nname = \"Sky Sports F1\"\ntvg_id = \"sky.f1.uk\"\n"
            ),
        )
        .expect("settings");
    }
    let recordings = dir.join("recordings");
    Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(settings);
        config.recordings.dir = recordings;
        config.recordings.min_free_bytes = 0;
        config.channels.max_channels = max_channels;
    })
    .await
}

#[tokio::test]
async fn a_guide_programme_is_recorded_from_its_padded_start_to_its_padded_end_named_after_it() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy = programme_recorder(&engine, dir.path(), 4).await;
    let now = now_unix() as i64;
    let (short_start, short_stop) = (now + 4, now + 10);
    let (later_start, later_stop) = (now + 3 * 3600, now + 5 * 3600);
    add_guide(
        &proxy,
        &[
            (now - 3600, now - 1200, "Qualifying"),
            (short_start, short_stop, "Pit Lane: Live"),
            (later_start, later_stop, "Grand Prix"),
        ],
    )
    .await;

    // The default padding: a minute before, five after; kept across a restart.
    let later = record(
        &proxy,
        json!({ "channel": ID_A, "programme": { "start": later_start, "title": "Grand Prix" } }),
    )
    .await;
    assert_eq!(later["state"], "scheduled", "{later}");
    assert_eq!(later["programme"], "Grand Prix");
    assert_eq!(later["start_unix"], later_start - 60);
    assert_eq!(later["ends_at"], later_stop + 300);
    refused(
        &proxy,
        json!({ "channel": ID_A, "programme": { "start": later_start } }),
        409,
        "already scheduled",
    )
    .await;

    // Clear errors: a programme over, one the guide does not have, padding without a programme.
    refused(
        &proxy,
        json!({ "channel": ID_A, "programme": { "start": now - 3600 } }),
        400,
        "“Qualifying” is over",
    )
    .await;
    refused(
        &proxy,
        json!({ "channel": ID_A, "programme": { "start": now + 60 } }),
        404,
        "no programme",
    )
    .await;
    refused(
        &proxy,
        json!({ "channel": ID_A, "seconds": 5, "pad_after_mins": 1 }),
        400,
        "padding applies to a programme",
    )
    .await;

    // A short programme without padding: it records its own time, in a file named after it.
    let short = record(
        &proxy,
        json!({ "channel": ID_A, "programme": { "start": short_start }, "pad_before_mins": 0, "pad_after_mins": 0 }),
    )
    .await;
    let id = short["id"].as_str().expect("id").to_owned();
    wait_state(&proxy, &id, "recording", PATIENCE).await;
    let began = now_secs_f64();
    let done = wait_state(&proxy, &id, "finished", PATIENCE).await;
    let ended = now_secs_f64();
    eprintln!(
        "programme {short_start}..{short_stop}: recording seen at {began:.2} ({:+.2} s), finished seen at {ended:.2} ({:+.2} s)",
        began - short_start as f64,
        ended - short_stop as f64
    );
    assert!(
        (began - short_start as f64).abs() <= 1.5,
        "started at {began}, due {short_start}"
    );
    assert!(
        (ended - short_stop as f64).abs() <= 1.5,
        "ended at {ended}, due {short_stop}"
    );
    let file = file_of(&done);
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        name,
        "Sky Sports F1 – Pit Lane. Live.ts",
        "{}",
        file.display()
    );
    if kit::ffmpeg::available() {
        let seconds = kit::ffmpeg::probe_duration(file.to_str().expect("utf-8"))
            .await
            .expect("duration");
        eprintln!("a 6 s programme's file lasts {seconds:.2} s");
        assert!((seconds - 6.0).abs() <= 1.5, "{seconds} s");
        assert_decodes(&file).await;
    }

    // The planned programme survives a restart, named.
    proxy.stop().await;
    let proxy = programme_recorder(&engine, dir.path(), 4).await;
    let kept = recording(&proxy, later["id"].as_str().expect("id")).await;
    assert_eq!(kept["state"], "scheduled", "{kept}");
    assert_eq!(kept["programme"], "Grand Prix", "{kept}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_guide_programme_over_the_channel_limit_is_refused_with_the_reason() {
    let engine = SimEngine::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy = programme_recorder(&engine, dir.path(), 1).await;
    let now = now_unix() as i64;
    let (start, stop) = (now + 3600, now + 7200);
    add_guide(&proxy, &[(start, stop, "Grand Prix")]).await;
    record(
        &proxy,
        json!({ "channel": ID_B, "start_unix": start - 600, "end_unix": start + 600 }),
    )
    .await;
    refused(
        &proxy,
        json!({ "channel": ID_A, "programme": { "start": start } }),
        409,
        "limit of 1",
    )
    .await;
    proxy.stop().await;
}
