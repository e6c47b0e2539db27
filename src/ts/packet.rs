//! MPEG-TS packet scanning: cuts an upstream byte stream into whole 188-byte
//! packets, resyncing on the 0x47 sync byte so a torn or garbage packet is never
//! forwarded, tracks PAT/PMT to learn the video PID, marks where a video
//! keyframe starts so joiners can begin there, and notes the presentation
//! timestamp at the start of each chunk so HLS segments get their durations.
//! Where one upstream ends and the next begins it applies [`super::seam`].
//!
//! Hand-written on purpose: the TS crates on crates.io parse full tables into
//! owned structures per packet; the proxy needs only a few header bits per
//! packet on the hot path and zero-copy `Bytes` output.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::held::Held;
use super::seam::{announce_discontinuity, Admit, OpenPes, Seam, SectionCounters};

pub const PACKET_SIZE: usize = 188;
const SYNC: u8 = 0x47;
const PAT_PID: u16 = 0;
/// Chunks are no bigger, so a joiner's burst and a client's write stay
/// bounded: it is the size of a block of [`Held`], and no chunk spans two.
pub(super) const MAX_CHUNK: usize = PACKET_SIZE * 348; // ~64 KiB

/// A run of whole packets; `keyframe` says it starts with a video random access point.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub data: Bytes,
    pub keyframe: bool,
    /// The PTS (90 kHz, 33 bits) of the first PES in the chunk on the stream
    /// that times the program (the video, else the first elementary stream).
    pub pts: Option<u64>,
    /// On keyframe chunks: the PAT and PMT as they stood where the chunk
    /// starts, to begin an HLS segment with. (The latest ones may come from
    /// later in the same read, and their continuity counters would jump.)
    pub psi: Option<Bytes>,
}

/// What is known of the chunk being gathered.
#[derive(Debug, Default)]
struct Gathering {
    keyframe: bool,
    pts: Option<u64>,
    psi: Option<Bytes>,
}

/// PTS values wrap at 2^33 ticks of the 90 kHz clock (about 26.5 hours).
pub const PTS_MODULO: u64 = 1 << 33;
/// Ticks of the PTS clock per second.
pub const PTS_HZ: u64 = 90_000;

/// The fields of a packet header the proxy needs.
#[derive(Debug, Clone, Copy)]
struct Header {
    pid: u16,
    payload_start: bool,
    random_access: bool,
    payload_offset: usize,
}

fn header(packet: &[u8]) -> Option<Header> {
    if packet.len() < PACKET_SIZE || packet[0] != SYNC {
        return None;
    }
    let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
    let payload_start = packet[1] & 0x40 != 0;
    let control = (packet[3] >> 4) & 0b11;
    let has_adaptation = control & 0b10 != 0;
    let has_payload = control & 0b01 != 0;
    let (random_access, adaptation_len) = if has_adaptation {
        let len = usize::from(packet[4]);
        (len > 0 && packet[5] & 0x40 != 0, len + 1)
    } else {
        (false, 0)
    };
    let payload_offset = if has_payload {
        4 + adaptation_len
    } else {
        PACKET_SIZE
    };
    Some(Header {
        pid,
        payload_start,
        random_access,
        payload_offset: payload_offset.min(PACKET_SIZE),
    })
}

impl Header {
    fn has_payload(&self) -> bool {
        self.payload_offset < PACKET_SIZE
    }
}

/// What PAT and PMT told us, plus their latest packets for joiners.
#[derive(Debug, Default, Clone)]
struct Psi {
    pmt_pid: Option<u16>,
    video: Option<Video>,
    /// PID whose PES starts are join points when the program has no video.
    fallback_pid: Option<u16>,
    pat: Option<Bytes>,
    pmt: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Video {
    pid: u16,
    codec: VideoCodec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VideoCodec {
    H264,
    Hevc,
    Other,
}

/// The section a PSI packet carries (single-packet sections only, as PAT/PMT are in practice).
fn section<'a>(packet: &'a [u8], head: &Header) -> Option<&'a [u8]> {
    if !head.payload_start {
        return None;
    }
    let payload = packet.get(head.payload_offset..)?;
    let pointer = usize::from(*payload.first()?);
    let section = payload.get(1 + pointer..)?;
    let length = (usize::from(*section.get(1)? & 0x0f) << 8) | usize::from(*section.get(2)?);
    section.get(..3 + length)
}

