//! Channel lists imported from a URL: import one now (and re-read it every
//! so often), or stop refreshing one. The reading and merging live in
//! `import`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::ApiJson;
use crate::http::{ApiError, AppState};
use crate::import;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    url: String,
    /// Re-read the list every this many minutes; absent or 0: never.
    #[serde(default)]
    refresh_mins: Option<u64>,
}

/// `POST /api/imports {"url", "refresh_mins"?}`: reads the channel list at
/// `url` now and saves its channels (and the list, re-read every
/// `refresh_mins` if given). Answers what changed; `502` if the list could not
/// be read (nothing changes then).
pub async fn import_list(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<import::SyncReport>, ApiError> {
    let url = import::parse_list_url(&request.url)?;
    let report =
        import::import(&state.store, &url, Some(request.refresh_mins.unwrap_or(0))).await?;
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
    if import::forget(&state.store, &request.url).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such imported list"))
    }
}

/// `POST /api/imports/bring-back {"url"}`: forgets which channels of the
/// list the user removed and reads it now, so they are back. Answers the
/// read's report; 404 when the list is not imported.
pub async fn bring_back(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ForgetList>,
) -> Result<Json<import::SyncReport>, ApiError> {
    let url = import::parse_list_url(&request.url)?;
    {
        let mut guard = state.store.lock().await;
        let mut next = guard.settings().clone();
        if !next.imports.iter().any(|list| list.url == url.as_str()) {
            return Err(ApiError::not_found("no such imported list"));
        }
        if crate::list_edits::bring_back(&mut next, url.as_str()) > 0 {
            guard.save(next).await?;
        }
    }
    Ok(Json(import::import(&state.store, &url, None).await?))
}
