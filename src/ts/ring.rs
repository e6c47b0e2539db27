//! The shared buffer of one TS channel: a ring of recent chunks, bounded in
//! bytes, with a sequence number per chunk. Every player is a [`Cursor`] into
//! it, so a player that stops reading costs nothing and holds nobody back: when
//! the ring moves past its cursor it is moved to the newest keyframe.
//!
//! Chunks are `Bytes`, shared by every player without copying. The lock is held
//! only to clone a few `Bytes` handles, never across an await.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

use super::packet::Chunk;

/// Where a player is in the ring.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    /// Sequence number of the next chunk to deliver; `None` until the player joined at a keyframe.
    next: Option<u64>,
    /// How many times this player fell off the tail and was moved forward.
    pub skips: u64,
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
}

/// A bounded ring of chunks shared by all players of a channel.
#[derive(Debug)]
pub struct Ring {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Carries the end sequence number; players wait on it for new data.
    head: watch::Sender<u64>,
}

impl Ring {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_bytes,
            head: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take every player of the channel with it:
        // the ring's invariants hold between statements, so the data is usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends chunks from the upstream and wakes the players.
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
                if let Some(old) = inner.chunks.pop_front() {
                    inner.bytes -= old.data.len();
                    inner.first_seq += 1;
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
        let inner = self.lock();
        if inner.closed {
            return Read::Closed;
        }
        let mut out = Vec::new();
        let next = match cursor.next {
            Some(next) if next >= inner.first_seq => next,
            behind => {
                // Joining, or fell off the tail: restart at the newest keyframe,
                // announced by the program tables so the decoder can start there:
                // the copies that stood right before it, so that the next real
                // PAT and PMT continue their continuity counters.
                let Some(keyframe) = inner.newest_keyframe() else {
                    return Read::Pending;
                };
                if behind.is_some() {
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
        cursor.next = Some(seq);
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
        let mut cursor = Cursor::default();
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
        let mut cursor = Cursor::default();
        assert_eq!(tags(ring.read(&mut cursor, 1 << 20)), vec![0xbb, 1, 2]);
    }

    #[test]
    fn joiner_waits_for_a_keyframe() {
        let ring = Ring::new(1 << 20);
        ring.append([chunk(1, 10, false)], None);
        let mut cursor = Cursor::default();
        assert!(matches!(ring.read(&mut cursor, 100), Read::Pending));
        ring.append([chunk(2, 10, true)], None);
        assert_eq!(tags(ring.read(&mut cursor, 100)), vec![2]);
    }

    #[test]
    fn stalled_player_skips_to_newest_keyframe_without_bounding_others() {
        let ring = Ring::new(30);
        ring.append([chunk(1, 10, true)], None);
        let mut slow = Cursor::default();
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
        let mut cursor = Cursor::default();
        assert_eq!(tags(ring.read(&mut cursor, 10)), vec![1]);
        assert_eq!(tags(ring.read(&mut cursor, 10)), vec![2]);
    }

    #[test]
    fn resync_drops_data_until_the_new_upstreams_keyframe() {
        let ring = Ring::new(1 << 20);
        ring.append([chunk(1, 10, true)], None);
        let mut cursor = Cursor::default();
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
        assert!(matches!(
            ring.read(&mut Cursor::default(), 100),
            Read::Closed
        ));
    }
}
