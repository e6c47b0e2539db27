//! Cuts a channel's MPEG-TS chunks into HLS segments, so HLS players of a
//! channel read the same engine session as its TS players.
//!
//! A segment starts on a video keyframe with PAT/PMT first and is cut at the
//! first keyframe at least one target duration later, so a stream whose
//! keyframes are farther apart gets longer segments. The channel's first
//! segment is the exception: it is cut as soon as it holds [`LEAD`] of media,
//! so an HLS player of a cold channel starts about as soon as a TS player
//! does instead of waiting for a second keyframe; the segment after it runs
//! to the next keyframe. Until [`QUICK_START`] of media is cut, segments end
//! at every keyframe (from [`LEAD`] on), so that players which wait for more
//! than a second of listed media (VLC) find it a GOP sooner; then the usual
//! cutting resumes. A segment's duration comes from
//! the PTS of the keyframes at both ends (33-bit wrap handled), or from the
//! arrival times when the stream carries no usable timestamps. A stream
//! without detectable keyframes (audio only, an unknown codec) is cut on time
//! at chunk boundaries, which are packet boundaries.
//!
//! Segments share the chunks' buffers with the TS ring: cutting copies no media.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::ts::packet::{Chunk, PTS_HZ, PTS_MODULO};

/// A segment that has just been completed.
#[derive(Debug, Clone)]
pub struct Cut {
    pub duration: f32,
    /// The upstream was reconnected or resynced before this segment.
    pub discontinuity: bool,
    /// PAT/PMT, then whole packets from a keyframe on.
    pub parts: Vec<Bytes>,
    /// Continues the channel's short first segment mid-GOP: a player can go
    /// on into it but not start on it.
    pub starts_mid_gop: bool,
}

/// The segment being gathered.
#[derive(Debug)]
struct Building {
    parts: Vec<Bytes>,
    bytes: usize,
    start_pts: Option<u64>,
    /// The PTS of the latest chunk that had one.
    last_pts: Option<u64>,
    started: Instant,
    on_keyframe: bool,
    discontinuity: bool,
    /// The channel's first segment: cut at [`LEAD`], keyframe or not.
    lead: bool,
    /// Began where the lead segment ended, mid-GOP: ends at the next keyframe.
    after_lead: bool,
}

/// Turns chunks into segments; one per channel, fed in upstream order.
#[derive(Debug)]
pub struct Segmenter {
    target: Duration,
    /// A segment grows no bigger than this, whatever its keyframes.
    max_bytes: usize,
    current: Option<Building>,
    /// When the segmenter started waiting for a keyframe to begin a segment.
    waiting_since: Option<Instant>,
    discontinuity: bool,
    /// No segment was cut yet: the next one to start is the lead.
    first: bool,
    /// Media still to cut at every keyframe (see [`QUICK_START`]).
    quick_left: Duration,
}

/// Media in the channel's first segment: short, so that a cold channel's
/// first HLS segment is ready well within a second of its first keyframe,
/// and long enough that a player has something to play while the next is cut.
pub const LEAD: Duration = Duration::from_millis(500);

/// Media a channel's first segments cut at every keyframe, lead included.
/// VLC starts an HLS stream once more than a second is listed, and the lead
/// plus its follower make one GOP: with 1 s GOPs a 2 s third segment kept
/// VLC waiting a second longer on a cold channel.
pub const QUICK_START: Duration = Duration::from_secs(4);

/// Longest a segment may last when keyframes are far apart: then it is cut
/// between keyframes, since players and the segment buffer need an end.
const MAX_SEGMENT_TARGETS: u32 = 10;
/// How long the segmenter waits for a first keyframe before deciding the
/// stream has none it can detect, in target durations.
const KEYFRAME_WAIT_TARGETS: u32 = 3;

impl Segmenter {
    pub fn new(target: Duration, max_bytes: usize) -> Self {
        Self {
            target,
            max_bytes: max_bytes.max(1),
            current: None,
            waiting_since: None,
            discontinuity: false,
            first: true,
            quick_left: QUICK_START,
        }
    }

    /// The upstream was replaced: the segment being gathered ends here, and
    /// the next one is marked as a discontinuity. The segment is kept, not
    /// dropped: it ends on whole packets (the splitter publishes no torn
    /// PES), and an HLS player must get what a TS player got, or the tables'
    /// continuity counters, which run on across the seam, would jump.
    /// Its duration runs to the last PTS seen, as no keyframe ends it.
    pub fn restart(&mut self, now: Instant) -> Option<Cut> {
        self.waiting_since = None;
        self.discontinuity = true;
        let done = self.current.take()?;
        let duration = match (done.start_pts, done.last_pts) {
            (Some(start), Some(last)) => pts_duration(start, last),
            _ => None,
        }
        .unwrap_or(now - done.started);
        (!duration.is_zero()).then(|| Cut {
            duration: duration.as_secs_f32(),
            discontinuity: done.discontinuity,
            parts: done.parts,
            starts_mid_gop: done.after_lead,
        })
    }

