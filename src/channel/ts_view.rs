//! The TS view of a channel: a player is a cursor into the channel's ring. It
//! starts at the newest keyframe (PAT/PMT first) and, if it falls behind the
//! ring's tail, is moved to the newest keyframe: a slow player never holds
//! back the upstream or another player.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::watch;

use super::core::{Attachment, Channel};
use super::ChannelError;
use crate::ts::ring::{Cursor, Read};

/// Most bytes handed to a player's connection in one write.
const PLAYER_BATCH: usize = 256 * 1024;

/// One TS player of a channel. Dropping it is how a player leaves.
#[derive(Debug)]
pub struct TsPlayer {
    attachment: Attachment,
    cursor: Cursor,
    head: watch::Receiver<u64>,
    pending: VecDeque<Bytes>,
}

impl TsPlayer {
    /// Must be created under the hub's table lock, so the linger check sees it.
    pub(super) fn new(channel: Arc<Channel>) -> Self {
        channel.ts_players.fetch_add(1, Ordering::Relaxed);
        let head = channel.ring.subscribe();
        let cursor = channel.ring.cursor();
        tracing::info!(channel = %channel.key, players = channel.ts_player_count(), "TS player joined");
        Self {
            attachment: Attachment::new(channel, Duration::ZERO),
            cursor,
            head,
            pending: VecDeque::new(),
        }
    }

    pub fn channel(&self) -> &Arc<Channel> {
        self.attachment.channel()
    }

    /// Keeps this player's data in the ring (up to its cap) however long it
    /// does not read: a recording's, for which a gap is worse than memory.
    pub fn hold_while_stalled(&self) {
        self.cursor.hold_while_stalled();
    }

    /// Waits until the channel has a keyframe to start this player with.
    pub async fn ready(&self, timeout: Duration) -> Result<(), ChannelError> {
        self.channel()
            .wait_until(timeout, |channel| channel.ring.has_keyframe())
            .await
    }

    /// The player's next bytes: PAT/PMT, then from the newest keyframe on;
    /// `None` once the channel ended. A reader that calls this too seldom
    /// falls off the ring's tail and resumes at its newest keyframe.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                self.channel().count_bytes_out(bytes.len());
                return Some(bytes);
            }
            match self
                .attachment
                .channel()
                .ring
                .read(&mut self.cursor, PLAYER_BATCH)
            {
                Read::Data(chunks) => self.pending.extend(chunks),
                Read::Closed => return None,
                Read::Pending => {
                    if self.head.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Times this player fell behind the ring's tail and skipped to its newest keyframe.
    pub fn skips(&self) -> u64 {
        self.cursor.skips
    }

    /// The player's bytes (see [`TsPlayer::next`]), until the channel ends.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut player| async move {
            let bytes = player.next().await?;
            Some((Ok(bytes), player))
        })
    }
}

impl Drop for TsPlayer {
    fn drop(&mut self) {
        let channel = self.channel();
        channel.ts_players.fetch_sub(1, Ordering::Relaxed);
        tracing::info!(
            channel = %channel.key,
            players = channel.ts_player_count(),
            skips = self.cursor.skips,
            "TS player left"
        );
    }
}
