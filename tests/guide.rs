//! The programme guide end to end, over real sockets: XMLTV sources served
//! by a local HTTP server (plain, gzip, broken), read by the real server,
//! matched to saved channels by tvg-id, by name and by the user's pick,
//! shown as now/next, served as `/epg.xml` (checked by `tv_validate_file`
//! from Debian's xmltv-util when installed), and kept across restarts.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use acebridge_testkit::guide::{gzip, now, sample as guide, ServedFiles as Files};
use acebridge_testkit::wait::wait_until;
use common::{http, Proxy, ID_A, ID_B, ID_C};
use serde_json::{json, Value};

const DEAD_ENGINE: &str = "http://127.0.0.1:9";

async fn start(settings: &Path) -> Proxy {
    Proxy::with_settings(DEAD_ENGINE, settings).await
}

async fn send(
    proxy: &Proxy,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http().request(method, proxy.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn add_source(proxy: &Proxy, url: &str) -> Value {
    let (status, source) = send(
        proxy,
        reqwest::Method::POST,
        "/api/guide/sources",
        Some(json!({"url": url})),
    )
    .await;
    assert_eq!(status, 200, "{source}");
    source
}

/// The saved channels by id: (now's title, next's title).
async fn now_next(proxy: &Proxy) -> HashMap<String, (Value, Value)> {
    let list = proxy.json("/api/channels").await;
    list["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                (c["now"]["title"].clone(), c["next"]["title"].clone()),
            )
        })
        .collect()
}

fn settings_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("settings.toml");
    (dir, path)
}

