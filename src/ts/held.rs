//! The packets the splitter holds back until their PES is whole, in blocks
//! that the chunks released from them share.
//!
//! Each upstream byte is copied once on its way to the players: from the
//! HTTP client's read into a block. A released chunk is a slice of its block,
//! never of a read and never of two blocks. A slice of a read would keep the
//! client's whole read buffer alive for as long as the ring and the HLS
//! window keep the chunk, and the client could no longer reuse that buffer.
//! Blocks are filled to the last packet and released front to back, so
//! besides the chunks the ring and the HLS window count, a channel keeps at
//! most the block being filled and the rest of the one its oldest chunk is in.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::packet::{MAX_CHUNK, PACKET_SIZE};

/// Whole packets, in order, in blocks of [`MAX_CHUNK`] bytes.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Oldest first; all but the last are filled to capacity.
    blocks: VecDeque<BytesMut>,
    packets: u64,
}

impl Held {
    /// Copies a run of whole packets in.
    pub(super) fn extend(&mut self, mut packets: &[u8]) {
        debug_assert_eq!(packets.len() % PACKET_SIZE, 0);
        self.packets += (packets.len() / PACKET_SIZE) as u64;
        while !packets.is_empty() {
            let block = match self.blocks.back_mut() {
                Some(block) if room(block) > 0 => block,
                _ => {
                    self.blocks.push_back(BytesMut::with_capacity(MAX_CHUNK));
                    continue;
                }
            };
            let (now, later) = packets.split_at(room(block).min(packets.len()));
            block.extend_from_slice(now);
            packets = later;
        }
    }

    /// Packets held.
    pub(super) fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets in the front block: the most [`Self::take_front`] can take.
    pub(super) fn front_packets(&self) -> u64 {
        self.blocks
            .front()
            .map_or(0, |block| (block.len() / PACKET_SIZE) as u64)
    }

    /// Moves the first `packets` packets (at most [`Self::front_packets`])
    /// out, sharing the front block's memory.
    pub(super) fn take_front(&mut self, packets: u64) -> Bytes {
        let Some(front) = self.blocks.front_mut() else {
            return Bytes::new();
        };
        let len = (packets as usize * PACKET_SIZE).min(front.len());
        debug_assert_eq!(
            len,
            packets as usize * PACKET_SIZE,
            "beyond the front block"
        );
        let taken = front.split_to(len).freeze();
        if front.is_empty() && room(front) == 0 {
            self.blocks.pop_front();
        }
        self.packets -= (len / PACKET_SIZE) as u64;
        taken
    }

    /// Empties the holding, handing back every block's packets in order.
    pub(super) fn take_all(&mut self) -> Vec<Bytes> {
        self.packets = 0;
        std::mem::take(&mut self.blocks)
            .into_iter()
            .map(BytesMut::freeze)
            .collect()
    }
}

/// Bytes of whole packets that still fit in `block` (an allocator may give
/// a little more capacity than asked: a packet never straddles two blocks).
fn room(block: &BytesMut) -> usize {
    (block.capacity() - block.len()) / PACKET_SIZE * PACKET_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK_PACKETS: usize = MAX_CHUNK / PACKET_SIZE;

    fn packets(tag: u8, count: usize) -> Vec<u8> {
        vec![tag; count * PACKET_SIZE]
    }

    #[test]
    fn chunks_are_cut_at_block_ends_and_share_their_block() {
        let mut held = Held::default();
        held.extend(&packets(1, BLOCK_PACKETS - 2));
        held.extend(&packets(2, 5));
        assert_eq!(held.packets(), BLOCK_PACKETS as u64 + 3);
        assert_eq!(held.front_packets(), BLOCK_PACKETS as u64);

        let first = held.take_front(10);
        let second = held.take_front(held.front_packets());
        assert_eq!(second.len(), (BLOCK_PACKETS - 10) * PACKET_SIZE);
        assert_eq!(first.as_ptr_range().end, second.as_ptr());
        assert!(second[second.len() - 2 * PACKET_SIZE..]
            .iter()
            .all(|&b| b == 2));
        assert_eq!(held.front_packets(), 3);

        let rest = held.take_all();
        assert_eq!(rest.concat(), packets(2, 3));
        assert_eq!(held.packets(), 0);
    }

    #[test]
    fn packets_held_after_a_chunk_was_taken_leave_it_untouched() {
        let mut held = Held::default();
        held.extend(&packets(1, 3));
        let chunk = held.take_front(3);
        held.extend(&packets(2, 1));
        // The block goes on filling after the chunk: the chunk is untouched.
        assert_eq!(chunk.to_vec(), packets(1, 3));
        assert_eq!(held.take_front(1).to_vec(), packets(2, 1));
    }
}
