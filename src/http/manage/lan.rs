//! LAN sharing from the web UI (see [`crate::lan`]): whether other devices
//! may play and at which addresses (`GET /api/lan`), the switch (`PUT
//! /api/lan {"enabled": bool}`, saved), and the QR code of the playlist URL
//! for a TV or a phone (`GET /api/lan/qr.svg`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::ApiJson;
use crate::http::{ApiError, AppState};
use crate::lan::{LanError, LanSharing, LanView};

async fn view(state: &AppState) -> LanView {
    state.lan.view(state.lan_token.as_deref()).await
}

/// `GET /api/lan`.
pub async fn get(State(state): State<AppState>) -> Json<LanView> {
    Json(view(&state).await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    enabled: bool,
}

/// `PUT /api/lan {"enabled": bool}`: opens or closes the LAN listeners and
/// saves the choice. 409 when the listen address decides.
pub async fn put(
    State(state): State<AppState>,
    ApiJson(switch): ApiJson<Switch>,
) -> Result<Json<LanView>, ApiError> {
    switch_lan(&state, switch.enabled).await?;
    let enabled = switch.enabled;
    state
        .store
        .update(move |settings| {
            let mut next = settings.clone();
            next.lan_sharing = enabled;
            Ok::<_, ApiError>((next, ()))
        })
        .await?;
    Ok(Json(view(&state).await))
}

/// Opens (with the saved LAN token, made now if there is none) or closes
/// the LAN listeners of the server whose routes are `state`'s.
pub(crate) async fn switch_lan(state: &AppState, on: bool) -> Result<(), LanError> {
    if !on {
        return state.lan.close().await;
    }
    let token = crate::lan_token(&state.store)
        .await
        .map_err(LanError::Token)?;
    let lan_state = AppState {
        lan_token: Some(token.clone()),
        ..state.clone()
    };
    state.lan.open(token, crate::http::router(lan_state)).await
}

/// `GET /api/lan/qr.svg`: the playlist URL for other devices as a QR code.
/// 409 while sharing is off (there is no such URL).
pub async fn qr(State(state): State<AppState>) -> Result<Response, ApiError> {
    let view = view(&state).await;
    let url = LanSharing::playlist_url(&view).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "LAN sharing is off: there is no playlist URL for other devices",
        )
    })?;
    let svg = crate::lan::qr_svg(&url).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot draw the QR code: {error}"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}
