//! The management API used by the web UI: parse pasted text, saved channels
//! (persisted in the settings file, offered as `/playlist.m3u`), engine
//! settings and test, starting and stopping the engine process, and stopping
//! a stream.
//!
//! Bodies are JSON only, read through [`ApiJson`], so a malformed body, a wrong
//! content type or an oversized body is a JSON `{"error": …}` like every other
//! failure. Pasted text is parsed by [`content_id::parse_list`] only: the UI
//! never parses ids itself.

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::listener::PeerAddr;
use super::{ApiError, AppState};
use crate::config::{self, SavedChannel, Settings};
use crate::content_id::{self, ContentId, IdKind};
use crate::engine::EngineClient;
use crate::engine_process::{ProcessError, ProcessStatus};
use crate::import;
use crate::store::{self, find_saved, saved_id, MAX_SAVED_CHANNELS};

/// Largest request body the management API reads (a pasted M3U list fits easily).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most entries one paste may produce.
pub const MAX_PARSE_ENTRIES: usize = 1000;
/// Most invalid lines reported back for one paste; the rest are only counted.
pub const MAX_PARSE_ERRORS: usize = 100;
/// Longest channel name kept, in characters.
pub const MAX_NAME_CHARS: usize = content_id::MAX_TEXT_CHARS;

/// `Json<T>` whose rejections are [`ApiError`]s: 400 for a wrong content type,
/// bad syntax or wrong fields; 413 for a body over the limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("send JSON with Content-Type: application/json")
        }
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::bad_request(format!("invalid JSON: {}", err.body_text()))
        }
        JsonRejection::JsonDataError(err) => {
            ApiError::bad_request(format!("unexpected JSON: {}", err.body_text()))
        }
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large (at most {MAX_BODY_BYTES} bytes)"),
            )
        }
        other => ApiError::bad_request(format!("cannot read the request: {}", other.body_text())),
    }
}

/// What player URLs start and end with.
pub(super) struct Base {
    /// `http://host:port`.
    origin: String,
    /// `&token=…` when LAN sharing is on, so the URLs work from other devices.
    token_query: String,
}

impl Base {
    /// `http://host:port`, as the client reached this server.
    pub(super) fn origin(&self) -> &str {
        &self.origin
    }

    /// `?token=…` when LAN sharing is on, for URLs without a query of their own.
    pub(super) fn query(&self) -> String {
        self.token_query.replacen('&', "?", 1)
    }
}

/// The origin players should use for this server, from the request's `Host`
/// (so URLs work however the user reached us), falling back to the listen address.
pub(super) fn base_url(state: &AppState, headers: &HeaderMap) -> Base {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.contains('@') && host.parse::<axum::http::uri::Authority>().is_ok());
    let origin = match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", state.local_addr),
    };
    let token_query = state
        .lan_token
        .as_deref()
        .map(|token| format!("&token={token}"))
        .unwrap_or_default();
    Base {
        origin,
        token_query,
    }
}

/// A saved channel's stable TS and HLS URLs, which play whichever of its
/// alternates works.
pub(super) fn channel_urls(base: &Base, saved: &SavedChannel) -> (String, String) {
    let key = store::channel_key(saved);
    let origin = &base.origin;
    let token = base.token_query.replacen('&', "?", 1);
    (
        format!("{origin}/channel/{key}.ts{token}"),
        format!("{origin}/channel/{key}.m3u8{token}"),
    )
}

/// The proxy's TS and HLS URLs for a channel.
fn proxy_urls(base: &Base, id: &ContentId) -> (String, String) {
    let (param, hex) = id.query_param();
    let (origin, token) = (&base.origin, &base.token_query);
    (
        format!("{origin}/ace/getstream?{param}={hex}{token}"),
        format!("{origin}/ace/manifest.m3u8?{param}={hex}{token}"),
    )
}

fn kind_label(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Content => "content",
        IdKind::Infohash => "infohash",
    }
}

/// A channel name or attribute as stored: see [`content_id::clean_text`].
fn clean_name(name: Option<&str>) -> Option<String> {
    name.and_then(content_id::clean_text)
}

