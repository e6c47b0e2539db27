//! What a decoder sees where one upstream connection ends and the next one
//! begins (a reconnect, a switch to an alternate), so that the seam is clean:
//!
//! - the old upstream's last PES packets end whole: a drop tears the frame
//!   in flight, and a decoder fed half a frame shows a corrupt picture. So
//!   packets are held back until the PES they belong to is complete
//!   ([`OpenPes`]), and at a drop the torn ones are never published;
//! - the new upstream starts on a keyframe with each PID at the start of a
//!   PES or section ([`Seam`]), not in the middle of one;
//! - the first packet of each elementary stream after the seam carries the
//!   discontinuity_indicator ([`announce_discontinuity`]): the continuity
//!   counters and the clock start afresh there, and without the flag a
//!   decoder takes the jump for lost packets and flags the frame around it
//!   as corrupt (ffmpeg: "Packet corrupt"; VLC: "discontinuity received");
//! - the tables (PAT, PMT, SDT…) continue their counters instead
//!   ([`SectionCounters`]): they carry no clock, and VLC's table decoder
//!   ignores the indicator and reports every jump as an error.

use bytes::{Bytes, BytesMut};

use super::packet::PACKET_SIZE;

const NULL_PID: u16 = 0x1fff;

/// Packets after which a PES whose PID fell silent counts as whole: a sparse
/// stream (subtitles, teletext) must not hold back the others.
const SILENT_PES_PACKETS: u64 = 2048;

/// Packets after the seam's keyframe during which each PID's first packet is
/// checked; a PID first seen later passes as it is.
const SEAM_PACKETS: u32 = 8192;

/// A PES packet whose end has not arrived yet.
#[derive(Debug, Clone, Copy)]
struct Pes {
    pid: u16,
    /// Index (in packets since the splitter began) of its first packet.
    start: u64,
    /// Index of its latest packet.
    last: u64,
    /// Bytes still to come, when its header gives its length (audio, as a
    /// rule); a video PES has none and ends where the next one starts.
    remaining: Option<usize>,
}

/// The PES packets in flight, one per PID at most.
#[derive(Debug, Default)]
pub(super) struct OpenPes {
    open: Vec<Pes>,
}

impl OpenPes {
    /// Notes packet `index` of `pid` with its payload.
    pub(super) fn observe(&mut self, index: u64, pid: u16, payload_start: bool, payload: &[u8]) {
        if payload_start {
            // Whatever was open on this PID ended with the packet before.
            self.open.retain(|pes| pes.pid != pid);
            if payload.starts_with(&[0, 0, 1]) {
                let length = payload
                    .get(4..6)
                    .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                let remaining = (length > 0).then(|| (6 + length).saturating_sub(payload.len()));
                if remaining != Some(0) {
                    self.open.push(Pes {
                        pid,
                        start: index,
                        last: index,
                        remaining,
                    });
                }
            }
            return;
        }
        let Some(at) = self.open.iter().position(|pes| pes.pid == pid) else {
            return;
        };
        let pes = &mut self.open[at];
        pes.last = index;
        if let Some(remaining) = &mut pes.remaining {
            *remaining = remaining.saturating_sub(payload.len());
            if *remaining == 0 {
                self.open.swap_remove(at);
            }
        }
    }

    /// The index of the first packet a drop now could tear, given that the
    /// next packet will be `end`; `None` when nothing is in flight.
    pub(super) fn first_unfinished(&mut self, end: u64) -> Option<u64> {
        let silent_since = end.saturating_sub(SILENT_PES_PACKETS);
        self.open.retain(|pes| pes.last >= silent_since);
        self.open.iter().map(|pes| pes.start).min()
    }

    /// Whether packet `index` of `pid` belongs to a PES that never ended.
    pub(super) fn is_torn(&self, pid: u16, index: u64) -> bool {
        self.open
            .iter()
            .any(|pes| pes.pid == pid && index >= pes.start)
    }

    pub(super) fn clear(&mut self) {
        self.open.clear();
    }
}

/// What happens to a packet of a new upstream at the seam.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Before the keyframe the stream resumes on, or the rest of a PES or
    /// section whose start came before it.
    Drop,
    /// The first packet of its PID after the seam.
    Announce,
    Pass,
}

/// The start of a new upstream, until each PID has started afresh.
#[derive(Debug)]
pub(super) struct Seam {
    resumed: bool,
    /// PIDs announced since the seam, and whether their payload started.
    started: Vec<(u16, bool)>,
    left: u32,
}

impl Seam {
    pub(super) fn new() -> Self {
        Self {
            resumed: false,
            started: Vec::new(),
            left: SEAM_PACKETS,
        }
    }

