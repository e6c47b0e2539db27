//! The media fixtures (made by `tests/fixtures/make-fixture.sh`), embedded so
//! the simulated engine and its binary work from any directory.

use std::path::PathBuf;

/// `tests/fixtures/clip.ts`: 8.008 s of H.264 + AAC, 320x180, GOP 30 at 29.97 fps.
pub const CLIP_TS: &[u8] = include_bytes!("../../fixtures/clip.ts");

/// Duration of `clip.ts` in 90 kHz ticks (240 frames of 3003 ticks).
pub const CLIP_DURATION_TICKS: u64 = 720_720;

/// `tests/fixtures/hls/seg*.ts`: the clip cut into segments of two GOPs.
pub const HLS_SEGMENTS: [&[u8]; 4] = [
    include_bytes!("../../fixtures/hls/seg0.ts"),
    include_bytes!("../../fixtures/hls/seg1.ts"),
    include_bytes!("../../fixtures/hls/seg2.ts"),
    include_bytes!("../../fixtures/hls/seg3.ts"),
];

/// `tests/fixtures/hls/durations.txt`: one `#EXTINF` value per segment.
pub const HLS_DURATIONS: &str = include_str!("../../fixtures/hls/durations.txt");

/// The `#EXTINF` values exactly as ffmpeg wrote them (e.g. `2.002000`).
pub fn hls_duration_strings() -> Vec<&'static str> {
    HLS_DURATIONS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// The segment durations in seconds (unparsable lines count as 0).
pub fn hls_durations() -> Vec<f64> {
    hls_duration_strings()
        .iter()
        .map(|d| d.parse().unwrap_or(0.0))
        .collect()
}

/// The fixture directory in the source tree (for tools that want file paths).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_segments() {
        let durations = hls_durations();
        assert_eq!(durations.len(), HLS_SEGMENTS.len());
        let total: f64 = durations.iter().sum();
        assert!((total - CLIP_DURATION_TICKS as f64 / 90_000.0).abs() < 0.001);
        assert!(fixtures_dir().join("clip.ts").is_file());
    }
}
