//! The segment buffer of one channel: its HLS segments (cut by the proxy or
//! downloaded from the engine) under the proxy's own contiguous sequence
//! numbers, bounded by count and bytes, with waiting for a segment that is
//! about to arrive. While nobody watches the channel as HLS it keeps only the
//! newest few (see [`AT_REST`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::Cut;

/// A buffered segment; cloning shares the data.
#[derive(Debug, Clone)]
pub struct Segment {
    pub meta: SegmentMeta,
    /// The segment's bytes in order: the TS ring's own chunks when the proxy
    /// cut the segment, so the two views share one copy of the media.
    pub parts: Arc<[Bytes]>,
    /// Not a place to start playing (see [`Cut::starts_mid_gop`]).
    starts_mid_gop: bool,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the playlist needs to know of a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentMeta {
    pub seq: u64,
    pub duration: f32,
    /// The upstream was restarted or skipped before this segment.
    pub discontinuity: bool,
}

/// Where a requested sequence number stands.
#[derive(Debug)]
pub enum Lookup {
    Ready(Segment),
    /// Not buffered yet but expected soon (the next few numbers).
    Soon,
    /// Fell out of the buffer or will never exist.
    Gone,
}

#[derive(Debug, Default)]
struct Inner {
    segments: VecDeque<Segment>,
    next_seq: u64,
    bytes: usize,
    /// Segments kept now: the full window while HLS viewers watch, else [`AT_REST`].
    keep: usize,
}

impl Inner {
    fn evict(&mut self, max_bytes: usize) {
        while self.segments.len() > self.keep || (self.bytes > max_bytes && self.segments.len() > 1)
        {
            if let Some(old) = self.segments.pop_front() {
                self.bytes -= old.len();
            }
        }
    }
}

/// Bounded buffer of the newest segments.
#[derive(Debug)]
pub struct SegmentBuffer {
    inner: Mutex<Inner>,
    max_segments: usize,
    max_bytes: usize,
    /// Carries `next_seq`; waiters wake when a segment lands.
    landed: watch::Sender<u64>,
}

/// How far past the newest segment a request may be and still be waited for.
const LOOKAHEAD: u64 = 2;

/// Segments kept while nobody watches as HLS: the three target durations a
/// player starts back from the live edge (RFC 8216, 6.3.3), so a first viewer
/// starts at once; VLC waits for them when the playlist has fewer. They share
/// their bytes with the TS ring's newest chunks; an older segment would hold
/// media the ring has dropped.
pub const AT_REST: usize = 3;

impl SegmentBuffer {
    pub fn new(max_segments: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                keep: AT_REST,
                ..Inner::default()
            }),
            max_segments: max_segments.max(1),
            max_bytes,
            landed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a segment under the next sequence number, evicting the oldest past the bounds.
    pub fn push(&self, cut: Cut) -> u64 {
        let segment = Segment {
            meta: SegmentMeta {
                seq: 0,
                duration: cut.duration,
                discontinuity: cut.discontinuity,
            },
            parts: cut.parts.into(),
            starts_mid_gop: cut.starts_mid_gop,
        };
        let len = segment.len();
        let next = {
            let mut inner = self.lock();
            let seq = inner.next_seq;
            inner.bytes += len;
            inner.segments.push_back(Segment {
                meta: SegmentMeta {
                    seq,
                    ..segment.meta
                },
                ..segment
            });
            inner.next_seq += 1;
            inner.evict(self.max_bytes);
            inner.next_seq
        };
        self.landed.send_replace(next);
        next
    }

    /// Whether HLS viewers watch: the window grows back to its full length
    /// from the next segment on; without viewers it shrinks to [`AT_REST`] now.
    pub fn set_watched(&self, watched: bool) {
        let mut inner = self.lock();
        inner.keep = if watched {
            self.max_segments
        } else {
            AT_REST.min(self.max_segments)
        };
        inner.evict(self.max_bytes);
    }

    fn lookup(&self, seq: u64) -> Lookup {
        let inner = self.lock();
        let first = inner
            .segments
            .front()
            .map_or(inner.next_seq, |s| s.meta.seq);
        if seq >= inner.next_seq {
            return if seq < inner.next_seq + LOOKAHEAD {
                Lookup::Soon
            } else {
                Lookup::Gone
            };
        }
        match seq.checked_sub(first) {
            Some(index) => inner
                .segments
                .get(index as usize)
                .cloned()
                .map_or(Lookup::Gone, Lookup::Ready),
            None => Lookup::Gone,
        }
    }