impl Psi {
    fn observe(&mut self, packet: &[u8], head: &Header) {
        if head.pid == PAT_PID {
            self.observe_pat(packet, head);
        } else if Some(head.pid) == self.pmt_pid {
            self.observe_pmt(packet, head);
        }
    }

    fn observe_pat(&mut self, packet: &[u8], head: &Header) {
        let Some(section) = section(packet, head) else {
            return;
        };
        if section.first() != Some(&0x00) || section.len() < 12 {
            return;
        }
        // Program loop between the 8-byte header and the 4-byte CRC.
        let programs = &section[8..section.len() - 4];
        let pmt_pid = programs.chunks_exact(4).find_map(|entry| {
            let program = u16::from_be_bytes([entry[0], entry[1]]);
            (program != 0).then_some((u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3]))
        });
        if pmt_pid.is_some() {
            if self.pmt_pid != pmt_pid {
                self.pmt = None;
                self.video = None;
            }
            self.pmt_pid = pmt_pid;
            store(&mut self.pat, packet);
        }
    }

    fn observe_pmt(&mut self, packet: &[u8], head: &Header) {
        let Some(section) = section(packet, head) else {
            return;
        };
        if section.first() != Some(&0x02) || section.len() < 16 {
            return;
        }
        let info_len = (usize::from(section[10] & 0x0f) << 8) | usize::from(section[11]);
        let Some(mut streams) = section.get(12 + info_len..section.len() - 4) else {
            return;
        };
        let mut video = None;
        let mut first = None;
        while streams.len() >= 5 {
            let stream_type = streams[0];
            let pid = (u16::from(streams[1] & 0x1f) << 8) | u16::from(streams[2]);
            let es_len = (usize::from(streams[3] & 0x0f) << 8) | usize::from(streams[4]);
            first.get_or_insert(pid);
            let codec = match stream_type {
                0x1b => Some(VideoCodec::H264),
                0x24 => Some(VideoCodec::Hevc),
                0x01 | 0x02 | 0x10 | 0xea => Some(VideoCodec::Other),
                _ => None,
            };
            if let (None, Some(codec)) = (video, codec) {
                video = Some(Video { pid, codec });
            }
            streams = streams.get(5 + es_len..).unwrap_or_default();
        }
        self.video = video;
        self.fallback_pid = first;
        store(&mut self.pmt, packet);
    }

    /// The PID whose PES timestamps time the program.
    fn clock_pid(&self) -> Option<u16> {
        self.video.map(|video| video.pid).or(self.fallback_pid)
    }

    fn is_join_point(&self, packet: &[u8], head: &Header) -> bool {
        match self.video {
            Some(video) if video.pid == head.pid => {
                head.random_access
                    || (head.payload_start && pes_starts_keyframe(packet, head, video.codec))
            }
            Some(_) => false,
            None => self.pmt.is_some() && head.payload_start && Some(head.pid) == self.fallback_pid,
        }
    }
}

/// Keeps the latest copy of a PSI packet, reallocating only when it changed.
fn store(slot: &mut Option<Bytes>, packet: &[u8]) {
    if slot.as_deref() != Some(packet) {
        *slot = Some(Bytes::copy_from_slice(packet));
    }
}

/// Whether the PES starting in this packet begins an IDR/IRAP access unit or
/// carries the parameter sets that precede one (streams without the random
/// access indicator).
fn pes_starts_keyframe(packet: &[u8], head: &Header, codec: VideoCodec) -> bool {
    let Some(pes) = packet.get(head.payload_offset..) else {
        return false;
    };
    if pes.len() < 9 || pes[..3] != [0, 0, 1] {
        return false;
    }
    let Some(es) = pes.get(9 + usize::from(pes[8])..) else {
        return false;
    };
    es.windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .any(|w| match codec {
            VideoCodec::H264 => matches!(w[3] & 0x1f, 5 | 7),
            VideoCodec::Hevc => matches!((w[3] >> 1) & 0x3f, 16..=21 | 32),
            VideoCodec::Other => false,
        })
}

