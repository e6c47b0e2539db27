//! The JSON API under `/api` (health of the proxy and the engine, active
//! streams and recent problems) and the Prometheus metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::channel::{ChannelInfo, ChannelKey, Problem};
use crate::config::{SavedChannel, Settings};
use crate::content_id::ContentId;
use crate::engine_pool::EngineView;
use crate::engine_process::ProcessStatus;
use crate::store;

#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    engine: EngineHealth,
    /// Every engine of the pool (one for a proxy of one engine).
    engines: Vec<EngineView>,
}

#[derive(Debug, Serialize)]
pub struct EngineHealth {
    url: String,
    reachable: bool,
    version: Option<String>,
    error: Option<String>,
    /// The engine process acebridge starts on demand (see `engine_process`).
    process: ProcessStatus,
}

/// `GET /api/health`: always 200 while the proxy runs; the engine part says whether it answers.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let engine = state.channels.engine();
    let (version, error) = match engine.version().await {
        Ok(version) => (Some(version), None),
        Err(error) => (None, Some(error.to_string())),
    };
    let pool = state.channels.pool();
    if pool.len() == 1 {
        // A lone engine is not polled: this answer is its health.
        pool.note_first_version(
            version
                .clone()
                .ok_or_else(|| error.clone().unwrap_or_default()),
        );
    }
    let process = state
        .channels
        .engine_process()
        .status(&engine, version.is_some());
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        engine: EngineHealth {
            url: engine.base().to_string(),
            reachable: version.is_some(),
            version,
            error,
            process,
        },
        engines: pool.views(),
    })
}

#[derive(Debug, Serialize)]
pub struct Streams {
    streams: Vec<StreamView>,
    /// Failed starts and drops, newest first, so a player's bare 502 has an explanation.
    problems: Vec<ProblemView>,
}

/// A recent problem and the title of the channel it happened to (none for
/// an engine outage, which concerns every channel).
#[derive(Debug, Serialize)]
pub struct ProblemView {
    #[serde(flatten)]
    problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
}

/// An active channel as the API shows it: what the channel table says, and
/// its title (its saved channel's, whichever of its ids plays).
#[derive(Debug, Serialize)]
pub struct StreamView {
    #[serde(flatten)]
    info: ChannelInfo,
    title: String,
    /// Recordings among its TS players.
    recordings: usize,
}

/// What `GET /api/streams` answers and the event stream sends (one place
/// computes it): every active channel and the recent problems.
pub async fn streams_snapshot(state: &AppState) -> Streams {
    let (streams, problems) = (state.channels.list(), state.channels.problems());
    let recordings: Vec<usize> = streams
        .iter()
        .map(|info| {
            let key = match &info.channel {
                Some(key) => ChannelKey::Saved(key.clone()),
                None => ChannelKey::Id(info.id.clone()),
            };
            state.recordings.running_on(&key)
        })
        .collect();
    state
        .store
        .read(|settings| Streams {
            streams: streams
                .into_iter()
                .zip(recordings)
                .map(|(info, recordings)| StreamView {
                    title: title(settings, info.channel.as_deref(), Some(&info.id))
                        .unwrap_or_default(),
                    info,
                    recordings,
                })
                .collect(),
            problems: problems
                .into_iter()
                .map(|problem| ProblemView {
                    title: title(settings, problem.channel.as_deref(), problem.id.as_ref()),
                    problem,
                })
                .collect(),
        })
        .await
}

/// The title of the saved channel of `key`, else of the channel `id` belongs to.
fn title(settings: &Settings, key: Option<&str>, id: Option<&ContentId>) -> Option<String> {
    key.and_then(|key| store::find_by_key(settings, key))
        .map(SavedChannel::title)
        .or_else(|| id.map(|id| store::title_of(settings, id)))
}

/// `GET /api/streams`: every active channel with its viewers, counters and engine stats.
pub async fn streams(State(state): State<AppState>) -> Json<Streams> {
    Json(streams_snapshot(&state).await)
}

/// `GET /metrics`: Prometheus (OpenMetrics) text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.channels.metrics(),
    )
}