/// A saved channel's name, or the readable default ("Channel d5869d…").
pub fn title(saved: &SavedChannel) -> String {
    saved
        .name
        .clone()
        .unwrap_or_else(|| content_id::default_name(&saved.id))
}

pub(super) fn parse_id(text: &str) -> Result<ContentId, ApiError> {
    ContentId::parse(text).map_err(|err| ApiError::bad_request(format!("invalid id: {err}")))
}

// ---------------------------------------------------------------- parse

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRequest {
    text: String,
}

#[derive(Debug, Serialize)]
pub struct ParseResponse {
    entries: Vec<ParsedEntry>,
    errors: Vec<content_id::ListError>,
    /// Invalid lines beyond the ones listed in `errors`.
    more_errors: usize,
}

#[derive(Debug, Serialize)]
pub struct ParsedEntry {
    id: String,
    kind: &'static str,
    name: Option<String>,
    line: usize,
    ts_url: String,
    hls_url: String,
    #[serde(flatten)]
    attributes: content_id::M3uAttributes,
}

/// `POST /api/parse {"text": …}`: the channels in pasted text, and the lines that are not.
pub async fn parse(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ParseRequest>,
) -> Result<Json<ParseResponse>, ApiError> {
    let parsed = content_id::parse_list(&request.text);
    if parsed.entries.len() > MAX_PARSE_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "too many channels ({}): paste at most {MAX_PARSE_ENTRIES} at once",
            parsed.entries.len()
        )));
    }
    let base = base_url(&state, &headers);
    let entries = parsed
        .entries
        .into_iter()
        .map(|entry| {
            let (ts_url, hls_url) = proxy_urls(&base, &entry.id);
            ParsedEntry {
                id: entry.id.as_hex().to_owned(),
                kind: kind_label(entry.id.kind()),
                name: clean_name(entry.name.as_deref()),
                line: entry.line,
                ts_url,
                hls_url,
                attributes: entry.attributes,
            }
        })
        .collect();
    let mut errors = parsed.errors;
    let more_errors = errors.len().saturating_sub(MAX_PARSE_ERRORS);
    errors.truncate(MAX_PARSE_ERRORS);
    Ok(Json(ParseResponse {
        entries,
        errors,
        more_errors,
    }))
}

// ---------------------------------------------------------------- saved channels

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
    /// The alternate that last played; tried first.
    last_good: Option<String>,
    group: Option<String>,
    tvg_logo: Option<String>,
    tvg_id: Option<String>,
    tvg_name: Option<String>,
    /// The imported list it came from, if any.
    source: Option<String>,
}

fn channel_view(base: &Base, saved: &SavedChannel, id: &ContentId) -> ChannelView {
    let (ts_url, hls_url) = channel_urls(base, saved);
    let (id_ts_url, id_hls_url) = proxy_urls(base, id);
    let alternates = if saved.alternates.is_empty() {
        vec![id.as_hex().to_owned()]
    } else {
        saved.alternates.clone()
    };
    ChannelView {
        id: id.as_hex().to_owned(),
        kind: kind_label(id.kind()),
        name: saved.name.clone(),
        title: title(saved),
        ts_url,
        hls_url,
        id_ts_url,
        id_hls_url,
        alternates,
        last_good: saved.last_good.clone(),
        group: saved.group.clone(),
        tvg_logo: saved.logo.clone(),
        tvg_id: saved.tvg_id.clone(),
        tvg_name: saved.tvg_name.clone(),
        source: saved.source.clone(),
    }
}

pub(super) fn channel_views(base: &Base, settings: &Settings) -> Vec<ChannelView> {
    settings
        .channels
        .iter()
        .filter_map(|saved| Some(channel_view(base, saved, &saved_id(saved)?)))
        .collect()
}

/// The saved channels as the API and the event stream show them.
pub(crate) async fn channel_list(state: &AppState, headers: &HeaderMap) -> ChannelList {
    let settings = state.store.get().await;
    ChannelList {
        channels: channel_views(&base_url(state, headers), &settings),
    }
}