/// The PTS of the PES header that starts in this packet, if it carries one.
fn pes_pts(packet: &[u8], head: &Header) -> Option<u64> {
    let pes = packet.get(head.payload_offset..)?;
    if pes.len() < 14 || pes[..3] != [0, 0, 1] || pes[7] & 0x80 == 0 {
        return None;
    }
    let p = &pes[9..14];
    Some(
        (u64::from(p[0] >> 1) & 0x07) << 30
            | u64::from(p[1]) << 22
            | u64::from(p[2] >> 1) << 15
            | u64::from(p[3]) << 7
            | u64::from(p[4] >> 1),
    )
}

/// Bytes of packets held back at most, whatever PES is still open: a stream
/// whose PES never ends must not stall; a keyframe of a high-bitrate
/// stream fits.
const MAX_HOLD: usize = 2 * 1024 * 1024;

/// Where a chunk boundary or a timestamp was found, by packet index.
#[derive(Debug)]
struct Mark {
    at: u64,
    kind: MarkKind,
}

#[derive(Debug)]
enum MarkKind {
    /// A join point, with the tables that stood before it.
    Join(Option<Bytes>),
    /// The PTS of a PES on the clock PID.
    Pts(u64),
}

/// Turns upstream reads into chunks of whole packets, each keyframe starting
/// a chunk. Packets are held back until the PES they belong to is whole
/// (about a frame), so that the end of an upstream can be cut clean (see
/// [`super::seam`]).
#[derive(Debug, Default)]
pub struct Splitter {
    /// Upstream bytes not scanned yet: a packet awaiting the next sync byte.
    pending: BytesMut,
    /// Whole packets scanned and held back.
    held: Held,
    /// Index (in packets since the splitter began) of the first held packet.
    held_from: u64,
    /// Join points and timestamps among the held packets, in order.
    marks: VecDeque<Mark>,
    open: OpenPes,
    sections: SectionCounters,
    /// Set from the end of one upstream until the next has started afresh.
    seam: Option<Seam>,
    psi: Psi,
    dropped_bytes: u64,
}

