//! The order of the saved channels, changed by the user: a channel moves up
//! or down past its neighbour in the same group, as the list shows it
//! (`POST /api/channels/{id}/move {"by": -1 | 1}`). The order is the saved
//! channels' order, which `/playlist.m3u` follows and re-reads of an
//! imported list keep (they change channels in place), so it needs no edit
//! record of its own.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

use super::alternates::change_channel;
use super::channels::ChannelList;
use super::ApiJson;
use crate::config::Settings;
use crate::http::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// -1: up, before the previous channel of its group; 1: down.
    by: i8,
}

/// `POST /api/channels/{id}/move {"by"}`: answers the whole list, in its new order.
pub async fn move_channel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<Move>,
) -> Result<Json<ChannelList>, ApiError> {
    change_channel(&state, &headers, &id, |settings, index| {
        moved(settings, index, request.by)
    })
    .await
}

/// `settings` with channel `index` swapped with its neighbour (`by` = -1
/// the one before, 1 the one after) among the channels of its group.
fn moved(settings: &Settings, index: usize, by: i8) -> Result<Settings, ApiError> {
    let group = |i: usize| settings.channels[i].group.as_deref().unwrap_or_default();
    let same_group = |i: &usize| group(*i) == group(index);
    let neighbour = match by {
        -1 => (0..index).rev().find(same_group),
        1 => (index + 1..settings.channels.len()).find(same_group),
        _ => return Err(ApiError::bad_request("by is -1 (up) or 1 (down)")),
    };
    let Some(neighbour) = neighbour else {
        let end = if by < 0 { "first" } else { "last" };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("it is already the {end} channel of its group"),
        ));
    };
    let mut next = settings.clone();
    next.channels.swap(index, neighbour);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_id::ContentId;
    use crate::saved::SavedChannel;

    fn channel(digit: char, group: Option<&str>) -> SavedChannel {
        let id = ContentId::parse(&digit.to_string().repeat(40)).expect("id");
        let mut saved = SavedChannel::new(id);
        saved.group = group.map(str::to_owned);
        saved
    }

    fn order(settings: &Settings) -> String {
        settings
            .channels
            .iter()
            .map(|saved| saved.key().chars().next().unwrap_or('?'))
            .collect()
    }

    #[test]
    fn a_channel_moves_past_its_neighbour_in_its_group_only() {
        let settings = Settings {
            channels: vec![
                channel('a', Some("News")),
                channel('b', Some("Sport")),
                channel('c', Some("News")),
                channel('d', None),
            ],
            ..Settings::default()
        };
        assert_eq!(order(&moved(&settings, 2, -1).expect("up")), "cbad");
        assert_eq!(order(&moved(&settings, 0, 1).expect("down")), "cbad");
        for (index, by) in [(0, -1), (2, 1), (1, 1), (3, -1)] {
            let error = moved(&settings, index, by).expect_err("at an end");
            assert_eq!(error.status, StatusCode::CONFLICT, "{index} {by}");
        }
        assert_eq!(
            moved(&settings, 1, 2).expect_err("by").status,
            StatusCode::BAD_REQUEST
        );
    }
}
