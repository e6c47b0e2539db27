//! HLS playlists: reading the engine's (master or media, via m3u8-rs) and
//! writing the proxy's own live media playlist, whose segments are the
//! proxy's URLs under its own sequence numbers.

use m3u8_rs::{MediaPlaylist, MediaSegment, Playlist};

use super::buffer::SegmentMeta;

/// How many segments the proxy's playlist shows.
pub const WINDOW: usize = 6;

/// What an engine playlist turned out to be.
#[derive(Debug)]
pub enum Upstream {
    Media(MediaPlaylist),
    /// A master playlist: follow this variant URI (relative to the master's URL).
    Master {
        variant: String,
    },
}

/// Parses an engine playlist; rejects bodies that are not playlists at all
/// (the engine sometimes answers an HLS URL with MPEG-TS or an error page).
pub fn parse_upstream(body: &[u8]) -> Result<Upstream, String> {
    let text_start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let body = &body[text_start..];
    if body.first() == Some(&0x47) {
        return Err("the engine sent MPEG-TS where an HLS playlist was expected".into());
    }
    if !body.starts_with(b"#EXTM3U") {
        let excerpt: String = String::from_utf8_lossy(&body[..body.len().min(80)]).into();
        return Err(format!(
            "the engine sent something that is not a playlist: {excerpt:?}"
        ));
    }
    match m3u8_rs::parse_playlist_res(body) {
        Ok(Playlist::MediaPlaylist(media)) => Ok(Upstream::Media(media)),
        Ok(Playlist::MasterPlaylist(master)) => master
            .variants
            .iter()
            .filter(|v| !v.is_i_frame)
            .max_by_key(|v| v.bandwidth)
            .map(|v| Upstream::Master {
                variant: v.uri.clone(),
            })
            .ok_or_else(|| "master playlist without variants".to_owned()),
        Err(err) => Err(format!("unreadable playlist: {err:?}")
            .chars()
            .take(200)
            .collect()),
    }
}

/// Segments taken from the first playlist of an engine HLS session: start
/// near the live edge.
pub const FIRST_POLL_SEGMENTS: usize = 3;

/// Which segments of an engine playlist are new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The segments from this index on.
    From(usize),
    /// The sequence went backwards or cannot be real: the stream restarted.
    Restart,
}

/// Which of `count` segments listed from `media_sequence` on are new, given
/// the newest upstream sequence number taken so far. All arithmetic is
/// checked: a sequence near 2^64 is a restart, never a wrap that would fetch
/// the same segments again.
pub fn segments_to_take(newest_taken: Option<u64>, media_sequence: u64, count: usize) -> Take {
    let Some(end) = media_sequence.checked_add(count as u64) else {
        return Take::Restart;
    };
    let Some(taken) = newest_taken else {
        return Take::From(count.saturating_sub(FIRST_POLL_SEGMENTS));
    };
    if count == 0 {
        return Take::From(0);
    }
    if end <= taken {
        // The newest listed entry (`end - 1`) is older than one already taken.
        return Take::Restart;
    }
    let skip = (taken + 1).saturating_sub(media_sequence);
    Take::From(usize::try_from(skip).unwrap_or(count).min(count))
}

/// `#EXT-X-TARGETDURATION` for a set of segments: the ceiling of the longest
/// (a truncated value makes strict players stall), at least 1.
pub fn target_duration(durations: impl IntoIterator<Item = f32>) -> u64 {
    durations
        .into_iter()
        .map(|d| f64::from(d).ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1)
}

/// The proxy's live playlist over the newest buffered segments. `query` is
/// appended to each segment URI (the LAN token, when sharing is on).
pub fn render(hex: &str, segments: &[SegmentMeta], query: &str) -> Vec<u8> {
    let first_seq = segments.first().map_or(0, |s| s.seq);
    let playlist = MediaPlaylist {
        version: Some(3),
        target_duration: target_duration(segments.iter().map(|s| s.duration)),
        media_sequence: first_seq,
        segments: segments
            .iter()
            .map(|s| MediaSegment {
                uri: format!("/ace/hls/{hex}/segment/{}.ts{query}", s.seq),
                duration: s.duration,
                discontinuity: s.discontinuity,
                ..MediaSegment::default()
            })
            .collect(),
        ..MediaPlaylist::default()
    };
    let mut out = Vec::with_capacity(128 + 64 * segments.len());
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_to_take_never_wraps_or_repeats() {
        assert_eq!(segments_to_take(None, 10, 5), Take::From(2));
        assert_eq!(segments_to_take(Some(12), 10, 5), Take::From(3));
        assert_eq!(segments_to_take(Some(14), 10, 5), Take::From(5));
        assert_eq!(segments_to_take(Some(14), 15, 5), Take::From(0));
        // Went backwards: the engine restarted the stream.
        assert_eq!(segments_to_take(Some(14), 0, 3), Take::Restart);
        // Near 2^64: no wrap, no endless refetching.
        assert_eq!(segments_to_take(None, u64::MAX - 1, 5), Take::Restart);
        assert_eq!(
            segments_to_take(Some(u64::MAX - 1), u64::MAX - 3, 3),
            Take::From(3)
        );
        assert_eq!(
            segments_to_take(Some(u64::MAX - 1), u64::MAX - 3, 4),
            Take::Restart
        );
    }

    #[test]
    fn target_duration_rounds_up_never_truncates() {
        assert_eq!(target_duration([4.004, 3.9]), 5);
        assert_eq!(target_duration([2.002]), 3);
        assert_eq!(target_duration([4.0]), 4);
        assert_eq!(target_duration([]), 1);
    }

    #[test]
    fn render_uses_own_urls_and_sequence() {
        let segments: Vec<SegmentMeta> = (7..10)
            .map(|seq| SegmentMeta {
                seq,
                duration: 4.004,
                discontinuity: seq == 8,
            })
            .collect();
        let text = String::from_utf8(render("ab", &segments, "")).expect("utf8");
        assert!(text.starts_with("#EXTM3U"));
        assert!(text.contains("#EXT-X-TARGETDURATION:5"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:7"));
        assert!(text.contains("/ace/hls/ab/segment/9.ts"));
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn parse_follows_master_and_rejects_ts() {
        let master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100\nlow.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=900\nhigh.m3u8\n";
        match parse_upstream(master) {
            Ok(Upstream::Master { variant }) => assert_eq!(variant, "high.m3u8"),
            other => panic!("{other:?}"),
        }
        assert!(parse_upstream(&[0x47, 0, 0]).is_err());
        assert!(parse_upstream(b"<html>").is_err());
        let media = b"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:4.004,\n/ace/c/x/3.ts\n";
        match parse_upstream(media) {
            Ok(Upstream::Media(m)) => assert_eq!((m.media_sequence, m.segments.len()), (3, 1)),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let _ = parse_upstream(&data);
            let mut text = b"#EXTM3U\n".to_vec();
            text.extend_from_slice(&data);
            let _ = parse_upstream(&text);
        }
    }
}
