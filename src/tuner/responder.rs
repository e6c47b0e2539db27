//! The running server's HDHomeRun discovery responder, which follows LAN
//! sharing: on this machine only while acebridge is not shared, on every
//! address (the replies pointing at the tuner shared under `/hdhr/<token>`)
//! while it is. The web UI's LAN switch moves it at run time, so a media
//! centre on the network finds the tuner as soon as sharing is on, without
//! a restart.
//!
//! Owns the responder task and its socket on the discovery port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::discovery::{self, HttpApi};
use super::Tuner;

/// How long a switch waits for the previous responder to let go of the port.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who the responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// This machine only: the server is not shared.
    ThisMachine,
    /// Every device, for the server shared by its listen address with this
    /// LAN token (the replies point at `/hdhr/<token>` on that address).
    Listen(&'a str),
    /// Every device, for the server shared by the LAN switch with this
    /// token; requests from this machine get the tuner at the root of the
    /// loopback listener, as before the switch.
    Switch(&'a str),
}

/// Cheap to clone; every clone moves the same responder.
#[derive(Debug, Clone)]
pub struct Responder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    port: u16,
    device_id: super::DeviceId,
    tuner_count: usize,
    /// The server's own listen address.
    http: SocketAddr,
    /// The server's stop: ends whichever responder runs.
    stop: CancellationToken,
    current: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

impl Responder {
    /// A responder on UDP `port` for the tuner the server at `http` serves;
    /// it answers nothing until [`Responder::serve`].
    pub fn new(tuner: &Tuner, http: SocketAddr, port: u16, stop: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                port,
                device_id: tuner.device_id(),
                tuner_count: tuner.tuner_count(),
                http,
                stop,
                current: Mutex::new(None),
            }),
        }
    }

    /// Answers as `reach` says. The responder running before stops first:
    /// both need the one port.
    pub async fn serve(&self, reach: Reach<'_>) {
        let inner = &self.inner;
        let mut current = inner.current.lock().await;
        if let Some((cut, task)) = current.take() {
            cut.cancel();
            if tokio::time::timeout(RELEASE_TIMEOUT, task).await.is_err() {
                tracing::warn!("the discovery responder took long to stop");
            }
        }
        let http_ip = Some(inner.http.ip()).filter(|ip| !ip.is_unspecified());
        let (bind_ip, api) = match reach {
            Reach::Listen(token) => (
                IpAddr::from(Ipv4Addr::UNSPECIFIED),
                HttpApi {
                    ip: http_ip,
                    port: inner.http.port(),
                    path: format!("/hdhr/{token}"),
                    local_root: None,
                },
            ),
            Reach::Switch(token) => (
                IpAddr::from(Ipv4Addr::UNSPECIFIED),
                HttpApi {
                    // The server itself listens on loopback: each reply names
                    // the address its requester reached, where a LAN
                    // listener serves the same port.
                    ip: None,
                    port: inner.http.port(),
                    path: format!("/hdhr/{token}"),
                    local_root: http_ip,
                },
            ),
            Reach::ThisMachine => (
                IpAddr::from(Ipv4Addr::LOCALHOST),
                HttpApi {
                    ip: http_ip,
                    port: inner.http.port(),
                    path: String::new(),
                    local_root: None,
                },
            ),
        };
        let Some(socket) = discovery::bind(bind_ip, inner.port).await else {
            return;
        };
        let cut = inner.stop.child_token();
        let task = tokio::spawn(discovery::respond(
            socket,
            inner.device_id,
            inner.tuner_count,
            api,
            cut.clone(),
        ));
        *current = Some((cut, task));
    }
}
