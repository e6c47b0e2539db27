//! acebridge: makes AceStream channels play in any ordinary player.
//!
//! Crate map:
//! - [`content_id`]: what users paste (ids, `acestream://` links, engine URLs, M3U lists).
//! - [`config`]: settings file, env vars and flags resolved into a [`Config`].
//! - [`engine`]: the AceStream engine's HTTP API; the only code that talks to it.
//! - [`engine_pool`]: the engines channels are placed on, their health and load.
//! - [`engine_process`]: the engine process acebridge starts on demand, watches and stops.
//! - [`channel`]: one channel per content id, one engine session each, read by
//!   TS and HLS players alike; its lifecycle, limits, errors and metrics.
//! - [`ts`]: MPEG-TS packet scanning and the fan-out ring TS players read.
//! - [`hls`]: HLS segments (cut from the TS or the engine's own) and playlists.
//! - [`http`]: the axum router, JSON errors, the web UI, and the listener that drops stalled players.
//! - [`store`]: the persisted settings (engine URL, saved channels) the API changes.
//! - `saved`: a saved channel ([`config::SavedChannel`]) with typed ids, its title, and its settings-file shape.
//! - [`player_launcher`]: the hook through which the tray app starts players for the web UI.
//! - `player_urls`: the URLs players open (stable channel URLs, id URLs, the LAN token).
//! - [`import`]: channel lists imported from a URL and kept in step with it.
//! - [`lan`]: LAN sharing switched on and off while the server runs, its addresses and QR code.
//! - [`control`]: in-process control of a running server for the tray app.
//! - [`taken_port`]: a taken listen port: is acebridge already there, which port is free.
//! - [`recording`]: channels written to `.ts` files, now, for a time or scheduled.
//! - [`guide`]: the programme guide: XMLTV sources read, matched to the saved channels, served as `/epg.xml`.
//! - [`tuner`]: acebridge as an HDHomeRun network tuner for media centres: identity, discovery, documents.
//!
//! [`Server`] ties them together; the CLI (`src/main.rs`) and the tray app both
//! run the server through it, so there is exactly one way the proxy is served.

pub mod channel;
pub mod config;
pub mod content_id;
pub mod control;
pub(crate) mod engine;
pub mod engine_pool;
pub mod engine_process;
pub mod guide;
pub(crate) mod hls;
pub mod http;
mod http_client;
pub mod import;
pub mod lan;
pub mod list_edits;
mod memory;
pub mod player_launcher;
mod player_urls;
pub mod recent;
pub mod recording;
mod saved;
pub(crate) mod store;
pub mod taken_port;
pub(crate) mod ts;
pub mod tuner;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use config::{Config, UpstreamMode};
pub use engine::EngineError;

use crate::channel::Hub;
use crate::engine_pool::Pool;
use crate::engine_process::{EngineProcess, ProcessSettings};
use crate::http::listener::GuardedListener;
use crate::recording::Recordings;
use crate::store::Store;
use crate::tuner::Tuner;

/// A bound server, ready to run. Binding first lets callers learn the port
/// (tests bind port 0; the tray app reports a port in use before starting).
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    hub: Hub,
    store: Store,
    lan_token: Option<Arc<str>>,
    tuner: Arc<Tuner>,
    recordings: Recordings,
    guide: guide::Guide,
    players: Option<Arc<dyn player_launcher::PlayerLauncher>>,
    config: Config,
}

impl Server {
    /// Binds the listen address of `config`.
    pub async fn bind(config: Config) -> std::io::Result<Self> {
        let store = Store::open(config.settings_path.clone()).map_err(std::io::Error::other)?;
        let listener = http::listener::bind(config.listen)?;
        let pool = Pool::new(&config.engine_specs(), config.pool);
        let engine_process = EngineProcess::new(process_settings(&config)).await;
        let hub = Hub::with_engine_process(pool, config.channels.clone(), engine_process);
        let remembering = store.clone();
        hub.set_on_live(move |key, id| {
            let (store, key, id) = (remembering.clone(), key.to_owned(), id.clone());
            tokio::spawn(async move { store::remember_last_good(&store, &key, &id).await });
        });
        let lan_token = if config.listen.ip().is_loopback() && config.trust_loopback {
            None
        } else {
            Some(lan_token(&store).await?)
        };
        let tuner = Arc::new(Tuner::load(&store, config.channels.max_channels).await?);
        let recordings =
            Recordings::load(hub.clone(), store.clone(), config.recordings.clone()).await;
        let guide = guide::Guide::load(
            config
                .settings_path
                .as_deref()
                .and_then(guide::Guide::cache_path),
        );
        Ok(Self {
            listener,
            hub,
            store,
            lan_token,
            tuner,
            recordings,
            guide,
            players: None,
            config,
        })
    }

