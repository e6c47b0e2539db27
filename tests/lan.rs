//! LAN sharing: when clients other than this machine may connect, every request
//! from them needs the generated token (`?token=`), which the URLs the proxy
//! hands out carry, and the token only lets them play: managing the proxy is
//! for this computer only. Most tests play the part of another device by not
//! trusting loopback clients; the connection budget test connects from this
//! machine's LAN address when it has one.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use acebridge::content_id::ContentId;
use common::{get_json, http, kit, Player, Proxy, ID_A};
use kit::engine::SimEngine;

fn settings_file() -> PathBuf {
    std::env::temp_dir().join(format!(
        "acebridge-lan-{}/settings.toml",
        uuid::Uuid::new_v4()
    ))
}

async fn lan_proxy(engine: &str, settings: &Path) -> Proxy {
    let settings = settings.to_owned();
    Proxy::start_with(engine, move |config| {
        config.trust_loopback = false;
        config.settings_path = Some(settings);
    })
    .await
}

#[tokio::test]
async fn other_devices_need_the_token_that_the_urls_carry() {
    let engine = SimEngine::start().await;
    let path = settings_file();
    let proxy = lan_proxy(&engine.url(), &path).await;

    for route in [
        format!("/ace/getstream?id={ID_A}"),
        format!("/ace/manifest.m3u8?id={ID_A}"),
        "/playlist.m3u".into(),
        format!("/api/channels/{ID_A}/play.m3u"),
    ] {
        let (status, body) = get_json(&proxy.url(&route)).await;
        assert_eq!(status, 401, "{route}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains("token"),
            "{route}: {body}"
        );
    }
    let (status, _) = get_json(&proxy.url(&format!("/ace/getstream?id={ID_A}&token=wrong"))).await;
    assert_eq!(status, 401);
    assert_eq!(
        engine.sessions_started_total(),
        0,
        "nothing reached the engine"
    );

    // The token is in the settings file (readable by the user only) and nowhere else.
    let token = common::lan_token(&path);
    assert_eq!(token.len(), 32, "128 random bits in hex");
    // Unix modes; a Windows build (under Wine) writes no mode to check.
    #[cfg(unix)]
    if !common::process::external_binary() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A channel saved on this computer (as the tray app does) is in the
    // playlist another device gets with the token, its URL carrying the token.
    let id = ContentId::parse(ID_A).expect("id");
    proxy.control().save_channel(&id).await.expect("save");
    let playlist = http()
        .get(proxy.url(&format!("/playlist.m3u?token={token}")))
        .send()
        .await
        .expect("playlist")
        .text()
        .await
        .expect("text");
    let ts_url = playlist
        .lines()
        .find(|line| line.starts_with("http://"))
        .expect("a channel URL")
        .to_owned();
    // The saved channel's stable URL, which fails over between its ids.
    assert_eq!(
        ts_url,
        proxy.url(&format!("/channel/{ID_A}.ts?token={token}")),
        "{playlist}"
    );
    let mut player = Player::open(&ts_url).await;
    player.read_until(10_000, Duration::from_secs(10)).await;
    let (status, _) =
        get_json(&proxy.url(&format!("/api/channels/{ID_A}/play.m3u?token={token}"))).await;
    assert_eq!(status, 200, "one-entry playlist");

    // HLS segment URIs carry it too, so an HLS player on the LAN gets every segment.
    let playlist = http()
        .get(proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}&token={token}")))
        .send()
        .await
        .expect("manifest")
        .text()
        .await
        .expect("text");
    // (The saved channel plays A for the TS player above: the per-id request
    // joins it, so its segments are the channel's.)
    let segment = playlist
        .lines()
        .find(|line| line.starts_with("/ace/hls/") || line.starts_with("/channel/"))
        .expect("segment uri");
    assert!(segment.ends_with(&format!("?token={token}")), "{segment}");
    let status = http()
        .get(proxy.url(segment))
        .send()
        .await
        .expect("segment")
        .status();
    assert_eq!(status, 200);
    // And the stable HLS URL's segments too.
    let playlist = http()
        .get(proxy.url(&format!("/channel/{ID_A}.m3u8?token={token}")))
        .send()
        .await
        .expect("channel manifest")
        .text()
        .await
        .expect("text");
    let segment = playlist
        .lines()
        .find(|line| line.starts_with("/channel/"))
        .expect("segment uri");
    assert!(segment.ends_with(&format!("?token={token}")), "{segment}");
    let status = http()
        .get(proxy.url(segment))
        .send()
        .await
        .expect("segment")
        .status();
    assert_eq!(status, 200);
    drop(player);
    proxy.stop().await;

    // The same token after a restart: URLs saved on TVs keep working.
    let again = lan_proxy(&engine.url(), &path).await;
    let (status, _) = get_json(&again.url(&format!("/playlist.m3u?token={token}"))).await;
    assert_eq!(status, 200);
    again.stop().await;
    if let Some(dir) = path.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test]
