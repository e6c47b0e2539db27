//! The hostile engine: answers built to hurt a proxy (bodies of gigabytes
//! streamed without a length, a playlist line that never ends, redirects to
//! another host, bodies dripped a byte at a time, garbage, absurd media
//! sequences, a gzip bomb), selected with [`Fault::Hostile`]. The bodies are
//! generated as they are read, so the engine itself stays small.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};

use super::Fault;

/// A hostile behaviour; see each variant for the requests it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// The version reply (`/webui/api/service`) is a JSON document of this
    /// many bytes. Read from the default faults ([`super::SimEngine::set_default_fault`]):
    /// the version call names no content.
    HugeVersion(u64),
    /// The start call answers a JSON document of this many bytes.
    HugeStart(u64),
    /// HLS segments are this many bytes.
    HugeSegment(u64),
    /// The HLS playlist is about this many bytes: a valid head, then lines
    /// of segments (which do not exist).
    HugePlaylist(u64),
    /// The HLS playlist's head is followed by a line of this many bytes
    /// without a newline.
    EndlessPlaylistLine(u64),
    /// HLS segments, TS playback and (as a default fault) the version reply
    /// redirect to this origin, e.g. `http://127.0.0.1:9`, with the same path.
    RedirectTo(String),
    /// The start call redirects to this origin, with the same path.
    RedirectStartTo(String),
    /// HLS playlists and segments and TS playback send one byte every this
    /// long (after their headers).
    SlowDrip(Duration),
    /// The start call, HLS playlists and (as a default fault) the version
    /// reply answer random bytes.
    Garbage,
    /// The HLS playlist's `#EXT-X-MEDIA-SEQUENCE` is this text
    /// (`18446744073709551614`, `-5`); the segment URIs are the real ones.
    MediaSequence(String),
    /// HLS segments are a gzip stream (`Content-Encoding: gzip`) that
    /// inflates to this many zero bytes.
    GzipBomb(u64),
}

/// The hostile behaviours among `faults`.
pub(crate) fn hostile(faults: &[Fault]) -> impl Iterator<Item = &Hostile> {
    faults.iter().filter_map(|fault| match fault {
        Fault::Hostile(hostile) => Some(hostile),
        _ => None,
    })
}

/// Size of the chunks hostile bodies are streamed in.
const CHUNK: usize = 64 * 1024;

/// A body of `total` bytes made of `head`, then `filler` repeated, streamed
/// without a `Content-Length`.
pub(crate) fn streamed(
    content_type: &'static str,
    head: Bytes,
    filler: u8,
    total: u64,
) -> Response {
    let block = Bytes::from(vec![filler; CHUNK]);
    let rest = total.saturating_sub(head.len() as u64);
    let full = rest / CHUNK as u64;
    let tail = (rest % CHUNK as u64) as usize;
    let body = stream::once(async move { head })
        .chain(stream::iter((0..full).map(move |_| block.clone())))
        .chain(stream::once(async move { Bytes::from(vec![filler; tail]) }))
        .map(Ok::<Bytes, std::io::Error>);
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

/// A JSON-looking body that never closes its string.
pub(crate) fn huge_json(total: u64) -> Response {
    streamed(
        "application/json",
        Bytes::from_static(b"{\"response\": {\"playback_url\": \""),
        b'a',
        total,
    )
}

/// A valid playlist head followed by 16-byte segment lines (`x.ts`, which
/// does not exist) up to about `total` bytes.
pub(crate) fn huge_playlist(total: u64) -> Response {
    const LINE: &[u8] = b"#EXTINF:2,\nx.ts\n";
    const PER_BLOCK: u64 = (CHUNK / LINE.len()) as u64;
    let head = Bytes::from_static(
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    let lines = total / LINE.len() as u64;
    let block = Bytes::from(LINE.repeat(PER_BLOCK as usize));
    let tail = Bytes::from(LINE.repeat((lines % PER_BLOCK) as usize));
    let body = stream::once(async move { head })
        .chain(stream::iter(
            (0..lines / PER_BLOCK).map(move |_| block.clone()),
        ))
        .chain(stream::once(async move { tail }))
        .map(Ok::<Bytes, std::io::Error>);
    (
        [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")],
        Body::from_stream(body),
    )
        .into_response()
}

/// A playlist head, then one line of `total` bytes that never ends.
pub(crate) fn endless_line(total: u64) -> Response {
    streamed(
        "application/vnd.apple.mpegurl",
        Bytes::from_static(b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n"),
        b'a',
        total,
    )
}

/// A redirect to the same path on `origin`.
pub(crate) fn redirect(origin: &str, path_and_query: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{origin}{path_and_query}"))],
    )
        .into_response()
}

/// `body`, one byte every `every`.
pub(crate) fn drip(content_type: &'static str, body: Bytes, every: Duration) -> Response {
    let bytes = stream::iter(0..body.len()).then(move |i| {
        let byte = body.slice(i..=i);
        async move {
            tokio::time::sleep(every).await;
            Ok::<Bytes, std::io::Error>(byte)
        }
    });
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(bytes),
    )
        .into_response()
}

/// 4 KiB of random bytes (xorshift), `200`, with the given type.
pub(crate) fn garbage(content_type: &'static str) -> Response {
    let mut x: u32 = 0x9e37_79b9;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

/// A gzip stream inflating to `inflated` zero bytes: one member of 16 MiB of
/// zeros (about 16 KiB compressed), repeated (gzip allows members in a row).
pub(crate) async fn gzip_bomb(inflated: u64) -> Response {
    const MEMBER_INFLATED: u64 = 16 * 1024 * 1024;
    static MEMBER: OnceLock<Bytes> = OnceLock::new();
    // Compressing takes a while in a debug build: not on the engine's runtime.
    let member = tokio::task::spawn_blocking(|| {
        MEMBER
            .get_or_init(|| {
                use std::io::Write as _;
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let zeros = vec![0u8; 1024 * 1024];
                for _ in 0..MEMBER_INFLATED / zeros.len() as u64 {
                    // Writing to a Vec cannot fail.
                    let _ = encoder.write_all(&zeros);
                }
                Bytes::from(encoder.finish().unwrap_or_default())
            })
            .clone()
    })
    .await
    .unwrap_or_default();
    let members = inflated.div_ceil(MEMBER_INFLATED);
    let body = stream::iter((0..members).map(move |_| Ok::<Bytes, std::io::Error>(member.clone())));
    (
        [
            (header::CONTENT_TYPE, "video/mp2t"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
