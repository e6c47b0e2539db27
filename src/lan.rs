//! LAN sharing switched from the web UI while acebridge runs: the server
//! keeps its loopback listener, and sharing adds a listener on each of this
//! computer's network addresses, on the same port, serving the same routes
//! with the LAN token required from other devices (the token opens the play
//! routes only; see `http::guard`). Switching off closes those listeners
//! and cuts the connections they carried. The switch is saved
//! (`lan_sharing` in the settings file) and applied again at start.
//!
//! A listen address beyond loopback (`--listen 0.0.0.0:…`, `ACEBRIDGE_LISTEN`
//! or `listen` in the settings file) already shares on the LAN; it wins, and
//! the switch says so instead of changing anything.
//!
//! Owns the LAN listeners, the LAN addresses shown to the user and the QR
//! code of the playlist URL; moves HDHomeRun discovery with the switch.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http::listener::{self, GuardedListener};
use crate::tuner::responder::{Reach, Responder};

/// How long switching off waits for the LAN listeners to let go of their addresses.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(6);

/// The LAN listeners of a server; cheap to clone.
#[derive(Debug, Clone)]
pub struct LanSharing {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The port of the server, which the LAN listeners share.
    port: u16,
    write_stall: Duration,
    /// The listen address when it already shares on the LAN (the switch is fixed on).
    fixed: Option<SocketAddr>,
    running: Mutex<Option<Running>>,
    /// HDHomeRun discovery, moved to the LAN and back with the switch.
    discovery: Option<Responder>,
}

/// LAN listeners serving now.
#[derive(Debug)]
struct Running {
    token: Arc<str>,
    addresses: Vec<SocketAddr>,
    cut: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// What the page shows: whether other devices may play, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LanView {
    pub enabled: bool,
    /// Set when the listen address decides (it wins over the switch): that address.
    pub fixed_by_listen: Option<String>,
    /// What other devices add as `?token=`, when sharing is on.
    pub token: Option<String>,
    /// `http://address:port` of each network address other devices may use.
    pub origins: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LanError {
    #[error(
        "LAN sharing is decided by the listen address {0} (--listen, ACEBRIDGE_LISTEN or listen \
         in the settings file), which wins over the switch"
    )]
    Fixed(SocketAddr),
    #[error("this computer has no network address other devices could reach")]
    NoAddress,
    #[error("cannot listen on the network: {0}")]
    Bind(String),
    #[error(transparent)]
    Settings(#[from] crate::config::ConfigError),
    #[error("cannot make the LAN token: {0}")]
    Token(std::io::Error),
}

