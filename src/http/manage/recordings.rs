//! Recordings from the API: record a channel now (for a time or until
//! stopped) or later (a time range, or a programme from the guide), list
//! them, stop one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::http::{ApiError, AppState};
use crate::recording::{Padding, RecordingView, Request};

/// `POST /api/recordings`: `{"channel"}` records now, with `"seconds"` for
/// that long; `{"channel", "start_unix", "end_unix"}` records later;
/// `{"channel", "programme": {"start"}}` records that guide programme, with
/// `"pad_before_mins"` / `"pad_after_mins"` (default from the settings).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRecording {
    channel: String,
    seconds: Option<u64>,
    start_unix: Option<u64>,
    end_unix: Option<u64>,
    programme: Option<ProgrammeRef>,
    pad_before_mins: Option<u64>,
    pad_after_mins: Option<u64>,
}

/// A programme as `GET /api/guide` lists it; only its start names it (a
/// channel shows one programme at a time), the rest may come along.
#[derive(Debug, Deserialize)]
pub struct ProgrammeRef {
    start: i64,
}

#[derive(Debug, Serialize)]
pub struct RecordingList {
    recordings: Vec<RecordingView>,
    /// Where files are written.
    dir: String,
}

/// `GET /api/recordings`: schedules, then this run's recordings, newest first.
pub async fn list(State(state): State<AppState>) -> Json<RecordingList> {
    Json(RecordingList {
        recordings: state.recordings.list().await,
        dir: state.recordings.dir().display().to_string(),
    })
}

/// `POST /api/recordings`: 201 with the recording (or the schedule).
pub async fn start(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<StartRecording>,
) -> Result<(StatusCode, Json<RecordingView>), ApiError> {
    if let Some(programme) = &request.programme {
        if request.seconds.is_some() || request.start_unix.is_some() || request.end_unix.is_some() {
            return Err(ApiError::bad_request(
                "give either a programme or a time (seconds, start_unix and end_unix), not both",
            ));
        }
        let settings = state.store.get().await;
        let padding = Padding {
            before_mins: request
                .pad_before_mins
                .or(settings.recordings_pad_before_mins)
                .unwrap_or(Padding::default().before_mins),
            after_mins: request
                .pad_after_mins
                .or(settings.recordings_pad_after_mins)
                .unwrap_or(Padding::default().after_mins),
        };
        let view = state
            .recordings
            .schedule_programme(&state.guide, &request.channel, programme.start, padding)
            .await?;
        return Ok((StatusCode::CREATED, Json(view)));
    }
    if request.pad_before_mins.is_some() || request.pad_after_mins.is_some() {
        return Err(ApiError::bad_request(
            "padding applies to a programme from the guide: give \"programme\": {\"start\": …}",
        ));
    }
    let view = match (request.seconds, request.start_unix, request.end_unix) {
        (None, Some(start), Some(end)) => {
            state
                .recordings
                .schedule(&request.channel, start, end)
                .await?
        }
        (_, Some(_), _) | (_, _, Some(_)) if request.seconds.is_some() => {
            return Err(ApiError::bad_request(
                "give either seconds (record now) or start_unix and end_unix (record later)",
            ))
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(ApiError::bad_request(
                "a scheduled recording needs both start_unix and end_unix",
            ))
        }
        _ => {
            state
                .recordings
                .start(Request {
                    channel: request.channel,
                    seconds: request.seconds,
                    end_unix: None,
                    programme: None,
                })
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// `DELETE /api/recordings/{id}`: stops a recording (its file stays) or
/// forgets a schedule; a recording that already ended is left as it is.
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(state.recordings.stop(&id).await?))
}