async fn the_lan_token_grants_playing_only_not_managing() {
    let engine = SimEngine::start().await;
    let path = settings_file();
    let proxy = lan_proxy(&engine.url(), &path).await;
    let token = common::lan_token(&path);
    let client = http();
    // Every route here, with the token, as another device would send it.
    let url = |path: &str| proxy.url(&format!("{path}?token={token}"));
    let attempts = [
        client.get(url("/")),
        client.get(url("/app.js")),
        client.get(url("/api/health")),
        client.get(url("/api/streams")),
        client.get(url("/api/settings")),
        client.get(url("/api/channels")),
        client
            .put(url("/api/settings"))
            .json(&serde_json::json!({"engine": "http://evil.example:6878"})),
        client
            .post(url("/api/engine/test"))
            .json(&serde_json::json!({"engine": "http://evil.example:6878"})),
        client
            .post(url("/api/channels"))
            .json(&serde_json::json!({"channels": [{"id": ID_A}]})),
        client.delete(url(&format!("/api/channels/{ID_A}"))),
        client.delete(url(&format!("/api/streams/{ID_A}"))),
        client
            .post(url("/api/parse"))
            .json(&serde_json::json!({"text": ID_A})),
    ];
    for attempt in attempts {
        let response = attempt.send().await.expect("request");
        let url = response.url().path().to_owned();
        assert_eq!(response.status(), 403, "{url}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("only possible from this computer"),
            "{url}: {body}"
        );
    }
    // Nothing changed: the engine is still the one configured.
    let settings = proxy.control().settings().await;
    assert_eq!(settings.engine, None, "{settings:?}");
    proxy.stop().await;
    if let Some(dir) = path.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test]
async fn ipv4_mapped_loopback_is_this_computer_when_listening_on_all_ipv6_addresses() {
    let engine = SimEngine::start().await;
    let path = settings_file();
    let settings = path.clone();
    let Ok(probe) = std::net::TcpListener::bind("[::]:0") else {
        eprintln!("SKIPPED: no IPv6 on this machine");
        return;
    };
    drop(probe);
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.listen = "[::]:0".parse().expect("addr");
        config.settings_path = Some(settings);
    })
    .await;
    // A client of 127.0.0.1 is seen as ::ffff:127.0.0.1 on a dual-stack socket.
    let url = format!("http://127.0.0.1:{}/api/settings", proxy.addr.port());
    let (status, body) = get_json(&url).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["lan_token"].is_string(), "LAN sharing is on: {body}");
    let mut player = Player::open(&format!(
        "http://127.0.0.1:{}/ace/getstream?id={ID_A}",
        proxy.addr.port()
    ))
    .await;
    player.read_until(10_000, Duration::from_secs(10)).await;
    drop(player);
    proxy.stop().await;
    if let Some(dir) = path.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Opens `count` connections to `addr` from `from` and keeps them open.
async fn open_connections(
    from: std::net::IpAddr,
    addr: std::net::SocketAddr,
    count: usize,
) -> Vec<tokio::net::TcpStream> {
    let mut open = Vec::new();
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(from, 0))
            .expect("bind");
        open.push(socket.connect(addr).await.expect("connect"));
    }
    open
}

/// This machine's address on its LAN (the one a default route would use), if any.
fn lan_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route.
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn lan_connections_have_their_own_budget_and_cannot_starve_this_computer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(lan_ip) = lan_address() else {
        eprintln!("SKIPPED: this machine has no LAN address to connect from");
        return;
    };
    let engine = SimEngine::start().await;
    let path = settings_file();
    let settings = path.clone();
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.listen = "0.0.0.0:0".parse().expect("addr");
        config.settings_path = Some(settings);
    })
    .await;
    let port = proxy.addr.port();
    let target = std::net::SocketAddr::new(lan_ip, port);
    // One device holds as many idle connections as it may.
    let held = open_connections(lan_ip, target, 32).await;
    // One more from it is refused at once, with a JSON reason.
    let mut extra = open_connections(lan_ip, target, 1).await.remove(0);
    let _ = extra
        .write_all(format!("GET /api/health HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer))
        .await
        .expect("refused at once")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    let length = format!("content-length: {}", body.len());
    assert!(head.lines().any(|line| line == length), "{head} / {body}");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("too many connections from other devices"),
        "{message}"
    );
    // This computer is not affected.
    let started = std::time::Instant::now();
    let (status, _) = get_json(&format!("http://127.0.0.1:{port}/api/health")).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Once the device closes its connections, it may connect again.
    drop(held);
    kit::wait::wait_until(
        Duration::from_secs(5),
        "the device's slots freed",
        || async {
            let url = format!("http://{target}/ace/getstream");
            http()
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 401)
        },
    )
    .await;
    proxy.stop().await;
    if let Some(dir) = path.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test]
