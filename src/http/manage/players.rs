//! The desktop app's players from the web UI (see [`crate::player_launcher`]):
//! which are installed and which one Play uses (`GET|PUT /api/players`, the
//! same saved preference as the tray menu's), and Play itself (`POST
//! /api/play`), which answers with the player's own message when it fails to
//! start or quits at once. Without the desktop app every route answers 404
//! and the page keeps its playlist download.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::ApiJson;
use crate::config::DesktopSettings;
use crate::http::{ApiError, AppState};
use crate::player_launcher::{PlayerLauncher, Players};
use crate::player_urls::{Format, PlayerUrls};
use crate::store::find_by_key;

const HEADLESS: &str = "this acebridge runs without its desktop app, so it starts no player; \
     Play downloads a playlist file for your own player instead";

fn launcher(state: &AppState) -> Result<Arc<dyn PlayerLauncher>, ApiError> {
    state
        .players
        .clone()
        .ok_or_else(|| ApiError::not_found(HEADLESS))
}

/// Runs the launcher's blocking work off the server's async thread.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the player could not be asked: {error}"),
        )
    })
}

async fn players_now(state: &AppState) -> Result<Players, ApiError> {
    let launcher = launcher(state)?;
    let desktop = state.store.get().await.desktop;
    off_thread(move || launcher.players(&desktop)).await
}

/// `GET /api/players`: `{available: [{key, name}], chosen}`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Players>, ApiError> {
    players_now(&state).await.map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    player: String,
}

/// `PUT /api/players {"player": key}`: Play (here and in the tray) uses
/// that player from now on. 400 unless `key` is one of the players found.
pub async fn choose(
    State(state): State<AppState>,
    ApiJson(choice): ApiJson<Choice>,
) -> Result<Json<Players>, ApiError> {
    let found = players_now(&state).await?;
    if !found.available.iter().any(|p| p.key == choice.player) {
        let names: Vec<_> = found.available.iter().map(|p| p.key.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "no player \"{}\" was found on this computer (found: {})",
            choice.player.chars().take(40).collect::<String>(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )));
    }
    state
        .store
        .update(move |settings| {
            let mut next = settings.clone();
            next.desktop.player = Some(choice.player.clone());
            Ok::<_, ApiError>((next, ()))
        })
        .await?;
    players_now(&state).await.map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayRequest {
    /// A saved channel's key (its row id in the page).
    channel: String,
}

/// `POST /api/play {"channel": key}`: opens the saved channel in the chosen
/// player, on this computer. 204 once the player runs; 404 for an unknown
/// channel; 502 with what the player said when it cannot start or quits at once.
pub async fn play(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<PlayRequest>,
) -> Result<StatusCode, ApiError> {
    let launcher = launcher(&state)?;
    let settings = state.store.get().await;
    let saved = find_by_key(&settings, &request.channel)
        .ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    // The player runs here: the loopback URL, which needs no LAN token.
    let url = PlayerUrls::local(state.local_addr).channel(saved, Format::Ts);
    let title = saved.title();
    let desktop: DesktopSettings = settings.desktop.clone();
    let started = off_thread(move || launcher.launch(&desktop, None, &url, &title)).await?;
    started.map_err(|why| ApiError::new(StatusCode::BAD_GATEWAY, why))?;
    Ok(StatusCode::NO_CONTENT)
}
