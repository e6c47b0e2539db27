//! Active streams from the API: stop one now, with all its players.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::parse_id;
use crate::content_id::ContentId;
use crate::http::{ApiError, AppState};

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
