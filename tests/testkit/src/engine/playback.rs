//! TS playback (`/ace/r/<session>/<hash>`): the looped clip paced at the
//! engine's bitrate in small writes, joining the session's live position,
//! with the playback faults (header delay, drops, garbage, playlist-for-TS).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};

use super::hostile::{self, Hostile};
use super::routes::text;
use super::state::{OpenPlayback, Shared};
use super::{Fault, SessionKind};
use crate::ts::PACKET_SIZE;

/// Bytes of a torn packet (a packet's start without its end) in garbage.
const TORN_LEN: usize = 100;
/// Random bytes after the torn packet.
const RANDOM_LEN: usize = 37;

pub(crate) async fn ts_playback(
    State(shared): State<Arc<Shared>>,
    Path((session, hash)): Path<(String, String)>,
) -> Response {
    let Some(content_id) = shared.live_session(&session, SessionKind::Ts) else {
        return text(StatusCode::NOT_FOUND, "unknown playback session");
    };
    let faults = shared.faults_for(&content_id);
    for hostile in hostile::hostile(&faults.faults) {
        match hostile {
            Hostile::RedirectTo(origin) => {
                return hostile::redirect(origin, &format!("/ace/r/{session}/{hash}"))
            }
            Hostile::SlowDrip(every) => {
                let packets = Bytes::from(vec![0x47; PACKET_SIZE * 1000]);
                return hostile::drip("video/mp2t", packets, *every);
            }
            _ => {}
        }
    }
    if faults.has(&Fault::PlaylistForTs) {
        let infohash = shared
            .all_sessions()
            .into_iter()
            .find(|s| s.session_id == session)
            .map(|s| s.infohash)
            .unwrap_or_default();
        let body = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXTINF:2.002000,\n/ace/c/{infohash}/0.ts\n"
        );
        return (
            [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")],
            body,
        )
            .into_response();
    }
    let open = shared.open_playback();
    if let Some(delay) = faults.find(|f| match f {
        Fault::HeaderDelay(d) => Some(*d),
        _ => None,
    }) {
        if !prebuffer(&shared, &session, delay).await {
            return text(StatusCode::NOT_FOUND, "unknown playback session");
        }
    }
    let drop_after = faults.find(|f| match f {
        Fault::DropAfter(d) => Some(*d),
        _ => None,
    });
    let next_packet = join_live(&shared, &session);
    let connection = Connection {
        rate: shared.bytes_per_sec,
        garbage_seed: next_packet as u32 | 1,
        shared,
        session,
        content_id,
        next_packet,
        pending: BytesMut::new(),
        started: Instant::now(),
        sent: 0,
        last_write: None,
        since_garbage: 0,
        drop_after,
        _open: open,
    };
    let stream = futures_util::stream::unfold(connection, |mut connection| async move {
        let chunk = connection.next_chunk().await?;
        Some((Ok::<Bytes, std::io::Error>(chunk), connection))
    });
    (
        [(header::CONTENT_TYPE, "video/mp2t")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Waits out a header delay (shown as `prebuf` in stats); false if the
/// session stopped or the engine went away meanwhile.
async fn prebuffer(shared: &Shared, session: &str, delay: Duration) -> bool {
    let adjust = |by: isize| {
        if let Some(s) = shared.lock().session_mut(session) {
            s.prebuffering = s.prebuffering.saturating_add_signed(by);
        }
    };
    adjust(1);
    let until = Instant::now() + delay;
    let mut alive = true;
    while Instant::now() < until {
        if !shared.session_alive(session) || shared.is_down() {
            alive = false;
            break;
        }
        let step = until
            .saturating_duration_since(Instant::now())
            .min(shared.options.write_interval);
        if !shared.sleep(step).await {
            alive = false;
            break;
        }
    }
    adjust(-1);
    alive
}

/// The packet where a new connection starts: 0 for the session's first
/// connection (which starts the live clock), else the live position.
fn join_live(shared: &Shared, session: &str) -> u64 {
    let mut state = shared.lock();
    let Some(s) = state.session_mut(session) else {
        return 0;
    };
    match s.live_origin {
        None => {
            s.live_origin = Some(Instant::now());
            0
        }
        Some(origin) => {
            let bytes = origin.elapsed().as_secs_f64() * shared.bytes_per_sec as f64;
            bytes as u64 / PACKET_SIZE as u64
        }
    }
}

/// One playback response in progress.
struct Connection {
    shared: Arc<Shared>,
    session: String,
    content_id: String,
    rate: u64,
    /// Next packet of the endless looped stream.
    next_packet: u64,
    /// Bytes generated but not sent yet (chunks are not packet aligned).
    pending: BytesMut,
    started: Instant,
    /// Bytes sent on this connection.
    sent: u64,
    /// When the last chunk went out: chunks go out once per write interval.
    last_write: Option<Instant>,
    since_garbage: u64,
    garbage_seed: u32,
    drop_after: Option<Duration>,
    _open: OpenPlayback,
}

impl Connection {
    /// The next paced chunk, or `None` when the stream must end.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if !self.shared.session_alive(&self.session)
                || self.shared.is_down()
                || self.shared.is_shutting_down()
                || self.shared.faults_for(&self.content_id).has(&Fault::Dead)
            {
                return None;
            }
            let elapsed = self.started.elapsed();
            if self.drop_after.is_some_and(|limit| elapsed >= limit) {
                return None;
            }
            let due = (elapsed.as_secs_f64() * self.rate as f64) as u64;
            // Like the engine, write in ticks: sending whatever is due at every
            // poll turned a slow reader (a debug build) into a stream of
            // 2-byte chunks that kept both sides busy.
            let since_write = self.last_write.map(|at| at.elapsed());
            let interval = self.shared.options.write_interval;
            if due > self.sent && since_write.is_none_or(|since| since >= interval) {
                let len = usize::try_from(due - self.sent).unwrap_or(usize::MAX);
                let garbage = self
                    .shared
                    .faults_for(&self.content_id)
                    .has(&Fault::GarbageTs);
                self.fill(len, garbage);
                let chunk = self.pending.split_to(len.min(self.pending.len())).freeze();
                self.sent += chunk.len() as u64;
                self.shared.add_bytes(&self.session, chunk.len() as u64);
                self.last_write = Some(Instant::now());
                return Some(chunk);
            }
            // Until the next tick, or a whole interval when nothing was due at it.
            let mut wait = match since_write {
                Some(since) if since < interval => interval - since,
                _ => interval,
            };
            if let Some(limit) = self.drop_after {
                wait = wait.min(limit.saturating_sub(elapsed));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Generates packets until at least `len` bytes are pending.
    fn fill(&mut self, len: usize, garbage: bool) {
        while self.pending.len() < len {
            if garbage && self.since_garbage >= self.rate {
                self.since_garbage = 0;
                self.push_garbage();
            }
            match self.shared.stream_packet(self.next_packet) {
                Some(packet) => self.pending.extend_from_slice(&packet),
                None => break,
            }
            self.next_packet += 1;
            self.since_garbage += PACKET_SIZE as u64;
        }
    }

    /// A torn packet (the start of the next real one) and some random bytes.
    fn push_garbage(&mut self) {
        if let Some(packet) = self.shared.stream_packet(self.next_packet) {
            self.pending.extend_from_slice(&packet[..TORN_LEN]);
        }
        for _ in 0..RANDOM_LEN {
            // xorshift32
            let mut x = self.garbage_seed;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.garbage_seed = x;
            self.pending.extend_from_slice(&[(x >> 24) as u8]);
        }
    }
}
