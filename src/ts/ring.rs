//! The shared buffer of one TS channel: a ring of recent chunks with a
//! sequence number per chunk. Every reader (player, recording) is a [`Cursor`]
//! registered with the ring, so the ring keeps only what someone still needs:
//! from the older of the slowest cursor's position and the newest keyframe (where
//! a joiner starts) to the end. A channel whose players keep up thus holds about
//! one GOP; a player that falls behind holds more, up to the ring's byte cap.
//! Past the cap the oldest chunks go whatever the cursors, and a player that
//! has not read for [`STALL_GRACE`] while data waited for it (paused, gone,
//! its network stalled) holds nothing any more: a player that stops reading
//! costs little memory and holds nobody back, and when the ring has moved past
//! its cursor it is moved to the newest keyframe. A recording's cursor is
//! patient instead ([`Cursor::hold_while_stalled`]): a slow disk keeps its
//! data up to the cap.
//!
//! Chunks are `Bytes`, shared by every player without copying. The lock is held
//! only to clone a few `Bytes` handles, never across an await; cursor positions
//! are written under it by reads, and their minimum is taken only when appending.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::packet::Chunk;

/// Where a reader is in the ring; made by [`Ring::cursor`], released when dropped.
#[derive(Debug)]
pub struct Cursor {
    inner: Arc<Mutex<Inner>>,
    /// This cursor's entry in the ring's `readers`, which holds its position.
    slot: usize,
    /// How many times this reader fell off the tail and was moved forward.
    pub skips: u64,
}

impl Drop for Cursor {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        if let Some(reader) = inner.readers.get_mut(self.slot) {
            reader.position = Slot::Free;
        }
        inner.free.push(self.slot);
    }
}

/// How long a reader may leave waiting data unread before the ring stops
/// keeping it for that reader. The kernel's socket buffer holds seconds more,
/// so a player this late has been stalled far longer.
pub const STALL_GRACE: Duration = Duration::from_secs(5);

impl Cursor {
    /// Keeps this reader's data (up to the cap) however long it does not
    /// read: for recordings, where a gap is worse than memory.
    pub fn hold_while_stalled(&self) {
        let mut inner = lock(&self.inner);
        if let Some(reader) = inner.readers.get_mut(self.slot) {
            reader.patient = true;
        }
    }
}

/// What a read gave.
#[derive(Debug)]
pub enum Read {
    /// Chunks to send, in order (the PAT/PMT first after a join or skip).
    Data(Vec<Bytes>),
    /// Nothing new yet: wait on [`Ring::subscribe`].
    Pending,
    /// The channel ended: finish the stream.
    Closed,
}

/// A cursor's entry in the ring.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Free,
    /// Registered, not joined yet: it will start at the newest keyframe.
    Joining,
    At {
        /// The sequence number it reads next.
        next: u64,
        /// Since when data has waited for it without a read; `None` while
        /// it is at the end.
        waiting: Option<Instant>,
    },
}

/// A cursor's entry in the ring: where it is, and whether it holds its data
/// while stalled.
#[derive(Debug, Clone, Copy)]
struct Reader {
    position: Slot,
    patient: bool,
}

impl Reader {
    const JOINING: Self = Self {
        position: Slot::Joining,
        patient: false,
    };
}

#[derive(Debug, Default)]
struct Inner {
    chunks: VecDeque<Chunk>,
    /// Sequence number of `chunks[0]`.
    first_seq: u64,
    bytes: usize,
    /// The latest program tables, for a keyframe that came without its own.
    psi: Option<Bytes>,
    /// Set after an upstream reconnect: drop data until the new upstream's first keyframe.
    resyncing: bool,
    closed: bool,
    /// Each cursor's entry, by slot.
    readers: Vec<Reader>,
    /// Slots of dropped cursors, for reuse.
    free: Vec<usize>,
}

impl Inner {
    fn end_seq(&self) -> u64 {
        self.first_seq + self.chunks.len() as u64
    }

    fn newest_keyframe(&self) -> Option<u64> {
        self.chunks
            .iter()
            .rposition(|chunk| chunk.keyframe)
            .map(|index| self.first_seq + index as u64)
    }

    fn pop_front(&mut self) {
        if let Some(old) = self.chunks.pop_front() {
            self.bytes -= old.data.len();
            self.first_seq += 1;
        }
    }

