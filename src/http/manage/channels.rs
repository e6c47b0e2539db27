//! Saved channels (persisted in the settings file): list them with their
//! proxy URLs, add pasted ones (merged into channels with alternates),
//! rename or regroup one, forget one. The channel list as the API shows it
//! is built here for the event stream and the alternates API too.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{clean_name, kind_label, parse_id, ApiJson};
use crate::config::Settings;
use crate::content_id::ContentId;
use crate::guide::{Guide, ProgrammeView};
use crate::http::{base_url, ApiError, AppState};
use crate::import;
use crate::list_edits::{self, Field, ListSays};
use crate::player_urls::{Format, PlayerUrls};
use crate::saved::SavedChannel;
use crate::store::{self, find_saved, MAX_SAVED_CHANNELS};

#[derive(Debug, Serialize)]
pub struct ChannelList {
    pub(super) channels: Vec<ChannelView>,
}

/// A saved channel as the API shows it.
#[derive(Debug, Serialize)]
pub struct ChannelView {
    id: String,
    kind: &'static str,
    name: Option<String>,
    /// The name, or the readable default ("Channel d5869d…") when there is none.
    title: String,
    /// The channel's stable URLs: they play whichever alternate works.
    ts_url: String,
    hls_url: String,
    /// The URLs of its own id alone (no failover).
    id_ts_url: String,
    id_hls_url: String,
    /// Every id of the channel in the order they are tried (`id` alone when it has no alternates).
    alternates: Vec<String>,
    /// The kind of each of `alternates` (`content` or `infohash`), in the same order.
    alternate_kinds: Vec<&'static str>,
    /// The alternate that last played; tried first.
    last_good: Option<String>,
    group: Option<String>,
    tvg_logo: Option<String>,
    tvg_id: Option<String>,
    tvg_name: Option<String>,
    /// The imported list it came from, if any.
    source: Option<String>,
    /// The channel's number (`tvg-chno`, the tuner's `GuideNumber`).
    number: Option<u32>,
    /// For a channel from a list that the user changed: what the list says
    /// for each changed field.
    list_says: Option<ListSays>,
    /// What it shows now and next, from the programme guide (absent: not known).
    #[serde(skip_serializing_if = "Option::is_none")]
    now: Option<ProgrammeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<ProgrammeView>,
    /// The guide channel the user picked for it; absent: matched automatically.
    #[serde(skip_serializing_if = "Option::is_none")]
    guide_id: Option<String>,
    /// The guide channel it is matched to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    guide_channel: Option<String>,
}

pub(super) fn channel_view(
    urls: &PlayerUrls,
    guide: &Guide,
    settings: &Settings,
    saved: &SavedChannel,
) -> ChannelView {
    let hex = |id: &ContentId| id.as_hex().to_owned();
    let (now, next) = guide.now_next(saved, crate::guide::now_unix());
    ChannelView {
        id: saved.key().to_owned(),
        kind: kind_label(saved.id().kind()),
        name: saved.name.clone(),
        title: saved.title(),
        ts_url: urls.channel(saved, Format::Ts),
        hls_url: urls.channel(saved, Format::Hls),
        id_ts_url: urls.id(saved.id(), Format::Ts),
        id_hls_url: urls.id(saved.id(), Format::Hls),
        alternates: saved.ids().iter().map(hex).collect(),
        alternate_kinds: saved.ids().iter().map(|id| kind_label(id.kind())).collect(),
        last_good: saved.last_good().map(hex),
        group: saved.group.clone(),
        tvg_logo: saved.logo.clone(),
        tvg_id: saved.tvg_id.clone(),
        tvg_name: saved.tvg_name.clone(),
        source: saved.source.clone(),
        number: saved.number,
        list_says: list_edits::list_says(settings, saved),
        now,
        next,
        guide_id: saved.guide_id.clone(),
        guide_channel: guide.matched(saved).map(|matched| matched.id),
    }
}

pub(super) fn channel_views(
    urls: &PlayerUrls,
    guide: &Guide,
    settings: &Settings,
) -> Vec<ChannelView> {
    settings
        .channels
        .iter()
        .map(|saved| channel_view(urls, guide, settings, saved))
        .collect()
}

/// Saved channel `index` as the API shows it, after a change to it.
fn view_at(
    state: &AppState,
    headers: &HeaderMap,
    settings: &Settings,
    index: usize,
) -> Json<ChannelView> {
    Json(channel_view(
        &base_url(state, headers),
        &state.guide,
        settings,
        &settings.channels[index],
    ))
}

/// The saved channels as the API and the event stream show them.
pub(crate) async fn channel_list(state: &AppState, headers: &HeaderMap) -> ChannelList {
    let settings = state.store.get().await;
    ChannelList {
        channels: channel_views(&base_url(state, headers), &state.guide, &settings),
    }
}

