//! The proxy's counters for `GET /metrics`, in the Prometheus/OpenMetrics text
//! format (prometheus-client): what the channels did since start (bytes,
//! engine sessions, reconnects, failures, start latency), plus what they are
//! doing now, read from the channel table at scrape time.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Counters shared by every channel of a hub; cloning shares them.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub sessions_opened: Counter,
    pub sessions_stopped: Counter,
    pub reconnects: Counter,
    pub start_failures: Counter,
    /// Switches of a saved channel from one alternate to the next.
    pub failovers: Counter,
    /// Seconds from a channel's creation to its first data.
    pub start_seconds: Histogram,
    /// Engine sessions started, by engine.
    sessions_by_engine: Family<Labels, Counter>,
    /// Failed session starts, by engine.
    start_failures_by_engine: Family<Labels, Counter>,
    /// Channels moved off an engine, by the engine left.
    moves_by_engine: Family<Labels, Counter>,
}

type Labels = Vec<(String, String)>;

fn engine_label(engine: &str) -> Labels {
    vec![("engine".to_owned(), engine.to_owned())]
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            sessions_opened: Counter::default(),
            sessions_stopped: Counter::default(),
            reconnects: Counter::default(),
            start_failures: Counter::default(),
            failovers: Counter::default(),
            // P2P starts range from tens of milliseconds (a live session) to
            // tens of seconds (prebuffering on a poor swarm).
            start_seconds: Histogram::new([0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0]),
            sessions_by_engine: Family::default(),
            start_failures_by_engine: Family::default(),
            moves_by_engine: Family::default(),
        }
    }
}

/// What the channel table holds right now.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `(state label, channels in it)`.
    pub channels_by_state: Vec<(&'static str, usize)>,
    pub ts_players: usize,
    pub hls_viewers: usize,
    /// `(saved channel key, content id playing)` for channels with alternates.
    pub playing: Vec<(String, String)>,
    /// `(engine URL, channels placed on it, whether it is up)`.
    pub engines: Vec<(String, usize, bool)>,
}

impl Metrics {
    pub fn note_session_opened(&self, engine: &str) {
        self.sessions_opened.inc();
        self.sessions_by_engine
            .get_or_create(&engine_label(engine))
            .inc();
    }

    pub fn note_start_failed(&self, engine: &str) {
        self.start_failures_by_engine
            .get_or_create(&engine_label(engine))
            .inc();
    }

    pub fn note_move(&self, from: &str) {
        self.moves_by_engine
            .get_or_create(&engine_label(from))
            .inc();
    }

    /// The text a Prometheus scrape gets.
    pub fn render(&self, now: &Snapshot) -> String {
        let mut registry = Registry::with_prefix("acebridge");
        let channels = Family::<Vec<(String, String)>, Gauge>::default();
        for (state, count) in &now.channels_by_state {
            channels
                .get_or_create(&vec![("state".to_owned(), (*state).to_owned())])
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
        registry.register("channels", "Channels by state", channels);
        let players = Family::<Vec<(String, String)>, Gauge>::default();
        for (kind, count) in [("ts", now.ts_players), ("hls", now.hls_viewers)] {
            players
                .get_or_create(&vec![("kind".to_owned(), kind.to_owned())])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        registry.register("players", "Players watching, by kind", players);
        let playing = Family::<Vec<(String, String)>, Gauge>::default();
        for (key, id) in &now.playing {
            playing
                .get_or_create(&vec![
                    ("channel".to_owned(), key.clone()),
                    ("id".to_owned(), id.clone()),
                ])
                .set(1);
        }
        registry.register(
            "channel_playing",
            "The content id each saved channel plays now",
            playing,
        );
        let counters = [
            ("bytes_in", "Bytes read from the engine", &self.bytes_in),
            ("bytes_out", "Bytes sent to players", &self.bytes_out),
            (
                "engine_sessions_opened",
                "Engine sessions started",
                &self.sessions_opened,
            ),
            (
                "engine_sessions_stopped",
                "Engine sessions stopped",
                &self.sessions_stopped,
            ),
            (
                "reconnects",
                "Upstream reconnects while players waited",
                &self.reconnects,
            ),
            (
                "start_failures",
                "Channels that failed to start",
                &self.start_failures,
            ),
            (
                "failovers",
                "Switches of a saved channel to its next alternate",
                &self.failovers,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        let engine_channels = Family::<Labels, Gauge>::default();
        let engine_up = Family::<Labels, Gauge>::default();
        for (engine, channels, up) in &now.engines {
            engine_channels
                .get_or_create(&engine_label(engine))
                .set(i64::try_from(*channels).unwrap_or(i64::MAX));
            engine_up
                .get_or_create(&engine_label(engine))
                .set(i64::from(*up));
        }
        registry.register(
            "engine_channels",
            "Channels placed on each engine",
            engine_channels,
        );
        registry.register("engine_up", "Whether each engine is up", engine_up);
        registry.register(
            "engine_sessions_started",
            "Engine sessions started, by engine",
            self.sessions_by_engine.clone(),
        );
        registry.register(
            "engine_start_failures",
            "Failed engine session starts, by engine",
            self.start_failures_by_engine.clone(),
        );
        registry.register(
            "engine_moves",
            "Channels moved off an engine, by the engine left",
            self.moves_by_engine.clone(),
        );
        registry.register(
            "start_seconds",
            "Time from a channel's start to its first data",
            self.start_seconds.clone(),
        );
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}
