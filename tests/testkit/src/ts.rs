//! A tiny MPEG-TS analyser for tests: walk 188-byte packets, read the program
//! tables (PAT → PMT → elementary streams), spot video keyframes, and check
//! sync bytes, continuity counters and timestamps.
//!
//! Everything here works on whole byte buffers as a player received them and
//! never panics on malformed input: bad packets are skipped or counted.

/// Size of one transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// First byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0;
/// PID of null (stuffing) packets.
pub const NULL_PID: u16 = 0x1FFF;

/// Modulus of PTS/DTS and PCR base values (33 bits, 90 kHz).
pub const TIMESTAMP_MODULUS: u64 = 1 << 33;

/// A view of one 188-byte packet that starts with the sync byte.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The packet at the start of `bytes`, if there are 188 bytes starting with the sync byte.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        let bytes = bytes.get(..PACKET_SIZE)?;
        (bytes[0] == SYNC_BYTE).then_some(Self { bytes })
    }

    /// The packet's 188 bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn pid(&self) -> u16 {
        u16::from_be_bytes([self.bytes[1] & 0x1F, self.bytes[2]])
    }

    pub fn payload_unit_start(&self) -> bool {
        self.bytes[1] & 0x40 != 0
    }

    pub fn continuity_counter(&self) -> u8 {
        self.bytes[3] & 0x0F
    }

    pub fn has_adaptation_field(&self) -> bool {
        self.bytes[3] & 0x20 != 0
    }

    pub fn has_payload(&self) -> bool {
        self.bytes[3] & 0x10 != 0
    }

    /// The adaptation field after its length byte (empty when absent).
    pub fn adaptation_field(&self) -> &'a [u8] {
        if !self.has_adaptation_field() {
            return &[];
        }
        let len = usize::from(self.bytes[4]);
        self.bytes.get(5..5 + len).unwrap_or(&[])
    }

    /// The discontinuity indicator of the adaptation field: the continuity
    /// counter (and, on the PCR PID, the clock) starts afresh here.
    pub fn discontinuity(&self) -> bool {
        self.adaptation_field()
            .first()
            .is_some_and(|flags| flags & 0x80 != 0)
    }

    /// The random access indicator of the adaptation field.
    pub fn random_access(&self) -> bool {
        self.adaptation_field()
            .first()
            .is_some_and(|flags| flags & 0x40 != 0)
    }

    /// The program clock reference in 27 MHz units.
    pub fn pcr(&self) -> Option<u64> {
        let af = self.adaptation_field();
        if af.first()? & 0x10 == 0 {
            return None;
        }
        let b = af.get(1..7)?;
        let base = (u64::from(b[0]) << 25)
            | (u64::from(b[1]) << 17)
            | (u64::from(b[2]) << 9)
            | (u64::from(b[3]) << 1)
            | (u64::from(b[4]) >> 7);
        let ext = (u64::from(b[4] & 0x01) << 8) | u64::from(b[5]);
        Some(base * 300 + ext)
    }

    /// Offset of the payload inside the packet, if the packet carries one.
    pub fn payload_offset(&self) -> Option<usize> {
        if !self.has_payload() {
            return None;
        }
        let offset = if self.has_adaptation_field() {
            5 + usize::from(self.bytes[4])
        } else {
            4
        };
        (offset < PACKET_SIZE).then_some(offset)
    }

    /// The payload (empty when absent).
    pub fn payload(&self) -> &'a [u8] {
        self.payload_offset()
            .map_or(&[], |offset| &self.bytes[offset..])
    }

    /// PTS and DTS (90 kHz) of the PES packet that starts in this packet.
    pub fn pes_timestamps(&self) -> Option<PesTimestamps> {
        if !self.payload_unit_start() {
            return None;
        }
        let offsets = pes_timestamp_offsets(self.payload())?;
        let payload = self.payload();
        Some(PesTimestamps {
            pts: offsets.pts.map(|at| read_timestamp(&payload[at..at + 5])),
            dts: offsets.dts.map(|at| read_timestamp(&payload[at..at + 5])),
        })
    }

    /// The bytes of the PES packet's data after its header, when this packet starts one.
    pub fn pes_data(&self) -> Option<&'a [u8]> {
        if !self.payload_unit_start() {
            return None;
        }
        let payload = self.payload();
        if payload.get(..3)? != [0, 0, 1] {
            return None;
        }
        let header_len = usize::from(*payload.get(8)?);
        payload.get(9 + header_len..)
    }
}

/// Timestamps of a PES header, 90 kHz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PesTimestamps {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
}

/// Where the 5-byte PTS and DTS fields sit in a PES header (offsets into `payload`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimestampOffsets {
    pub pts: Option<usize>,
    pub dts: Option<usize>,
}