async fn loopback_clients_need_no_token() {
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let settings = proxy.json("/api/settings").await;
    assert!(
        settings["lan_token"].is_null(),
        "no LAN sharing on 127.0.0.1"
    );
    proxy.stop().await;
}

/// `PUT /api/lan {"enabled": on}` from this computer: the status and answer.
async fn switch_lan(proxy: &Proxy, on: bool) -> (u16, serde_json::Value) {
    let response = http()
        .put(proxy.url("/api/lan"))
        .json(&serde_json::json!({ "enabled": on }))
        .send()
        .await
        .expect("switch");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// What scanning `svg` finds: the text of its QR code, read by `zbarimg`
/// from a PNG drawn by `rsvg-convert` (Debian `zbar-tools`, `librsvg2-bin`).
fn scan_qr(svg: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let svg_path = dir.path().join("qr.svg");
    let png_path = dir.path().join("qr.png");
    std::fs::write(&svg_path, svg).expect("write svg");
    let drawn = std::process::Command::new("rsvg-convert")
        .args(["-w", "480", "-b", "white", "-o"])
        .arg(&png_path)
        .arg(&svg_path)
        .status()
        .expect("rsvg-convert (librsvg2-bin) is installed");
    assert!(drawn.success(), "rsvg-convert failed");
    let scanned = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&png_path)
        .output()
        .expect("zbarimg (zbar-tools) is installed");
    assert!(scanned.status.success(), "zbarimg found no code");
    String::from_utf8_lossy(&scanned.stdout).trim().to_owned()
}

#[tokio::test]
async fn the_lan_switch_opens_and_closes_the_lan_address_and_survives_a_restart() {
    let Some(lan_ip) = lan_address() else {
        eprintln!("SKIPPED: this machine has no LAN address to share on");
        return;
    };
    let engine = SimEngine::start().await;
    let path = settings_file();
    // This computer only, as by default.
    let proxy = Proxy::with_settings(&engine.url(), &path).await;
    let port = proxy.addr.port();
    let lan = |path: &str| format!("http://{lan_ip}:{port}{path}");
    assert!(
        http().get(lan("/playlist.m3u")).send().await.is_err(),
        "nothing answers on the LAN address before the switch"
    );
    let view = proxy.json("/api/lan").await;
    assert_eq!(view["enabled"], false, "{view}");

    let (status, view) = switch_lan(&proxy, true).await;
    assert_eq!(status, 200, "{view}");
    let token = view["token"].as_str().expect("token").to_owned();
    assert_eq!(token, common::lan_token(&path), "the saved token");
    let origin = format!("http://{lan_ip}:{port}");
    assert!(
        view["origins"]
            .as_array()
            .is_some_and(|all| all.iter().any(|o| o == origin.as_str())),
        "{view}"
    );

    // The LAN address answers with the token, refuses without it, and
    // manages nothing.
    let (status, _) = get_json(&lan("/playlist.m3u")).await;
    assert_eq!(status, 401);
    let with_token = |path: &str| lan(&format!("{path}?token={token}"));
    let playlist = http()
        .get(with_token("/playlist.m3u"))
        .send()
        .await
        .expect("playlist");
    assert_eq!(playlist.status(), 200);
    let (status, _) = get_json(&with_token("/api/settings")).await;
    assert_eq!(status, 403);
    // The page of this computer keeps token-free URLs.
    let local = common::get_text(&proxy.url("/playlist.m3u")).await;
    assert!(!local.contains("token="), "{local}");

    // The QR code is the playlist URL for other devices.
    let qr = http()
        .get(proxy.url("/api/lan/qr.svg"))
        .send()
        .await
        .expect("qr");
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    let svg = qr.text().await.expect("svg");
    assert_eq!(
        scan_qr(&svg),
        format!("{origin}/playlist.m3u?token={token}")
    );

    // A LAN player is cut when sharing stops, and the address closes.
    let mut player = Player::open(&lan(&format!("/ace/getstream?id={ID_A}&token={token}"))).await;
    player.read_until(188 * 100, Duration::from_secs(10)).await;
    let (status, view) = switch_lan(&proxy, false).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["enabled"], false);
    player.read_to_end(Duration::from_secs(5)).await;
    assert!(
        http()
            .get(with_token("/playlist.m3u"))
            .send()
            .await
            .is_err(),
        "the LAN address is closed"
    );
    let (status, _) = get_json(&proxy.url("/api/lan/qr.svg")).await;
    assert_eq!(status, 409, "no URL to share while off");

    // On again, then a restart: the switch was saved and is applied at start.
    let (status, _) = switch_lan(&proxy, true).await;
    assert_eq!(status, 200);
    proxy.stop().await;
    let proxy = Proxy::with_settings(&engine.url(), &path).await;
    let port = proxy.addr.port();
    let again = format!("http://{lan_ip}:{port}/playlist.m3u?token={token}");
    kit::wait::wait_until(Duration::from_secs(10), "sharing on again", || async {
        proxy.json("/api/lan").await["enabled"] == true
    })
    .await;
    let playlist = http().get(&again).send().await.expect("after a restart");
    assert_eq!(playlist.status(), 200);
    let (status, _) = switch_lan(&proxy, false).await;
    assert_eq!(status, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_listen_address_beyond_loopback_wins_over_the_lan_switch() {
    let path = settings_file();
    let settings = path.clone();
    let proxy = Proxy::start_with("http://127.0.0.1:9", move |config| {
        config.listen = "0.0.0.0:0".parse().expect("addr");
        config.settings_path = Some(settings);
    })
    .await;
    let view = proxy.json("/api/lan").await;
    assert_eq!(view["enabled"], true, "{view}");
    assert!(view["fixed_by_listen"].is_string(), "{view}");
    let (status, body) = switch_lan(&proxy, false).await;
    assert_eq!(status, 409);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("--listen"), "{error}");
    proxy.stop().await;
}

