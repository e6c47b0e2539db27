//! The JSON API under `/api`: health of the proxy and the engine, active streams.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::hls::HlsInfo;
use crate::ts::ChannelInfo;

#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    engine: EngineHealth,
}

#[derive(Debug, Serialize)]
pub struct EngineHealth {
    url: String,
    reachable: bool,
    version: Option<String>,
    error: Option<String>,
}

/// `GET /api/health`: always 200 while the proxy runs; the engine part says whether it answers.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let engine = state.ts.engine();
    let (version, error) = match engine.version().await {
        Ok(version) => (Some(version), None),
        Err(error) => (None, Some(error.to_string())),
    };
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        engine: EngineHealth {
            url: engine.base().to_string(),
            reachable: version.is_some(),
            version,
            error,
        },
    })
}

#[derive(Debug, Serialize)]
pub struct Streams {
    streams: Vec<StreamInfo>,
}

/// A TS or HLS channel; each carries `"kind": "ts" | "hls"`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StreamInfo {
    Ts(ChannelInfo),
    Hls(HlsInfo),
}

/// Every active channel with its players, counters and engine stats: what
/// `GET /api/streams` answers and the event stream sends (one place computes it).
pub fn streams_snapshot(state: &AppState) -> Streams {
    let ts = state.ts.list().into_iter().map(StreamInfo::Ts);
    let hls = state.hls.list().into_iter().map(StreamInfo::Hls);
    Streams {
        streams: ts.chain(hls).collect(),
    }
}

/// `GET /api/streams`: every active channel with its players, counters and engine stats.
pub async fn streams(State(state): State<AppState>) -> Json<Streams> {
    Json(streams_snapshot(&state))
}
