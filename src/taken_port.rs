//! What to do when the listen port is taken, for both binaries: find out
//! whether the program listening there is acebridge itself (then a second
//! proxy would only double every engine session: use that one), find the next
//! free port, word the advice, and hand channels over to the running acebridge.
//!
//! Owns the recognition of acebridge on a port (its `/api/health` answer) and
//! the wording of the advice, so the CLI and the tray app say the same thing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use crate::content_id::{ContentId, IdKind};

/// How long the program on a taken port may take to answer: a busy acebridge
/// answers `/api/health` within the engine client's timeout, so anything
/// slower is treated as another program.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How many ports after a taken one are tried before asking the OS for any.
const PORT_SEARCH: u16 = 20;

/// Who listens on a taken port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occupant {
    /// An acebridge (the CLI or the tray app) serving its web UI at `origin`.
    Acebridge { origin: String, version: String },
    /// Some other program, or one that did not answer as acebridge.
    Other,
}

/// The part of acebridge's `/api/health` answer that identifies it.
#[derive(Debug, Deserialize)]
struct Health {
    status: String,
    version: String,
    engine: serde_json::Map<String, serde_json::Value>,
}

/// Where a program on this machine reaches `listen`: a wildcard address is
/// reached through loopback.
fn local_origin(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// Asks the program on `listen` whether it is acebridge: `GET /api/health`.
/// An acebridge whose engine hangs answers that only after its engine
/// timeout, so when it is slow, `GET /api/streams` (no engine involved) decides.
pub async fn who_listens(listen: SocketAddr) -> Occupant {
    let origin = local_origin(listen);
    let Ok(client) = crate::http_client::plain_http()
        .timeout(PROBE_TIMEOUT)
        .build()
    else {
        return Occupant::Other;
    };
    let health = async {
        let response = client.get(format!("{origin}/api/health")).send().await?;
        response.error_for_status()?.json::<Health>().await
    };
    let version = match health.await {
        Ok(health) if health.status == "ok" && health.engine.contains_key("url") => health.version,
        Err(error) if error.is_timeout() => {
            let streams = async {
                let response = client.get(format!("{origin}/api/streams")).send().await?;
                response
                    .error_for_status()?
                    .json::<serde_json::Value>()
                    .await
            };
            match streams.await {
                Ok(answer) if answer["streams"].is_array() => "unknown".to_owned(),
                _ => return Occupant::Other,
            }
        }
        _ => return Occupant::Other,
    };
    Occupant::Acebridge { origin, version }
}

/// The first free port after `taken` on its address (a few are tried), else
/// any free port the OS picks.
pub fn next_free_port(taken: SocketAddr) -> Option<u16> {
    let ip = taken.ip();
    (1..=PORT_SEARCH)
        .filter_map(|step| taken.port().checked_add(step))
        .chain([0])
        .find_map(|port| {
            let probe = std::net::TcpListener::bind((ip, port)).ok()?;
            probe.local_addr().ok().map(|addr| addr.port())
        })
}

/// What the user should do, in plain sentences (no markup: dialogs show it
/// as is). `next_free` is the port offered instead, if any.
pub fn advice(taken: SocketAddr, occupant: &Occupant, next_free: Option<u16>) -> String {
    let port = taken.port();
    match occupant {
        Occupant::Acebridge { origin, .. } => format!(
            "acebridge is already running on port {port}. Use that one: its web UI is at \
             {origin}/ and players can use its URLs as they are. A second acebridge would \
             open a second engine session for every channel."
        ),
        Occupant::Other => {
            let instead = match next_free {
                Some(free) => format!(
                    "Port {free} is free: start acebridge with --listen {}:{free} \
                     (or set ACEBRIDGE_LISTEN, or listen in the settings file).",
                    taken.ip()
                ),
                None => "No port nearby is free either.".to_owned(),
            };
            format!(
                "Port {port} is already in use by another program, which does not answer \
                 as acebridge. {instead} Players and saved playlists then need the new port."
            )
        }
    }
}

/// Why channels could not be handed to a running acebridge.
#[derive(Debug, thiserror::Error)]
#[error("the acebridge at {origin} did not take the channels: {reason}")]
pub struct HandOverError {
    origin: String,
    reason: String,
}

/// Saves `ids` in the acebridge at `origin` through its HTTP API, as its own
/// web UI does (JSON body, its own `Origin`, so its CSRF guard accepts it).
pub async fn hand_over(origin: &str, ids: &[ContentId]) -> Result<(), HandOverError> {
    let failed = |reason: String| HandOverError {
        origin: origin.to_owned(),
        reason,
    };
    let channels: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| match id.kind() {
            IdKind::Content => serde_json::json!({ "id": id.as_hex() }),
            IdKind::Infohash => serde_json::json!({ "id": id.as_hex(), "kind": "infohash" }),
        })
        .collect();
    let client = crate::http_client::plain_http()
        .timeout(PROBE_TIMEOUT)
        .build()
        .map_err(|error| failed(error.to_string()))?;
    let response = client
        .post(format!("{origin}/api/channels"))
        .header(reqwest::header::ORIGIN, origin)
        .json(&serde_json::json!({ "channels": channels }))
        .send()
        .await
        .map_err(|error| failed(error.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(failed(format!("{status}: {}", body.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[test]
    fn a_taken_port_is_replaced_by_a_free_one() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = taken.local_addr().expect("addr");
        let port = next_free_port(taken).expect("a free port");
        assert_ne!(port, taken.port());
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn wildcard_listeners_are_reached_through_loopback() {
        assert_eq!(local_origin(addr("0.0.0.0:6880")), "http://127.0.0.1:6880");
        assert_eq!(local_origin(addr("[::]:6880")), "http://[::1]:6880");
        assert_eq!(
            local_origin(addr("127.0.0.1:7000")),
            "http://127.0.0.1:7000"
        );
    }

    #[test]
    fn advice_names_the_way_out_without_markup() {
        let taken = addr("127.0.0.1:6880");
        let other = advice(taken, &Occupant::Other, Some(6881));
        assert!(other.contains("--listen 127.0.0.1:6881"), "{other}");
        let running = Occupant::Acebridge {
            origin: "http://127.0.0.1:6880".into(),
            version: "0.1.0".into(),
        };
        let ours = advice(taken, &running, Some(6881));
        assert!(ours.contains("http://127.0.0.1:6880/"), "{ours}");
        assert!(!ours.contains("6881"), "{ours}");
        for text in [other, ours, advice(taken, &Occupant::Other, None)] {
            assert!(!text.contains('`'), "{text}");
        }
    }

    /// A program on a local port answering `GET path` with `answer(path)`
    /// (status 200 and a JSON body), or never when that is `None`.
    async fn program(answer: fn(&str) -> Option<&'static str>) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let listen = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let read = socket.read(&mut request).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..read]);
                    let path = request.split_whitespace().nth(1).unwrap_or_default();
                    let Some(body) = answer(path) else {
                        return std::future::pending().await;
                    };
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        listen
    }

    #[tokio::test]
    async fn a_program_that_is_not_acebridge_is_other() {
        let listen = program(|_| Some(r#"{"status":"ok"}"#)).await;
        assert_eq!(who_listens(listen).await, Occupant::Other);
    }

    #[tokio::test]
    async fn acebridge_is_recognised_by_its_health() {
        let listen = program(|path| {
            (path == "/api/health").then_some(
                r#"{"status":"ok","version":"0.1.0","engine":{"url":"http://127.0.0.1:6878/"}}"#,
            )
        })
        .await;
        let expected = Occupant::Acebridge {
            origin: local_origin(listen),
            version: "0.1.0".into(),
        };
        assert_eq!(who_listens(listen).await, expected);
    }

    /// Its health waits for a hung engine longer than the probe does.
    #[tokio::test]
    async fn acebridge_with_a_hung_engine_is_recognised_by_its_streams() {
        let listen = program(|path| (path == "/api/streams").then_some(r#"{"streams":[]}"#)).await;
        assert!(matches!(
            who_listens(listen).await,
            Occupant::Acebridge { .. }
        ));
    }
}
