//! `GET /api/events`: live updates for the web UI as server-sent events, so
//! the page changes in place instead of polling and re-rendering.
//!
//! Two events: `channels` (the saved channels, as `GET /api/channels`), sent
//! at once and after every saved change (the store announces them, whoever
//! made them: the API, the tray app, a list refresh); and `streams` (as
//! `GET /api/streams`), sampled once a second and sent when it changed. The
//! stream ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::manage::channels;
use super::{api, AppState};

/// How often active streams are sampled.
const STREAMS_EVERY: Duration = Duration::from_secs(1);

/// `GET /api/events`.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut tick = tokio::time::interval(STREAMS_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        changes: state.store.subscribe(),
        state,
        headers,
        tick,
        last_streams: None,
        channels_due: true,
    };
    Sse::new(futures_util::stream::unfold(feed, Feed::next)).keep_alive(KeepAlive::default())
}

/// One client's event stream.
struct Feed {
    state: AppState,
    /// The request's headers: channel URLs are built for the host the page used.
    headers: HeaderMap,
    changes: watch::Receiver<Option<u64>>,
    tick: Interval,
    /// The last `streams` sent, to send only changes.
    last_streams: Option<String>,
    channels_due: bool,
}

impl Feed {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            // `borrow`, not `borrow_and_update`: a change saved while the
            // last list was being sent must still wake `changed` below.
            if self.changes.borrow().is_none() {
                return None;
            }
            if self.channels_due {
                self.channels_due = false;
                let list = channels::channel_list(&self.state, &self.headers).await;
                let data = serde_json::to_string(&list).unwrap_or_default();
                return Some((Ok(Event::default().event("channels").data(data)), self));
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    self.channels_due = true;
                }
                _ = self.tick.tick() => {
                    let snapshot = api::streams_snapshot(&self.state).await;
                    let data = serde_json::to_string(&snapshot).unwrap_or_default();
                    if self.last_streams.as_ref() != Some(&data) {
                        self.last_streams = Some(data.clone());
                        return Some((Ok(Event::default().event("streams").data(data)), self));
                    }
                }
            }
        }
    }
}