    /// Decides on one packet; `resume_here` says it starts a keyframe and
    /// the new upstream's program tables are known.
    pub(super) fn admit(
        &mut self,
        pid: u16,
        payload_start: bool,
        has_payload: bool,
        resume_here: bool,
    ) -> Admit {
        if !self.resumed {
            if !resume_here {
                return Admit::Drop;
            }
            self.resumed = true;
        }
        self.left = self.left.saturating_sub(1);
        if pid == NULL_PID {
            return Admit::Pass;
        }
        let known = self.started.iter().position(|(known, _)| *known == pid);
        let payload_started = known.is_some_and(|at| self.started[at].1);
        if has_payload && !payload_start && !payload_started {
            return Admit::Drop;
        }
        match known {
            Some(at) => {
                self.started[at].1 |= has_payload;
                Admit::Pass
            }
            None => {
                self.started.push((pid, has_payload));
                Admit::Announce
            }
        }
    }

    /// Whether the seam is behind: every packet passes as it is from now on.
    pub(super) fn is_over(&self) -> bool {
        self.resumed && self.left == 0
    }
}

/// The continuity counters of the PIDs that carry sections (tables), which
/// the proxy renumbers so that they run on across seams.
#[derive(Debug, Default)]
pub(super) struct SectionCounters {
    pids: Vec<SectionPid>,
}

#[derive(Debug, Clone, Copy)]
struct SectionPid {
    pid: u16,
    /// The counter of the last packet sent.
    sent: u8,
    /// Added to the upstream's counters: the seams' jumps, cancelled.
    shift: u8,
    /// A seam came since the last packet sent.
    after_seam: bool,
}

impl SectionCounters {
    /// The counter byte (the fourth) a packet that is sent goes out with,
    /// and whether it continues its PID across a seam (so it needs no
    /// discontinuity_indicator); `None` for PIDs whose counters are the
    /// upstream's own. Read-only on the packet, so that the splitter copies
    /// the packets it does not change in runs rather than one by one.
    pub(super) fn renumbered(
        &mut self,
        packet: &[u8; PACKET_SIZE],
        has_payload: bool,
    ) -> Option<(u8, bool)> {
        let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
        let counter = packet[3] & 0x0f;
        let Some(entry) = self.pids.iter_mut().find(|entry| entry.pid == pid) else {
            let payload_start = packet[1] & 0x40 != 0;
            let payload = packet.get(4 + adaptation_len(packet)..).unwrap_or_default();
            if has_payload && payload_start && !payload.starts_with(&[0, 0, 1]) {
                self.pids.push(SectionPid {
                    pid,
                    sent: counter,
                    shift: 0,
                    after_seam: false,
                });
            }
            return None;
        };
        let continued = entry.after_seam;
        if continued {
            let next = if has_payload {
                entry.sent.wrapping_add(1)
            } else {
                entry.sent
            };
            entry.shift = next.wrapping_sub(counter) & 0x0f;
            entry.after_seam = false;
        }
        entry.sent = counter.wrapping_add(entry.shift) & 0x0f;
        Some(((packet[3] & 0xf0) | entry.sent, continued))
    }

    /// The old upstream ended: each table's next packet continues its count.
    pub(super) fn seam(&mut self) {
        for entry in &mut self.pids {
            entry.after_seam = true;
        }
    }

    /// The tables sent ahead of the seam's keyframe (to a joiner, in an HLS
    /// segment): each is the packet just before the next real one of its
    /// PID, so it takes the counter the last packet sent had. They announce
    /// the discontinuity too, for a reader that had the old upstream's.
    pub(super) fn copies_at_seam(&self, packets: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(packets.len() + PACKET_SIZE);
        for slot in packets.chunks_exact(PACKET_SIZE) {
            let mut packet = [0; PACKET_SIZE];
            packet.copy_from_slice(slot);
            let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
            if let Some(entry) = self.pids.iter().find(|e| e.pid == pid && e.after_seam) {
                packet[3] = (packet[3] & 0xf0) | entry.sent;
            }
            if let Some(before) = announce_discontinuity(&mut packet) {
                out.extend_from_slice(&before);
            }
            out.extend_from_slice(&packet);
        }
        out.freeze()
    }
}

/// Bytes the adaptation field takes, its length byte included.
fn adaptation_len(packet: &[u8; PACKET_SIZE]) -> usize {
    if packet[3] & 0x20 != 0 {
        usize::from(packet[4]) + 1
    } else {
        0
    }
}

