//! HLS playlists: reading the engine's (master or media, via m3u8-rs, with a
//! bound on its lines), deciding which of its segments to take (sequence
//! arithmetic that cannot wrap), and writing the proxy's own live media
//! playlist, whose segments are the proxy's URLs under its own sequence numbers.

use m3u8_rs::{MediaPlaylist, MediaSegment, Playlist};

use super::buffer::SegmentMeta;
use crate::engine::EngineError;

/// How many segments the proxy's playlist shows.
pub const WINDOW: usize = 6;
/// How many segments a channel keeps: the window and two more, for players
/// still fetching from a playlist they read a little earlier.
pub const KEPT_SEGMENTS: usize = WINDOW + 2;

/// What an engine playlist turned out to be.
#[derive(Debug)]
pub enum Upstream {
    Media(MediaPlaylist),
    /// A master playlist: follow this variant URI (relative to the master's URL).
    Master {
        variant: String,
    },
}

/// Most lines an engine playlist may have. A live window is a few dozen;
/// the bound keeps parsing (and the parsed playlist) small, since the parser
/// runs on the proxy's only thread: at the byte bound, a playlist of short
/// lines would be tens of thousands of segments, seconds of parsing.
pub const MAX_LINES: usize = 4096;

/// Why an engine playlist was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("the engine sent MPEG-TS where an HLS playlist was expected")]
    MpegTs,
    /// The body's first bytes, for the log.
    #[error("the engine sent something that is not a playlist: {0:?}")]
    NotAPlaylist(String),
    #[error("the engine sent a playlist of more than {MAX_LINES} lines")]
    TooManyLines,
    #[error("master playlist without variants")]
    NoVariants,
    /// What the parser said, shortened.
    #[error("unreadable playlist: {0}")]
    Unreadable(String),
}

/// The engine sent what is not its API.
impl From<PlaylistError> for EngineError {
    fn from(error: PlaylistError) -> Self {
        EngineError::Protocol(error.to_string())
    }
}

/// Parses an engine playlist; rejects bodies that are not playlists at all
/// (the engine sometimes answers an HLS URL with MPEG-TS or an error page),
/// and playlists of more than [`MAX_LINES`] lines.
pub fn parse_upstream(body: &[u8]) -> Result<Upstream, PlaylistError> {
    let text_start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let body = &body[text_start..];
    if body.first() == Some(&0x47) {
        return Err(PlaylistError::MpegTs);
    }
    if !body.starts_with(b"#EXTM3U") {
        let excerpt: String = String::from_utf8_lossy(&body[..body.len().min(80)]).into();
        return Err(PlaylistError::NotAPlaylist(excerpt));
    }
    if body.split(|&b| b == b'\n').nth(MAX_LINES).is_some() {
        return Err(PlaylistError::TooManyLines);
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
            .ok_or(PlaylistError::NoVariants),
        Err(err) => Err(PlaylistError::Unreadable(
            format!("{err:?}").chars().take(200).collect(),
        )),
    }
}

/// Segments taken from the first playlist of a session (or after a restart):
/// start near the live edge.
pub const FIRST_TAKE: usize = 3;
/// Most segments taken from one playlist: a playlist that lists far more new
/// segments than a poll can have produced is read from its newest ones.
pub const MAX_TAKE: usize = 12;
/// Highest upstream media sequence believed: a segment a second for 285
/// million years. Above it (a value near 2^64, or a negative number written
/// as unsigned) the engine is broken, and arithmetic on it could wrap.
pub const MAX_MEDIA_SEQUENCE: u64 = 1 << 53;

/// Which segments of an upstream media playlist to take, given the newest
/// upstream sequence number taken so far in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The playlist continues what was taken: take `segments[skip..]`.
    New { skip: usize },
    /// The sequence went backwards, so the engine restarted the stream: take
    /// `segments[skip..]` after a discontinuity and forget what was taken.
    Reset { skip: usize },
    /// The media sequence cannot be right: restart the session.
    Absurd,
}

