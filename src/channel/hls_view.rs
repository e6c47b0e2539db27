//! The HLS view of a channel: the proxy's own playlist over the channel's
//! segment list, segments served from memory by sequence number only (never
//! from a URL a client gave), and who is watching.
//!
//! An HLS viewer is one player however many connections it opens: viewers
//! are told apart by address and `User-Agent`, which every request of a player
//! carries alike, whether it reuses its connection or opens new ones. Two
//! identical players on one device count once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::core::Channel;
use super::ChannelError;
use crate::hls::{playlist, Segment};

/// Viewers remembered at most per channel, so the map stays bounded whatever
/// clients send.
const MAX_VIEWERS: usize = 1024;
/// Longest `User-Agent` kept to tell viewers apart.
const MAX_AGENT: usize = 128;

/// Who an HLS request comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Viewer {
    ip: IpAddr,
    agent: String,
}

impl Viewer {
    pub fn new(ip: IpAddr, agent: Option<&str>) -> Self {
        let agent = agent.unwrap_or_default();
        let cut = agent
            .char_indices()
            .nth(MAX_AGENT)
            .map_or(agent.len(), |(at, _)| at);
        Self {
            ip,
            agent: agent[..cut].to_owned(),
        }
    }
}

/// The HLS viewers of a channel and when each last asked for something.
#[derive(Debug, Default)]
pub(super) struct Viewers {
    seen: Mutex<HashMap<Viewer, Instant>>,
}

impl Viewers {
    /// Records a request; false if `viewer` is new and `max` viewers already watch.
    pub(super) fn touch(&self, viewer: &Viewer, window: Duration, max: usize) -> bool {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last) = seen.get_mut(viewer) {
            *last = now;
            return true;
        }
        seen.retain(|_, last| now.duration_since(*last) < window);
        if seen.len() >= max.min(MAX_VIEWERS) {
            return false;
        }
        seen.insert(viewer.clone(), now);
        true
    }

    pub(super) fn count(&self, window: Duration) -> usize {
        let now = Instant::now();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|last| now.duration_since(**last) < window)
            .count()
    }
}

impl Channel {
    /// The proxy's playlist once the channel holds a segment; `query` goes at
    /// the end of each segment URI (the LAN token, when sharing is on).
    pub async fn playlist(&self, query: &str, timeout: Duration) -> Result<Vec<u8>, ChannelError> {
        self.wait_until(timeout, |channel| channel.segments.next_seq() > 0)
            .await?;
        let window = self.segments.window(playlist::WINDOW);
        Ok(playlist::render(&self.key.segment_prefix(), &window, query))
    }

    /// A buffered segment, waiting a little if it is the one being cut or downloaded.
    pub async fn segment(&self, seq: u64) -> Option<Segment> {
        let wait = (2 * self.target_duration()).max(Duration::from_secs(2));
        let segment = self.segments.wait_for(seq, wait).await?;
        self.count_bytes_out(segment.len());
        Some(segment)
    }
}
