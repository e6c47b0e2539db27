//! Looped media for the simulated engine: a TS source (the clip, or the HLS
//! segments in order) repeated forever as one clean stream. Loop `k` adds
//! `k × loop duration` to every PTS/DTS and PCR, and continuity counters run
//! on per PID across loop (and segment) boundaries.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::fixtures;
use crate::ts::{self, Packet, PACKET_SIZE};

type RawPacket = [u8; PACKET_SIZE];

/// A null (stuffing) packet: PID 0x1FFF, payload only, all 0xFF. Receivers
/// discard it, so it pads a stream to a bitrate without changing its media.
const NULL_PACKET: RawPacket = {
    let mut raw = [0xFF; PACKET_SIZE];
    raw[0] = ts::SYNC_BYTE;
    raw[1] = 0x1F;
    raw[2] = 0xFF;
    raw[3] = 0x10;
    raw
};

/// A TS source cut into pieces (one for the clip, one per HLS segment) whose
/// concatenation loops seamlessly.
#[derive(Debug)]
pub(crate) struct LoopedTs {
    /// Packets with continuity counters renumbered to count on across pieces
    /// from 0 per PID, so loop `k` only adds `k × per-loop count`.
    pieces: Vec<Vec<RawPacket>>,
    /// Payload-carrying packets per PID in one loop, mod 16.
    cc_per_loop: HashMap<u16, u8>,
    /// One loop's duration in 90 kHz ticks.
    loop_ticks: u64,
    total_bytes: usize,
}

impl LoopedTs {
    /// Prepares `pieces` (each a whole number of TS packets). The loop
    /// duration is read from the video timestamps: last − first + one frame.
    pub(crate) fn new(pieces: &[&[u8]]) -> Result<Self, String> {
        let mut next_cc: HashMap<u16, u8> = HashMap::new();
        let mut prepared = Vec::with_capacity(pieces.len());
        let mut all = Vec::new();
        for (index, piece) in pieces.iter().enumerate() {
            if piece.is_empty() || piece.len() % PACKET_SIZE != 0 {
                return Err(format!(
                    "piece {index}: {} bytes is not a whole number of TS packets",
                    piece.len()
                ));
            }
            let mut packets = Vec::with_capacity(piece.len() / PACKET_SIZE);
            for slot in piece.chunks_exact(PACKET_SIZE) {
                let packet = Packet::new(slot)
                    .ok_or_else(|| format!("piece {index}: packet without sync byte"))?;
                let mut raw: RawPacket = [0; PACKET_SIZE];
                raw.copy_from_slice(slot);
                let counter = next_cc.entry(packet.pid()).or_insert(0);
                let cc = if packet.has_payload() {
                    let cc = *counter;
                    *counter = (cc + 1) & 0x0F;
                    cc
                } else {
                    counter.wrapping_sub(1) & 0x0F
                };
                raw[3] = (raw[3] & 0xF0) | cc;
                packets.push(raw);
            }
            all.extend_from_slice(piece);
            prepared.push(packets);
        }
        let video = ts::program_info(&all)
            .and_then(|info| info.video_pid())
            .ok_or("no video stream in the program tables")?;
        let pts: Vec<u64> = ts::timestamps(&all, video)
            .iter()
            .filter_map(|t| t.pts)
            .collect();
        let (first, last) = match (pts.iter().min(), pts.iter().max()) {
            (Some(first), Some(last)) if pts.len() >= 2 => (*first, *last),
            _ => return Err("fewer than two video timestamps".into()),
        };
        let mut sorted = pts.clone();
        sorted.sort_unstable();
        let frame = last - sorted[sorted.len() - 2];
        Ok(Self {
            pieces: prepared,
            cc_per_loop: next_cc,
            loop_ticks: last - first + frame,
            total_bytes: all.len(),
        })
    }

    pub(crate) fn loop_ticks(&self) -> u64 {
        self.loop_ticks
    }

    /// Bytes in one loop.
    pub(crate) fn loop_bytes(&self) -> usize {
        self.total_bytes
    }

    pub(crate) fn piece_count(&self) -> usize {
        self.pieces.len()
    }

    /// Packets in one loop over all pieces.
    pub(crate) fn loop_packets(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }

    /// Packet `index` of piece `piece` as it appears in loop `loop_index`.
    pub(crate) fn packet(&self, loop_index: u64, piece: usize, index: usize) -> Option<RawPacket> {
        let mut raw = *self.pieces.get(piece)?.get(index)?;
        if loop_index > 0 {
            self.shift(&mut raw, loop_index);
        }
        Some(raw)
    }

    /// Packet number `n` of the endless stream made of the pieces in order.
    pub(crate) fn stream_packet(&self, n: u64) -> Option<RawPacket> {
        let per_loop = self.loop_packets() as u64;
        let loop_index = n / per_loop;
        let mut rest = (n % per_loop) as usize;
        for (piece, packets) in self.pieces.iter().enumerate() {
            if rest < packets.len() {
                return self.packet(loop_index, piece, rest);
            }
            rest -= packets.len();
        }
        None
    }