/// Decides what to take from a playlist with `count` segments from
/// `media_sequence` on. No arithmetic here can wrap: a playlist whose last
/// sequence number would pass [`MAX_MEDIA_SEQUENCE`] is [`Take::Absurd`].
pub fn take(newest_taken: Option<u64>, media_sequence: u64, count: usize) -> Take {
    let Some(end) = u64::try_from(count)
        .ok()
        .and_then(|count| media_sequence.checked_add(count))
        .filter(|&end| end <= MAX_MEDIA_SEQUENCE)
    else {
        return Take::Absurd;
    };
    let from_live_edge = count.saturating_sub(FIRST_TAKE);
    match newest_taken {
        None => Take::New {
            skip: from_live_edge,
        },
        // An empty playlist says nothing about where the stream is.
        Some(_) if count == 0 => Take::New { skip: 0 },
        // The newest listed segment is older than one taken (`end - 1 < taken`).
        Some(taken) if end <= taken => Take::Reset {
            skip: from_live_edge,
        },
        Some(taken) => {
            // `taken < end <= MAX_MEDIA_SEQUENCE`: no overflow.
            let next = taken + 1;
            let already = usize::try_from(next.saturating_sub(media_sequence)).unwrap_or(count);
            Take::New {
                skip: already.min(count).max(count.saturating_sub(MAX_TAKE)),
            }
        }
    }
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
/// appended to each segment URI (the LAN token, when sharing is on); the
/// URIs are `<prefix><seq>.ts`.
pub fn render(prefix: &str, segments: &[SegmentMeta], query: &str) -> Vec<u8> {
    let first_seq = segments.first().map_or(0, |s| s.seq);
    let playlist = MediaPlaylist {
        version: Some(3),
        target_duration: target_duration(segments.iter().map(|s| s.duration)),
        media_sequence: first_seq,
        segments: segments
            .iter()
            .map(|s| MediaSegment {
                uri: format!("{prefix}{}.ts{query}", s.seq),
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
        let text = String::from_utf8(render("/ace/hls/ab/segment/", &segments, "")).expect("utf8");
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
        assert_eq!(
            parse_upstream(&[0x47, 0, 0]).expect_err("TS"),
            PlaylistError::MpegTs
        );
        let long = format!("#EXTM3U\n{}", "#EXTINF:2,\nx.ts\n".repeat(MAX_LINES / 2));
        let error = parse_upstream(long.as_bytes()).expect_err("too many lines");
        assert_eq!(error, PlaylistError::TooManyLines);
        assert!(
            error.to_string().contains("more than 4096 lines"),
            "{error}"
        );
        assert!(matches!(
            parse_upstream(b"<html>"),
            Err(PlaylistError::NotAPlaylist(_))
        ));
        let media = b"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:4.004,\n/ace/c/x/3.ts\n";
        match parse_upstream(media) {
            Ok(Upstream::Media(m)) => assert_eq!((m.media_sequence, m.segments.len()), (3, 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn take_continues_where_it_left_off() {
        assert_eq!(take(None, 100, 5), Take::New { skip: 2 });
        assert_eq!(take(None, 0, 2), Take::New { skip: 0 });
        assert_eq!(take(Some(102), 100, 5), Take::New { skip: 3 });
        assert_eq!(
            take(Some(104), 100, 5),
            Take::New { skip: 5 },
            "nothing new"
        );
        assert_eq!(take(Some(90), 100, 5), Take::New { skip: 0 }, "missed some");
        assert_eq!(take(Some(104), 100, 0), Take::New { skip: 0 }, "empty");
    }

    #[test]
    fn take_never_takes_more_than_a_poll_can_have_produced() {
        assert_eq!(
            take(Some(0), 1, 1000),
            Take::New {
                skip: 1000 - MAX_TAKE
            }
        );
        assert_eq!(
            take(None, 1, 1000),
            Take::New {
                skip: 1000 - FIRST_TAKE
            }
        );
    }

    #[test]
    fn take_sequence_going_backwards_is_a_restart() {
        assert_eq!(take(Some(104), 0, 1), Take::Reset { skip: 0 });
        assert_eq!(take(Some(104), 50, 5), Take::Reset { skip: 2 });
    }

    #[test]
    fn take_absurd_sequence_near_2_pow_64_restarts_instead_of_wrapping() {
        assert_eq!(take(None, u64::MAX - 1, 4), Take::Absurd);
        assert_eq!(take(Some(u64::MAX - 2), u64::MAX - 3, 4), Take::Absurd);
        assert_eq!(take(None, u64::MAX, 0), Take::Absurd);
        // What a signed -1 or -5 looks like when read as unsigned.
        assert_eq!(take(None, -1i64 as u64, 3), Take::Absurd);
        assert_eq!(take(Some(10), -5i64 as u64, 3), Take::Absurd);
        assert_eq!(take(None, MAX_MEDIA_SEQUENCE - 3, 3), Take::New { skip: 0 });
        assert_eq!(take(None, MAX_MEDIA_SEQUENCE - 2, 3), Take::Absurd);
    }

    proptest::proptest! {
        #[test]
        fn take_stays_within_the_playlist(
            taken in proptest::option::of(proptest::num::u64::ANY),
            first in proptest::num::u64::ANY,
            count in 0usize..5000,
        ) {
            match take(taken, first, count) {
                Take::New { skip } | Take::Reset { skip } => {
                    proptest::prop_assert!(skip <= count);
                    proptest::prop_assert!(count - skip <= MAX_TAKE);
                    proptest::prop_assert!(first + count as u64 <= MAX_MEDIA_SEQUENCE);
                    if let (Some(taken), Take::New { skip }) = (taken, take(taken, first, count)) {
                        // Nothing at or below what was taken is taken again.
                        proptest::prop_assert!(count == 0 || skip == count || first + skip as u64 > taken);
                    }
                }
                Take::Absurd => {}
            }
        }


        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let _ = parse_upstream(&data);
            let mut text = b"#EXTM3U\n".to_vec();
            text.extend_from_slice(&data);
            let _ = parse_upstream(&text);
        }
    }
}