    /// The oldest chunk anyone needs at `now`: a joiner's (the newest
    /// keyframe) or a cursor's still in the ring, unless that cursor has
    /// stalled past [`STALL_GRACE`]. A cursor the ring has already moved past
    /// needs nothing older: it restarts at the newest keyframe.
    fn needed_from(&self, now: Instant) -> Option<u64> {
        let keyframe = self.newest_keyframe()?;
        let first = self.first_seq;
        let holds = |patient: bool, waiting: Option<Instant>| {
            patient || waiting.is_none_or(|since| now.duration_since(since) < STALL_GRACE)
        };
        Some(
            self.readers
                .iter()
                .filter_map(|reader| match reader.position {
                    Slot::At { next, waiting }
                        if next >= first && holds(reader.patient, waiting) =>
                    {
                        Some(next)
                    }
                    _ => None,
                })
                .fold(keyframe, u64::min),
        )
    }

    /// Starts the stall clock of every reader that was at the end.
    fn start_waiting(&mut self, now: Instant) {
        let end = self.end_seq();
        for Reader { position, .. } in &mut self.readers {
            if let Slot::At {
                next,
                waiting: waiting @ None,
            } = position
            {
                if *next < end {
                    *waiting = Some(now);
                }
            }
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // A panic elsewhere must not take every player of the channel with it:
    // the ring's invariants hold between statements, so the data is usable.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A ring of chunks shared by all readers of a channel, bounded in bytes.
#[derive(Debug)]
pub struct Ring {
    inner: Arc<Mutex<Inner>>,
    max_bytes: usize,
    /// Carries the end sequence number; players wait on it for new data.
    head: watch::Sender<u64>,
}

impl Ring {
    /// A ring that holds at most `max_bytes` (and always its newest chunk).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            max_bytes,
            head: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// A new reader, which starts at the newest keyframe on its first read.
    pub fn cursor(&self) -> Cursor {
        let mut inner = self.lock();
        let slot = match inner.free.pop() {
            Some(slot) => {
                inner.readers[slot] = Reader::JOINING;
                slot
            }
            None => {
                inner.readers.push(Reader::JOINING);
                inner.readers.len() - 1
            }
        };
        Cursor {
            inner: Arc::clone(&self.inner),
            slot,
            skips: 0,
        }
    }

    /// Appends chunks from the upstream, drops what nobody needs any more
    /// (and the oldest past the cap), and wakes the players.
    pub fn append(&self, chunks: impl IntoIterator<Item = Chunk>, psi: Option<Bytes>) {
        let end = {
            let mut inner = self.lock();
            if psi.is_some() {
                inner.psi = psi;
            }
            for chunk in chunks {
                if inner.resyncing {
                    if !chunk.keyframe {
                        continue;
                    }
                    inner.resyncing = false;
                }
                inner.bytes += chunk.data.len();
                inner.chunks.push_back(chunk);
            }
            // Keep at least one keyframe's worth: never evict the newest chunk.
            while inner.bytes > self.max_bytes && inner.chunks.len() > 1 {
                inner.pop_front();
            }
            let now = Instant::now();
            inner.start_waiting(now);
            // Without a keyframe nobody can join yet: keep what there is, as a
            // stream that has none at all is held up to the cap as before.
            if let Some(from) = inner.needed_from(now) {
                while inner.first_seq < from {
                    inner.pop_front();
                }
            }
            inner.end_seq()
        };
        self.head.send_replace(end);
    }

    /// Marks an upstream reconnect: the next data appended starts at a keyframe of
    /// the new connection, so no player gets the old stream's torn GOP glued to it.
    pub fn begin_resync(&self) {
        self.lock().resyncing = true;
    }

    /// Whether a player joining now would get data at once.
    pub fn has_keyframe(&self) -> bool {
        self.lock().newest_keyframe().is_some()
    }

    /// Ends the channel: players drain nothing more and finish.
    pub fn close(&self) {
        self.lock().closed = true;
        self.head.send_modify(|_| {});
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Bytes currently held, for stats.
    pub fn buffered_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Takes up to `max_bytes` (at least one chunk) of what the cursor has not seen yet.
    pub fn read(&self, cursor: &mut Cursor, max_bytes: usize) -> Read {
        debug_assert!(
            Arc::ptr_eq(&cursor.inner, &self.inner),
            "a cursor of another ring"
        );
        let mut inner = self.lock();
        if inner.closed {
            return Read::Closed;
        }
        let mut out = Vec::new();
        let position = inner.readers.get(cursor.slot).map(|reader| reader.position);
        let next = match position {
            Some(Slot::At { next, .. }) if next >= inner.first_seq => next,
            behind => {
                // Joining, or fell off the tail: restart at the newest keyframe,
                // announced by the program tables so the decoder can start there:
                // the copies that stood right before it, so that the next real
                // PAT and PMT continue their continuity counters.
                let Some(keyframe) = inner.newest_keyframe() else {
                    return Read::Pending;
                };
                if matches!(behind, Some(Slot::At { .. })) {
                    cursor.skips += 1;
                }
                let tables = inner.chunks[(keyframe - inner.first_seq) as usize]
                    .psi
                    .as_ref()
                    .or(inner.psi.as_ref());
                out.extend(tables.cloned());
                keyframe
            }
        };
        let start = (next - inner.first_seq) as usize;
        let mut taken = 0;
        let mut seq = next;
        for chunk in inner.chunks.range(start..) {
            if taken > 0 && taken + chunk.data.len() > max_bytes {
                break;
            }
            taken += chunk.data.len();
            out.push(chunk.data.clone());
            seq += 1;
        }
        // A read restarts the stall clock; caught up, it has none.
        let waiting = (seq < inner.end_seq()).then(Instant::now);
        if let Some(reader) = inner.readers.get_mut(cursor.slot) {
            reader.position = Slot::At { next: seq, waiting };
        }
        if taken == 0 {
            Read::Pending
        } else {
            Read::Data(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tag: u8, len: usize, keyframe: bool) -> Chunk {
        Chunk {
            data: Bytes::from(vec![tag; len]),
            keyframe,
            pts: None,
            psi: None,
        }
    }

    fn tags(read: Read) -> Vec<u8> {
        match read {
            Read::Data(chunks) => chunks.iter().map(|c| c[0]).collect(),
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn joiner_starts_at_newest_keyframe_after_psi() {
        let ring = Ring::new(1 << 20);
        let psi = Bytes::from_static(&[0xaa]);
        ring.append(
            [
                chunk(1, 10, true),
                chunk(2, 10, false),
                chunk(3, 10, true),
                chunk(4, 10, false),
            ],
            Some(psi),
        );
        let mut cursor = ring.cursor();
        assert_eq!(tags(ring.read(&mut cursor, 1 << 20)), vec![0xaa, 3, 4]);
        assert!(matches!(ring.read(&mut cursor, 1 << 20), Read::Pending));
        ring.append([chunk(5, 10, false)], None);
        assert_eq!(tags(ring.read(&mut cursor, 1 << 20)), vec![5]);
    }

    /// Regression: a joiner got the tables of the latest read, whose
    /// continuity counters did not follow on to the next real ones.
    #[test]
    fn joiner_gets_the_tables_that_stood_before_its_keyframe() {
        let ring = Ring::new(1 << 20);
        let mut keyframe = chunk(1, 10, true);
        keyframe.psi = Some(Bytes::from_static(&[0xbb]));
        ring.append(
            [keyframe, chunk(2, 10, false)],
            Some(Bytes::from_static(&[0xaa])),
        );
        let mut cursor = ring.cursor();
        assert_eq!(tags(ring.read(&mut cursor, 1 << 20)), vec![0xbb, 1, 2]);
    }

    #[test]
    fn joiner_waits_for_a_keyframe() {
        let ring = Ring::new(1 << 20);
        ring.append([chunk(1, 10, false)], None);
        let mut cursor = ring.cursor();
        assert!(matches!(ring.read(&mut cursor, 100), Read::Pending));
        ring.append([chunk(2, 10, true)], None);
        assert_eq!(tags(ring.read(&mut cursor, 100)), vec![2]);
    }

    #[test]
    fn stalled_player_skips_to_newest_keyframe_without_bounding_others() {
        let ring = Ring::new(30);
        ring.append([chunk(1, 10, true)], None);
        let mut slow = ring.cursor();
        assert_eq!(tags(ring.read(&mut slow, 100)), vec![1]);
        for tag in 2..=9 {
            ring.append([chunk(tag, 10, tag % 3 == 0)], None);
        }
        assert!(ring.buffered_bytes() <= 30);
        assert_eq!(tags(ring.read(&mut slow, 100)), vec![9]);
        assert_eq!(slow.skips, 1);
    }

    #[test]
    fn reads_are_bounded_but_never_empty() {
        let ring = Ring::new(1 << 20);
        ring.append([chunk(1, 50, true), chunk(2, 50, false)], None);
        let mut cursor = ring.cursor();
        assert_eq!(tags(ring.read(&mut cursor, 10)), vec![1]);
        assert_eq!(tags(ring.read(&mut cursor, 10)), vec![2]);
    }

    #[test]
    fn resync_drops_data_until_the_new_upstreams_keyframe() {
        let ring = Ring::new(1 << 20);
        ring.append([chunk(1, 10, true)], None);
        let mut cursor = ring.cursor();
        assert_eq!(tags(ring.read(&mut cursor, 100)), vec![1]);
        ring.begin_resync();
        ring.append([chunk(2, 10, false), chunk(3, 10, true)], None);
        assert_eq!(tags(ring.read(&mut cursor, 100)), vec![3]);
    }

    #[test]
    fn close_ends_every_reader() {
        let ring = Ring::new(100);
        ring.append([chunk(1, 10, true)], None);
        ring.close();
        assert!(matches!(ring.read(&mut ring.cursor(), 100), Read::Closed));
    }
    /// Appends one GOP of `gop` chunks of `len` bytes, tagged from `tag`.
    fn append_gop(ring: &Ring, tag: u8, gop: u8, len: usize) {
        for i in 0..gop {
            ring.append([chunk(tag + i, len, i == 0)], None);
        }
    }

    fn drain(ring: &Ring, cursor: &mut Cursor) {
        while let Read::Data(_) = ring.read(cursor, usize::MAX) {}
    }

    /// Issue 26: a 4 MiB ring stayed full while its players kept up, so every
    /// channel cost its whole cap in memory.
    #[test]
    fn a_channel_whose_players_keep_up_holds_about_a_gop() {
        let ring = Ring::new(1 << 20);
        let mut players: Vec<Cursor> = (0..3).map(|_| ring.cursor()).collect();
        for gop in 0..20u8 {
            append_gop(&ring, gop * 10, 10, 1000);
            for player in &mut players {
                drain(&ring, player);
            }
            // One GOP and the chunk being appended, whoever reads.
            assert!(
                ring.buffered_bytes() <= 10 * 1000 + 1000,
                "{}",
                ring.buffered_bytes()
            );
        }
        assert!(players.iter().all(|player| player.skips == 0));
    }

    #[test]
    fn a_player_that_falls_behind_keeps_its_data_up_to_the_cap() {
        let ring = Ring::new(100 * 1000);
        let mut fast = ring.cursor();
        let mut slow = ring.cursor();
        append_gop(&ring, 0, 10, 1000);
        drain(&ring, &mut slow);
        // The slow player stops reading for five GOPs (half the cap)...
        for gop in 1..6u8 {
            append_gop(&ring, gop * 10, 10, 1000);
            drain(&ring, &mut fast);
        }
        assert!(ring.buffered_bytes() >= 50 * 1000);
        // ...and resumes where it stopped, with nothing skipped.
        match ring.read(&mut slow, usize::MAX) {
            Read::Data(chunks) => {
                assert_eq!(chunks.first().map(|c| c[0]), Some(10));
                assert_eq!(chunks.len(), 50);
            }
            other => panic!("expected data, got {other:?}"),
        }
        assert_eq!(slow.skips, 0);
        // Caught up, it holds nothing back: the ring is one GOP again.
        append_gop(&ring, 60, 10, 1000);
        drain(&ring, &mut fast);
        drain(&ring, &mut slow);
        assert!(ring.buffered_bytes() <= 10 * 1000);
    }

    #[test]
    fn a_player_that_stops_reading_is_cut_off_at_the_cap_and_then_holds_nothing() {
        let ring = Ring::new(30 * 1000);
        let mut fast = ring.cursor();
        let mut stalled = ring.cursor();
        append_gop(&ring, 0, 10, 1000);
        drain(&ring, &mut stalled);
        for gop in 1..4u8 {
            append_gop(&ring, gop * 10, 10, 1000);
            drain(&ring, &mut fast);
            assert!(ring.buffered_bytes() <= 30 * 1000);
        }
        // Past the cap the stalled player's data went: the ring is back to a GOP.
        append_gop(&ring, 40, 10, 1000);
        drain(&ring, &mut fast);
        assert!(
            ring.buffered_bytes() <= 10 * 1000,
            "{}",
            ring.buffered_bytes()
        );
        assert_eq!(tags(ring.read(&mut stalled, 1000)), vec![40]);
        assert_eq!(stalled.skips, 1);
    }

    /// Issue 26: a player that stopped reading (the bench's stalled one, a
    /// paused or vanished client) held the ring at its 4 MiB cap until the
    /// write-stall timeout cut it, 30 s later.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_player_holds_the_ring_only_for_the_grace() {
        let ring = Ring::new(1 << 20);
        let mut fast = ring.cursor();
        let mut stalled = ring.cursor();
        append_gop(&ring, 0, 10, 1000);
        drain(&ring, &mut stalled);
        drain(&ring, &mut fast);
        // A GOP a second: within the grace its data stays.
        for gop in 1..5u8 {
            tokio::time::advance(Duration::from_secs(1)).await;
            append_gop(&ring, gop * 10, 10, 1000);
            drain(&ring, &mut fast);
        }
        assert!(
            ring.buffered_bytes() >= 40 * 1000,
            "{}",
            ring.buffered_bytes()
        );
        tokio::time::advance(STALL_GRACE).await;
        append_gop(&ring, 50, 10, 1000);
        drain(&ring, &mut fast);
        assert!(
            ring.buffered_bytes() <= 10 * 1000,
            "{}",
            ring.buffered_bytes()
        );
        // Back, it resumes at the newest keyframe.
        assert_eq!(tags(ring.read(&mut stalled, 1000)), vec![50]);
        assert_eq!(stalled.skips, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_recording_keeps_its_data_while_stalled_up_to_the_cap() {
        let ring = Ring::new(1 << 20);
        let mut fast = ring.cursor();
        let mut recording = ring.cursor();
        recording.hold_while_stalled();
        append_gop(&ring, 0, 10, 1000);
        drain(&ring, &mut recording);
        for gop in 1..5u8 {
            tokio::time::advance(STALL_GRACE).await;
            append_gop(&ring, gop * 10, 10, 1000);
            drain(&ring, &mut fast);
        }
        match ring.read(&mut recording, usize::MAX) {
            Read::Data(chunks) => {
                assert_eq!(chunks.first().map(|c| c[0]), Some(10));
                assert_eq!(chunks.len(), 40);
            }
            other => panic!("expected data, got {other:?}"),
        }
        assert_eq!(recording.skips, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_pause_past_the_grace_costs_caught_up_players_nothing() {
        let ring = Ring::new(1 << 20);
        let mut players: Vec<Cursor> = (0..2).map(|_| ring.cursor()).collect();
        append_gop(&ring, 0, 10, 1000);
        for player in &mut players {
            drain(&ring, player);
        }
        // The engine sends nothing for a while, then a GOP's end and a new GOP at once.
        tokio::time::advance(STALL_GRACE * 4).await;
        ring.append(
            [
                chunk(10, 1000, false),
                chunk(11, 1000, false),
                chunk(12, 1000, true),
            ],
            None,
        );
        for player in &mut players {
            assert_eq!(tags(ring.read(player, usize::MAX)), vec![10, 11, 12]);
            assert_eq!(player.skips, 0);
        }
    }

    #[test]
    fn a_dropped_cursor_holds_nothing_back() {
        let ring = Ring::new(1 << 20);
        let mut fast = ring.cursor();
        let mut gone = ring.cursor();
        append_gop(&ring, 0, 10, 1000);
        drain(&ring, &mut gone);
        append_gop(&ring, 10, 10, 1000);
        append_gop(&ring, 20, 10, 1000);
        drain(&ring, &mut fast);
        assert!(ring.buffered_bytes() >= 20 * 1000);
        drop(gone);
        append_gop(&ring, 30, 10, 1000);
        assert!(ring.buffered_bytes() <= 10 * 1000);
        // Its slot is reused by the next reader.
        let joiner = ring.cursor();
        assert_eq!(joiner.slot, 1);
    }
}
