//! The MPEG-TS building blocks of a channel's TS view: packet scanning
//! (whole packets, PAT/PMT, keyframes, timestamps), clean seams where one
//! upstream connection ends and the next begins, and the bounded ring that
//! every TS player reads at its own pace. The channel that feeds and reads
//! them lives in [`crate::channel`].

mod held;
pub mod packet;
pub mod ring;
mod seam;
