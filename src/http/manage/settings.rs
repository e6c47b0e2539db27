//! Settings through the API: the engine URL and the engine command, read
//! and changed (checked, saved, then applied), with what the settings file
//! said when it was read.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::config;
use crate::engine::EngineClient;
use crate::engine_pool::EngineSpec;
use crate::http::guard::is_loopback;
use crate::http::listener::PeerAddr;
use crate::http::{ApiError, AppState};

#[derive(Debug, Serialize)]
pub struct SettingsView {
    /// The engine channels start on now (the first of a pool).
    engine: String,
    /// Every engine channels are placed on, with its limit.
    engines: Vec<EngineSpec>,
    /// Where the proxy listens.
    listen: String,
    /// The settings file changes are written to; `null` when kept in memory only.
    settings_file: Option<String>,
    /// With LAN sharing on, the token other devices must add as `?token=`.
    lan_token: Option<String>,
    /// What was wrong with the settings file when it was read (file, line,
    /// what was kept); empty when all was well.
    warnings: Vec<String>,
    /// Lists imported from a URL, with their refresh interval and last read.
    imports: Vec<config::ImportedList>,
    /// For each imported list, how many of its channels the user removed
    /// (kept away from its re-reads); lists with none are left out.
    list_removals: std::collections::BTreeMap<String, usize>,
    /// The command acebridge starts the engine with (set or detected), if any.
    engine_command: Option<Vec<String>>,
    /// Whether Play can start a player on this computer (with the desktop
    /// app; `/api/players` lists them), not only download a playlist.
    players: bool,
}

async fn settings_view(state: &AppState) -> SettingsView {
    let engine = state.channels.engine();
    let settings = state.store.get().await;
    SettingsView {
        engine_command: state
            .channels
            .engine_process()
            .status(&engine, false)
            .command,
        imports: settings.imports.clone(),
        list_removals: settings
            .imports
            .iter()
            .map(|list| {
                let count = crate::list_edits::removed_count(&settings, &list.url);
                (list.url.clone(), count)
            })
            .filter(|(_, count)| *count > 0)
            .collect(),
        engine: engine.base().to_string(),
        engines: state.channels.pool().specs(),
        listen: state.local_addr.to_string(),
        settings_file: state.store.path().map(|path| path.display().to_string()),
        lan_token: state.lan_token.as_deref().map(str::to_owned),
        warnings: state.store.warnings().to_vec(),
        players: state.players.is_some(),
    }
}

/// `GET /api/settings`.
pub async fn get_settings(State(state): State<AppState>) -> Json<SettingsView> {
    Json(settings_view(&state).await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default)]
    engine: Option<String>,
    /// A pool: each a URL or `{"url", "max_channels"}`; replaces `engine`.
    #[serde(default)]
    engines: Option<Vec<config::EngineEntry>>,
    /// Program and arguments; `[]` clears it (no engine is started then).
    #[serde(default)]
    engine_command: Option<Vec<String>>,
}

/// An engine URL stored as the user would type it: no trailing slash.
fn user_typed(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// Bounds on an engine command set through the API.
const MAX_COMMAND_WORDS: usize = 64;
const MAX_COMMAND_WORD_BYTES: usize = 4096;

/// Checks an engine command from the API: a program, then arguments.
fn check_engine_command(command: &[String]) -> Result<(), ApiError> {
    if command.len() > MAX_COMMAND_WORDS {
        return Err(ApiError::bad_request(format!(
            "engine_command: at most {MAX_COMMAND_WORDS} words"
        )));
    }
    if command
        .first()
        .is_some_and(|program| program.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "engine_command: the program is empty",
        ));
    }
    if command
        .iter()
        .any(|word| word.len() > MAX_COMMAND_WORD_BYTES || word.contains('\0'))
    {
        return Err(ApiError::bad_request(format!(
            "engine_command: each word at most {MAX_COMMAND_WORD_BYTES} bytes, no NUL"
        )));
    }
    Ok(())
}

/// `PUT /api/settings {"engine": …, "engine_command": […]}`: checks,
/// persists, then applies. Channels already running stay on their engine;
/// new ones start on the new one. The engine command is a program acebridge
/// runs: only a client on this machine may change it, never a LAN device.
pub async fn put_settings(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    ApiJson(change): ApiJson<SettingsChange>,
) -> Result<Json<SettingsView>, ApiError> {
    if let Some(command) = &change.engine_command {
        // As the LAN check does: loopback counts as this machine unless
        // tests play a LAN device from it.
        if !(state.trust_loopback && is_loopback(peer.0.ip())) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the engine command can be changed only on this machine",
            ));
        }
        check_engine_command(command)?;
    }
    let engine = change
        .engine
        .as_deref()
        .map(config::parse_engine_url)
        .transpose()?;
    let engines = change
        .engines
        .as_deref()
        .map(config::parse_engine_list)
        .transpose()?;
    if engine.is_some() && engines.is_some() {
        return Err(ApiError::bad_request(
            "give either engine or engines, not both",
        ));
    }
    let mut guard = state.store.lock().await;
    if let Some(specs) = engines {
        let mut next = guard.settings().clone();
        next.engine = Some(user_typed(&specs[0].url));
        next.engines = if specs.len() > 1 || specs[0].max_channels.is_some() {
            specs
                .iter()
                .map(|spec| config::EngineEntry::Table {
                    url: user_typed(&spec.url),
                    max_channels: spec.max_channels,
                })
                .collect()
        } else {
            Vec::new()
        };
        guard.save(next).await?;
        tracing::info!(engines = specs.len(), "engines changed");
        state.channels.set_engines(&specs);
    }
    if let Some(url) = engine {
        let mut next = guard.settings().clone();
        next.engine = Some(user_typed(&url));
        // One engine given: the pool, if any, is replaced by it.
        next.engines.clear();
        guard.save(next).await?;
        // Still under the store's lock, so concurrent changes apply in the order they were saved.
        tracing::info!(engine = %url, "engine changed");
        state.channels.set_engine(EngineClient::new(url));
    }
    if let Some(command) = change.engine_command {
        let mut next = guard.settings().clone();
        next.engine_command.clone_from(&command);
        guard.save(next).await?;
        tracing::info!(?command, "engine command changed");
        let command = (!command.is_empty()).then_some(command);
        state.channels.engine_process().set_command(command);
    }
    drop(guard);
    Ok(Json(settings_view(&state).await))
}