/// Runs `tv_validate_file` on `xml`: skipped (visibly) where xmltv-util is
/// not installed, unless `ACEBRIDGE_REQUIRE_XMLTV=1`.
fn validate(xml: &str) {
    if which::which("tv_validate_file").is_err() {
        acebridge_testkit::skip::missing_tools(
            "ACEBRIDGE_REQUIRE_XMLTV",
            "validating /epg.xml",
            "tv_validate_file (xmltv-util)",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("epg.xml");
    std::fs::write(&path, xml).expect("write");
    let mut command = std::process::Command::new("tv_validate_file");
    // The DTD Debian ships (else it is fetched from xmltv.org).
    let dtd = Path::new("/usr/share/xmltv/xmltv.dtd");
    if dtd.exists() {
        command.arg("--dtd-file").arg(dtd);
    }
    let output = command.arg(&path).output().expect("run tv_validate_file");
    assert!(
        output.status.success(),
        "tv_validate_file refused /epg.xml:\n{}{}\n{xml}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_guide_is_matched_shown_served_and_its_last_good_read_survives_bad_ones() {
    let files = Files::default();
    let origin = files.start().await;
    let now = now();
    files.set("/guide.xml.gz", 200, gzip(guide(now).as_bytes()));
    let url = format!("{origin}/guide.xml.gz");
    let (_dir, settings) = settings_dir();
    let proxy = start(&settings).await;
    let (status, _) = send(
        &proxy,
        reqwest::Method::POST,
        "/api/channels",
        json!({"channels": [
            {"id": ID_A, "name": "F1", "tvg_id": "SKY.F1.UK"},
            {"id": ID_B, "name": "BBC One HD"},
            {"id": ID_C, "name": "Canal Nope"},
        ]})
        .into(),
    )
    .await;
    assert_eq!(status, 200);

    let source = add_source(&proxy, &url).await;
    assert_eq!(source["last_error"], Value::Null, "{source}");
    assert_eq!(source["channels"], 4);
    assert_eq!(source["programmes"], 6);
    assert_eq!(
        source["programmes_kept"], 4,
        "only saved channels' programmes: {source}"
    );
    let shown = now_next(&proxy).await;
    assert_eq!(
        shown[ID_A],
        (json!("Race & Build-up"), json!("Chequered Flag")),
        "by tvg-id, any case"
    );
    assert_eq!(shown[ID_B].0, json!("News"), "by name");
    assert_eq!(shown[ID_C], (Value::Null, Value::Null), "no match");

    // The user's pick for the channel nothing matched, kept in the settings.
    let (status, picked) = send(
        &proxy,
        reqwest::Method::PUT,
        &format!("/api/channels/{ID_C}/guide"),
        json!({"guide_id": "DAZN1.es"}).into(),
    )
    .await;
    assert_eq!(status, 200, "{picked}");
    assert_eq!(picked["matched"]["id"], "dazn1.es");
    assert_eq!(picked["matched"]["how"], "pick");
    add_source(&proxy, &url).await;
    assert_eq!(now_next(&proxy).await[ID_C].0, json!("LaLiga"));
    assert!(std::fs::read_to_string(&settings)
        .expect("settings")
        .contains("guide_id = \"DAZN1.es\""));

    // A search of the guide's channel names, for picking.
    let hits = proxy.json("/api/guide/channels?q=bbc").await;
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");
    assert_eq!(hits[0]["id"], "bbc1.uk");

    // A channel's programmes in a time range.
    let range = proxy
        .json(&format!(
            "/api/guide?channel={ID_A}&from={now}&to={}",
            now + 4 * 3600
        ))
        .await;
    let titles: Vec<_> = range["programmes"]
        .as_array()
        .expect("programmes")
        .iter()
        .map(|p| p["title"].clone())
        .collect();
    assert_eq!(titles, [json!("Race & Build-up"), json!("Chequered Flag")]);
    assert_eq!(
        range["programmes"][0]["stop"].as_i64(),
        range["programmes"][1]["start"].as_i64(),
        "offsets read exactly"
    );

    // /epg.xml: exactly the saved channels, under the playlist's tvg-ids.
    let xml = common::get_text(&proxy.url("/epg.xml")).await;
    assert!(xml.contains("<channel id=\"SKY.F1.UK\">"), "{xml}");
    assert!(xml.contains(&format!("<channel id=\"{ID_B}.acebridge\">")));
    assert!(
        xml.contains("<icon src=\"http://img/f1.png\" />"),
        "the guide's icon when the channel has no logo"
    );
    assert!(xml.contains("<title>Race &amp; Build-up</title>"));
    assert!(
        xml.contains("<sub-title>Part 1</sub-title>")
            && xml.contains("<episode-num system=\"xmltv_ns\">1.2.0/1</episode-num>")
    );
    assert!(!xml.contains("Never kept") && !xml.contains("other.fr"));
    assert_eq!(xml.matches("<channel id=").count(), 3);
    validate(&xml);
    let zipped = http()
        .get(proxy.url("/epg.xml.gz"))
        .send()
        .await
        .expect("gz")
        .bytes()
        .await
        .expect("body");
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&zipped[..]),
        &mut unzipped,
    )
    .expect("gunzip");
    assert_eq!(
        unzipped.matches("<programme ").count(),
        xml.matches("<programme ").count()
    );
    let playlist = common::get_text(&proxy.url("/playlist.m3u")).await;
    let epg = proxy.url("/epg.xml");
    assert!(
        playlist.starts_with(&format!("#EXTM3U url-tvg=\"{epg}\" x-tvg-url=\"{epg}\"\n")),
        "{playlist}"
    );
    assert!(playlist.contains("tvg-id=\"SKY.F1.UK\""), "{playlist}");
    assert!(
        playlist.contains(&format!("tvg-id=\"{ID_B}.acebridge\"")),
        "{playlist}"
    );

    // Broken reads: each an error on the source; the last good guide stays.
    let zipped = gzip(guide(now).as_bytes());
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE tv [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><tv><channel id=\"x\"><display-name>&b;</display-name></channel></tv>";
    for (status, body, says) in [
        (
            200,
            zipped[..zipped.len() / 2].to_vec(),
            "gzip data is truncated",
        ),
        (404, b"gone".to_vec(), "HTTP 404"),
        (200, bomb.as_bytes().to_vec(), "declares entities"),
        (
            200,
            b"<tv><channel id=\"a\"></tv>".to_vec(),
            "malformed XML",
        ),
    ] {
        files.set("/guide.xml.gz", status, body);
        let source = add_source(&proxy, &url).await;
        let error = source["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{says}: {source}");
        assert_eq!(source["channels"], 4, "the last good read's state stays");
        assert_eq!(
            now_next(&proxy).await[ID_A].0,
            json!("Race & Build-up"),
            "{says}"
        );
    }
    proxy.stop().await;

    // After a restart, with the source down: now/next at once, from the cache.
    let again = start(&settings).await;
    assert_eq!(now_next(&again).await[ID_A].0, json!("Race & Build-up"));
    let sources = again.json("/api/guide/sources").await;
    assert_eq!(sources["sources"][0]["url"], url.as_str());
    let (status, _) = send(
        &again,
        reqwest::Method::DELETE,
        "/api/guide/sources",
        json!({"url": url}).into(),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        now_next(&again).await[ID_A].0,
        Value::Null,
        "its guide goes with it"
    );
    again.stop().await;
}

#[tokio::test]
async fn guide_urls_in_a_lists_header_become_sources_when_pasted_or_imported() {
    let files = Files::default();
    let origin = files.start().await;
    let now = now();
    files.set("/g.xml", 200, guide(now));
    let list = format!(
        "#EXTM3U url-tvg=\"{origin}/g.xml,{origin}/second.xml.gz\" x-tvg-url=\"{origin}/g.xml\"\n\
         #EXTINF:-1 tvg-id=\"bbc1.uk\",BBC\nacestream://{ID_A}\n"
    );
    files.set("/list.m3u", 200, list.clone());
    let (_dir, settings) = settings_dir();
    let proxy = start(&settings).await;
    let (status, report) = send(
        &proxy,
        reqwest::Method::POST,
        "/api/imports",
        json!({"url": format!("{origin}/list.m3u")}).into(),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let urls = |sources: &Value| -> Vec<String> {
        sources["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .map(|s| s["url"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let expected = [format!("{origin}/g.xml"), format!("{origin}/second.xml.gz")];
    assert_eq!(urls(&proxy.json("/api/guide/sources").await), expected);
    // The refresher reads them on its own: one works, the other is a 404.
    wait_until(
        Duration::from_secs(20),
        "the header's guides read",
        || async { now_next(&proxy).await[ID_A].0 == json!("News") },
    )
    .await;
    wait_until(
        Duration::from_secs(20),
        "the second read failed",
        || async {
            let sources = proxy.json("/api/guide/sources").await;
            sources["sources"][1]["last_error"]
                .as_str()
                .is_some_and(|error| error.contains("HTTP 404"))
        },
    )
    .await;
    proxy.stop().await;

    // Pasted: /api/parse reports the header's guides, /api/channels saves them.
    let (_dir2, settings) = settings_dir();
    let proxy = start(&settings).await;
    let (_, parsed) = send(
        &proxy,
        reqwest::Method::POST,
        "/api/parse",
        json!({"text": list}).into(),
    )
    .await;
    assert_eq!(parsed["guide_urls"], json!(expected));
    let (status, _) = send(
        &proxy,
        reqwest::Method::POST,
        "/api/channels",
        json!({"channels": [{"id": ID_A}], "guide_urls": parsed["guide_urls"]}).into(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(urls(&proxy.json("/api/guide/sources").await), expected);
    proxy.stop().await;
}