/// Finds the PTS/DTS fields of a PES header at the start of `payload`.
pub(crate) fn pes_timestamp_offsets(payload: &[u8]) -> Option<TimestampOffsets> {
    if payload.get(..3)? != [0, 0, 1] {
        return None;
    }
    let stream_id = *payload.get(3)?;
    // Streams without the optional PES header: program stream map, padding,
    // private stream 2, ECM, EMM, directory, DSMCC, H.222.1 type E.
    if matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    ) {
        return Some(TimestampOffsets::default());
    }
    let flags = *payload.get(7)? >> 6;
    let mut offsets = TimestampOffsets::default();
    if flags & 0b10 != 0 {
        payload.get(9..14)?;
        offsets.pts = Some(9);
    }
    if flags == 0b11 {
        payload.get(14..19)?;
        offsets.dts = Some(14);
    }
    Some(offsets)
}

/// Reads a 33-bit PES timestamp from its 5-byte field.
pub(crate) fn read_timestamp(b: &[u8]) -> u64 {
    (u64::from(b[0] & 0x0E) << 29)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] & 0xFE) << 14)
        | (u64::from(b[3]) << 7)
        | (u64::from(b[4]) >> 1)
}

/// Writes a 33-bit PES timestamp into its 5-byte field, keeping the 4-bit prefix.
pub(crate) fn write_timestamp(b: &mut [u8], value: u64) {
    let v = value % TIMESTAMP_MODULUS;
    b[0] = (b[0] & 0xF0) | (((v >> 30) as u8 & 0x07) << 1) | 0x01;
    b[1] = (v >> 22) as u8;
    b[2] = (((v >> 15) as u8) << 1) | 0x01;
    b[3] = (v >> 7) as u8;
    b[4] = ((v as u8) << 1) | 0x01;
}

/// The packets at offsets 0, 188, 376, … that start with the sync byte; other
/// slots and a trailing partial packet are skipped.
pub fn packets(bytes: &[u8]) -> impl Iterator<Item = Packet<'_>> {
    bytes.chunks_exact(PACKET_SIZE).filter_map(Packet::new)
}

/// The number of 188-byte slots from offset 0 (a trailing partial one
/// included) that do not start with the sync byte. A stream that is packet
/// aligned and clean has none; a torn packet shifts every later slot.
pub fn count_sync_errors(bytes: &[u8]) -> usize {
    bytes
        .chunks(PACKET_SIZE)
        .filter(|slot| slot[0] != SYNC_BYTE)
        .count()
}

/// One elementary stream of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EsInfo {
    pub pid: u16,
    pub stream_type: u8,
}

impl EsInfo {
    /// MPEG-1/2 video, H.264, HEVC and a few other video stream types.
    pub fn is_video(&self) -> bool {
        matches!(
            self.stream_type,
            0x01 | 0x02 | 0x10 | 0x1B | 0x24 | 0x42 | 0xEA
        )
    }

    /// MPEG audio, AAC (ADTS/LATM), AC-3 and E-AC-3.
    pub fn is_audio(&self) -> bool {
        matches!(self.stream_type, 0x03 | 0x04 | 0x0F | 0x11 | 0x81 | 0x87)
    }
}

/// What the PAT and the first program's PMT say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    pub pmt_pid: u16,
    pub pcr_pid: u16,
    pub streams: Vec<EsInfo>,
}

impl ProgramInfo {
    /// PID of the first video stream.
    pub fn video_pid(&self) -> Option<u16> {
        self.streams.iter().find(|s| s.is_video()).map(|s| s.pid)
    }

    /// PIDs of the audio streams.
    pub fn audio_pids(&self) -> Vec<u16> {
        self.streams
            .iter()
            .filter(|s| s.is_audio())
            .map(|s| s.pid)
            .collect()
    }
}

/// The PSI section that starts in this packet's payload (after the pointer
/// field), cut to its `section_length` minus the CRC.
fn psi_section<'a>(packet: &Packet<'a>, table_id: u8) -> Option<&'a [u8]> {
    if !packet.payload_unit_start() {
        return None;
    }
    let payload = packet.payload();
    let pointer = usize::from(*payload.first()?);
    let section = payload.get(1 + pointer..)?;
    if *section.first()? != table_id {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([
        *section.get(1)? & 0x0F,
        *section.get(2)?,
    ]));
    // Header (3) + length, minus the 4-byte CRC.
    section.get(..(3 + length).checked_sub(4)?)
}

/// PMT PID of the first program in a PAT packet.
fn parse_pat(packet: &Packet<'_>) -> Option<u16> {
    let section = psi_section(packet, 0x00)?;
    section.get(8..)?.chunks_exact(4).find_map(|entry| {
        let program = u16::from_be_bytes([entry[0], entry[1]]);
        let pid = u16::from_be_bytes([entry[2] & 0x1F, entry[3]]);
        (program != 0).then_some(pid)
    })
}

