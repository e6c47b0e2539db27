//! The server's connection handling: the TCP listener, caps on open
//! connections (this computer's, and a separate budget with a per-device cap
//! for other devices, so the LAN cannot starve local players and the UI),
//! hyper's HTTP/1 with a header-read timeout and a deadline on the request
//! body (so a client that trickles its request in cannot hold a connection
//! forever), JSON bodies on the errors hyper answers by itself (malformed
//! requests, 414, 431), graceful shutdown, and a write-stall guard: a
//! connection whose socket has accepted no bytes for a while is closed.
//!
//! A flood of connections cannot crowd out the ones that ask something: the
//! listen backlog holds a burst, connections that have not sent a whole
//! request head yet are few at once (the oldest is closed for a new one,
//! see [`WaitingHeads`]), hyper's read buffer is small, and request bodies
//! in flight share one budget (`body_budget`).
//!
//! hyper offers no hook for the answers it writes itself, so they are
//! recognised in the bytes written (an empty 4xx head, which our own errors
//! never are) and replaced; this module's tests send every kind of request
//! hyper refuses by itself, so a hyper whose answers look otherwise fails them.
//!
//! The shared ring already makes a stalled player cost nothing to the others;
//! this closes its socket too, so its slot is freed and the channel can linger
//! and stop. Written by hand because neither hyper nor axum offer a write
//! timeout for a streaming response. Idle keep-alive connections are not
//! affected: the timer only runs while a write is pending.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::guard::is_loopback;

/// A TCP listener whose connections close when a write stalls too long.
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    write_stall: Duration,
    slots: Arc<Semaphore>,
    heads: Arc<WaitingHeads>,
    remote: RemoteBudget,
    trust_loopback: bool,
    /// Cancelled when this listener's connections must end at once (LAN
    /// sharing switched off), not drain as at shutdown.
    cut: tokio_util::sync::CancellationToken,
}

/// Open connections from this computer at most; further clients wait in the
/// kernel's backlog.
const MAX_CONNECTIONS: usize = 2048;
/// Open connections from other devices at most, all together; more are refused.
const MAX_REMOTE_CONNECTIONS: usize = 256;
/// Open connections from one other device at most (a TV playing HLS uses a few).
const MAX_CONNECTIONS_PER_PEER: usize = 32;
/// A client must send its request headers within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and its body within this time after the headers: request bodies are
/// small JSON documents (at most 1 MiB).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head (request line and headers) longer than this is refused
/// with 431, however it arrives: on its own, hyper bounds only the buffered
/// part of a head still incomplete, and a whole head read at once would pass
/// whatever its size. Players and browsers send a few KiB; the bound is above
/// hyper's own bound on the URI (64 KiB), so a long URL still gets its 414.
/// It is also the size of hyper's read buffer, what each connection may
/// hold of a request before it is handled.
const MAX_REQUEST_HEAD: usize = 72 * 1024;
/// Connections accepted before the kernel refuses more (a burst waits there).
const LISTEN_BACKLOG: u32 = 1024;
/// Connections that may wait for their first request head at once: a
/// client sends its head right after connecting, so only clients that
/// trickle it in wait long; past this, the one waiting longest is closed
/// (once it has had [`HEAD_GRACE`] to send its head), and so it is when
/// every connection slot is taken.
const MAX_WAITING_HEADS: usize = 256;
/// A connection is not closed for a newer one before this: in a burst of
/// connections, a client's head may take a moment to arrive.
const HEAD_GRACE: Duration = Duration::from_millis(500);
/// How often a listener whose slots are all taken looks again for a
/// connection that has waited out its grace.
const SLOT_RETRY: Duration = Duration::from_millis(100);
/// Bound on waiting for connections to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` with a listen backlog of [`LISTEN_BACKLOG`] (the OS
/// default of 128 drops a burst of connections). The IPv6 wildcard (`[::]`)
/// takes IPv4 clients too on every OS: Linux does by default, Windows does
/// not (its `IPV6_V6ONLY` is on unless turned off, as here), and tokio's
/// socket cannot set it, hence socket2.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // As std's bind does, so a restart finds the port free at once.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The connections still waiting for their first request head, oldest
/// first, each with the way to close it.
#[derive(Debug, Default)]
struct WaitingHeads {
    /// The last number given, and the waiting connections by number.
    waiting: Mutex<(u64, Waiting)>,
}

