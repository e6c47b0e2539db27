//! In-process control of a running server, for apps that embed it (the tray
//! app): the active streams, the engine's status, saved channels and player
//! URLs, the programme on now and recordings, without a round trip through
//! the HTTP API and its guards.
//!
//! It owns nothing: it holds clones of the hubs, the settings store, the
//! recordings and the guide the router uses, so what it reports is exactly
//! what `/api/*` reports.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::channel::{ChannelKey, Hub};
use crate::config::{ConfigError, DesktopSettings, SavedChannel, Settings};
use crate::content_id::ContentId;
use crate::engine::EngineError;
use crate::engine_pool::{EngineState, EngineView};
use crate::engine_process::{ProcessError, ProcessStatus};
use crate::guide::{self, Guide, ProgrammeView};
use crate::player_urls::{Format, PlayerUrls};
use crate::recording::{RecordingError, RecordingView, Recordings, Request};
use crate::store::{self, Store};

/// A handle on a server, from [`crate::Server::control`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Control {
    channels: Hub,
    store: Store,
    /// URLs for players on this machine (see [`PlayerUrls::local`]).
    urls: Arc<PlayerUrls>,
    recordings: Recordings,
    guide: Guide,
}

/// An active channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveStream {
    pub id: ContentId,
    /// Whether HLS viewers watch it (the tray then offers its HLS URL).
    pub hls: bool,
    /// Viewers of every kind.
    pub players: usize,
    pub uptime_secs: u64,
}

/// The channel playing now, as the tray names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playing {
    /// What a recording of it is asked for ([`Control::record`]): its saved
    /// channel's key, else its content id.
    pub channel: String,
    pub title: String,
    /// What it shows now, from the programme guide.
    pub programme: Option<ProgrammeView>,
    /// The ids of the recordings running on it.
    pub recordings: Vec<String>,
}

