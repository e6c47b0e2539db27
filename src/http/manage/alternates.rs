//! The API that edits a saved channel's alternates (the ids it fails over
//! between): add one, reorder them, split one off into a channel of its own,
//! merge two channels. Every change answers the whole channel list, as the
//! UI redraws it; the rules live in `store` (`add_alternate` and friends).
//!
//! `{id}` in the paths is the channel's own id (its key); it does not change
//! when alternates are reordered.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;

use super::channels::{channel_views, saved_index, ChannelList};
use super::{parse_id, ApiJson};
use crate::config::Settings;
use crate::http::{base_url, ApiError, AppState};
use crate::store::{self, find_saved};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneId {
    /// Any pasted form of a content id.
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// The channel's ids, each once, in the order to try them.
    alternates: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeFrom {
    /// The id of the channel whose ids join this one (it is removed).
    from: String,
}

/// Applies `change` to the saved channel `id` under the store's lock and saves.
pub(super) async fn change_channel(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    change: impl FnOnce(&Settings, usize) -> Result<Settings, ApiError>,
) -> Result<Json<ChannelList>, ApiError> {
    let id = parse_id(id)?;
    let mut guard = state.store.lock().await;
    let index = saved_index(guard.settings(), &id)?;
    let next = change(guard.settings(), index)?;
    guard.save(next).await?;
    Ok(Json(ChannelList {
        channels: channel_views(&base_url(state, headers), &state.guide, guard.settings()),
    }))
}

/// `POST /api/channels/{id}/alternates {"id"}`: adds an id to try after the others.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<OneId>,
) -> Result<Json<ChannelList>, ApiError> {
    let added = parse_id(&request.id)?;
    change_channel(&state, &headers, &id, |settings, index| {
        store::add_alternate(settings, index, &added).map_err(ApiError::from)
    })
    .await
}

/// `PUT /api/channels/{id}/alternates {"alternates": [...]}`: the order to try the ids in.
pub async fn reorder(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<Order>,
) -> Result<Json<ChannelList>, ApiError> {
    let order = request
        .alternates
        .iter()
        .map(|text| parse_id(text))
        .collect::<Result<Vec<_>, _>>()?;
    change_channel(&state, &headers, &id, |settings, index| {
        store::reorder_alternates(settings, index, &order).map_err(ApiError::from)
    })
    .await
}

/// `POST /api/channels/{id}/split {"id"}`: makes one of its ids a channel of its own.
pub async fn split(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<OneId>,
) -> Result<Json<ChannelList>, ApiError> {
    let taken = parse_id(&request.id)?;
    change_channel(&state, &headers, &id, |settings, index| {
        store::split_alternate(settings, index, &taken).map_err(ApiError::from)
    })
    .await
}

/// `POST /api/channels/{id}/merge {"from"}`: the other channel's ids join this
/// one (tried after its own) and the other channel is removed.
pub async fn merge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<MergeFrom>,
) -> Result<Json<ChannelList>, ApiError> {
    let from = parse_id(&request.from)?;
    change_channel(&state, &headers, &id, |settings, index| {
        let from = find_saved(settings, &from)
            .ok_or_else(|| ApiError::not_found("no such saved channel to merge from"))?;
        store::merge_into(settings, index, from).map_err(ApiError::from)
    })
    .await
}