    /// Feeds one chunk that arrived at `now`; returns the segment it completed, if any.
    pub fn push(&mut self, chunk: &Chunk, psi: Option<&Bytes>, now: Instant) -> Option<Cut> {
        let Some(current) = self.current.as_mut() else {
            self.begin(chunk, psi, now);
            return None;
        };
        let elapsed = match (current.start_pts, chunk.pts) {
            (Some(start), Some(end)) => pts_duration(start, end)
                .filter(|d| *d <= self.target * MAX_SEGMENT_TARGETS * 2)
                .unwrap_or(now - current.started),
            _ => now - current.started,
        };
        let long_enough = elapsed >= self.target;
        let quick = !self.quick_left.is_zero() && current.on_keyframe && elapsed >= LEAD;
        let cut = (long_enough && (chunk.keyframe || !current.on_keyframe))
            || (current.lead && elapsed >= LEAD)
            || ((current.after_lead || quick) && chunk.keyframe)
            || current.bytes >= self.max_bytes
            || elapsed >= self.target * MAX_SEGMENT_TARGETS;
        if !cut {
            current.bytes += chunk.data.len();
            current.parts.push(chunk.data.clone());
            current.last_pts = chunk.pts.or(current.last_pts);
            return None;
        }
        let done = self.current.take()?;
        self.quick_left = self.quick_left.saturating_sub(elapsed);
        self.start(chunk, psi, now, chunk.keyframe);
        if let Some(next) = self.current.as_mut() {
            next.after_lead = done.lead && done.on_keyframe && !chunk.keyframe;
        }
        Some(Cut {
            duration: elapsed.as_secs_f32(),
            discontinuity: done.discontinuity,
            parts: done.parts,
            starts_mid_gop: done.after_lead,
        })
    }

    /// Starts the first segment (after a start or restart) on a keyframe, or
    /// on any chunk once the stream has shown no keyframe for a while.
    fn begin(&mut self, chunk: &Chunk, psi: Option<&Bytes>, now: Instant) {
        if chunk.keyframe && (chunk.psi.is_some() || psi.is_some()) {
            self.start(chunk, psi, now, true);
            return;
        }
        let since = *self.waiting_since.get_or_insert(now);
        if now - since >= self.target * KEYFRAME_WAIT_TARGETS {
            self.start(chunk, psi, now, false);
        }
    }

    /// Starts a segment with `chunk`, program tables first: those that stood
    /// where a keyframe chunk starts, else the latest (`psi`).
    fn start(&mut self, chunk: &Chunk, psi: Option<&Bytes>, now: Instant, on_keyframe: bool) {
        let mut parts = Vec::with_capacity(16);
        parts.extend(chunk.psi.as_ref().or(psi).cloned());
        parts.push(chunk.data.clone());
        self.current = Some(Building {
            bytes: parts.iter().map(Bytes::len).sum(),
            parts,
            start_pts: chunk.pts,
            last_pts: chunk.pts,
            started: now,
            on_keyframe,
            discontinuity: std::mem::take(&mut self.discontinuity),
            lead: std::mem::take(&mut self.first) && on_keyframe,
            after_lead: false,
        });
        self.waiting_since = None;
    }
}

