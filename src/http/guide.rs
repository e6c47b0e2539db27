//! The programme guide over HTTP: `/epg.xml` and `/epg.xml.gz` for players
//! (play routes: the LAN token opens them), and the management API: the
//! sources (`/api/guide/sources`), the options, a search of the guide's
//! channels for picking one, a saved channel's pick
//! (`PUT /api/channels/{id}/guide`), its programmes (`GET /api/guide`) and
//! a search of the saved channels' programmes (`GET /api/guide/search`).

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::manage::{parse_id, ApiJson};
use super::{ApiError, AppState};
use crate::guide::matching::{ChannelHit, Matched};
use crate::guide::sources::{self, FetchError};
use crate::guide::{self, serve, GuideSource, Programme};
use crate::store::find_saved;

impl From<FetchError> for ApiError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::BadUrl(_) | FetchError::TooMany => Self::bad_request(error.to_string()),
            FetchError::Settings(error) => error.into(),
            _ => Self::new(StatusCode::BAD_GATEWAY, error.to_string()),
        }
    }
}

async fn document(state: &AppState) -> String {
    let settings = state.store.get().await;
    let guide = state.guide.clone();
    // Writing a large guide is CPU work: off the runtime players share.
    tokio::task::spawn_blocking(move || serve::document(&settings, &guide, guide::now_unix()))
        .await
        .unwrap_or_default()
}

/// `GET /epg.xml`: the guide of the saved channels, as XMLTV.
pub async fn epg(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        document(&state).await,
    )
        .into_response()
}

/// `GET /epg.xml.gz`: the same, gzipped (clients decompress a guide when its URL ends in `.gz`).
pub async fn epg_gz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = document(&state).await;
    let body = tokio::task::spawn_blocking(move || serve::gzip(&text))
        .await
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Serialize)]
pub struct Sources {
    sources: Vec<GuideSource>,
    placeholders: bool,
}

/// `GET /api/guide/sources`: the sources with their state, and the options.
pub async fn list_sources(State(state): State<AppState>) -> Json<Sources> {
    let settings = state.store.get().await;
    Json(Sources {
        placeholders: settings.guide.placeholders(),
        sources: settings.guide.sources,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSource {
    url: String,
    /// Minutes between reads; absent: the default (6 h).
    #[serde(default)]
    refresh_mins: Option<u64>,
}

/// `POST /api/guide/sources {"url", "refresh_mins"?}`: adds a source and
/// reads it now; answers its state (a failed read is its `last_error`).
pub async fn add_source(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AddSource>,
) -> Result<Json<GuideSource>, ApiError> {
    let url = sources::parse_url(&request.url)?;
    let source = sources::add(&state.store, &state.guide, &url, request.refresh_mins).await?;
    Ok(Json(source))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveSource {
    url: String,
}

/// `DELETE /api/guide/sources {"url"}`: removes a source and its guide. 204, or 404.
pub async fn remove_source(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RemoveSource>,
) -> Result<StatusCode, ApiError> {
    if sources::remove(&state.store, &state.guide, &request.url).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such guide source"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    placeholders: bool,
}

/// `PUT /api/guide/options {"placeholders": bool}`: placeholder programmes
/// in `/epg.xml` for channels without guide data, on or off.
pub async fn set_options(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<Options>,
) -> Result<Json<Sources>, ApiError> {
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    next.guide.placeholders = (!request.placeholders).then_some(false);
    guard.save(next).await?;
    let settings = guard.settings();
    Ok(Json(Sources {
        placeholders: settings.guide.placeholders(),
        sources: settings.guide.sources.clone(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct ChannelQuery {
    #[serde(default)]
    q: String,
}

/// Most channels a search answers.
const MAX_HITS: usize = 50;

/// `GET /api/guide/channels?q=`: the guide channels whose id or name has `q`.
pub async fn search_channels(
    State(state): State<AppState>,
    Query(query): Query<ChannelQuery>,
) -> Json<Vec<ChannelHit>> {
    Json(state.guide.search_channels(&query.q, MAX_HITS))
}

#[derive(Debug, Deserialize)]
pub struct ProgrammeQuery {
    channel: String,
    from: Option<i64>,
    to: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ChannelGuide {
    channel: String,
    matched: Option<Matched>,
    programmes: Vec<Programme>,
}

/// `GET /api/guide?channel=<id>&from=&to=`: a saved channel's programmes
/// overlapping `from..to` (Unix seconds; default: now to a day ahead).
pub async fn programmes(
    State(state): State<AppState>,
    Query(query): Query<ProgrammeQuery>,
) -> Result<Json<ChannelGuide>, ApiError> {
    let id = parse_id(&query.channel)?;
    let settings = state.store.get().await;
    let index =
        find_saved(&settings, &id).ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    let saved = &settings.channels[index];
    let from = query.from.unwrap_or_else(guide::now_unix);
    let to = query.to.unwrap_or(from + 24 * 3600);
    if to < from {
        return Err(ApiError::bad_request("`to` is before `from`"));
    }
    Ok(Json(ChannelGuide {
        channel: saved.key().to_owned(),
        matched: state.guide.matched(saved),
        programmes: state.guide.programmes(saved, from, to),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pick {
    /// The guide channel's id; `null` or `""`: matched automatically again.
    guide_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PickView {
    guide_id: Option<String>,
    matched: Option<Matched>,
}

/// `PUT /api/channels/{id}/guide {"guide_id"}`: the guide channel the user
/// picked for a saved channel (kept), or back to automatic matching.
pub async fn pick(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<Pick>,
) -> Result<Json<PickView>, ApiError> {
    let id = parse_id(&id)?;
    let pick = request
        .guide_id
        .as_deref()
        .and_then(crate::content_id::clean_text);
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    let index =
        find_saved(&next, &id).ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    next.channels[index].guide_id = pick;
    guard.save(next).await?;
    let saved = guard.settings().channels[index].clone();
    drop(guard);
    let (store, guide) = (state.store.clone(), state.guide.clone());
    let reread = saved.clone();
    tokio::spawn(async move { sources::read_lacking(&store, &guide, &reread).await });
    Ok(Json(PickView {
        guide_id: saved.guide_id.clone(),
        matched: state.guide.matched(&saved),
    }))
}

#[derive(Debug, Deserialize)]
pub struct TitleQuery {
    #[serde(default)]
    q: String,
}

#[derive(Debug, Serialize)]
pub struct TitleHit {
    /// The saved channel's key.
    channel: String,
    /// Its first programme from now on whose title matches.
    programme: guide::ProgrammeView,
}

/// Most channels a programme search answers.
const MAX_TITLE_HITS: usize = 500;

/// `GET /api/guide/search?q=`: for each saved channel, its first programme
/// from now to the end of the kept guide whose title has the words of `q`
/// ("arsenal" finds the channel showing the match tonight).
pub async fn search_titles(
    State(state): State<AppState>,
    Query(query): Query<TitleQuery>,
) -> Json<Vec<TitleHit>> {
    let words = guide::search_words(&query.q);
    let settings = state.store.get().await;
    let now = guide::now_unix();
    let hits = settings
        .channels
        .iter()
        .filter_map(|saved| {
            state
                .guide
                .find_title(saved, &words, now, now + guide::KEEP_AHEAD)
                .map(|programme| TitleHit {
                    channel: saved.key().to_owned(),
                    programme,
                })
        })
        .take(MAX_TITLE_HITS)
        .collect();
    Json(hits)
}
