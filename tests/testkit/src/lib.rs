//! Test kit for acebridge, independent of the acebridge crate so tests check
//! the proxy from the outside:
//!
//! - [`engine`]: a simulated AceStream engine (real sockets, real H.264/AAC
//!   media, faults on demand, counters to assert on),
//! - [`ts`]: a small MPEG-TS analyser (sync, program tables, keyframes,
//!   continuity, timestamps),
//! - [`wait`]: wait for a condition with a timeout instead of sleeping,
//! - [`ffmpeg`]: ffprobe/ffmpeg checks that a real player decodes a stream,
//! - [`fixtures`]: the embedded media fixtures,
//! - [`guide`]: XMLTV guides (small, large, broken) and the server that serves them,
//! - [`hdhomerun`]: discovery by the real HDHomeRun client, `hdhomerun_config`,
//! - [`served`]: a text file served over HTTP that a test can change,
//! - [`skip`]: skipping checks whose tools are missing, except in CI.

pub mod engine;
pub mod ffmpeg;
pub mod fixtures;
pub mod guide;
pub mod hdhomerun;
pub mod served;
pub mod skip;
pub mod ts;
pub mod wait;