impl LanSharing {
    /// For a server listening on `listen`: the switch is fixed on when that
    /// address is not loopback (or `lan_token` is set for another reason).
    /// `discovery` (HDHomeRun's, when on) moves with the switch: to the LAN
    /// when sharing opens, back to this machine when it closes.
    pub fn new(
        listen: SocketAddr,
        write_stall: Duration,
        shares_already: bool,
        discovery: Option<Responder>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                port: listen.port(),
                write_stall,
                fixed: shares_already.then_some(listen),
                running: Mutex::new(None),
                discovery,
            }),
        }
    }

    /// What the page shows; `fixed_token` is the token of a server sharing
    /// through its listen address.
    pub async fn view(&self, fixed_token: Option<&str>) -> LanView {
        if let Some(listen) = self.inner.fixed {
            let origins = if listen.ip().is_unspecified() {
                lan_addresses()
                    .into_iter()
                    .map(|ip| origin(SocketAddr::new(ip, listen.port())))
                    .collect()
            } else {
                vec![origin(listen)]
            };
            return LanView {
                enabled: true,
                fixed_by_listen: Some(listen.to_string()),
                token: fixed_token.map(str::to_owned),
                origins,
            };
        }
        let running = self.inner.running.lock().await;
        match running.as_ref() {
            Some(running) => LanView {
                enabled: true,
                fixed_by_listen: None,
                token: Some(running.token.to_string()),
                origins: running.addresses.iter().copied().map(origin).collect(),
            },
            None => LanView {
                enabled: false,
                fixed_by_listen: None,
                token: None,
                origins: Vec::new(),
            },
        }
    }

    /// Opens the LAN listeners serving `app` (the server's routes with the
    /// LAN token required, see [`crate::http::lan_router`]); nothing if open.
    pub(crate) async fn open(&self, token: Arc<str>, app: axum::Router) -> Result<(), LanError> {
        if let Some(listen) = self.inner.fixed {
            return Err(LanError::Fixed(listen));
        }
        let mut running = self.inner.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let ips = lan_addresses();
        if ips.is_empty() {
            return Err(LanError::NoAddress);
        }
        let cut = CancellationToken::new();
        let mut addresses = Vec::new();
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for ip in ips {
            let addr = SocketAddr::new(ip, self.inner.port);
            let bound = match listener::bind(addr) {
                Ok(bound) => bound,
                Err(error) => {
                    tracing::warn!(%addr, %error, "cannot share on this address");
                    failures.push(format!("{addr}: {error}"));
                    continue;
                }
            };
            let guarded = GuardedListener::new(bound, self.inner.write_stall).cut_by(cut.clone());
            let stop = cut.clone();
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                listener::serve(guarded, app, stop.cancelled_owned()).await;
            }));
            addresses.push(addr);
        }
        if addresses.is_empty() {
            return Err(LanError::Bind(failures.join("; ")));
        }
        tracing::info!(
            ?addresses,
            "LAN sharing on: other devices need the token shown in the web UI"
        );
        if let Some(discovery) = &self.inner.discovery {
            discovery.serve(Reach::Switch(&token)).await;
        }
        *running = Some(Running {
            token,
            addresses,
            cut,
            tasks,
        });
        Ok(())
    }

    /// Closes the LAN listeners and cuts their connections; waits (bounded)
    /// until their addresses are free again, so sharing can be switched on
    /// at once.
    pub(crate) async fn close(&self) -> Result<(), LanError> {
        if let Some(listen) = self.inner.fixed {
            return Err(LanError::Fixed(listen));
        }
        let Some(running) = self.inner.running.lock().await.take() else {
            return Ok(());
        };
        running.cut.cancel();
        if let Some(discovery) = &self.inner.discovery {
            discovery.serve(Reach::ThisMachine).await;
        }
        let all = futures_util::future::join_all(running.tasks);
        if tokio::time::timeout(CLOSE_TIMEOUT, all).await.is_err() {
            tracing::warn!("the LAN listeners took long to close");
        }
        tracing::info!("LAN sharing off");
        Ok(())
    }

    /// The URL of the playlist for other devices, on the first LAN address.
    pub fn playlist_url(view: &LanView) -> Option<String> {
        let origin = view.origins.first()?;
        let token = view.token.as_deref()?;
        Some(format!("{origin}/playlist.m3u?token={token}"))
    }
}

fn origin(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// This computer's addresses other devices may reach: every up interface's
/// address but loopback and IPv6 link-local ones (which need a zone), IPv4 first.
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .inspect_err(|error| tracing::warn!(%error, "cannot list the network addresses"))
        .unwrap_or_default()
        .into_iter()
        .map(|interface| interface.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            IpAddr::V4(_) => true,
        })
        .collect();
    // Wine's adapter list (and so perhaps some Windows set-ups') sometimes
    // lacks the IPv4 address: the one the default route leaves from is the
    // address other devices most likely reach, so it is always listed.
    ips.extend(route_address());
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    ips.dedup();
    ips
}

/// The IPv4 address this computer's default route leaves from, if it has one
/// that is not loopback.
fn route_address() -> Option<IpAddr> {
    // TEST-NET-2 (RFC 5737): routed like any remote address, never used.
    let remote = SocketAddr::from((std::net::Ipv4Addr::new(198, 51, 100, 1), 9));
    route_towards(remote).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

/// This computer's address on the route to `peer`, as the OS picks it. No
/// packet is sent: connecting a UDP socket only picks the route.
pub(crate) fn route_towards(peer: SocketAddr) -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(peer).ok()?;
    socket.local_addr().ok().map(|addr| addr.ip())
}

/// `text` as a QR code in SVG, for a TV or a phone to scan.
pub fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}
