//! The management API the web UI uses, over real sockets against the real
//! server: parse, saved channels (persisted across restarts), the playlist,
//! settings, engine test, stopping a stream, and JSON errors for bad bodies.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use acebridge_testkit::engine::SimEngine;
use acebridge_testkit::wait::wait_until;
use common::{http, Proxy};
use reqwest::StatusCode;
use serde_json::{json, Value};

use common::{ID_A, ID_B, ID_C};
/// Nothing listens here: a dead engine.
const DEAD_ENGINE: &str = "http://127.0.0.1:9";

/// A proxy with a 1 s linger and, optionally, a settings file.
async fn start(engine: &str, settings: Option<&Path>) -> Proxy {
    Proxy::start_with(engine, |config| {
        config.channels.linger = Duration::from_secs(1);
        config.settings_path = settings.map(Path::to_owned);
    })
    .await
}

/// JSON requests on the proxy, answering (status, body).
trait Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value);
    async fn get(&self, path: &str) -> (StatusCode, Value);
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value);
    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value);
    async fn delete(&self, path: &str) -> (StatusCode, Value);
    async fn text(&self, path: &str) -> (StatusCode, String, String);
}

impl Api for Proxy {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = http().request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn text(&self, path: &str) -> (StatusCode, String, String) {
        let response = http().get(self.url(path)).send().await.expect("request");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().await.expect("body"))
    }
}

fn settings_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("settings.toml");
    (dir, path)
}