/// Waiting connections by number (oldest first): since when, and the way to close it.
type Waiting = BTreeMap<u64, (Instant, oneshot::Sender<()>)>;

impl WaitingHeads {
    /// A new connection waits; when [`MAX_WAITING_HEADS`] already do, the
    /// oldest is told to close. Answers its number and what tells it to close.
    fn admit(&self) -> (u64, oneshot::Receiver<()>) {
        let mut guard = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let (last, waiting) = &mut *guard;
        *last += 1;
        while waiting.len() >= MAX_WAITING_HEADS && Self::pop_older(waiting, HEAD_GRACE) {}
        let (close, closing) = oneshot::channel();
        waiting.insert(*last, (Instant::now(), close));
        (*last, closing)
    }

    /// Closes the connection waiting longest, if it has waited `age`.
    fn close_oldest(&self, age: Duration) {
        let mut guard = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        Self::pop_older(&mut guard.1, age);
    }

    /// Tells the oldest of `waiting` to close if it waited `age`; whether it did.
    fn pop_older(waiting: &mut Waiting, age: Duration) -> bool {
        match waiting.first_entry() {
            Some(oldest) if oldest.get().0.elapsed() >= age => {
                let _ = oldest.remove().1.send(());
                true
            }
            _ => false,
        }
    }

    /// Connection `id` sent a request head, or closed: it waits no more.
    fn done(&self, id: u64) {
        let mut guard = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.remove(&id);
    }
}