    /// Packet number `n` of the endless stream sent at `bytes_per_sec`, faster
    /// than the source's own rate, without running its clock faster: the
    /// source's packets keep the places they have at its own rate (so media
    /// time passes at wall-clock speed) and null packets fill the gaps. At or
    /// below the source's rate it is [`Self::stream_packet`].
    pub(crate) fn padded_packet(&self, n: u64, bytes_per_sec: u64) -> Option<RawPacket> {
        // Source packets sent before output packet n, at the source's rate:
        // n × (loop bytes / loop seconds) / bytes_per_sec.
        let numerator = self.total_bytes as u128 * 90_000;
        let denominator = u128::from(self.loop_ticks) * u128::from(bytes_per_sec);
        if denominator <= numerator {
            return self.stream_packet(n);
        }
        let before = |n: u64| (u128::from(n) * numerator / denominator) as u64;
        let source = before(n);
        if before(n + 1) > source {
            self.stream_packet(source)
        } else {
            Some(NULL_PACKET)
        }
    }

    /// Piece `n % pieces` of loop `n / pieces`, as bytes (an HLS segment).
    pub(crate) fn looped_piece(&self, n: u64) -> Vec<u8> {
        let count = self.pieces.len() as u64;
        let loop_index = n / count;
        let piece = (n % count) as usize;
        let len = self.pieces[piece].len();
        let mut out = Vec::with_capacity(len * PACKET_SIZE);
        for index in 0..len {
            if let Some(raw) = self.packet(loop_index, piece, index) {
                out.extend_from_slice(&raw);
            }
        }
        out
    }

    /// Rewrites a packet for loop `loop_index`: continuity counter, PCR, PTS/DTS.
    fn shift(&self, raw: &mut RawPacket, loop_index: u64) {
        let Some(packet) = Packet::new(raw) else {
            return;
        };
        let pid = packet.pid();
        let has_af = packet.has_adaptation_field();
        let pusi = packet.payload_unit_start();
        let payload_offset = packet.payload_offset();
        let per_loop = u64::from(self.cc_per_loop.get(&pid).copied().unwrap_or(0));
        let cc = (u64::from(raw[3] & 0x0F) + loop_index * per_loop) & 0x0F;
        raw[3] = (raw[3] & 0xF0) | cc as u8;

        let ticks = loop_index * self.loop_ticks;
        // PCR: 33-bit base at 90 kHz, then 6 reserved bits and a 9-bit extension.
        if has_af && raw[4] >= 7 && raw[5] & 0x10 != 0 {
            let b = &raw[6..11];
            let base = (u64::from(b[0]) << 25)
                | (u64::from(b[1]) << 17)
                | (u64::from(b[2]) << 9)
                | (u64::from(b[3]) << 1)
                | (u64::from(b[4]) >> 7);
            let base = (base + ticks) % ts::TIMESTAMP_MODULUS;
            raw[6] = (base >> 25) as u8;
            raw[7] = (base >> 17) as u8;
            raw[8] = (base >> 9) as u8;
            raw[9] = (base >> 1) as u8;
            raw[10] = (raw[10] & 0x7F) | (((base & 1) as u8) << 7);
        }
        if let (true, Some(offset)) = (pusi, payload_offset) {
            let offsets = ts::pes_timestamp_offsets(&raw[offset..]).unwrap_or_default();
            for at in [offsets.pts, offsets.dts].into_iter().flatten() {
                let field = &mut raw[offset + at..offset + at + 5];
                let value = ts::read_timestamp(field) + ticks;
                ts::write_timestamp(field, value);
            }
        }
    }
}

