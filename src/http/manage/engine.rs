//! The engine from the API: test whether an engine URL answers (without
//! saving it), and start or stop the engine process acebridge manages.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::config;
use crate::engine::EngineClient;
use crate::engine_process::ProcessStatus;
use crate::http::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineTest {
    engine: String,
}

#[derive(Debug, Serialize)]
pub struct EngineTestResult {
    engine: String,
    reachable: bool,
    version: Option<String>,
    error: Option<String>,
}

/// `POST /api/engine/test {"engine": …}`: whether that engine answers, without saving anything.
pub async fn test_engine(
    ApiJson(request): ApiJson<EngineTest>,
) -> Result<Json<EngineTestResult>, ApiError> {
    let url = config::parse_engine_url(&request.engine)?;
    let client = EngineClient::new(url.clone());
    let (version, error) = match client.version().await {
        Ok(version) => (Some(version), None),
        Err(error) => (None, Some(error.to_string())),
    };
    Ok(Json(EngineTestResult {
        engine: url.to_string(),
        reachable: version.is_some(),
        version,
        error,
    }))
}

/// The body of `POST /api/engine/start|stop`: `{}`. Required, so that the
/// request is JSON like every other state change (no form can send it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

async fn process_status(state: &AppState) -> Json<ProcessStatus> {
    let engine = state.channels.engine();
    let reachable = engine.version().await.is_ok();
    Json(state.channels.engine_process().status(&engine, reachable))
}

/// `POST /api/engine/start {}`: starts the engine with the engine command
/// and waits until it answers (at most a minute). 200 with the process
/// status (also when it already answered); 409 without a command or for an
/// engine on another machine; 502 if it does not start.
pub async fn start_engine(
    State(state): State<AppState>,
    ApiJson(NoOptions {}): ApiJson<NoOptions>,
) -> Result<Json<ProcessStatus>, ApiError> {
    let engine = state.channels.engine();
    state.channels.engine_process().start(&engine).await?;
    Ok(process_status(&state).await)
}

/// `POST /api/engine/stop {}`: stops the engine acebridge started (its
/// channels end). 200 with the process status; 409 if acebridge did not
/// start the engine that runs, which it never stops.
pub async fn stop_engine(
    State(state): State<AppState>,
    ApiJson(NoOptions {}): ApiJson<NoOptions>,
) -> Result<Json<ProcessStatus>, ApiError> {
    state.channels.engine_process().stop().await?;
    tracing::info!("engine stopped from the API");
    Ok(process_status(&state).await)
}