#[tokio::test]
async fn parse_returns_entries_with_urls_and_line_errors() {
    let proxy = start(DEAD_ENGINE, None).await;
    let text = format!(
        "#EXTM3U\n#EXTINF:-1,News\nacestream://{ID_A}\n\nnot an id\n#EXTINF:-1,Sport\nhttp://127.0.0.1:6878/ace/getstream?infohash={}\n",
        ID_B.to_uppercase()
    );
    let (status, body) = proxy.post("/api/parse", json!({ "text": text })).await;
    assert_eq!(status, 200, "{body}");
    let host = proxy.addr;
    assert_eq!(
        body["entries"],
        json!([
            {"id": ID_A, "kind": "content", "name": "News", "line": 3,
             "ts_url": format!("http://{host}/ace/getstream?id={ID_A}"),
             "hls_url": format!("http://{host}/ace/manifest.m3u8?id={ID_A}"), "tvg_id": null, "tvg_name": null, "tvg_logo": null, "group": null},
            {"id": ID_B, "kind": "infohash", "name": "Sport", "line": 7,
             "ts_url": format!("http://{host}/ace/getstream?infohash={ID_B}"),
             "hls_url": format!("http://{host}/ace/manifest.m3u8?infohash={ID_B}"), "tvg_id": null, "tvg_name": null, "tvg_logo": null, "group": null},
        ])
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["line"], 5);
    assert_eq!(errors[0]["text"], "not an id");
    assert!(errors[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    proxy.stop().await;
}

#[tokio::test]
async fn parse_uses_the_host_the_client_used() {
    let proxy = start(DEAD_ENGINE, None).await;
    let response = http()
        .post(proxy.url("/api/parse"))
        .header("host", format!("localhost:{}", proxy.addr.port()))
        .json(&json!({ "text": ID_A }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["entries"][0]["ts_url"],
        format!(
            "http://localhost:{}/ace/getstream?id={ID_A}",
            proxy.addr.port()
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_json_400s() {
    let proxy = start(DEAD_ENGINE, None).await;
    let routes = [
        (reqwest::Method::POST, "/api/parse"),
        (reqwest::Method::POST, "/api/channels"),
        (reqwest::Method::PUT, &*format!("/api/channels/{ID_A}")),
        (
            reqwest::Method::POST,
            &*format!("/api/channels/{ID_A}/alternates"),
        ),
        (
            reqwest::Method::PUT,
            &*format!("/api/channels/{ID_A}/alternates"),
        ),
        (
            reqwest::Method::POST,
            &*format!("/api/channels/{ID_A}/split"),
        ),
        (
            reqwest::Method::POST,
            &*format!("/api/channels/{ID_A}/merge"),
        ),
        (reqwest::Method::PUT, "/api/settings"),
        (reqwest::Method::POST, "/api/engine/test"),
    ];
    for (method, path) in routes {
        // Malformed JSON.
        let response = http()
            .request(method.clone(), proxy.url(path))
            .header("content-type", "application/json")
            .body("{\"text\": ")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{method} {path} malformed");
        let body: Value = response.json().await.expect("JSON error body");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("JSON")),
            "{body}"
        );

        // Not JSON at all (form content type).
        let response = http()
            .request(method.clone(), proxy.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("text=abc")
            .send()
            .await
            .expect("request");
        assert!(response.status().is_client_error(), "{method} {path} form");
        let body: Value = response.json().await.expect("JSON error body");
        assert!(body["error"].is_string(), "{body}");

        // Valid JSON of the wrong shape.
        let (status, body) = proxy
            .send(method.clone(), path, Some(json!({"nope": 1})))
            .await;
        assert_eq!(status, 400, "{method} {path} wrong shape: {body}");
        assert!(body["error"].is_string());
    }
    proxy.stop().await;
}

#[tokio::test]
async fn oversized_bodies_and_pastes_are_refused() {
    let proxy = start(DEAD_ENGINE, None).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, body) = proxy.post("/api/parse", json!({ "text": huge })).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string());

    // Under the byte limit, over the entry limit.
    let many: String = (0..1001u32).map(|n| format!("{n:040x}\n")).collect();
    let (status, body) = proxy.post("/api/parse", json!({ "text": many })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("too many")));

    // Many bad lines: reported up to a bound, the rest counted.
    let junk = "junk\n".repeat(500);
    let (status, body) = proxy.post("/api/parse", json!({ "text": junk })).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(100));
    assert_eq!(body["more_errors"], 400);
    proxy.stop().await;
}

#[tokio::test]
async fn saved_channels_add_rename_delete_and_survive_a_restart() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (status, body) = proxy.get("/api/channels").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"channels": []}));

    let (status, body) = proxy
        .post(
            "/api/channels",
            json!({"channels": [
                {"id": format!("acestream://{ID_A}"), "name": "News"},
                {"id": ID_B.to_uppercase()},
                {"id": ID_C, "kind": "infohash", "name": "  Sport\n#EXTINF:-1,evil  "},
                {"id": ID_A, "name": "Duplicate"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let host = proxy.addr;
    assert_eq!(
        body["channels"],
        json!([
            {"id": ID_A, "kind": "content", "name": "News",
             "ts_url": format!("http://{host}/channel/{ID_A}.ts"),
             "hls_url": format!("http://{host}/channel/{ID_A}.m3u8"),
             "id_ts_url": format!("http://{host}/ace/getstream?id={ID_A}"),
             "id_hls_url": format!("http://{host}/ace/manifest.m3u8?id={ID_A}"),
             "alternates": [ID_A], "alternate_kinds": ["content"], "last_good": null, "group": null, "tvg_logo": null, "tvg_id": null, "tvg_name": null, "source": null, "title": "News", "number": 1, "list_says": null},
            {"id": ID_B, "kind": "content", "name": null,
             "ts_url": format!("http://{host}/channel/{ID_B}.ts"),
             "hls_url": format!("http://{host}/channel/{ID_B}.m3u8"),
             "id_ts_url": format!("http://{host}/ace/getstream?id={ID_B}"),
             "id_hls_url": format!("http://{host}/ace/manifest.m3u8?id={ID_B}"),
             "alternates": [ID_B], "alternate_kinds": ["content"], "last_good": null, "group": null, "tvg_logo": null, "tvg_id": null, "tvg_name": null, "source": null, "title": "Channel bbbbbb\u{2026}", "number": 2, "list_says": null},
            {"id": ID_C, "kind": "infohash", "name": "Sport #EXTINF:-1,evil",
             "ts_url": format!("http://{host}/channel/{ID_C}.ts"),
             "hls_url": format!("http://{host}/channel/{ID_C}.m3u8"),
             "id_ts_url": format!("http://{host}/ace/getstream?infohash={ID_C}"),
             "id_hls_url": format!("http://{host}/ace/manifest.m3u8?infohash={ID_C}"),
             "alternates": [ID_C], "alternate_kinds": ["infohash"], "last_good": null, "group": null, "tvg_logo": null, "tvg_id": null, "tvg_name": null, "source": null, "title": "Sport #EXTINF:-1,evil", "number": 3, "list_says": null},
        ])
    );

    // One bad id: nothing is added.
    let (status, body) = proxy
        .post(
            "/api/channels",
            json!({"channels": [{"id": "dddd"}, {"id": "nope"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("channel 1")),
        "{body}"
    );
    assert_eq!(
        proxy.get("/api/channels").await.1["channels"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // Rename, clear a name, unknown and invalid ids.
    let (status, body) = proxy
        .put(&format!("/api/channels/{ID_B}"), json!({"name": "Movies"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Movies");
    assert_eq!(body["id"], ID_B);
    let (status, _) = proxy
        .put(&format!("/api/channels/{ID_C}"), json!({"name": ""}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = proxy
        .put(
            &format!("/api/channels/{}", "d".repeat(40)),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = proxy.put("/api/channels/xyz", json!({"name": "x"})).await;
    assert_eq!(status, 400, "{body}");

    // Delete.
    let (status, _) = proxy.delete(&format!("/api/channels/{ID_A}")).await;
    assert_eq!(status, 204);
    let (status, body) = proxy.delete(&format!("/api/channels/{ID_A}")).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());

    proxy.stop().await;

    // A new server on the same settings file has the same channels.
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (_, body) = proxy.get("/api/channels").await;
    let saved: Vec<(&str, &str, Value)> = body["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or(""),
                c["kind"].as_str().unwrap_or(""),
                c["name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        saved,
        vec![
            (ID_B, "content", json!("Movies")),
            (ID_C, "infohash", Value::Null)
        ]
    );
    let file = std::fs::read_to_string(&path).expect("settings file");
    assert!(file.contains("[[channels]]"), "{file}");
    proxy.stop().await;
}

/// Numbers are edited from the UI: a taken number is a 409, a word a 400,
/// and neither changes anything.
#[tokio::test]
async fn a_channel_number_is_changed_and_taken_numbers_or_words_are_refused() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (status, _) = proxy
        .post(
            "/api/channels",
            json!({"channels": [{"id": ID_A, "name": "One", "tvg_chno": "101"}, {"id": ID_B, "name": "Two"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let numbers = |list: &Value| -> Vec<Value> {
        list["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["number"].clone())
            .collect()
    };
    assert_eq!(
        numbers(&proxy.get("/api/channels").await.1),
        [json!(101), json!(102)]
    );

    let (status, body) = proxy
        .put(&format!("/api/channels/{ID_B}"), json!({"number": 7}))
        .await;
    assert_eq!(
        (status.as_u16(), &body["number"]),
        (200, &json!(7)),
        "{body}"
    );
    let (status, body) = proxy
        .put(&format!("/api/channels/{ID_A}"), json!({"number": "7"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("Two")),
        "{body}"
    );
    for bad in [json!("seven"), json!(0), json!(-3), json!(1.5), json!(null)] {
        let (status, body) = proxy
            .put(
                &format!("/api/channels/{ID_A}"),
                json!({"number": bad, "name": "Renamed"}),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let list = proxy.get("/api/channels").await.1;
    assert_eq!(numbers(&list), [json!(101), json!(7)]);
    assert_eq!(list["channels"][0]["name"], "One");
    let (_, _, playlist) = proxy.text("/playlist.m3u").await;
    assert!(playlist.contains("tvg-chno=\"7\""), "{playlist}");
    proxy.stop().await;
}

#[tokio::test]
async fn playlist_lists_saved_channels_with_names_and_channel_urls() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (status, content_type, body) = proxy.text("/playlist.m3u").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "audio/x-mpegurl");
    let epg = proxy.url("/epg.xml");
    let header = format!("#EXTM3U url-tvg=\"{epg}\" x-tvg-url=\"{epg}\"\n");
    assert_eq!(body, header, "the header points at the guide");

    proxy
        .post(
            "/api/channels",
            json!({"channels": [{"id": ID_A, "name": "News"}, {"id": ID_B}]}),
        )
        .await;
    let host = proxy.addr;
    let expected = format!(
        "{header}#EXTINF:-1 tvg-chno=\"1\" tvg-id=\"{ID_A}.acebridge\",News\nhttp://{host}/channel/{ID_A}.ts\n#EXTINF:-1 tvg-chno=\"2\" tvg-id=\"{ID_B}.acebridge\",Channel bbbbbb\u{2026}\nhttp://{host}/channel/{ID_B}.ts\n"
    );
    let (_, _, body) = proxy.text("/playlist.m3u").await;
    assert_eq!(body, expected);

    // The one-entry download behind "Open in player".
    let response = http()
        .get(proxy.url(&format!("/api/channels/{ID_A}/play.m3u")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/x-mpegurl");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"News.m3u\"; filename*=UTF-8''News.m3u"
    );
    assert_eq!(
        response.text().await.expect("body"),
        format!("#EXTM3U\n#EXTINF:-1 tvg-chno=\"1\" tvg-id=\"{ID_A}.acebridge\",News\nhttp://{host}/channel/{ID_A}.ts\n")
    );
    let (status, _) = proxy.get(&format!("/api/channels/{ID_C}/play.m3u")).await;
    assert_eq!(status, 404);
    proxy.stop().await;
}

#[tokio::test]
async fn settings_validate_persist_and_switch_the_engine() {
    let engine = SimEngine::start().await;
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (status, body) = proxy.get("/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(body["engine"], format!("{DEAD_ENGINE}/"));
    assert_eq!(body["settings_file"], path.display().to_string());
    let (_, health) = proxy.get("/api/health").await;
    assert_eq!(health["engine"]["reachable"], false);
    // What the server wrote at start (the tuner's id), if anything.
    let at_start = std::fs::read_to_string(&path).ok();

    // Bad URLs: 400 with the reason, nothing saved.
    for bad in [
        "ftp://x",
        "http://host:6878/ace/getstream?id=1",
        "not a url at all",
        "",
    ] {
        let (status, body) = proxy.put("/api/settings", json!({"engine": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("engine URL")),
            "{body}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&path).ok(),
        at_start,
        "nothing may be written for a rejected change"
    );

    // A good one: saved, applied (health now reaches the simulated engine).
    let (status, body) = proxy
        .put("/api/settings", json!({"engine": engine.url()}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["engine"], format!("{}/", engine.url()));
    let (_, health) = proxy.get("/api/health").await;
    assert_eq!(health["engine"]["reachable"], true, "{health}");
    assert_eq!(health["engine"]["version"], "3.2.3");
    let file = acebridge::config::load_settings(&path).expect("settings");
    assert_eq!(file.engine.as_deref(), Some(engine.url().as_str()));
    proxy.stop().await;

    // The saved engine is used after a restart (resolved from the file).
    let args = acebridge::config::ConfigArgs {
        settings: Some(path.clone()),
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Default::default()
    };
    let config = args.resolve().expect("resolve");
    assert_eq!(config.engine.as_str(), format!("{}/", engine.url()));
}

#[tokio::test]
async fn concurrent_settings_changes_do_not_interleave() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let mut tasks = Vec::new();
    for n in 0..20u32 {
        let url = proxy.url("/api/channels");
        tasks.push(tokio::spawn(async move {
            http()
                .post(url)
                .json(&json!({"channels": [{"id": format!("{n:040x}"), "name": format!("c{n}")}]}))
                .send()
                .await
                .map(|r| r.status())
        }));
        let url = proxy.url("/api/settings");
        tasks.push(tokio::spawn(async move {
            http()
                .put(url)
                .json(&json!({"engine": format!("http://127.0.0.1:{}", 10_000 + n)}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("request"), 200);
    }
    let file = acebridge::config::load_settings(&path).expect("settings");
    assert_eq!(file.channels.len(), 20, "every added channel is saved");
    let (_, settings) = proxy.get("/api/settings").await;
    // The engine in use is the one last written to the file.
    assert_eq!(
        settings["engine"],
        format!("{}/", file.engine.as_deref().unwrap_or_default())
    );
    proxy.stop().await;
}

#[tokio::test]
async fn engine_test_reports_reachability_without_saving() {
    let engine = SimEngine::start().await;
    let proxy = start(DEAD_ENGINE, None).await;
    let (status, body) = proxy
        .post("/api/engine/test", json!({"engine": engine.url()}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reachable"], true);
    assert_eq!(body["version"], "3.2.3");
    assert_eq!(body["error"], Value::Null);

    let (status, body) = proxy
        .post("/api/engine/test", json!({"engine": DEAD_ENGINE}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reachable"], false);
    assert_eq!(body["version"], Value::Null);
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );

    let (status, body) = proxy
        .post("/api/engine/test", json!({"engine": "ftp://x"}))
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string());

    // Nothing changed.
    let (_, settings) = proxy.get("/api/settings").await;
    assert_eq!(settings["engine"], format!("{DEAD_ENGINE}/"));
    proxy.stop().await;
}

#[tokio::test]
async fn deleting_a_stream_stops_it_and_its_engine_session() {
    let engine = SimEngine::start().await;
    let proxy = start(&engine.url(), None).await;
    let (status, body) = proxy.delete(&format!("/api/streams/{ID_A}")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].is_string());
    let (status, _) = proxy.delete("/api/streams/not-an-id").await;
    assert_eq!(status, 400);

    let mut player = http()
        .get(proxy.url(&format!("/ace/getstream?id={ID_A}")))
        .send()
        .await
        .expect("open stream");
    assert_eq!(player.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), player.chunk())
        .await
        .expect("first bytes in time")
        .expect("read");
    assert!(first.is_some());

    let (status, _) = proxy.delete(&format!("/api/streams/{ID_A}")).await;
    assert_eq!(status, 204);
    wait_until(
        Duration::from_secs(10),
        "the engine session to be stopped",
        || async { engine.stops_total() >= 1 },
    )
    .await;
    // The player's stream ends.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = player.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the player's stream did not end");
    wait_until(
        Duration::from_secs(10),
        "the stream to leave /api/streams",
        || async {
            proxy.get("/api/streams").await.1["streams"]
                .as_array()
                .is_some_and(Vec::is_empty)
        },
    )
    .await;
    assert_eq!(engine.active_sessions(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn ui_assets_have_exact_types() {
    let proxy = start(DEAD_ENGINE, None).await;
    for (path, expected, marker) in [
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/app.css",
            "text/css; charset=utf-8",
            "prefers-color-scheme",
        ),
        ("/app.js", "text/javascript; charset=utf-8", "/api/parse"),
    ] {
        let response = http().get(proxy.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], expected, "{path}");
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .is_ok_and(|csp| csp.contains("default-src 'none'")));
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(
            response.text().await.expect("body").contains(marker),
            "{path}"
        );
    }
    proxy.stop().await;
}

fn m3u(entries: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("#EXTM3U\n");
    for (id, name, group) in entries {
        text.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"{name}.tv\" group-title=\"{group}\",{name}\nacestream://{id}\n"
        ));
    }
    text
}

#[tokio::test]
async fn import_from_a_url_adds_renames_and_removes_as_the_list_says() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let served = acebridge_testkit::served::ServedText::start(m3u(&[
        (ID_A, "One", "Sport"),
        (ID_B, "Two", "News"),
    ]))
    .await;
    let url = served.url().to_owned();

    let (status, report) = proxy
        .post("/api/imports", json!({"url": url, "refresh_mins": 60}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["added"].as_u64(), report["removed"].as_u64()),
        (Some(2), Some(0))
    );
    let (_, settings) = proxy.get("/api/settings").await;
    assert_eq!(settings["imports"][0]["url"], url);
    assert_eq!(settings["imports"][0]["refresh_mins"], 60);

    served.set(m3u(&[(ID_B, "Two HD", "News"), (ID_C, "Three", "Sport")]));
    let (status, report) = proxy.post("/api/imports", json!({"url": url})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["added"].as_u64(),
            report["updated"].as_u64(),
            report["removed"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let (_, list) = proxy.get("/api/channels").await;
    let names: Vec<_> = list["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| (c["name"].clone(), c["group"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (json!("Two HD"), json!("News")),
            (json!("Three"), json!("Sport"))
        ]
    );
    let (_, _, playlist) = proxy.text("/playlist.m3u").await;
    assert!(
        playlist.contains(
            "#EXTINF:-1 tvg-chno=\"3\" tvg-id=\"Three.tv\" group-title=\"Sport\",Three\n"
        ),
        "{playlist}"
    );

    // A list that cannot be read changes nothing and says why.
    served.set("<html>gone</html>");
    let (status, error) = proxy.post("/api/imports", json!({"url": url})).await;
    assert_eq!(status, 502);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("no channel found")),
        "{error}"
    );
    let (_, after) = proxy.get("/api/channels").await;
    assert_eq!(after["channels"].as_array().map(Vec::len), Some(2));
    let (status, error) = proxy
        .post(
            "/api/imports",
            json!({"url": served.url().replace("list.m3u", "missing.m3u")}),
        )
        .await;
    assert_eq!(status, 502);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 404")),
        "{error}"
    );
    let (status, _) = proxy
        .post("/api/imports", json!({"url": "ftp://x/list"}))
        .await;
    assert_eq!(status, 400);
    // https is spoken (lists mostly live on https sites): here the server
    // answers plain http, so the TLS handshake fails, a 502 with the reason.
    let (status, error) = proxy
        .post(
            "/api/imports",
            json!({"url": served.url().replace("http://", "https://")}),
        )
        .await;
    assert_eq!(status, 502, "{error}");
    assert!(
        !error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("only http"),
        "{error}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_oversized_list_is_refused_without_reading_it_all() {
    let proxy = start(DEAD_ENGINE, None).await;
    let huge = format!(
        "#EXTM3U\n{}",
        "#".repeat(acebridge::import::MAX_LIST_BYTES + 1)
    );
    let list = acebridge_testkit::served::ServedText::start(huge).await;
    let (status, error) = proxy.post("/api/imports", json!({"url": list.url()})).await;
    assert_eq!(status, 502);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("larger than 4 MiB")),
        "{error}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn m3u_attributes_and_groups_round_trip_to_the_playlist() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let text = format!(
        "#EXTM3U\n#EXTINF:-1 tvg-id=\"sky.uk\" tvg-name=\"Sky UK\" tvg-logo=\"http://logos/sky.png\" group-title=\"Sport\",Sky Sports\nacestream://{ID_A}\nBBC News - {ID_B}\n"
    );
    let (_, parsed) = proxy.post("/api/parse", json!({ "text": text })).await;
    let entries = parsed["entries"].as_array().expect("entries");
    assert_eq!(entries[1]["name"], "BBC News");
    let channels: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({"id": e["id"], "name": e["name"], "group": e["group"], "tvg_logo": e["tvg_logo"],
                   "tvg_id": e["tvg_id"], "tvg_name": e["tvg_name"]})
        })
        .collect();
    let (status, _) = proxy
        .post("/api/channels", json!({ "channels": channels }))
        .await;
    assert_eq!(status, 200);
    let (status, view) = proxy
        .put(
            &format!("/api/channels/{ID_B}"),
            json!({"group": "News\u{2028}24"}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["name"], "BBC News", "a group change keeps the name");
    let host = proxy.addr;
    let (_, _, playlist) = proxy.text("/playlist.m3u").await;
    assert_eq!(
        playlist,
        format!(
            "#EXTM3U url-tvg=\"http://{host}/epg.xml\" x-tvg-url=\"http://{host}/epg.xml\"\n\
             #EXTINF:-1 tvg-chno=\"1\" tvg-id=\"sky.uk\" tvg-name=\"Sky UK\" tvg-logo=\"http://logos/sky.png\" group-title=\"Sport\",Sky Sports\nhttp://{host}/channel/{ID_A}.ts\n\
             #EXTINF:-1 tvg-chno=\"2\" tvg-id=\"{ID_B}.acebridge\" group-title=\"News 24\",BBC News\nhttp://{host}/channel/{ID_B}.ts\n"
        )
    );
    proxy.stop().await;
}

/// Reads server-sent events from a response: (event name, JSON data).
async fn next_event(response: &mut reqwest::Response, buffer: &mut String) -> (String, Value) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ").or(line.strip_prefix("event:")) {
                    name = value.to_owned();
                } else if let Some(value) =
                    line.strip_prefix("data: ").or(line.strip_prefix("data:"))
                {
                    data.push_str(value);
                }
            }
            if name.is_empty() {
                continue; // a keep-alive comment
            }
            return (
                name,
                serde_json::from_str(&data).expect("event data is JSON"),
            );
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("an event within 5 s")
            .expect("read events")
            .expect("the event stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn events_push_channel_changes_within_a_second_and_end_at_shutdown() {
    let proxy = start(DEAD_ENGINE, None).await;
    let mut events = http()
        .get(proxy.url("/api/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let (name, data) = next_event(&mut events, &mut buffer).await;
        if name == "channels" {
            assert_eq!(data, json!({"channels": []}));
        } else {
            assert_eq!(name, "streams");
            assert_eq!(data["streams"], json!([]));
        }
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["channels", "streams"]);

    // A channel saved the way the tray app saves a link arrives at once.
    let id = acebridge::content_id::ContentId::parse(ID_C).expect("id");
    let saved_at = tokio::time::Instant::now();
    assert!(proxy.control().save_channel(&id).await.expect("save"));
    let (name, data) = next_event(&mut events, &mut buffer).await;
    assert_eq!(name, "channels");
    assert_eq!(data["channels"][0]["id"], ID_C);
    assert_eq!(data["channels"][0]["title"], "Channel cccccc\u{2026}");
    assert!(
        saved_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        saved_at.elapsed()
    );

    // An open event stream does not hold up shutdown (the drain would wait 5 s).
    let stopping = tokio::time::Instant::now();
    proxy.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
}

fn alternates_of(list: &Value) -> Vec<Vec<String>> {
    list["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|channel| {
            channel["alternates"]
                .as_array()
                .expect("alternates")
                .iter()
                .map(|id| id.as_str().expect("hex").to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn alternates_are_added_reordered_split_and_merged_and_persisted() {
    let (_dir, path) = settings_file();
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (status, _) = proxy
        .post(
            "/api/channels",
            json!({"channels": [{"id": ID_A, "name": "Sport"}, {"id": ID_B, "name": "Sport 2"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let d = "d".repeat(40);
    let route = |what: &str| format!("/api/channels/{ID_A}/{what}");

    let (status, body) = proxy
        .post(
            &route("alternates"),
            json!({"id": format!("acestream://{d}")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        alternates_of(&body),
        [vec![ID_A.to_owned(), d.clone()], vec![ID_B.to_owned()]]
    );
    // An id another channel has: merge instead.
    let (status, body) = proxy.post(&route("alternates"), json!({"id": ID_B})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("merge")),
        "{body}"
    );
    let (status, _) = proxy
        .post(&route("alternates"), json!({"id": "nope"}))
        .await;
    assert_eq!(status, 400);

    let (status, body) = proxy
        .put(&route("alternates"), json!({"alternates": [d, ID_A]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(alternates_of(&body)[0], [d.clone(), ID_A.to_owned()]);
    assert_eq!(body["channels"][0]["id"], ID_A, "the channel keeps its key");
    assert_eq!(
        body["channels"][0]["ts_url"],
        format!("http://{}/channel/{ID_A}.ts", proxy.addr)
    );
    let (status, _) = proxy
        .put(&route("alternates"), json!({"alternates": [d]}))
        .await;
    assert_eq!(status, 400, "an order must list every id");

    let (status, body) = proxy.post(&route("merge"), json!({"from": ID_B})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        alternates_of(&body),
        [vec![d.clone(), ID_A.to_owned(), ID_B.to_owned()]]
    );
    let (status, _) = proxy.post(&route("merge"), json!({"from": ID_A})).await;
    assert_eq!(status, 400, "not with itself");

    let (status, body) = proxy.post(&route("split"), json!({"id": ID_B})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        alternates_of(&body),
        [vec![d.clone(), ID_A.to_owned()], vec![ID_B.to_owned()]]
    );
    assert_eq!(
        body["channels"][1]["name"], "Sport",
        "the split-off id keeps the name"
    );
    let (status, _) = proxy.post(&route("split"), json!({"id": ID_C})).await;
    assert_eq!(status, 400, "not one of its ids");
    let (status, _) = proxy
        .post(&format!("/api/channels/{ID_C}/split"), json!({"id": ID_C}))
        .await;
    assert_eq!(status, 404);
    proxy.stop().await;

    // All of it is in the settings file.
    let proxy = start(DEAD_ENGINE, Some(&path)).await;
    let (_, body) = proxy.get("/api/channels").await;
    assert_eq!(
        alternates_of(&body),
        [vec![d, ID_A.to_owned()], vec![ID_B.to_owned()]]
    );
    proxy.stop().await;
}

/// A list with two channels of two ids each: one pair shares a `tvg-id`,
/// the other differs only by its quality tag ("HD" / "1080").
fn list_with_alternates() -> String {
    let (d, e) = ("d".repeat(40), "e".repeat(40));
    format!(
        "#EXTM3U\n#EXTINF:-1 tvg-id=\"dazn1.es\" group-title=\"Sport\",DAZN 1\nacestream://{ID_A}\n\
         #EXTINF:-1 group-title=\"Sport\",Eurosport 1 HD\nacestream://{ID_B}\n\
         #EXTINF:-1 tvg-id=\"DAZN1.es\",DAZN 1 (backup)\nacestream://{ID_C}\n\
         #EXTINF:-1,EUROSPORT 1 1080\nacestream://{d}\n\
         #EXTINF:-1,Sky Sports 2\nacestream://{e}\n"
    )
}

/// Pastes `text` as the web UI's Add channels box does: parse, then save what parsed.
async fn paste(proxy: &Proxy, text: &str) {
    let (status, parsed) = proxy.post("/api/parse", json!({ "text": text })).await;
    assert_eq!(status, 200, "{parsed}");
    let channels: Vec<Value> = parsed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            json!({"id": e["id"], "kind": e["kind"], "name": e["name"], "group": e["group"],
                   "tvg_logo": e["tvg_logo"], "tvg_id": e["tvg_id"], "tvg_name": e["tvg_name"]})
        })
        .collect();
    let (status, saved) = proxy
        .post("/api/channels", json!({ "channels": channels }))
        .await;
    assert_eq!(status, 200, "{saved}");
}

/// What two proxies must agree on: the playlist (on either's origin) and
/// every channel's ids and title.
async fn channels_as_played(proxy: &Proxy) -> (String, Vec<(Value, Value)>) {
    let (_, _, playlist) = proxy.text("/playlist.m3u").await;
    let (_, list) = proxy.get("/api/channels").await;
    let channels = list["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| (c["alternates"].clone(), c["title"].clone()))
        .collect();
    (playlist.replace(&proxy.url(""), "http://proxy"), channels)
}

#[tokio::test]
async fn pasting_a_list_merges_alternates_as_importing_it_by_url_does() {
    let text = list_with_alternates();
    let pasted = start(DEAD_ENGINE, None).await;
    paste(&pasted, &text).await;
    let imported = start(DEAD_ENGINE, None).await;
    let served = acebridge_testkit::served::ServedText::start(text).await;
    let (status, report) = imported
        .post("/api/imports", json!({ "url": served.url() }))
        .await;
    assert_eq!(status, 200, "{report}");

    let (playlist, channels) = channels_as_played(&pasted).await;
    assert_eq!(
        (playlist.clone(), channels.clone()),
        channels_as_played(&imported).await
    );
    assert_eq!(
        channels,
        [
            (json!([ID_A, ID_C]), json!("DAZN 1")),
            (json!([ID_B, "d".repeat(40)]), json!("Eurosport 1 HD")),
            (json!(["e".repeat(40)]), json!("Sky Sports 2")),
        ]
    );
    assert_eq!(playlist.matches("#EXTINF").count(), 3, "{playlist}");
    pasted.stop().await;
    imported.stop().await;
}
