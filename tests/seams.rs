//! What a decoder sees where the stream is joined or resumed: a player that
//! joins a running channel, and players that stay while the upstream drops
//! and the channel reconnects. Both must be clean to ffmpeg: no corrupt
//! packet, no decode error, no continuity counter that jumps unannounced.

mod common;

use std::time::Duration;

use common::{http, kit, Player, Proxy, ID_A};
use kit::engine::{Fault, SimEngine};

const SECOND: Duration = Duration::from_secs(1);

/// Bytes of the fixture stream per second, roughly (400 kbit/s).
const CLIP_BYTES_PER_SEC: usize = 50_000;

/// Writes what a player received to a file and decodes it whole with ffmpeg,
/// warnings included; panics with ffmpeg's complaints.
async fn assert_decodes_cleanly(bytes: &[u8], what: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("received.ts");
    std::fs::write(&path, bytes).expect("write capture");
    if let Ok(keep) = std::env::var("ACEBRIDGE_KEEP_CAPTURE") {
        // To look at with ffprobe -debug_ts or tsduck when a check fails.
        let _ = std::fs::copy(&path, keep);
    }
    if let Err(complaints) = kit::ffmpeg::decode_without_warnings(&path.to_string_lossy()).await {
        panic!("{what}: {complaints}");
    }
}

/// The number of upstream reconnects of the channel playing `ID_A`.
async fn reconnects(proxy: &Proxy) -> u64 {
    proxy
        .streams()
        .await
        .first()
        .and_then(|s| s["reconnects"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn resuming_after_an_upstream_drop_decodes_without_a_corrupt_frame() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    // Each engine connection ends mid-packet, mid-frame, as a real drop does.
    engine.set_fault(ID_A, Fault::DropAfter(Duration::from_millis(2500)));
    let proxy = Proxy::start(&engine.url()).await;
    let mut player = Player::open(&proxy.stream_url(ID_A)).await;
    // The player reads all along, as a player does, so the seams fall inside
    // what it received.
    let reading = async {
        while reconnects(&proxy).await < 2 {
            let wanted = player.received.len() + CLIP_BYTES_PER_SEC / 10;
            player.read_until(wanted, 10 * SECOND).await;
        }
        // The resumed stream's first seconds.
        let wanted = player.received.len() + 2 * CLIP_BYTES_PER_SEC;
        player.read_until(wanted, 10 * SECOND).await;
    };
    tokio::time::timeout(60 * SECOND, reading)
        .await
        .expect("two reconnects within a minute");
    // A capture cut at an arbitrary byte ends in the middle of a frame.
    let bytes = kit::ts::whole_pes_prefix(&std::mem::take(&mut player.received));
    drop(player);

    assert_eq!(kit::ts::count_sync_errors(&bytes), 0);
    assert_decodes_cleanly(&bytes, "across two reconnect seams").await;
    assert_eq!(
        kit::ts::continuity_errors(&bytes),
        0,
        "continuity counters jump unannounced at a seam"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_joining_player_sees_no_continuity_error_on_the_tables() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    let proxy = Proxy::start(&engine.url()).await;
    let url = proxy.stream_url(ID_A);
    let mut first = Player::open(&url).await;
    for joiner in 0..3 {
        // Each joiner lands at another point of the stream's table repetition.
        let wanted = first.received.len() + CLIP_BYTES_PER_SEC * 3 / 2;
        first.read_until(wanted, 10 * SECOND).await;
        let mut player = Player::open(&url).await;
        player.read_until(2 * CLIP_BYTES_PER_SEC, 10 * SECOND).await;
        let bytes = kit::ts::whole_pes_prefix(&std::mem::take(&mut player.received));
        assert!(kit::ts::pat_pmt_before_first_video(&bytes));
        assert_eq!(
            kit::ts::continuity_errors(&bytes),
            0,
            "joiner {joiner}: the tables sent ahead do not follow on"
        );
        assert_decodes_cleanly(&bytes, &format!("joiner {joiner}")).await;
    }
    drop(first);
    proxy.stop().await;
}

/// The proxy's playlist of `ID_A`.
async fn playlist(proxy: &Proxy) -> String {
    http()
        .get(proxy.url(&format!("/ace/manifest.m3u8?id={ID_A}")))
        .send()
        .await
        .expect("manifest")
        .text()
        .await
        .expect("playlist text")
}

/// The segment URIs of a playlist, and how many discontinuities it marks
/// after its first segment.
fn segments_and_seams(playlist: &str) -> (Vec<&str>, usize) {
    let mut uris = Vec::new();
    let mut seams = 0;
    for line in playlist.lines() {
        if line == "#EXT-X-DISCONTINUITY" && !uris.is_empty() {
            seams += 1;
        } else if !line.starts_with('#') && !line.is_empty() {
            uris.push(line);
        }
    }
    (uris, seams)
}

#[tokio::test]
async fn hls_segments_join_up_without_continuity_errors_across_a_seam() {
    if !kit::ffmpeg::available() {
        return;
    }
    let engine = SimEngine::start().await;
    engine.set_fault(ID_A, Fault::DropAfter(Duration::from_millis(4500)));
    let proxy = Proxy::start(&engine.url()).await;
    // Two seams: the tables repeat about once a second, so a seam that loses
    // one shows in a few.
    let around_two_seams = async {
        loop {
            let text = playlist(&proxy).await;
            let (uris, seams) = segments_and_seams(&text);
            if seams >= 2
                && !text.trim_end().ends_with("#EXT-X-DISCONTINUITY")
                && uris.len() > seams
            {
                return text;
            }
            tokio::time::sleep(kit::wait::POLL_INTERVAL).await;
        }
    };
    let text = tokio::time::timeout(90 * SECOND, around_two_seams)
        .await
        .expect("segments around two seams within 90 s");
    let (uris, _) = segments_and_seams(&text);
    let mut bytes = Vec::new();
    for uri in uris {
        let response = http().get(proxy.url(uri)).send().await.expect("segment");
        assert_eq!(response.status(), 200, "{uri}");
        bytes.extend_from_slice(&response.bytes().await.expect("segment body"));
    }
    // The last segment ends where the next begins, amid the audio's PES.
    let bytes = kit::ts::whole_pes_prefix(&bytes);
    assert_eq!(
        kit::ts::continuity_errors(&bytes),
        0,
        "segments do not join up: {text}"
    );
    assert_decodes_cleanly(&bytes, "the playlist's segments in a row").await;
    proxy.stop().await;
}