impl GuardedListener {
    pub fn new(inner: TcpListener, write_stall: Duration) -> Self {
        Self {
            inner,
            write_stall,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            heads: Arc::default(),
            remote: RemoteBudget::new(MAX_REMOTE_CONNECTIONS, MAX_CONNECTIONS_PER_PEER),
            trust_loopback: true,
            cut: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Ends every connection of this listener when `cut` is cancelled.
    pub fn cut_by(mut self, cut: tokio_util::sync::CancellationToken) -> Self {
        self.cut = cut;
        self
    }

    /// Whether loopback peers count as this computer (false only in tests,
    /// to stand in for other devices; as [`crate::config::Config::trust_loopback`]).
    pub fn trusting_loopback(mut self, trust: bool) -> Self {
        self.trust_loopback = trust;
        self
    }

    async fn accept(&self) -> (StallGuard<TcpStream>, SocketAddr) {
        // A local slot is held before accepting, so local clients always find
        // one; other devices' connections then trade it for one of theirs.
        // The semaphore is never closed, so acquiring only waits. Slots all
        // taken: the connection waiting longest for its head gives its own.
        // (Connections that closed meanwhile give theirs back anyway.)
        let mut local = loop {
            if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
                break Some(slot);
            }
            self.heads.close_oldest(HEAD_GRACE);
            let freed = Arc::clone(&self.slots).acquire_owned();
            if let Ok(slot) = tokio::time::timeout(SLOT_RETRY, freed).await {
                break slot.ok();
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let slot = if self.trust_loopback && is_loopback(addr.ip()) {
                        local.take().map(Slot::Local)
                    } else if let Some(remote) = self.remote.admit(addr.ip()) {
                        Some(Slot::Remote(remote))
                    } else {
                        tracing::debug!(%addr, "too many connections from other devices, refused");
                        // Best effort, never waits: the socket is new and empty.
                        let _ = stream.try_write(&too_many_connections());
                        continue;
                    };
                    // Players want bytes as they come, not batched by Nagle.
                    let _ = stream.set_nodelay(true);
                    let mut guard = StallGuard::new(stream, self.write_stall);
                    guard.slot = slot;
                    return (guard, addr);
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// What a refused connection from another device reads before it is closed.
fn too_many_connections() -> Vec<u8> {
    let body = serde_json::json!({
        "error": "too many connections from other devices; try later"
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A connection's place in one of the budgets, given back when it closes.
#[derive(Debug)]
enum Slot {
    Local(#[allow(dead_code)] OwnedSemaphorePermit),
    Remote(#[allow(dead_code)] RemoteSlot),
}

/// The connections other devices may hold: a total and a cap per device.
#[derive(Debug, Clone)]
struct RemoteBudget {
    total: Arc<Semaphore>,
    per_peer: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl RemoteBudget {
    fn new(total: usize, per_peer: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(total)),
            per_peer,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for a connection from `ip`, or none when its budget is spent.
    fn admit(&self, ip: IpAddr) -> Option<RemoteSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.per_peer {
            return None;
        }
        let permit = Arc::clone(&self.total).try_acquire_owned().ok()?;
        *count += 1;
        Some(RemoteSlot {
            _permit: permit,
            ip,
            open: Arc::clone(&self.open),
        })
    }
}

#[derive(Debug)]
struct RemoteSlot {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for RemoteSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A request body that fails once its deadline passes while it is still
/// arriving: hyper bounds the headers only.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + limit,
            timer: None,
        }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                "the request body did not arrive within {BODY_READ_TIMEOUT:?}"
            )
            .into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The remote address of a connection, for handlers that need it
/// (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// connections finish (bounded).
pub async fn serve(
    listener: GuardedListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let http = http1();
    let heads = Arc::clone(&listener.heads);
    tokio::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (id, closing) = heads.admit();
        let arrived = Arc::clone(&heads);
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            arrived.done(id);
            let mut request =
                request.map(|body| Body::new(DeadlineBody::new(body, BODY_READ_TIMEOUT)));
            request.extensions_mut().insert(ConnectInfo(PeerAddr(addr)));
            request
        });
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        let ended = Arc::clone(&heads);
        let cut = listener.cut.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cut.cancelled() => {
                    tracing::debug!(%addr, "closed: its listener was switched off");
                }
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%addr, %error, "connection ended with an error");
                    }
                }
                Ok(()) = closing => {
                    tracing::debug!(%addr, "closed: too many connections waiting for a request");
                }
            }
            ended.done(id);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open at shutdown");
    }
}

/// hyper's HTTP/1 as every connection is served.
fn http1() -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_REQUEST_HEAD)
        .max_buf_size(MAX_REQUEST_HEAD);
    http
}

/// Wraps a stream and fails writes that have been pending longer than a limit.
#[derive(Debug)]
pub struct StallGuard<S> {
    inner: S,
    limit: Duration,
    stalled_since: Option<Pin<Box<Sleep>>>,
    /// The listener's connection slot, freed when the connection closes.
    slot: Option<Slot>,
    /// A JSON error answer being written in place of one of hyper's empty
    /// ones: the bytes, how many are written, and the length hyper gave.
    replacement: Option<(Bytes, usize, usize)>,
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled_since: None,
            slot: None,
            replacement: None,
        }
    }

    /// Arms the timer on a pending write, clears it on progress.
    fn check<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled_since = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "player accepted no data for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> StallGuard<S> {
    /// Writes the replacement of one of hyper's answers; ready (with the
    /// length hyper gave) once all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, claimed)) = &mut self.replacement {
            if *written == bytes.len() {
                let claimed = *claimed;
                self.replacement = None;
                return Poll::Ready(Ok(claimed));
            }
            let poll = Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]);
            match self.check(cx, poll) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    if let Some((_, written, _)) = &mut self.replacement {
                        *written += n;
                    }
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(0))
    }
}