/// The embedded fixtures, prepared once per process.
#[derive(Debug)]
pub(crate) struct Media {
    /// `clip.ts` as one piece: the TS playback stream.
    pub(crate) clip: LoopedTs,
    /// The HLS segments as pieces.
    pub(crate) hls: LoopedTs,
    /// Each segment's `#EXTINF` text and its value in seconds.
    pub(crate) hls_durations: Vec<(&'static str, f64)>,
}

impl Media {
    /// The media, or why the fixtures could not be used.
    pub(crate) fn get() -> Result<&'static Media, String> {
        static MEDIA: OnceLock<Result<Media, String>> = OnceLock::new();
        MEDIA
            .get_or_init(Self::prepare)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn prepare() -> Result<Media, String> {
        let clip = LoopedTs::new(&[fixtures::CLIP_TS]).map_err(|e| format!("clip.ts: {e}"))?;
        let hls = LoopedTs::new(&fixtures::HLS_SEGMENTS).map_err(|e| format!("hls: {e}"))?;
        let strings = fixtures::hls_duration_strings();
        let durations: Vec<(&'static str, f64)> = strings
            .iter()
            .map(|s| (*s, s.parse().unwrap_or(0.0)))
            .collect();
        if durations.len() != hls.piece_count() || durations.iter().any(|(_, d)| *d <= 0.0) {
            return Err(format!(
                "durations.txt has {} valid lines for {} segments",
                durations.len(),
                hls.piece_count()
            ));
        }
        if hls.loop_ticks() != clip.loop_ticks() {
            return Err(format!(
                "HLS segments last {} ticks, the clip {}",
                hls.loop_ticks(),
                clip.loop_ticks()
            ));
        }
        Ok(Media {
            clip,
            hls,
            hls_durations: durations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::PesTimestamps;

    fn looped(source: &LoopedTs, loops: u64) -> Vec<u8> {
        let count = source.loop_packets() as u64 * loops;
        (0..count)
            .filter_map(|n| source.stream_packet(n))
            .flatten()
            .collect()
    }

    /// Every PID's PTS (and the PCRs) only grow across loop boundaries.
    fn assert_continuous(bytes: &[u8]) {
        assert_eq!(ts::count_sync_errors(bytes), 0);
        assert_eq!(ts::continuity_errors(bytes), 0, "continuity counters");
        let info = ts::program_info(bytes).expect("program");
        for es in &info.streams {
            let pts: Vec<u64> = ts::timestamps(bytes, es.pid)
                .iter()
                .filter_map(|t: &PesTimestamps| t.dts.or(t.pts))
                .collect();
            assert!(pts.len() > 10);
            assert!(
                pts.windows(2).all(|w| w[0] < w[1]),
                "pid {} timestamps go back",
                es.pid
            );
        }
        let pcrs = ts::pcrs(bytes);
        assert!(pcrs.windows(2).all(|w| w[0] < w[1]), "PCR goes back");
    }

    #[test]
    fn clip_loops_into_one_continuous_stream() {
        let media = Media::get().expect("fixtures");
        assert_eq!(media.clip.loop_ticks(), fixtures::CLIP_DURATION_TICKS);
        let bytes = looped(&media.clip, 3);
        assert_continuous(&bytes);
        assert_eq!(ts::keyframe_count(&bytes), 24);
    }

    #[test]
    fn a_padded_stream_keeps_the_clips_clock_at_any_bitrate() {
        let media = Media::get().expect("fixtures");
        let clip = &media.clip;
        let clip_rate = clip.loop_bytes() as u64 * 90_000 / clip.loop_ticks();
        // Three loops of the clip at 7.5 times its own rate.
        let rate = clip_rate * 15 / 2;
        let count = clip.loop_packets() as u64 * 3 * 15 / 2;
        let bytes: Vec<u8> = (0..count)
            .filter_map(|n| clip.padded_packet(n, rate))
            .flatten()
            .collect();
        let media_bytes: Vec<u8> = bytes
            .chunks_exact(PACKET_SIZE)
            .filter(|p| Packet::new(p).is_some_and(|p| p.pid() != ts::NULL_PID))
            .flatten()
            .copied()
            .collect();
        // Unpadded, it is the clip looped three times, untouched.
        assert_eq!(media_bytes, looped(clip, 3)[..media_bytes.len()]);
        assert!(media_bytes.len() >= clip.loop_bytes() * 3 - PACKET_SIZE);
        assert_continuous(&bytes);
        // Each PCR sits where the stream's bitrate puts its time (within a
        // tenth of a second: the clip itself is not perfectly constant).
        let pcrs: Vec<(usize, u64)> = bytes
            .chunks_exact(PACKET_SIZE)
            .enumerate()
            .filter_map(|(index, packet)| Some((index * PACKET_SIZE, Packet::new(packet)?.pcr()?)))
            .collect();
        let (first_offset, first_pcr) = pcrs[0];
        for &(offset, pcr) in &pcrs {
            let sent_at = (offset - first_offset) as f64 / rate as f64;
            let media_at = (pcr - first_pcr) as f64 / 27_000_000.0;
            assert!(
                (sent_at - media_at).abs() < 0.1,
                "{sent_at} s vs {media_at} s"
            );
        }
        let checked = pcrs.len();
        assert!(checked > 10);
        // At the clip's own rate or below there is nothing to pad.
        assert_eq!(clip.padded_packet(5, clip_rate), clip.stream_packet(5));
    }

    #[test]
    fn hls_segments_loop_into_one_continuous_stream() {
        let media = Media::get().expect("fixtures");
        let segments: Vec<u8> = (0..10).flat_map(|n| media.hls.looped_piece(n)).collect();
        assert_continuous(&segments);
        for n in 0..8 {
            assert!(ts::first_video_packet_is_keyframe(
                &media.hls.looped_piece(n)
            ));
        }
    }
}