    /// Lets the web UI start players through `launcher` (the tray app's).
    pub fn with_player_launcher(
        mut self,
        launcher: Arc<dyn player_launcher::PlayerLauncher>,
    ) -> Self {
        self.players = Some(launcher);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle for the embedding app on what this server will serve.
    pub fn control(&self) -> std::io::Result<control::Control> {
        Ok(control::Control::new(
            self.hub.clone(),
            self.store.clone(),
            self.local_addr()?,
            self.recordings.clone(),
            self.guide.clone(),
        ))
    }

    /// Serves until `shutdown` completes, then stops every channel (and its
    /// engine session) so streams end cleanly and no session is left behind.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr()?;
        let hub = self.hub.clone();
        let store = self.store.clone();
        let refresher = tokio::spawn(import::refresh_lists(self.store.clone()));
        let scheduler = tokio::spawn(self.recordings.clone().run_schedules());
        let recordings = self.recordings.clone();
        let guide_refresher =
            tokio::spawn(guide::sources::run(self.store.clone(), self.guide.clone()));
        let discovery = CancellationToken::new();
        let health_watch = CancellationToken::new();
        tokio::spawn(hub.pool().clone().watch_health(health_watch.clone()));
        // HDHomeRun discovery: on this machine only, unless the listen
        // address shares the server (then every device on the LAN may
        // discover the tuner, as a real HDHomeRun) or the LAN switch does
        // (which moves the responder, see `lan`).
        let responder = self.config.discovery_port.map(|port| {
            tuner::responder::Responder::new(&self.tuner, addr, port, discovery.clone())
        });
        if let Some(responder) = &responder {
            let reach = match self.lan_token.as_deref() {
                Some(token) => tuner::responder::Reach::Listen(token),
                None => tuner::responder::Reach::ThisMachine,
            };
            responder.serve(reach).await;
        }
        let shared = self.lan_token.is_some();
        let lan = lan::LanSharing::new(addr, self.config.write_stall, shared, responder);
        let state = http::AppState {
            channels: self.hub,
            store: self.store,
            local_addr: addr,
            lan_token: self.lan_token,
            trust_loopback: self.config.trust_loopback,
            tuner: self.tuner,
            engine_clients: Default::default(),
            recordings: self.recordings,
            guide: self.guide,
            players: self.players,
            lan,
        };
        if state.store.get().await.lan_sharing {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(error) = http::switch_lan(&state, true).await {
                    tracing::warn!(%error, "LAN sharing was on, but cannot be now");
                }
            });
        }
        let lan = state.lan.clone();
        let app = http::router(state);
        tracing::info!(%addr, engine = %hub.engine().base(), "acebridge listening");
        let listener = GuardedListener::new(self.listener, self.config.write_stall)
            .trusting_loopback(self.config.trust_loopback);
        let stopping = hub.clone();
        let usage = hub.clone();
        hub.engine_process()
            .track_usage(move || usage.process_engine_channel_count());
        http::listener::serve(listener, app, async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = lan.close().await;
            // First, while their channels still play: every file is finished cleanly.
            recordings.shutdown().await;
            // Ends the web UI's event streams and the list refresher.
            store.close();
            stopping.shutdown().await;
            // After the channels, so their sessions were stopped on the engine.
            stopping.engine_process().shutdown().await;
        })
        .await;
        refresher.abort();
        scheduler.abort();
        guide_refresher.abort();
        discovery.cancel();
        health_watch.cancel();
        tracing::info!("stopped");
        Ok(())
    }
}

/// How the engine process is managed: an explicit command always; detected
/// installs only when the embedding app asked (the tray app does).
fn process_settings(config: &Config) -> ProcessSettings {
    ProcessSettings {
        command: config.engine_command.clone(),
        detect: config.engine_autostart,
        idle_stop: config.engine_idle_stop,
        log_path: config
            .settings_path
            .as_deref()
            .and_then(std::path::Path::parent)
            .map(|dir| dir.join("engine.log")),
        timeouts: config.engine_timeouts,
    }
}

/// The runtime the proxy is meant to run on: tokio's single-threaded one.
/// Fan-out is a chain of small wake-ups (upstream read, then every player's
/// write); on a multi-threaded runtime they hop between workers through
/// futexes and work stealing, which costs more CPU per byte (the README's
/// performance section has the figures). One thread has room for hundreds
/// of players.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as both binaries do.
/// `RUST_LOG` is a level and `target=level` pairs (`debug`,
/// `info,acebridge=debug`), read by `Targets` rather than `EnvFilter`, whose
/// span and field filters nobody here uses and whose regex engine made the
/// executable larger (see the README's Performance section); one that does not
/// parse logs at `info`.
pub fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();
}

/// Binds and serves `config` until `shutdown` completes.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Server::bind(config).await?.run(shutdown).await
}

/// The LAN sharing token: the saved one, or 128 random bits saved now.
async fn lan_token(store: &Store) -> std::io::Result<Arc<str>> {
    let mut settings = store.lock().await;
    if let Some(token) = settings.settings().lan_token.clone() {
        tracing::info!("LAN sharing on: other devices need the token shown in the web UI");
        return Ok(token.into());
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut next = settings.settings().clone();
    next.lan_token = Some(token.clone());
    settings.save(next).await.map_err(std::io::Error::other)?;
    tracing::info!("LAN sharing on: generated a token; other devices need it (see the web UI)");
    Ok(token.into())
}