/// hyper answers requests it cannot parse (malformed, 414, 431) by itself,
/// with an empty body; every error of this server is JSON, so such an answer
/// is replaced by the same status with a JSON body. Our own error responses
/// always have a body, so an empty 4xx answer is hyper's.
fn replace_hyper_error(head: &[u8]) -> Option<Bytes> {
    let rest = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let message = match rest.get(..3)? {
        b"400" => "the request is malformed",
        b"414" => "the URL is too long",
        b"431" => "the request headers are too large",
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    if !lower.ends_with(b"\r\n\r\n")
        || !lower.windows(21).any(|w| w == b"\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let status = String::from_utf8_lossy(&rest[..3]).into_owned();
    let body = serde_json::json!({ "error": message }).to_string();
    Some(Bytes::from(format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        axum::http::StatusCode::from_bytes(status.as_bytes())
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
        body.len()
    )))
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacement.is_none() {
            if let Some(json) = replace_hyper_error(buf) {
                self.replacement = Some((json, 0, buf.len()));
            }
        }
        if self.replacement.is_some() {
            return self.poll_replacement(cx);
        }
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.check(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper's own answers are one buffer (a head without a body).
        if let [only] = bufs {
            if self.replacement.is_some() || replace_hyper_error(only).is_some() {
                return self.poll_write(cx, only);
            }
        }
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.check(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.check(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// What the server answers to `request` when all of it has arrived
    /// before the server reads any (as on a loaded machine): the answer's
    /// head and body, read until the server closes or 5 s pass.
    async fn answer_to_request_read_at_once(request: &[u8]) -> (String, String) {
        let (mut client, server) = tokio::io::duplex(request.len() + 64 * 1024);
        client.write_all(request).await.expect("write");
        let app = Router::new().route("/", axum::routing::get(|| async { "handler ran" }));
        let connection = http1().serve_connection(
            TokioIo::new(StallGuard::new(server, Duration::from_secs(5))),
            TowerToHyperService::new(app),
        );
        let served = tokio::spawn(connection);
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer)).await;
        served.abort();
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (head.to_owned(), body.to_owned())
    }

    fn assert_json_error(what: &str, (head, body): &(String, String), status: u16) {
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: {head}\n\n{body}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{what}: {head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert!(json["error"].is_string(), "{what}: {body}");
    }

    #[tokio::test]
    async fn headers_too_large_are_431_even_when_they_arrive_at_once() {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "b".repeat(500_000)
        );
        let answer = answer_to_request_read_at_once(request.as_bytes()).await;
        assert_json_error("500 kB of headers", &answer, 431);
    }

    /// Every kind of request hyper refuses before our router sees it (see
    /// hyper's `Server::on_error`: method, URI, version, header, too large,
    /// URI too long) gets the status hyper chose with a JSON body.
    #[tokio::test]
    async fn every_answer_hyper_writes_itself_is_replaced_by_json() {
        let many_headers: String = (0..101).map(|n| format!("X-{n}: {n}\r\n")).collect();
        let cases: Vec<(&str, String, u16)> = vec![
            ("malformed request line", "GARBAGE\r\n\r\n".into(), 400),
            (
                "bad method",
                "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n".into(),
                400,
            ),
            (
                "control byte in the URI",
                "GET /\u{1} HTTP/1.1\r\nHost: a\r\n\r\n".into(),
                400,
            ),
            (
                "URI that does not parse",
                "GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n".into(),
                400,
            ),
            (
                "unknown version",
                "GET / HTTP/1.2\r\nHost: a\r\n\r\n".into(),
                400,
            ),
            (
                "header without colon",
                "GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n".into(),
                400,
            ),
            (
                "control byte in a header",
                "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1}b\r\n\r\n".into(),
                400,
            ),
            (
                "bad Content-Length",
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n".into(),
                400,
            ),
            (
                "two Content-Lengths",
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
                    .into(),
                400,
            ),
            (
                "Transfer-Encoding in HTTP/1.0",
                "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
                400,
            ),
            (
                "Transfer-Encoding not ending in chunked",
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".into(),
                400,
            ),
            (
                "too many headers",
                format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n"),
                431,
            ),
            (
                "URI too long",
                format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70_000)),
                414,
            ),
        ];
        for (what, request, status) in cases {
            let answer = answer_to_request_read_at_once(request.as_bytes()).await;
            assert_json_error(what, &answer, status);
        }
    }
}