impl Splitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds upstream bytes and appends the chunks now complete to `out`. The
    /// last packet waits until the next sync byte confirms it is whole, and
    /// the PES in flight until it ends.
    #[cfg(test)]
    pub fn push(&mut self, input: &[u8], out: &mut Vec<Chunk>) {
        self.take_in(input);
        self.release_ready(out);
    }

    /// Scans upstream bytes and holds their whole packets back, releasing
    /// nothing: a caller that gathers several reads into one publication
    /// takes each in as it comes (no copy of its own) and calls
    /// [`Self::release_ready`] once.
    pub fn take_in(&mut self, mut input: &[u8]) {
        if !self.pending.is_empty() {
            // The packet left over from the last read is checked against the
            // next one's sync byte: go on from the input itself once past it.
            let before = self.pending.len();
            let borrowed = input.len().min(2 * PACKET_SIZE);
            self.pending.extend_from_slice(&input[..borrowed]);
            let mut pending = std::mem::take(&mut self.pending);
            let used = self.scan_run(&pending);
            if used >= before {
                input = &input[used - before..];
                pending.clear();
                self.pending = pending;
            } else {
                pending.advance(used);
                pending.extend_from_slice(&input[borrowed..]);
                let used = self.scan_run(&pending);
                pending.advance(used);
                self.pending = pending;
                return;
            }
        }
        let used = self.scan_run(input);
        self.pending.extend_from_slice(&input[used..]);
    }

    /// Moves out as chunks what the packets taken in so far complete.
    pub fn release_ready(&mut self, out: &mut Vec<Chunk>) {
        let end = self.next_index();
        let max_hold = (MAX_HOLD / PACKET_SIZE) as u64;
        let release = self
            .open
            .first_unfinished(end)
            .unwrap_or(end)
            .max(end.saturating_sub(max_hold));
        self.release(release, out);
    }

    /// Scans the whole packets of `buf` into `held`, resyncing on garbage;
    /// returns how many bytes it used (the rest waits for more input).
    /// Packets sent as they came are copied in runs, not one by one.
    fn scan_run(&mut self, buf: &[u8]) -> usize {
        let mut pos = 0;
        let mut run = 0;
        while pos + PACKET_SIZE < buf.len() {
            if buf[pos] != SYNC || buf[pos + PACKET_SIZE] != SYNC {
                // Torn packet or garbage: drop up to the next position where
                // two sync bytes one packet apart agree.
                self.hold(&buf[run..pos]);
                let rest = &buf[pos..];
                let skip = resync_offset(&rest[1..]).map_or(rest.len(), |o| o + 1);
                let skip = skip.min(rest.len());
                self.dropped_bytes += skip as u64;
                pos += skip;
                run = pos;
                continue;
            }
            let Ok(packet) = <&[u8; PACKET_SIZE]>::try_from(&buf[pos..pos + PACKET_SIZE]) else {
                break;
            };
            if !self.scan(packet, &buf[run..pos]) {
                run = pos + PACKET_SIZE;
            }
            pos += PACKET_SIZE;
        }
        self.hold(&buf[run..pos]);
        pos
    }

    /// Appends packets to `held`.
    fn hold(&mut self, packets: &[u8]) {
        self.held.extend(packets);
    }

    fn next_index(&self) -> u64 {
        self.held_from + self.held.packets()
    }

    /// Takes one whole packet in: notes what it starts. True if it is sent
    /// as it came, which the caller copies into `held` after `run` (the
    /// packets before it not copied yet); otherwise `run` and whatever is
    /// sent in its place are in `held` already.
    fn scan(&mut self, packet: &[u8; PACKET_SIZE], run: &[u8]) -> bool {
        let Some(head) = header(packet) else {
            self.hold(run);
            return false;
        };
        // A table is never a join point: the tables learnt from this very
        // packet are not needed to decide.
        let join = self.psi.is_join_point(packet, &head);
        let at = self.next_index() + (run.len() / PACKET_SIZE) as u64;
        let mut admit = Admit::Pass;
        if let Some(seam) = &mut self.seam {
            let resume_here = join && self.psi.pat.is_some() && self.psi.pmt.is_some();
            admit = seam.admit(
                head.pid,
                head.payload_start,
                head.has_payload(),
                resume_here,
            );
            if seam.is_over() {
                self.seam = None;
            }
        }
        if admit == Admit::Drop {
            // Not sent, but it tells which tables the keyframe comes after.
            self.psi.observe(packet, &head);
            self.dropped_bytes += PACKET_SIZE as u64;
            self.hold(run);
            return false;
        }
        let renumbered = self.sections.renumbered(packet, head.has_payload());
        if admit == Admit::Pass && renumbered.is_none_or(|(counter, _)| counter == packet[3]) {
            self.note(packet, &head, join, at, at, admit);
            return true;
        }
        self.hold(run);
        let mut packet = *packet;
        let mut head = head;
        let mut index = at;
        let continued = renumbered.is_some_and(|(counter, continued)| {
            packet[3] = counter;
            continued
        });
        if admit == Admit::Announce && !continued {
            if let Some(before) = announce_discontinuity(&mut packet) {
                self.hold(&before);
                index += 1;
            }
            head = header(&packet).unwrap_or(head);
        }
        self.note(&packet, &head, join, at, index, admit);
        self.hold(&packet);
        false
    }

    /// Notes what a packet that is sent tells: the tables, a join point or a
    /// timestamp at `at`, the PES it continues (as packet `index`).
    fn note(
        &mut self,
        packet: &[u8; PACKET_SIZE],
        head: &Header,
        join: bool,
        at: u64,
        index: u64,
        admit: Admit,
    ) {
        // Stored as sent: copies sent ahead continue into the next real ones.
        self.psi.observe(packet, head);
        if join {
            let mut psi = self.psi_packets();
            if admit == Admit::Announce {
                // The seam's keyframe: its tables come from the new upstream.
                psi = psi.map(|psi| self.sections.copies_at_seam(&psi));
            }
            self.marks.push_back(Mark {
                at,
                kind: MarkKind::Join(psi),
            });
        }
        if head.payload_start && Some(head.pid) == self.psi.clock_pid() {
            if let Some(pts) = pes_pts(packet, head) {
                self.marks.push_back(Mark {
                    at,
                    kind: MarkKind::Pts(pts),
                });
            }
        }
        if head.has_payload() {
            let payload = &packet[head.payload_offset..];
            self.open
                .observe(index, head.pid, head.payload_start, payload);
        }
    }

    /// Moves the held packets before index `until` out as chunks, cut at join
    /// points and where a block of [`Held`] ends (so at [`MAX_CHUNK`] at most).
    fn release(&mut self, until: u64, out: &mut Vec<Chunk>) {
        while self.held_from < until {
            let start = self.held_from;
            let next_join = self
                .marks
                .iter()
                .find(|mark| mark.at > start && matches!(mark.kind, MarkKind::Join(_)))
                .map_or(u64::MAX, |mark| mark.at);
            let end = until.min(next_join).min(start + self.held.front_packets());
            // Packets are always held below `until`; were none, stop rather than spin.
            debug_assert!(end > start, "nothing held at {start}");
            if end == start {
                break;
            }
            let mut gathering = Gathering::default();
            while let Some(mark) = self.marks.front() {
                if mark.at >= end {
                    break;
                }
                let Some(mark) = self.marks.pop_front() else {
                    break;
                };
                match mark.kind {
                    MarkKind::Join(psi) if mark.at == start => {
                        gathering.keyframe = true;
                        gathering.psi = psi;
                    }
                    MarkKind::Join(_) => {}
                    MarkKind::Pts(pts) => {
                        gathering.pts = gathering.pts.or(Some(pts));
                    }
                }
            }
            out.push(Chunk {
                data: self.held.take_front(end - start),
                keyframe: gathering.keyframe,
                pts: gathering.pts,
                psi: gathering.psi,
            });
            self.held_from = end;
        }
    }

    /// The upstream connection ended (a drop, a switch): publishes what it
    /// sent whole, never the PES packets it tore or a torn packet, and makes
    /// the next upstream start afresh on a keyframe.
    pub fn end_upstream(&mut self, out: &mut Vec<Chunk>) {
        self.dropped_bytes += self.pending.len() as u64;
        self.pending.clear();
        let held = self.held.take_all();
        let marks = std::mem::take(&mut self.marks);
        let mut marks = marks.into_iter().peekable();
        let mut index = self.held_from;
        let packets = held
            .iter()
            .flat_map(|block| block.chunks_exact(PACKET_SIZE));
        for (offset, packet) in packets.enumerate() {
            let was = self.held_from + offset as u64;
            let torn = header(packet)
                .is_some_and(|head| head.has_payload() && self.open.is_torn(head.pid, was));
            while let Some(mark) = marks.next_if(|mark| mark.at == was) {
                if !torn {
                    self.marks.push_back(Mark { at: index, ..mark });
                }
            }
            if torn {
                self.dropped_bytes += PACKET_SIZE as u64;
            } else {
                self.held.extend(packet);
                index += 1;
            }
        }
        // The index goes on where the kept packets end.
        let end = self.next_index();
        self.release(end, out);
        self.open.clear();
        // The next upstream's own tables announce it, not these.
        self.psi.pat = None;
        self.psi.pmt = None;
        self.sections.seam();
        self.seam = Some(Seam::new());
    }

    /// The latest PAT and PMT packets, to send a joiner before its first keyframe.
    pub fn psi_packets(&self) -> Option<Bytes> {
        let (pat, pmt) = (self.psi.pat.as_ref()?, self.psi.pmt.as_ref()?);
        let mut both = BytesMut::with_capacity(2 * PACKET_SIZE);
        both.extend_from_slice(pat);
        both.extend_from_slice(pmt);
        Some(both.freeze())
    }

    /// Bytes discarded while resyncing since the splitter began, for the logs.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }
}