/// The base URL a discovery reply from `to` announces, or `None` when no
/// reply comes within `wait`.
async fn discovered_base_url(to: std::net::IpAddr, wait: Duration) -> Option<String> {
    use acebridge::tuner::discovery;
    let socket = tokio::net::UdpSocket::bind((to, 0)).await.expect("udp");
    let request = discovery::request(0xFFFF_FFFF, 0xFFFF_FFFF);
    socket
        .send_to(&request, (to, discovery::DISCOVERY_PORT))
        .await
        .expect("send");
    let mut buffer = [0u8; 1500];
    let (len, _) = tokio::time::timeout(wait, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    let reply = discovery::Frame::decode(&buffer[..len]).expect("a valid frame");
    reply
        .tlvs
        .iter()
        .find(|(tag, _)| *tag == 0x2A)
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
}

#[tokio::test]
async fn hdhomerun_discovery_followed_the_lan_switch_only_after_a_restart() {
    use acebridge::tuner::discovery::DISCOVERY_PORT;
    let Some(lan_ip) = lan_address() else {
        eprintln!("SKIPPED: this machine has no LAN address to share on");
        return;
    };
    let engine = SimEngine::start().await;
    let path = settings_file();
    let settings = path.clone();
    let proxy = Proxy::start_with(&engine.url(), move |config| {
        config.settings_path = Some(settings);
        config.discovery_port = Some(DISCOVERY_PORT);
    })
    .await;
    let port = proxy.addr.port();
    let loopback = std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST);
    let quick = Duration::from_secs(1);
    let reply = Duration::from_secs(5);
    assert_eq!(
        discovered_base_url(loopback, reply).await,
        Some(proxy.url("")),
        "this machine discovers the tuner at the root"
    );
    assert_eq!(
        discovered_base_url(lan_ip, quick).await,
        None,
        "no answer on the LAN before sharing"
    );

    let (status, view) = switch_lan(&proxy, true).await;
    assert_eq!(status, 200, "{view}");
    let token = view["token"].as_str().expect("token").to_owned();
    let shared = format!("http://{lan_ip}:{port}/hdhr/{token}");
    assert_eq!(
        discovered_base_url(lan_ip, reply).await,
        Some(shared.clone()),
        "a device on the LAN discovers the shared tuner at once"
    );
    if let Some(found) = kit::hdhomerun::discover(lan_ip).await {
        assert!(
            !found.is_empty(),
            "hdhomerun_config discovers the tuner at {lan_ip}"
        );
    }
    let (status, discover) = get_json(&format!("{shared}/discover.json")).await;
    assert_eq!(status, 200, "{discover}");
    assert_eq!(
        discovered_base_url(loopback, reply).await,
        Some(proxy.url("")),
        "this machine still finds it at the root, without the token"
    );

    let (status, _) = switch_lan(&proxy, false).await;
    assert_eq!(status, 200);
    assert_eq!(
        discovered_base_url(lan_ip, quick).await,
        None,
        "no answer on the LAN once sharing is off"
    );
    assert_eq!(
        discovered_base_url(loopback, reply).await,
        Some(proxy.url("")),
        "this machine discovers it again"
    );
    proxy.stop().await;
}