pub(super) fn store_error(error: config::ConfigError) -> ApiError {
    tracing::warn!(%error, "could not save settings");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

/// `GET /api/channels`: the saved channels with their proxy URLs.
pub async fn list_channels(State(state): State<AppState>, headers: HeaderMap) -> Json<ChannelList> {
    Json(channel_list(&state, &headers).await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddChannels {
    channels: Vec<NewChannel>,
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
}

/// `POST /api/channels {"channels":[{"id","name"}]}`: saves channels (all or
/// none: one bad id is a 400 naming it). A channel already saved keeps its
/// place; it only takes the new name if it had none.
pub async fn add_channels(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<AddChannels>,
) -> Result<Json<ChannelList>, ApiError> {
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
        new.push(SavedChannel {
            name: clean_name(channel.name.as_deref()),
            group: clean_name(channel.group.as_deref()),
            logo: clean_name(channel.tvg_logo.as_deref()),
            tvg_id: clean_name(channel.tvg_id.as_deref()),
            tvg_name: clean_name(channel.tvg_name.as_deref()),
            ..store::saved_channel(&id)
        });
    }
    let mut guard = state.store.lock().await;
    let next = store::merge_saved(guard.settings(), new)
        .map_err(|too_many| ApiError::bad_request(too_many.to_string()))?;
    if next != *guard.settings() {
        guard.save(next).await.map_err(store_error)?;
    }
    Ok(Json(ChannelList {
        channels: channel_views(&base_url(&state, &headers), guard.settings()),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    /// Absent: unchanged; `null` or `""`: cleared.
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    group: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `PUT /api/channels/{id} {"name"?: …, "group"?: …}`: renames a saved
/// channel or moves it to another group (empty or null clears either).
pub async fn rename_channel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChannelChange>,
) -> Result<Json<ChannelView>, ApiError> {
    let id = parse_id(&id)?;
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    let index =
        find_saved(&next, &id).ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    let channel = &mut next.channels[index];
    if let Some(name) = request.name {
        channel.name = clean_name(name.as_deref());
    }
    if let Some(group) = request.group {
        channel.group = clean_name(group.as_deref());
    }
    guard.save(next).await.map_err(store_error)?;
    let base = base_url(&state, &headers);
    let saved = &guard.settings().channels[index];
    let id = saved_id(saved).unwrap_or(id);
    Ok(Json(channel_view(&base, saved, &id)))
}

/// `DELETE /api/channels/{id}`: forgets a saved channel. 204, or 404 if not saved.
pub async fn delete_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let mut guard = state.store.lock().await;
    let mut next = guard.settings().clone();
    let index =
        find_saved(&next, &id).ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    next.channels.remove(index);
    guard.save(next).await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One `#EXTINF` entry of an M3U playlist, with the channel's attributes.
/// Every text was cleaned when saved; it is cleaned again here because the
/// file may have been edited by hand, and quotes would end an attribute.
fn m3u_entry(out: &mut String, saved: &SavedChannel, url: &str) {
    out.push_str("#EXTINF:-1");
    for (key, value) in [
        ("tvg-id", &saved.tvg_id),
        ("tvg-name", &saved.tvg_name),
        ("tvg-logo", &saved.logo),
        ("group-title", &saved.group),
    ] {
        if let Some(value) = value.as_deref().and_then(content_id::clean_text) {
            out.push_str(&format!(" {key}=\"{}\"", value.replace('"', "'")));
        }
    }
    out.push(',');
    let name = content_id::clean_text(&title(saved)).unwrap_or_default();
    out.push_str(&name);
    out.push('\n');
    out.push_str(url);
    out.push('\n');
}

const M3U_TYPE: &str = "audio/x-mpegurl";

/// `GET /playlist.m3u`: the saved channels as an M3U for IPTV apps, with
/// their stable TS URLs (which fail over between alternates).
pub async fn playlist(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let settings = state.store.get().await;
    let base = base_url(&state, &headers);
    let mut body = String::from("#EXTM3U\n");
    for saved in &settings.channels {
        if saved_id(saved).is_none() {
            continue;
        }
        m3u_entry(&mut body, saved, &channel_urls(&base, saved).0);
    }
    (
        [
            (header::CONTENT_TYPE, M3U_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/channels/{id}/play.m3u`: a one-entry M3U of a saved channel, as a
/// download, so the OS hands it to the user's player ("Open in player").
pub async fn play_m3u(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let settings = state.store.get().await;
    let index =
        find_saved(&settings, &id).ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    let saved = &settings.channels[index];
    let (ts_url, _) = channel_urls(&base_url(&state, &headers), saved);
    let name = title(saved);
    let mut body = String::from("#EXTM3U\n");
    m3u_entry(&mut body, saved, &ts_url);
    // The file name is ASCII-only and quote-free, whatever the channel is called.
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let disposition = format!("attachment; filename=\"{stem}.m3u\"");
    Ok((
        [
            (header::CONTENT_TYPE, M3U_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------- settings

#[derive(Debug, Serialize)]
pub struct SettingsView {
    /// The engine channels start on now.
    engine: String,
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
    /// The command acebridge starts the engine with (set or detected), if any.
    engine_command: Option<Vec<String>>,
}

async fn settings_view(state: &AppState) -> SettingsView {
    let engine = state.channels.engine();
    SettingsView {
        engine_command: state
            .channels
            .engine_process()
            .status(&engine, false)
            .command,
        imports: state.store.get().await.imports,
        engine: engine.base().to_string(),
        listen: state.local_addr.to_string(),
        settings_file: state.store.path().map(|path| path.display().to_string()),
        lan_token: state.lan_token.as_deref().map(str::to_owned),
        warnings: state.store.warnings().to_vec(),
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
    /// Program and arguments; `[]` clears it (no engine is started then).
    #[serde(default)]
    engine_command: Option<Vec<String>>,
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
        if !(state.trust_loopback && super::guard::is_loopback(peer.0.ip())) {
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
        .transpose()
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    let mut guard = state.store.lock().await;
    if let Some(url) = engine {
        let mut next = guard.settings().clone();
        // Stored as the user would type it: no trailing slash.
        next.engine = Some(url.as_str().trim_end_matches('/').to_owned());
        guard.save(next).await.map_err(store_error)?;
        // Still under the store's lock, so concurrent changes apply in the order they were saved.
        tracing::info!(engine = %url, "engine changed");
        state.channels.set_engine(EngineClient::new(url));
    }
    if let Some(command) = change.engine_command {
        let mut next = guard.settings().clone();
        next.engine_command.clone_from(&command);
        guard.save(next).await.map_err(store_error)?;
        tracing::info!(?command, "engine command changed");
        let command = (!command.is_empty()).then_some(command);
        state.channels.engine_process().set_command(command);
    }
    drop(guard);
    Ok(Json(settings_view(&state).await))
}

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
    let url = config::parse_engine_url(&request.engine)
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
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

// ---------------------------------------------------------------- engine process

/// The body of `POST /api/engine/start|stop`: `{}`. Required, so that the
/// request is JSON like every other state change (no form can send it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

fn process_error(error: ProcessError) -> ApiError {
    let status = match error {
        ProcessError::NoCommand | ProcessError::NotLocal(_) | ProcessError::NotOurs => {
            StatusCode::CONFLICT
        }
        ProcessError::Start(_) => StatusCode::BAD_GATEWAY,
        ProcessError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, error.to_string())
}

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
    state
        .channels
        .engine_process()
        .start(&engine)
        .await
        .map_err(process_error)?;
    Ok(process_status(&state).await)
}

/// `POST /api/engine/stop {}`: stops the engine acebridge started (its
/// channels end). 200 with the process status; 409 if acebridge did not
/// start the engine that runs, which it never stops.
pub async fn stop_engine(
    State(state): State<AppState>,
    ApiJson(NoOptions {}): ApiJson<NoOptions>,
) -> Result<Json<ProcessStatus>, ApiError> {
    state
        .channels
        .engine_process()
        .stop()
        .await
        .map_err(process_error)?;
    tracing::info!("engine stopped from the API");
    Ok(process_status(&state).await)
}

// ---------------------------------------------------------------- imports

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    url: String,
    /// Re-read the list every this many minutes; absent or 0: never.
    #[serde(default)]
    refresh_mins: Option<u64>,
}

fn import_error(error: import::ImportError) -> ApiError {
    use import::ImportError as E;
    match error {
        E::BadUrl(_) | E::TooMany(_) | E::TooManyLists => ApiError::bad_request(error.to_string()),
        E::Settings(error) => store_error(error),
        E::Status(_) | E::TooLarge | E::Timeout | E::Network(_) | E::NoChannels(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, error.to_string())
        }
    }
}

/// `POST /api/imports {"url", "refresh_mins"?}`: reads the channel list at
/// `url` now and saves its channels (and the list, re-read every
/// `refresh_mins` if given). Answers what changed; `502` if the list could not
/// be read (nothing changes then).
pub async fn import_list(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<import::SyncReport>, ApiError> {
    let url = import::parse_list_url(&request.url).map_err(import_error)?;
    let report = import::import(&state.store, &url, Some(request.refresh_mins.unwrap_or(0)))
        .await
        .map_err(import_error)?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetList {
    url: String,
}

/// `DELETE /api/imports {"url"}`: stops refreshing a list; its channels stay. 204, or 404.
pub async fn forget_list(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ForgetList>,
) -> Result<StatusCode, ApiError> {
    if import::forget(&state.store, &request.url)
        .await
        .map_err(import_error)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such imported list"))
    }
}

// ---------------------------------------------------------------- streams

/// `DELETE /api/streams/{id}`: stops the channel (all its players) and its engine
/// session now, ending its players' streams. 204, or 404 if it is not playing.
pub async fn stop_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let infohash = ContentId::parse_infohash(id.as_hex())
        .map_err(|err| ApiError::bad_request(format!("invalid id: {err}")))?;
    let mut stopped = false;
    for id in [&id, &infohash] {
        stopped |= state.channels.stop(id);
    }
    if stopped {
        tracing::info!(channel = %id, "stopped from the API");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("this channel is not playing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean_name(Some("  News\n#EXTINF:-1,x\r\n ")),
            Some("News #EXTINF:-1,x".into())
        );
        assert_eq!(clean_name(Some(" \t ")), None);
        assert_eq!(clean_name(None), None);
        assert_eq!(
            clean_name(Some(&"x".repeat(500))).map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
    }

    #[test]
    fn playlist_lines_survive_hand_edited_names() {
        let saved = SavedChannel {
            id: "d5869d".repeat(7)[..40].to_owned(),
            name: Some("News\u{2028}#EXTINF:-1,evil".into()),
            group: Some("Sp\"ort".into()),
            ..SavedChannel::default()
        };
        let mut out = String::new();
        m3u_entry(&mut out, &saved, "http://h/x");
        assert_eq!(
            out,
            "#EXTINF:-1 group-title=\"Sp'ort\",News #EXTINF:-1,evil\nhttp://h/x\n"
        );
        let unnamed = SavedChannel {
            id: "d5869d".repeat(7)[..40].to_owned(),
            ..SavedChannel::default()
        };
        let mut out = String::new();
        m3u_entry(&mut out, &unnamed, "http://h/x");
        assert_eq!(out, "#EXTINF:-1,Channel d5869d\u{2026}\nhttp://h/x\n");
    }

    #[test]
    fn urls_keep_the_id_kind() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        let id = ContentId::parse_infohash(hex).expect("id");
        let base = Base {
            origin: "http://h:1".into(),
            token_query: String::new(),
        };
        let (ts, hls) = proxy_urls(&base, &id);
        assert_eq!(ts, format!("http://h:1/ace/getstream?infohash={hex}"));
        assert_eq!(hls, format!("http://h:1/ace/manifest.m3u8?infohash={hex}"));
        let lan = Base {
            token_query: "&token=t0k".into(),
            ..base
        };
        assert!(proxy_urls(&lan, &id).0.ends_with("&token=t0k"));
    }
}