/// Sets the discontinuity_indicator of `packet`. When its adaptation field
/// cannot carry the flag (it has none, and its payload has no stuffing to
/// make room), returns an adaptation-field-only packet of the same PID to
/// send before it: such a packet carries no payload, so it does not count
/// in the continuity counter, and its counter is the one just before.
pub(super) fn announce_discontinuity(packet: &mut [u8; PACKET_SIZE]) -> Option<[u8; PACKET_SIZE]> {
    let control = (packet[3] >> 4) & 0b11;
    let has_adaptation = control & 0b10 != 0;
    let has_payload = control & 0b01 != 0;
    if has_adaptation && packet[4] > 0 {
        packet[5] |= 0x80;
        return None;
    }
    if !has_adaptation && has_payload && section_leaves_room(packet) {
        // A two-byte adaptation field takes the place of two stuffing bytes.
        packet.copy_within(4..PACKET_SIZE - 2, 6);
        packet[3] |= 0x20;
        packet[4] = 1;
        packet[5] = 0x80;
        return None;
    }
    let counter = packet[3] & 0x0f;
    let counter = if has_payload {
        counter.wrapping_sub(1) & 0x0f
    } else {
        counter
    };
    let mut before = [0xff; PACKET_SIZE];
    before[0] = packet[0];
    before[1] = packet[1] & 0x1f;
    before[2] = packet[2];
    before[3] = 0x20 | counter;
    before[4] = (PACKET_SIZE - 5) as u8;
    before[5] = 0x80;
    Some(before)
}

/// Whether `packet` (payload only) holds a PSI section followed by at least
/// two stuffing bytes.
fn section_leaves_room(packet: &[u8; PACKET_SIZE]) -> bool {
    if packet[1] & 0x40 == 0 {
        return false;
    }
    let pointer = usize::from(packet[4]);
    let Some(header) = packet.get(5 + pointer..8 + pointer) else {
        return false;
    };
    let length = (usize::from(header[1] & 0x0f) << 8) | usize::from(header[2]);
    let end = 8 + pointer + length;
    end <= PACKET_SIZE - 2 && packet[PACKET_SIZE - 2..] == [0xff, 0xff]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(control: u8, counter: u8) -> [u8; PACKET_SIZE] {
        let mut p = [0x55; PACKET_SIZE];
        p[0] = 0x47;
        p[1] = 0x41;
        p[2] = 0x01;
        p[3] = (control << 4) | counter;
        p
    }

    #[test]
    fn an_adaptation_field_carries_the_flag_in_place() {
        let mut p = packet(0b11, 7);
        p[4] = 7;
        p[5] = 0x50;
        assert_eq!(announce_discontinuity(&mut p), None);
        assert_eq!(p[5], 0xd0);
    }

    #[test]
    fn a_table_makes_room_in_its_stuffing() {
        // PAT: pointer 0, table 0, length 13, then stuffing.
        let mut p = [0xff; PACKET_SIZE];
        p[..4].copy_from_slice(&[0x47, 0x40, 0x00, 0x13]);
        p[4..22].copy_from_slice(&[
            0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0, 1, 2, 3, 4, 0xff,
        ]);
        let section = p[4..21].to_vec();
        assert_eq!(announce_discontinuity(&mut p), None);
        assert_eq!(p[3], 0x33, "adaptation field added, counter kept");
        assert_eq!(&p[4..6], &[1, 0x80]);
        assert_eq!(&p[6..23], &section[..]);
    }

    #[test]
    fn full_payload_gets_an_adaptation_only_packet_before_it() {
        let mut p = packet(0b01, 0);
        let before = announce_discontinuity(&mut p).expect("a packet before");
        assert_eq!(p, packet(0b01, 0), "the packet itself is untouched");
        assert_eq!(&before[..6], &[0x47, 0x01, 0x01, 0x2f, 183, 0x80]);
    }

    #[test]
    fn a_seam_drops_until_the_keyframe_then_each_pids_torn_head() {
        let mut seam = Seam::new();
        assert_eq!(seam.admit(0x100, true, true, false), Admit::Drop);
        assert_eq!(seam.admit(0x100, true, true, true), Admit::Announce);
        assert_eq!(seam.admit(0x100, false, true, false), Admit::Pass);
        assert_eq!(seam.admit(0x101, false, true, false), Admit::Drop);
        assert_eq!(seam.admit(0x101, false, false, false), Admit::Announce);
        assert_eq!(seam.admit(0x101, false, true, false), Admit::Drop);
        assert_eq!(seam.admit(0x101, true, true, false), Admit::Pass);
        assert_eq!(seam.admit(0x101, false, true, false), Admit::Pass);
    }

    #[test]
    fn a_pes_is_open_until_its_length_or_the_next_start() {
        let mut open = OpenPes::default();
        // Audio: 6-byte header says 300 more bytes; video: no length.
        let audio = [0, 0, 1, 0xc0, 0x01, 0x2c];
        open.observe(0, 0x101, true, &audio);
        open.observe(1, 0x100, true, &[0, 0, 1, 0xe0, 0, 0]);
        assert_eq!(open.first_unfinished(2), Some(0));
        open.observe(2, 0x101, false, &[0; 184]);
        open.observe(3, 0x101, false, &[0; 184]);
        assert_eq!(open.first_unfinished(4), Some(1), "audio is whole");
        assert!(open.is_torn(0x100, 3));
        open.observe(4, 0x100, true, &[0, 0, 1, 0xe0, 0, 0]);
        assert_eq!(open.first_unfinished(5), Some(4));
        assert_eq!(open.first_unfinished(4 + SILENT_PES_PACKETS + 1), None);
    }
}