/// PCR PID and elementary streams of a PMT packet.
fn parse_pmt(packet: &Packet<'_>) -> Option<(u16, Vec<EsInfo>)> {
    let section = psi_section(packet, 0x02)?;
    let pcr_pid = u16::from_be_bytes([*section.get(8)? & 0x1F, *section.get(9)?]);
    let info_len = usize::from(u16::from_be_bytes([
        *section.get(10)? & 0x0F,
        *section.get(11)?,
    ]));
    let mut rest = section.get(12 + info_len..)?;
    let mut streams = Vec::new();
    while rest.len() >= 5 {
        let stream_type = rest[0];
        let pid = u16::from_be_bytes([rest[1] & 0x1F, rest[2]]);
        let es_len = usize::from(u16::from_be_bytes([rest[3] & 0x0F, rest[4]]));
        streams.push(EsInfo { pid, stream_type });
        rest = rest.get(5 + es_len..).unwrap_or(&[]);
    }
    Some((pcr_pid, streams))
}

/// The program tables found anywhere in `bytes` (first PAT, then the first
/// PMT on the PID it names).
pub fn program_info(bytes: &[u8]) -> Option<ProgramInfo> {
    let pmt_pid = packets(bytes)
        .filter(|p| p.pid() == PAT_PID)
        .find_map(|p| parse_pat(&p))?;
    let (pcr_pid, streams) = packets(bytes)
        .filter(|p| p.pid() == pmt_pid)
        .find_map(|p| parse_pmt(&p))?;
    Some(ProgramInfo {
        pmt_pid,
        pcr_pid,
        streams,
    })
}

/// Whether the PES data holds an H.264 IDR slice or SPS NAL unit.
fn has_h264_idr_or_sps(data: &[u8]) -> bool {
    data.windows(4)
        .any(|w| w[..3] == [0, 0, 1] && matches!(w[3] & 0x1F, 5 | 7))
}

/// Whether `packet` starts a video keyframe on `video_pid`: a payload unit
/// start with the random access indicator set, or with an H.264 IDR slice or
/// SPS in the part of the PES data this packet carries.
pub fn is_keyframe_start(packet: &[u8], video_pid: u16) -> bool {
    let Some(packet) = Packet::new(packet) else {
        return false;
    };
    packet.pid() == video_pid
        && packet.payload_unit_start()
        && (packet.random_access() || packet.pes_data().is_some_and(has_h264_idr_or_sps))
}

/// Index (in packets) of the first packet on `pid`.
fn first_index(bytes: &[u8], pid: u16) -> Option<usize> {
    bytes
        .chunks_exact(PACKET_SIZE)
        .position(|slot| Packet::new(slot).is_some_and(|p| p.pid() == pid))
}

/// Whether the first video packet in `bytes` starts a keyframe (false when the
/// program tables or video are missing).
pub fn first_video_packet_is_keyframe(bytes: &[u8]) -> bool {
    let Some(video) = program_info(bytes).and_then(|info| info.video_pid()) else {
        return false;
    };
    packets(bytes)
        .find(|p| p.pid() == video)
        .is_some_and(|p| is_keyframe_start(p.bytes(), video))
}

/// Whether a PAT, then a PMT, come before the first video packet.
pub fn pat_pmt_before_first_video(bytes: &[u8]) -> bool {
    let Some(info) = program_info(bytes) else {
        return false;
    };
    let Some(video) = info.video_pid() else {
        return false;
    };
    match (
        first_index(bytes, PAT_PID),
        first_index(bytes, info.pmt_pid),
        first_index(bytes, video),
    ) {
        (Some(pat), Some(pmt), Some(video)) => pat < pmt && pmt < video,
        _ => false,
    }
}

/// Continuity counter errors: per PID (null packets aside), each packet with
/// a payload must count up by one (mod 16), and each packet without one must
/// repeat the last counter. The first packet of each PID is free, and so are
/// one duplicate (the same packet again, which ISO/IEC 13818-1 allows) and a
/// packet that announces the jump with the discontinuity indicator.
pub fn continuity_errors(bytes: &[u8]) -> usize {
    // PID → (last packet, whether it was a duplicate already).
    let mut last: std::collections::HashMap<u16, (&[u8], bool)> = std::collections::HashMap::new();
    let mut errors = 0;
    for packet in packets(bytes) {
        let pid = packet.pid();
        if pid == NULL_PID {
            continue;
        }
        let cc = packet.continuity_counter();
        let mut duplicate = false;
        if let Some(&(prev_bytes, prev_duplicate)) = last.get(&pid) {
            let prev = Packet::new(prev_bytes).map_or(cc, |p| p.continuity_counter());
            let expected = if packet.has_payload() {
                (prev + 1) & 0x0F
            } else {
                prev
            };
            duplicate = packet.has_payload() && !prev_duplicate && packet.bytes() == prev_bytes;
            if cc != expected && !duplicate && !packet.discontinuity() {
                errors += 1;
            }
        }
        last.insert(pid, (packet.bytes(), duplicate));
    }
    errors
}