/// Time from PTS `start` to PTS `end`, across the 33-bit wrap; `None` when
/// `end` is not after `start`.
pub fn pts_duration(start: u64, end: u64) -> Option<Duration> {
    let ticks = end.wrapping_sub(start) & (PTS_MODULO - 1);
    // Going backwards reads as a difference of more than half the range.
    (ticks > 0 && ticks < PTS_MODULO / 2).then(|| Duration::from_micros(ticks * 1_000_000 / PTS_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(keyframe: bool, pts: Option<u64>) -> Chunk {
        Chunk {
            data: Bytes::from(vec![0x47; 188]),
            keyframe,
            pts,
            psi: None,
        }
    }

    fn psi() -> Bytes {
        Bytes::from_static(&[0x47; 376])
    }

    const SECOND: u64 = PTS_HZ;

    /// A segmenter past the channel's first segments: the cutting of a running channel.
    fn steady(target: Duration, max_bytes: usize) -> Segmenter {
        Segmenter {
            first: false,
            quick_left: Duration::ZERO,
            ..Segmenter::new(target, max_bytes)
        }
    }

    /// Regression (issue 26): a cold channel's third segment ran to the
    /// target (2 s), so VLC, which wants more than the lead's GOP listed,
    /// started a second later than it could.
    #[test]
    fn the_first_segment_is_cut_short_and_the_next_realigns_on_a_keyframe() {
        let mut segmenter = Segmenter::new(Duration::from_secs(2), 1 << 20);
        let now = Instant::now();
        let psi = psi();
        // A keyframe every second, a chunk every tenth of a second.
        let mut cuts = Vec::new();
        for tenth in 0..70u64 {
            let chunk = chunk(tenth % 10 == 0, Some(tenth * SECOND / 10));
            cuts.extend(segmenter.push(&chunk, Some(&psi), now));
        }
        let durations: Vec<f32> = cuts.iter().map(|c| c.duration).collect();
        assert_eq!(
            durations,
            vec![0.5, 0.5, 1.0, 1.0, 1.0, 2.0],
            "cut at 0.5 s, then at every keyframe until 4 s are cut, then at the target"
        );
        assert_eq!(cuts[0].parts[0], psi, "the lead starts on the tables");
        assert_eq!(cuts[0].parts.len(), 1 + 5);
        assert_eq!(cuts[1].parts.len(), 1 + 5);
        let mid_gop: Vec<bool> = cuts.iter().map(|c| c.starts_mid_gop).collect();
        assert_eq!(mid_gop, vec![false, true, false, false, false, false]);
        assert_eq!(cuts[2].parts[0], psi, "back on keyframes");
    }

    #[test]
    fn pts_duration_handles_the_33_bit_wrap() {
        assert_eq!(pts_duration(0, SECOND), Some(Duration::from_secs(1)));
        assert_eq!(
            pts_duration(PTS_MODULO - SECOND, SECOND),
            Some(Duration::from_secs(2))
        );
        assert_eq!(pts_duration(SECOND, 0), None);
        assert_eq!(pts_duration(5, 5), None);
    }

    #[test]
    fn segments_start_on_keyframes_and_last_from_pts() {
        let mut segmenter = steady(Duration::from_secs(2), 1 << 20);
        let now = Instant::now();
        let psi = psi();
        // A keyframe every second; chunks between them.
        let mut cuts = Vec::new();
        for second in 0..7u64 {
            let pts = PTS_MODULO - 3 * SECOND + second * SECOND;
            let at = now + Duration::from_millis(second * 10); // arrival is bursty
            cuts.extend(segmenter.push(&chunk(true, Some(pts % PTS_MODULO)), Some(&psi), at));
            cuts.extend(segmenter.push(&chunk(false, None), Some(&psi), at));
        }
        assert_eq!(cuts.len(), 3, "cut at seconds 2, 4 and 6");
        for cut in &cuts {
            assert!((cut.duration - 2.0).abs() < 0.001, "{}", cut.duration);
            assert_eq!(cut.parts[0], psi, "PAT/PMT first");
            assert_eq!(cut.parts.len(), 1 + 4);
            assert!(!cut.discontinuity);
        }
    }

    #[test]
    fn far_apart_keyframes_make_longer_segments() {
        let mut segmenter = steady(Duration::from_secs(2), 1 << 20);
        let now = Instant::now();
        let mut cuts = Vec::new();
        for second in 0..12u64 {
            let keyframe = second % 5 == 0;
            let pts = Some(second * SECOND);
            cuts.extend(segmenter.push(&chunk(keyframe, pts), Some(&psi()), now));
        }
        let durations: Vec<f32> = cuts.iter().map(|c| c.duration).collect();
        assert_eq!(durations, vec![5.0, 5.0]);
    }

    #[test]
    fn a_stream_without_keyframes_is_cut_on_time() {
        let mut segmenter = steady(Duration::from_secs(2), 1 << 20);
        let start = Instant::now();
        let mut cuts = Vec::new();
        for tenth in 0..200u64 {
            let at = start + Duration::from_millis(tenth * 100);
            cuts.extend(segmenter.push(&chunk(false, None), None, at));
        }
        // 6 s waiting for a keyframe, then a segment every 2 s.
        assert_eq!(cuts.len(), 6);
        assert!(cuts.iter().all(|c| (c.duration - 2.0).abs() < 0.01));
    }

    #[test]
    fn restart_ends_the_open_segment_at_its_last_pts_and_marks_the_next() {
        let mut segmenter = steady(Duration::from_secs(2), 1 << 20);
        let now = Instant::now();
        let psi = psi();
        let mut cuts = Vec::new();
        for second in 0..3u64 {
            cuts.extend(segmenter.push(&chunk(true, Some(second * SECOND)), Some(&psi), now));
        }
        cuts.extend(segmenter.push(
            &chunk(false, Some(2 * SECOND + SECOND / 2)),
            Some(&psi),
            now,
        ));
        assert_eq!(cuts.len(), 1);
        let open = segmenter.restart(now).expect("the open segment");
        assert!((open.duration - 0.5).abs() < 0.001, "{}", open.duration);
        assert!(!open.discontinuity);
        // The new upstream's timestamps start over.
        for second in 0..3u64 {
            cuts.extend(segmenter.push(&chunk(true, Some(second * SECOND)), Some(&psi), now));
        }
        assert_eq!(cuts.len(), 2);
        assert!(cuts[1].discontinuity);
    }

    #[test]
    fn a_segment_is_bounded_in_bytes() {
        let mut segmenter = steady(Duration::from_secs(2), 188 * 10);
        let now = Instant::now();
        let mut cuts = Vec::new();
        cuts.extend(segmenter.push(&chunk(true, Some(0)), Some(&psi()), now));
        for _ in 0..30 {
            cuts.extend(segmenter.push(&chunk(false, None), Some(&psi()), now));
        }
        assert!(!cuts.is_empty());
        assert!(cuts
            .iter()
            .all(|c| c.parts.iter().map(Bytes::len).sum::<usize>() <= 188 * 11));
    }
}
