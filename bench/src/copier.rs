//! The reference copier: the least a fan-out can do. It reads the upstream
//! once and writes every chunk to every connected socket through a tokio
//! broadcast channel (a lagging client skips what it missed). The proxy is
//! measured against it in the same run.
//!
//! With a [`Batch`] it first gathers upstream reads into chunks the way the
//! proxy does, so its cost is that of moving the bytes alone, with the proxy's
//! number of writes: a floor for the proxy, not a rival (it has no HTTP, no
//! join buffer, no stall handling).
//!
//! It reads one upstream per channel it is given; a player asks for channel
//! `n` with the path `/n` (`/` is channel 0), so many channels have a floor
//! that pays for reading each upstream too.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::Instant;

const RETAINED_BYTES: usize = 4 * 1024 * 1024;

/// Upstream bytes gathered before a chunk is sent, and the longest they wait.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub bytes: usize,
    pub delay: Duration,
}

pub async fn run(
    upstreams: Vec<String>,
    listener: TcpListener,
    batch: Option<Batch>,
) -> std::io::Result<()> {
    // Chunks kept for sockets that lag behind: about the proxy's 4 MiB ring, so
    // peak RSS compares like with like (the engine reads ~15 KB at a time).
    let kept = batch.map_or(256, |batch| (RETAINED_BYTES / batch.bytes).max(1));
    let channels: Vec<broadcast::Sender<Bytes>> = upstreams
        .into_iter()
        .map(|upstream| {
            let (tx, _) = broadcast::channel::<Bytes>(kept);
            tokio::spawn(feed(upstream, tx.clone(), batch));
            tx
        })
        .collect();
    loop {
        let (socket, _) = listener.accept().await?;
        tokio::spawn(serve(socket, channels.clone()));
    }
}

async fn feed(upstream: String, feed: broadcast::Sender<Bytes>, batch: Option<Batch>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    let Ok(response) = client.get(&upstream).send().await else {
        eprintln!("copier: upstream {upstream} unreachable");
        return;
    };
    let body = response.bytes_stream();
    match batch {
        None => publish_each(body, feed).await,
        Some(batch) => publish_batched(body, feed, batch).await,
    }
}

async fn publish_each<E>(
    mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    feed: broadcast::Sender<Bytes>,
) {
    while let Some(Ok(chunk)) = body.next().await {
        let _ = feed.send(chunk);
    }
}

async fn publish_batched<E>(
    mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    feed: broadcast::Sender<Bytes>,
    batch: Batch,
) {
    let mut held = BytesMut::new();
    // Far enough away to mean "nothing held"; reset when the first bytes arrive.
    let mut send_by = Instant::now() + Duration::from_secs(3600);
    loop {
        tokio::select! {
            next = body.next() => {
                let Some(Ok(chunk)) = next else { break };
                if held.is_empty() {
                    send_by = Instant::now() + batch.delay;
                }
                held.extend_from_slice(&chunk);
                if held.len() < batch.bytes {
                    continue;
                }
            }
            () = tokio::time::sleep_until(send_by), if !held.is_empty() => {}
        }
        let _ = feed.send(held.split().freeze());
    }
    if !held.is_empty() {
        let _ = feed.send(held.freeze());
    }
}

async fn serve(mut socket: TcpStream, channels: Vec<broadcast::Sender<Bytes>>) {
    let _ = socket.set_nodelay(true);
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.len() > 16 * 1024 {
            return;
        }
    }
    let Some(channel) = requested_channel(&request).and_then(|n| channels.get(n)) else {
        let _ = socket
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    let mut rx = channel.subscribe();
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n";
    if socket.write_all(head).await.is_err() {
        return;
    }
    loop {
        match rx.recv().await {
            Ok(chunk) => {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The channel a request's path names: `/` is 0, `/n` is n.
fn requested_channel(request: &[u8]) -> Option<usize> {
    let line = std::str::from_utf8(request).ok()?.lines().next()?;
    let path = line.split_whitespace().nth(1)?.trim_start_matches('/');
    if path.is_empty() {
        Some(0)
    } else {
        path.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::requested_channel;

    #[test]
    fn a_players_path_names_its_channel() {
        assert_eq!(requested_channel(b"GET / HTTP/1.1\r\n\r\n"), Some(0));
        assert_eq!(requested_channel(b"GET /12 HTTP/1.1\r\n\r\n"), Some(12));
        assert_eq!(requested_channel(b"GET /x HTTP/1.1\r\n\r\n"), None);
        assert_eq!(requested_channel(b"\xff\r\n"), None);
    }
}