/// `GET /api/channels`: the saved channels with their proxy URLs.
pub async fn list_channels(State(state): State<AppState>, headers: HeaderMap) -> Json<ChannelList> {
    Json(channel_list(&state, &headers).await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddChannels {
    channels: Vec<NewChannel>,
    /// Guide URLs from the pasted list's header (as `/api/parse` reports them): kept as guide sources.
    #[serde(default)]
    guide_urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Any pasted form of an id.
    id: String,
    /// `"infohash"` when a bare 40-hex `id` is a torrent infohash (as `/api/parse` reports it).
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    tvg_logo: Option<String>,
    #[serde(default)]
    tvg_id: Option<String>,
    #[serde(default)]
    tvg_name: Option<String>,
    /// The channel's number, as `tvg-chno` gives it (`"101"`).
    #[serde(default)]
    tvg_chno: Option<String>,
}

/// `POST /api/channels {"channels":[{"id","name"}]}`: saves channels (all or
/// none: one bad id is a 400 naming it). Entries of one channel (the same
/// `tvg-id`, `tvg-name` or name but for quality tags) are saved as one
/// channel with alternates. A channel already saved keeps its place; it only
/// takes what it lacks.
pub async fn add_channels(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<AddChannels>,
) -> Result<Json<ChannelList>, ApiError> {
    if request.channels.len() > import::MAX_LIST_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "too many channels ({}): at most {} at once",
            request.channels.len(),
            import::MAX_LIST_ENTRIES
        )));
    }
    let guide_urls: Vec<String> = request
        .guide_urls
        .iter()
        .filter_map(|url| crate::guide::sources::parse_url(url).ok())
        .map(String::from)
        .collect();
    // Reading thousands of entries is work for a blocking thread, not the
    // runtime every player shares.
    let new = tokio::task::spawn_blocking(move || read_new_channels(&request))
        .await
        .map_err(|join| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, join.to_string()))??;
    state
        .store
        .update(move |settings| {
            store::merge_saved(settings, new.iter().cloned())
                .map(|mut next| {
                    crate::guide::sources::record(&mut next, &guide_urls);
                    (next, ())
                })
                .map_err(ApiError::from)
        })
        .await?;
    Ok(Json(channel_list(&state, &headers).await))
}

/// The channels of a request, entries of one channel grouped as one with
/// alternates (as when the same list is imported from a URL).
fn read_new_channels(request: &AddChannels) -> Result<Vec<SavedChannel>, ApiError> {
    let mut new = Vec::with_capacity(request.channels.len().min(MAX_SAVED_CHANNELS));
    for (index, channel) in request.channels.iter().enumerate() {
        let parsed = match channel.kind.as_deref() {
            None | Some("content") => ContentId::parse(&channel.id),
            Some("infohash") => ContentId::parse_infohash(&channel.id),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "channel {}: unknown kind {other:?} (expected \"content\" or \"infohash\")",
                    index + 1
                )))
            }
        };
        let id = parsed.map_err(|err| {
            ApiError::bad_request(format!("channel {}: invalid id: {err}", index + 1))
        })?;
        let mut saved = SavedChannel::new(id);
        saved.name = clean_name(channel.name.as_deref());
        saved.group = clean_name(channel.group.as_deref());
        saved.logo = clean_name(channel.tvg_logo.as_deref());
        saved.tvg_id = clean_name(channel.tvg_id.as_deref());
        saved.tvg_name = clean_name(channel.tvg_name.as_deref());
        saved.number = channel
            .tvg_chno
            .as_deref()
            .and_then(crate::saved::channel_number);
        new.push(saved);
    }
    Ok(import::group_alternates(new)?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    /// Absent: unchanged; `null` or `""`: cleared.
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    group: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    tvg_logo: Option<Option<String>>,
    /// A whole number from 1 (`101` or `"101"`); absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    number: Option<serde_json::Value>,
}

/// The channel number a request gave, or a 400 saying what a number is.
fn requested_number(value: &serde_json::Value) -> Result<u32, ApiError> {
    let number = match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(text) => crate::saved::channel_number(text),
        _ => None,
    };
    number.filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "a channel number is a whole number from 1 up, not {value}"
        ))
    })
}

/// Tells a field sent as `null` (`Some(None)` or `Some(Value::Null)`) from
/// one not sent (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// `PUT /api/channels/{id} {"name"?: …, "group"?: …, "number"?: …}`:
/// renames a saved channel, moves it to another group (empty or null clears
/// either) or gives it another number (409 when another channel has it).
pub async fn rename_channel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChannelChange>,
) -> Result<Json<ChannelView>, ApiError> {
    let id = parse_id(&id)?;
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    let index = saved_index(&next, &id)?;
    if let Some(value) = &request.number {
        let number = requested_number(value)?;
        if let Some(other) = next
            .channels
            .iter()
            .enumerate()
            .find(|(at, other)| *at != index && other.number == Some(number))
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("number {number} is already {}'s", other.1.title()),
            ));
        }
        next.channels[index].number = Some(number);
    }
    for (field, value) in [
        (Field::Name, request.name),
        (Field::Group, request.group),
        (Field::Logo, request.tvg_logo),
    ] {
        if let Some(value) = value {
            list_edits::record(&mut next, index, field, clean_name(value.as_deref()));
        }
    }
    guard.save(next).await?;
    Ok(view_at(&state, &headers, guard.settings(), index))
}

/// The place of saved channel `id` in `settings`, or a 404.
pub(super) fn saved_index(settings: &Settings, id: &ContentId) -> Result<usize, ApiError> {
    find_saved(settings, id).ok_or_else(|| ApiError::not_found("no such saved channel"))
}

/// `DELETE /api/channels/{id}`: forgets a saved channel. 204, or 404 if not saved.
pub async fn delete_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    let index = saved_index(&next, &id)?;
    list_edits::record_removal(&mut next, index);
    next.channels.remove(index);
    guard.save(next).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/channels/{id}/reset`: gives a channel from a list back the
/// list's name, group and logo. 404 when not saved, 409 when not changed.
pub async fn reset_channel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    let id = parse_id(&id)?;
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    let index = saved_index(&next, &id)?;
    if !list_edits::reset(&mut next, index) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this channel is as its list says",
        ));
    }
    guard.save(next).await?;
    Ok(view_at(&state, &headers, guard.settings(), index))
}