    /// The segment `seq`, waiting up to `timeout` if it is about to arrive.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> Option<Segment> {
        let mut landed = self.landed.subscribe();
        let wait = async {
            loop {
                match self.lookup(seq) {
                    Lookup::Ready(segment) => return Some(segment),
                    Lookup::Gone => return None,
                    Lookup::Soon => landed.changed().await.ok()?,
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// The newest `count` segments' metadata, oldest first; never beginning
    /// with one a player cannot start on, while a newer one follows it.
    pub fn window(&self, count: usize) -> Vec<SegmentMeta> {
        let inner = self.lock();
        let mut skip = inner.segments.len().saturating_sub(count);
        while inner.segments.len() > skip + 1
            && inner.segments.get(skip).is_some_and(|s| s.starts_mid_gop)
        {
            skip += 1;
        }
        inner.segments.iter().skip(skip).map(|s| s.meta).collect()
    }

    /// Sequence number the next segment will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// (segments, bytes) held.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.segments.len(), inner.bytes)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.landed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(parts: Vec<Bytes>) -> Cut {
        Cut {
            duration: 2.0,
            discontinuity: false,
            parts,
            starts_mid_gop: false,
        }
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let buffer = SegmentBuffer::new(3, 25);
        buffer.set_watched(true);
        for _ in 0..10 {
            buffer.push(cut(vec![Bytes::from(vec![0u8; 10])]));
        }
        let (count, bytes) = buffer.usage();
        assert!(count <= 3 && bytes <= 25, "{count} segments, {bytes} bytes");
        assert_eq!(buffer.next_seq(), 10);
        assert!(matches!(buffer.lookup(9), Lookup::Ready(_)));
        assert!(matches!(buffer.lookup(2), Lookup::Gone));
        assert!(matches!(buffer.lookup(10), Lookup::Soon));
        assert!(matches!(buffer.lookup(50), Lookup::Gone));
    }

    #[test]
    fn at_rest_only_the_newest_segments_are_kept_and_the_window_fills_when_watched() {
        let buffer = SegmentBuffer::new(6, 1 << 20);
        let push = |tag: u8| buffer.push(cut(vec![Bytes::from(vec![tag; 10])]));
        for tag in 0..5 {
            push(tag);
        }
        assert_eq!(buffer.usage(), (AT_REST, 10 * AT_REST), "at rest");
        assert!(matches!(buffer.lookup(4), Lookup::Ready(_)));
        buffer.set_watched(true);
        for tag in 5..12 {
            push(tag);
        }
        assert_eq!(buffer.usage(), (6, 60), "watched: the full window");
        buffer.set_watched(false);
        assert_eq!(
            buffer.usage(),
            (AT_REST, 10 * AT_REST),
            "the last viewer left"
        );
        assert_eq!(buffer.window(6)[0].seq, 12 - AT_REST as u64);
    }

    /// Regression: once the short first segment left the playlist, the one
    /// after it (which begins mid-GOP) was listed first, and a player starting
    /// there got slices without their picture parameters.
    #[test]
    fn the_playlist_never_begins_on_a_segment_that_starts_mid_gop() {
        let buffer = SegmentBuffer::new(8, 1 << 20);
        buffer.set_watched(true);
        buffer.push(cut(vec![Bytes::from_static(b"lead")]));
        buffer.push(Cut {
            starts_mid_gop: true,
            ..cut(vec![Bytes::from_static(b"rest of the GOP")])
        });
        assert_eq!(buffer.window(6).len(), 2, "from the lead, both");
        for _ in 0..3 {
            buffer.push(cut(vec![Bytes::from_static(b"gop")]));
        }
        let window = buffer.window(4);
        assert_eq!(window.first().map(|m| m.seq), Some(2), "{window:?}");
        assert!(matches!(buffer.lookup(1), Lookup::Ready(_)), "still served");
    }

    #[tokio::test]
    async fn waiting_request_gets_the_segment_when_it_lands() {
        let buffer = std::sync::Arc::new(SegmentBuffer::new(5, 1 << 20));
        buffer.set_watched(true);
        let waiter = {
            let buffer = buffer.clone();
            tokio::spawn(async move { buffer.wait_for(0, Duration::from_secs(5)).await })
        };
        buffer.push(cut(vec![Bytes::from_static(b"seg")]));
        let got = waiter.await.expect("join").expect("segment");
        assert_eq!(&got.parts[..], [Bytes::from_static(b"seg")]);
        assert!(buffer
            .wait_for(7, Duration::from_millis(10))
            .await
            .is_none());
    }
}