/// First offset in `buf` where a packet starts and the next one starts right after it.
fn resync_offset(buf: &[u8]) -> Option<usize> {
    (0..buf.len())
        .find(|&i| buf[i] == SYNC && buf.get(i + PACKET_SIZE).is_none_or(|&next| next == SYNC))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIDEO_PID: u16 = 0x100;
    const AUDIO_PID: u16 = 0x101;
    const PMT_PID: u16 = 0x1000;

    fn packet(pid: u16, pusi: bool, rai: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0xffu8; PACKET_SIZE];
        p[0] = SYNC;
        p[1] = (if pusi { 0x40 } else { 0 }) | ((pid >> 8) as u8 & 0x1f);
        p[2] = pid as u8;
        if rai {
            p[3] = 0x30;
            p[4] = 1;
            p[5] = 0x40;
            p[6..6 + payload.len()].copy_from_slice(payload);
        } else {
            p[3] = 0x10;
            p[4..4 + payload.len()].copy_from_slice(payload);
        }
        p
    }

    fn pat() -> Vec<u8> {
        // pointer, table 0, length 13, ts id, version, section numbers, program 1 -> PMT PID, CRC
        let mut s = vec![0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        s[11] = 0xe0 | (PMT_PID >> 8) as u8;
        s[12] = PMT_PID as u8;
        packet(PAT_PID, true, false, &s)
    }

    fn pmt() -> Vec<u8> {
        let mut s = vec![0x00, 0x02, 0xb0, 23, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0];
        s.extend([0x1b, 0xe1, 0x00, 0xf0, 0]);
        s.extend([0x0f, 0xe1, 0x01, 0xf0, 0]);
        s.extend([0, 0, 0, 0]);
        packet(PMT_PID, true, false, &s)
    }

    fn stream(packets: &[Vec<u8>]) -> Vec<u8> {
        packets.concat()
    }

    fn split_all(input: &[u8], step: usize) -> (Vec<Chunk>, Splitter) {
        let mut splitter = Splitter::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            splitter.push(piece, &mut out);
        }
        (out, splitter)
    }

    #[test]
    fn keyframes_start_chunks_whatever_the_read_sizes() {
        let input = stream(&[
            pat(),
            pmt(),
            packet(VIDEO_PID, false, false, &[]),
            packet(AUDIO_PID, true, false, &[]),
            packet(VIDEO_PID, true, true, &[]),
            packet(VIDEO_PID, false, false, &[]),
            packet(AUDIO_PID, false, false, &[]),
        ]);
        for step in [1, 7, 188, 189, 500, input.len()] {
            let (chunks, splitter) = split_all(&input, step);
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.to_vec()).collect();
            // Everything but the held-back last packet is out, in order.
            assert_eq!(joined, input[..input.len() - PACKET_SIZE], "step {step}");
            let keyframes: Vec<_> = chunks.iter().filter(|c| c.keyframe).collect();
            assert_eq!(keyframes.len(), 1, "step {step}");
            assert_eq!(header(&keyframes[0].data).map(|h| h.pid), Some(VIDEO_PID));
            assert!(splitter.psi_packets().is_some());
        }
    }

    #[test]
    fn idr_without_random_access_indicator_is_a_keyframe() {
        let mut pes = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0, 0, 0, 0, 0];
        pes.extend([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67]);
        let input = stream(&[
            pat(),
            pmt(),
            packet(VIDEO_PID, true, false, &pes),
            next_frame(),
            pat(),
        ]);
        let (chunks, _) = split_all(&input, 188);
        assert!(chunks.iter().any(|c| c.keyframe));
    }

    /// The start of a frame that is no keyframe: what ends the PES before it,
    /// so that the splitter lets it go.
    fn next_frame() -> Vec<u8> {
        packet(
            VIDEO_PID,
            true,
            false,
            &[0, 0, 1, 0xe0, 0, 0, 0x80, 0, 0, 0, 0, 0, 1, 0x41],
        )
    }

    /// A PES header with a PTS, as the video PID's first packet carries it.
    fn pes_with_pts(pts: u64) -> Vec<u8> {
        let mut pes = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
        pes.extend([
            0x21 | ((pts >> 29) & 0x0e) as u8,
            (pts >> 22) as u8,
            0x01 | ((pts >> 14) & 0xfe) as u8,
            (pts >> 7) as u8,
            0x01 | ((pts << 1) & 0xfe) as u8,
        ]);
        pes.extend([0, 0, 0, 1, 0x65]);
        pes
    }

    #[test]
    fn keyframe_chunks_carry_the_pts_of_their_first_pes() {
        let high = PTS_MODULO - 3; // close to the 33-bit wrap
        let input = stream(&[
            pat(),
            pmt(),
            packet(VIDEO_PID, true, true, &pes_with_pts(high)),
            packet(VIDEO_PID, false, false, &[]),
            packet(VIDEO_PID, true, true, &pes_with_pts(180_000)),
            packet(VIDEO_PID, false, false, &[]),
            next_frame(),
            pat(),
        ]);
        let (chunks, _) = split_all(&input, 100);
        let keyframes: Vec<_> = chunks
            .iter()
            .filter(|c| c.keyframe)
            .map(|c| c.pts)
            .collect();
        assert_eq!(keyframes, vec![Some(high), Some(180_000)]);
    }

    /// Regression: HLS segments began with the PAT/PMT found last in the
    /// read they were cut from, after the keyframe, so the tables' continuity
    /// counters jumped at every segment boundary.
    #[test]
    fn keyframe_chunks_carry_the_tables_that_stood_before_them() {
        let mut later_pat = pat();
        later_pat[3] = (later_pat[3] & 0xf0) | 1; // the next continuity count
        let input = stream(&[
            pat(),
            pmt(),
            packet(VIDEO_PID, true, true, &pes_with_pts(0)),
            later_pat,
            packet(VIDEO_PID, false, false, &[]),
            next_frame(),
            packet(VIDEO_PID, false, false, &[]),
        ]);
        let (chunks, splitter) = split_all(&input, input.len());
        let keyframe = chunks.iter().find(|c| c.keyframe).expect("keyframe chunk");
        assert_eq!(keyframe.psi.as_deref(), Some(&[pat(), pmt()].concat()[..]));
        assert_ne!(splitter.psi_packets(), keyframe.psi, "the latest differ");
    }

    /// An audio PES start whose header says `len` bytes follow it.
    fn audio_start(len: u16) -> Vec<u8> {
        let [high, low] = len.to_be_bytes();
        packet(
            AUDIO_PID,
            true,
            false,
            &[0, 0, 1, 0xc0, high, low, 0x80, 0, 0],
        )
    }

    #[test]
    fn a_drop_publishes_what_ended_and_never_the_frame_it_tore() {
        let whole_audio = audio_start(100);
        let torn_audio = audio_start(1000);
        let torn_frame = next_frame();
        let input = stream(&[
            pat(),
            pmt(),
            packet(VIDEO_PID, true, true, &pes_with_pts(0)),
            whole_audio.clone(),
            packet(VIDEO_PID, false, false, &[]),
            torn_audio.clone(),
            torn_frame.clone(),
            packet(AUDIO_PID, false, false, &[]),
            pat(),
        ]);
        let mut splitter = Splitter::new();
        let mut out = Vec::new();
        splitter.push(&input, &mut out);
        splitter.push(&pat()[..100], &mut out);
        splitter.end_upstream(&mut out);
        let sent: Vec<u8> = out.iter().flat_map(|c| c.data.to_vec()).collect();
        let sent: Vec<&[u8]> = sent.chunks(PACKET_SIZE).collect();
        assert!(sent.contains(&&whole_audio[..]));
        assert!(!sent.contains(&&torn_audio[..]));
        assert!(!sent.contains(&&torn_frame[..]));
        assert_eq!(
            sent.len(),
            6,
            "tables, the keyframe's PES, the whole audio, a table"
        );
    }

    fn discontinuity(packet: &[u8]) -> bool {
        packet[3] & 0x20 != 0 && packet[4] > 0 && packet[5] & 0x80 != 0
    }

    #[test]
    fn the_next_upstream_starts_on_a_keyframe_with_each_pid_announced() {
        let mut splitter = Splitter::new();
        let mut out = Vec::new();
        let first = stream(&[
            pat(),
            pmt(),
            packet(VIDEO_PID, true, true, &pes_with_pts(0)),
        ]);
        splitter.push(&first, &mut out);
        splitter.end_upstream(&mut out);
        out.clear();
        let audio_tail = packet(AUDIO_PID, false, false, &[]);
        let next = stream(&[
            packet(VIDEO_PID, false, false, &[]),
            pat(),
            pmt(),
            packet(VIDEO_PID, true, true, &pes_with_pts(9000)),
            audio_tail.clone(),
            audio_start(10),
            pat(),
            next_frame(),
            pat(),
        ]);
        splitter.push(&next, &mut out);
        let keyframe = &out[0];
        assert!(keyframe.keyframe);
        let tables = keyframe.psi.as_deref().expect("tables");
        assert!(
            tables.chunks(PACKET_SIZE).all(discontinuity),
            "copies announced"
        );
        let sent: Vec<u8> = out.iter().flat_map(|c| c.data.to_vec()).collect();
        let sent: Vec<&[u8]> = sent.chunks(PACKET_SIZE).collect();
        assert!(discontinuity(sent[0]), "the keyframe announces the jump");
        assert!(
            !sent.contains(&&audio_tail[..]),
            "no PES tail without its start"
        );
        // The audio start has no room for the flag: a packet before it says it.
        assert!(discontinuity(sent[1]) && header(sent[1]).is_some_and(|h| !h.has_payload()));
        assert_eq!(sent[2], &audio_start(10)[..]);
        assert!(!discontinuity(sent[3]), "a table needs no announcement:");
        assert_eq!(
            sent[3][3] & 0x0f,
            1,
            "its count runs on from the last one sent"
        );
        assert_eq!(sent.len(), 4, "the frame in flight waits until it ends");
        out.clear();
        splitter.push(&stream(&[next_frame(), pat()]), &mut out);
        assert_eq!(
            out[0].data[..PACKET_SIZE],
            next_frame()[..],
            "then goes on as it came"
        );
    }

    #[test]
    fn torn_packets_and_garbage_are_never_forwarded() {
        let good = packet(VIDEO_PID, false, false, &[1, 2, 3]);
        let mut input = stream(&[pat(), pmt(), good.clone()]);
        input.extend_from_slice(&good[..100]); // torn
        input.extend_from_slice(&[0x47, 0x00, 0x13]); // garbage with a fake sync byte
        input.extend(stream(&[good.clone(), good.clone(), good.clone()]));
        let (chunks, splitter) = split_all(&input, 64);
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.to_vec()).collect();
        assert_eq!(joined.len() % PACKET_SIZE, 0);
        for packet in joined.chunks(PACKET_SIZE) {
            assert_eq!(packet[0], SYNC);
            assert!(
                packet == pat().as_slice() || packet == pmt().as_slice() || packet == good,
                "forwarded a packet that was not in the input"
            );
        }
        assert!(splitter.dropped_bytes() > 0);
    }

    proptest::proptest! {
        #[test]
        fn splitter_never_panics_and_emits_whole_packets(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..4000),
            step in 1usize..600,
        ) {
            let (chunks, _) = split_all(&data, step);
            for chunk in chunks {
                proptest::prop_assert_eq!(chunk.data.len() % PACKET_SIZE, 0);
                proptest::prop_assert!(chunk.data.chunks(PACKET_SIZE).all(|p| p[0] == SYNC));
            }
        }
    }
}