/// `bytes` without the PES packet each PID was in the middle of at the end
/// (its last one, from its start), so a capture cut at an arbitrary byte
/// ends on whole frames: a decoder reports a truncated frame at the end of a
/// file as an error. Packets of other PIDs between them are kept, and so is
/// everything when the capture holds no PES.
pub fn whole_pes_prefix(bytes: &[u8]) -> Vec<u8> {
    let slots: Vec<&[u8]> = bytes.chunks_exact(PACKET_SIZE).collect();
    // PID → index of the packet where its last PES starts.
    let mut last_start = std::collections::HashMap::new();
    for (index, slot) in slots.iter().enumerate() {
        if let Some(packet) = Packet::new(slot) {
            if packet.payload_unit_start() && packet.payload().starts_with(&[0, 0, 1]) {
                last_start.insert(packet.pid(), index);
            }
        }
    }
    slots
        .iter()
        .enumerate()
        .filter(|(index, slot)| {
            Packet::new(slot).is_none_or(|packet| {
                last_start
                    .get(&packet.pid())
                    .is_none_or(|start| index < start || !packet.has_payload())
            })
        })
        .flat_map(|(_, slot)| slot.iter().copied())
        .collect()
}

/// PES timestamps on `pid`, in stream order.
pub fn timestamps(bytes: &[u8], pid: u16) -> Vec<PesTimestamps> {
    packets(bytes)
        .filter(|p| p.pid() == pid)
        .filter_map(|p| p.pes_timestamps())
        .collect()
}

/// Every PCR in the stream (27 MHz), in stream order.
pub fn pcrs(bytes: &[u8]) -> Vec<u64> {
    packets(bytes).filter_map(|p| p.pcr()).collect()
}

/// Number of video keyframe starts in `bytes`.
pub fn keyframe_count(bytes: &[u8]) -> usize {
    let Some(video) = program_info(bytes).and_then(|info| info.video_pid()) else {
        return 0;
    };
    packets(bytes)
        .filter(|p| is_keyframe_start(p.bytes(), video))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn timestamp_round_trip() {
        for value in [0, 1, 126_000, 720_720 * 5, TIMESTAMP_MODULUS - 1] {
            let mut field = [0x21, 0, 0, 0, 0];
            write_timestamp(&mut field, value);
            assert_eq!(read_timestamp(&field), value);
            assert_eq!(field[0] & 0xF0, 0x20, "prefix kept");
        }
    }

    #[test]
    fn fixture_program_and_keyframes() {
        let clip = fixtures::CLIP_TS;
        assert_eq!(clip.len() % PACKET_SIZE, 0);
        assert_eq!(count_sync_errors(clip), 0);
        assert_eq!(continuity_errors(clip), 0);
        let info = program_info(clip).expect("program tables");
        let video = info.video_pid().expect("video");
        assert_eq!(info.audio_pids().len(), 1);
        assert!(info
            .streams
            .iter()
            .any(|s| s.pid == video && s.stream_type == 0x1B));
        assert!(pat_pmt_before_first_video(clip));
        assert!(first_video_packet_is_keyframe(clip));
        // 240 frames, a GOP of 30.
        assert_eq!(keyframe_count(clip), 8);
        assert_eq!(timestamps(clip, video).len(), 240);
        assert!(!pcrs(clip).is_empty());
    }

    #[test]
    fn mid_gop_start_is_not_a_keyframe() {
        let clip = fixtures::CLIP_TS;
        let video = program_info(clip)
            .and_then(|i| i.video_pid())
            .expect("video");
        // Drop everything up to and including the first keyframe's packet.
        let first_key = clip
            .chunks_exact(PACKET_SIZE)
            .position(|p| is_keyframe_start(p, video))
            .expect("keyframe");
        let rest = &clip[(first_key + 1) * PACKET_SIZE..];
        assert!(!first_video_packet_is_keyframe(rest));
    }

    #[test]
    fn sync_errors_count_misaligned_slots() {
        let clip = &fixtures::CLIP_TS[..PACKET_SIZE * 10];
        assert_eq!(count_sync_errors(&clip[..PACKET_SIZE * 10 - 5]), 0);
        let mut torn = clip[..100].to_vec();
        torn.extend_from_slice(&clip[PACKET_SIZE..]);
        assert!(count_sync_errors(&torn) >= 8);
        assert_eq!(count_sync_errors(&[]), 0);
        assert!(program_info(&[0u8; 7]).is_none());
    }
}
