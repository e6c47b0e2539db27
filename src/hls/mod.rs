//! The HLS building blocks of a channel's HLS view: the segment buffer, the
//! segmenter that cuts TS chunks into segments, and playlists (the engine's,
//! read; the proxy's own, written). The channel that feeds and serves them
//! lives in [`crate::channel`].

mod buffer;
pub mod playlist;
mod segmenter;

#[cfg(test)]
pub use buffer::AT_REST;
pub use buffer::{Segment, SegmentBuffer};
pub use segmenter::{Cut, Segmenter};