/// Whether the engine answers, and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStatus {
    pub url: String,
    /// The engine's version, or why it could not be reached.
    pub version: Result<String, EngineError>,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    TooMany(#[from] store::TooManyChannels),
    #[error(transparent)]
    Settings(#[from] ConfigError),
}

impl Control {
    pub(crate) fn new(
        channels: Hub,
        store: Store,
        local_addr: SocketAddr,
        recordings: Recordings,
        guide: Guide,
    ) -> Self {
        Self {
            channels,
            store,
            urls: Arc::new(PlayerUrls::local(local_addr)),
            recordings,
            guide,
        }
    }

    /// `http://127.0.0.1:PORT`: where the web UI is.
    pub fn origin(&self) -> &str {
        self.urls.origin()
    }

    /// The TS URL a player on this machine opens for `id` alone.
    pub fn ts_url(&self, id: &ContentId) -> String {
        self.urls.id(id, Format::Ts)
    }

    /// The URL a player on this machine opens for `id`: its saved channel's
    /// stable URL (which fails over between the channel's alternates) when a
    /// saved channel has `id` among its ids, else [`Control::ts_url`].
    pub async fn play_url(&self, id: &ContentId) -> String {
        let settings = self.store.get().await;
        match store::owner_of(&settings, id.as_hex()) {
            Some(index) => self.urls.channel(&settings.channels[index], Format::Ts),
            None => self.ts_url(id),
        }
    }

    /// Every active channel, newest first.
    pub fn streams(&self) -> Vec<ActiveStream> {
        let mut streams: Vec<_> = self
            .channels
            .list()
            .into_iter()
            .map(|info| ActiveStream {
                id: info.id,
                hls: info.viewers.hls > 0,
                players: info.players,
                uptime_secs: info.uptime_secs,
            })
            .collect();
        streams.sort_by_key(|stream| stream.uptime_secs);
        streams
    }

    /// The channel a "copy/open the last stream" action means: the newest
    /// active one, else the one played last.
    pub async fn last_stream(&self) -> Option<ContentId> {
        if let Some(stream) = self.streams().into_iter().next() {
            return Some(stream.id);
        }
        let settings = self.store.get().await;
        crate::recent::recent_channels(&settings)
            .first()
            .map(|saved| saved.id().clone())
    }

    /// The saved channel whose key is `hex` (any case): its own id, with its kind.
    pub async fn saved_channel(&self, hex: &str) -> Option<ContentId> {
        let settings = self.store.get().await;
        store::find_by_key(&settings, hex).map(|saved| saved.id().clone())
    }

    /// The name to show for a channel (a player's window title, a menu
    /// entry): the title of the saved channel that has `id` among its ids
    /// (whichever of them plays now), else "Channel d5869d…".
    pub async fn channel_title(&self, id: &ContentId) -> String {
        self.store
            .read(|settings| store::title_of(settings, id))
            .await
    }

    /// Asks the engine for its version (bounded by the engine client's API timeout).
    pub async fn engine_status(&self) -> EngineStatus {
        let engine = self.channels.engine();
        EngineStatus {
            url: engine.base().to_string(),
            version: engine.version().await,
        }
    }

    /// How many of the engines are up, and of how many, as last polled (no
    /// engine is asked: the tray reads this at every refresh to show
    /// "Engines: 2 of 3 up").
    pub fn engines_up(&self) -> (usize, usize) {
        let views = self.channels.pool().views();
        let up = views
            .iter()
            .filter(|view| view.state == EngineState::Up)
            .count();
        (up, views.len())
    }

    /// Every engine of the pool, as `/api/health` lists them: state,
    /// version, channels, the last error (from the latest poll; a lone
    /// engine is asked now).
    pub async fn engines(&self) -> Vec<EngineView> {
        let pool = self.channels.pool();
        if pool.len() == 1 {
            let answer = self.channels.engine().version().await;
            pool.note_first_version(answer.map_err(|error| error.to_string()));
        }
        pool.views()
    }

    /// The engine process: whether acebridge started the engine, may start
    /// it (a command is known), and why a start failed. Asks the engine's version.
    pub async fn engine_process(&self) -> ProcessStatus {
        let engine = self.channels.engine();
        let reachable = engine.version().await.is_ok();
        self.channels.engine_process().status(&engine, reachable)
    }

    /// "Start engine": starts it with the engine command and waits until it
    /// answers (bounded); Ok at once if it already answers.
    pub async fn start_engine(&self) -> Result<ProcessStatus, ProcessError> {
        let engine = self.channels.engine();
        self.channels.engine_process().start(&engine).await?;
        Ok(self.engine_process().await)
    }

    /// Starts the engine if acebridge manages it and it does not answer, as a
    /// player's request would (the tray app calls this at launch). Respects a
    /// user's stop and the bound on failed attempts, unlike [`Self::start_engine`].
    pub async fn ensure_engine(&self) -> Result<(), ProcessError> {
        let engine = self.channels.engine();
        self.channels.engine_process().ensure_running(&engine).await
    }

    /// "Stop engine": stops the engine acebridge started; an engine it did
    /// not start is never stopped ([`ProcessError::NotOurs`]).
    pub async fn stop_engine(&self) -> Result<ProcessStatus, ProcessError> {
        self.channels.engine_process().stop().await?;
        Ok(self.engine_process().await)
    }

    /// Saves a channel as the web UI's paste box does; true if it was new.
    pub async fn save_channel(&self, id: &ContentId) -> Result<bool, SaveError> {
        let mut guard = self.store.lock().await;
        let next = store::merge_channels(guard.settings(), [(id.clone(), None)])?;
        if next == *guard.settings() {
            return Ok(false);
        }
        guard.save(next).await?;
        Ok(true)
    }

    /// What was wrong with the settings file when the server started: one
    /// sentence each, naming the file, the line and what was kept (the first
    /// one says where the file as it was is kept). Empty when all was well.
    pub async fn settings_warnings(&self) -> Vec<String> {
        self.store.warnings().to_vec()
    }

    pub async fn settings(&self) -> Settings {
        self.store.get().await
    }

    /// Changes the tray app's preferences and saves them.
    pub async fn update_desktop(
        &self,
        change: impl FnOnce(&mut DesktopSettings),
    ) -> Result<DesktopSettings, ConfigError> {
        let mut guard = self.store.lock().await;
        let mut next = guard.settings().clone();
        change(&mut next.desktop);
        if next != *guard.settings() {
            guard.save(next).await?;
        }
        Ok(guard.settings().desktop.clone())
    }

    /// The channel playing now: the newest one that a player or a recording
    /// reads (a lingering channel has neither), with its programme and recordings.
    pub async fn playing(&self) -> Option<Playing> {
        let info = self
            .channels
            .list()
            .into_iter()
            .filter(|info| info.players > 0)
            .min_by_key(|info| info.uptime_secs)?;
        let (key, channel) = match &info.channel {
            Some(saved) => (ChannelKey::Saved(saved.clone()), saved.clone()),
            None => (ChannelKey::Id(info.id.clone()), info.id.as_hex().to_owned()),
        };
        let (title, programme) = self
            .store
            .read(|settings| {
                let saved = match &info.channel {
                    Some(key) => store::find_by_key(settings, key),
                    None => store::owner_of(settings, info.id.as_hex())
                        .map(|index| &settings.channels[index]),
                };
                match saved {
                    Some(saved) => (saved.title(), self.programme_now(saved)),
                    None => (store::title_of(settings, &info.id), None),
                }
            })
            .await;
        Some(Playing {
            channel,
            title,
            programme,
            recordings: self.recordings.running_ids_on(&key),
        })
    }

    /// What `saved` shows now, from the programme guide.
    pub fn programme_now(&self, saved: &SavedChannel) -> Option<ProgrammeView> {
        self.guide.programme(saved, guide::now_unix())
    }

    /// Starts recording `channel` (a saved channel's key or a content id)
    /// until it is stopped, as `POST /api/recordings` does.
    pub async fn record(&self, channel: &str) -> Result<RecordingView, RecordingError> {
        self.recordings
            .start(Request {
                channel: channel.to_owned(),
                ..Request::default()
            })
            .await
    }

    /// Stops the recording `id` and waits (bounded) until its file is closed.
    pub async fn stop_recording(&self, id: &str) -> Result<RecordingView, RecordingError> {
        self.recordings.stop(id).await
    }

    /// The schedules, then this run's recordings, newest first, as
    /// `GET /api/recordings` lists them.
    pub async fn recordings(&self) -> Vec<RecordingView> {
        self.recordings.list().await
    }

    /// Whether a recording runs now (quitting would end it).
    pub fn recording_now(&self) -> bool {
        self.recordings.any_running()
    }

    /// Where recordings are written.
    pub fn recordings_dir(&self) -> &Path {
        self.recordings.dir()
    }
}
