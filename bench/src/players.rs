//! Benchmark players: raw HTTP/1.1 clients that count the bytes they receive
//! (cheap enough that 200 of them do not distort the measurement), a stalled
//! player that never reads, and a time-to-first-byte probe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects and sends `GET path`; the response starts arriving on the stream.
pub async fn request(addr: SocketAddr, path: &str) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: acebridge-bench\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    Ok(stream)
}

/// Reads the response until the connection closes, adding body bytes to `counter`.
pub async fn play(addr: SocketAddr, path: String, counter: Arc<AtomicU64>) {
    let Ok(mut stream) = request(addr, &path).await else {
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut in_body = false;
    let mut head = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if in_body {
            counter.fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            in_body = true;
            counter.fetch_add((head.len() - end - 4) as u64, Ordering::Relaxed);
        }
    }
}

/// A player that asks for the stream and never reads (tiny receive buffer).
pub async fn stalled(addr: SocketAddr, path: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut stream = socket.connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    Ok(stream)
}

/// Time from sending the request to the first body byte.
pub async fn time_to_first_byte(addr: SocketAddr, path: &str) -> std::io::Result<Duration> {
    let started = Instant::now();
    let mut stream = request(addr, path).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed before data",
            ));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if head.len() > end + 4 {
                return Ok(started.elapsed());
            }
        }
    }
}

/// An HLS viewer at its natural pace: reloads the playlist every half target
/// duration and fetches each new segment once, in order, from the newest
/// three on (as players start), adding segment bytes to `counter`. Runs until
/// aborted.
pub async fn watch_hls(base: String, playlist: String, counter: Arc<AtomicU64>) {
    // One client per viewer: its own connections, like a real player.
    let Ok(client) = reqwest::Client::builder().no_proxy().build() else {
        return;
    };
    let mut next: Option<u64> = None;
    loop {
        let mut pause = Duration::from_millis(500);
        if let Some(text) = get(&client, &format!("{base}{playlist}")).await {
            let text = String::from_utf8_lossy(&text).into_owned();
            let first: u64 = tag(&text, "#EXT-X-MEDIA-SEQUENCE:").unwrap_or(0);
            let uris: Vec<&str> = text
                .lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .collect();
            let from = next.unwrap_or(first + uris.len().saturating_sub(3) as u64);
            for (seq, uri) in (first..).zip(&uris) {
                if seq < from {
                    continue;
                }
                if let Some(bytes) = get(&client, &format!("{base}{uri}")).await {
                    counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                next = Some(seq + 1);
            }
            if let Some(target) = tag(&text, "#EXT-X-TARGETDURATION:") {
                pause = Duration::from_millis(target * 500);
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// Time from asking for the playlist to the first byte of its newest segment.
pub async fn hls_time_to_first_byte(base: &str, playlist: &str) -> Option<Duration> {
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let started = Instant::now();
    let uri = newest_segment(&client, base, playlist).await?;
    let response = client.get(format!("{base}{uri}")).send().await.ok()?;
    let mut response = response.error_for_status().ok()?;
    response.chunk().await.ok()??;
    Some(started.elapsed())
}

/// Time from asking for the playlist to having the whole of its newest
/// segment: on a cold channel, when an HLS player could first decode.
pub async fn hls_first_segment(base: &str, playlist: &str) -> Option<Duration> {
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let started = Instant::now();
    let uri = newest_segment(&client, base, playlist).await?;
    get(&client, &format!("{base}{uri}")).await?;
    Some(started.elapsed())
}

/// The URI of the newest segment in the playlist at `base` + `playlist`.
async fn newest_segment(client: &reqwest::Client, base: &str, playlist: &str) -> Option<String> {
    let text = get(client, &format!("{base}{playlist}")).await?;
    String::from_utf8_lossy(&text)
        .lines()
        .rfind(|line| !line.starts_with('#') && !line.is_empty())
        .map(str::to_owned)
}

async fn get(client: &reqwest::Client, url: &str) -> Option<bytes::Bytes> {
    let response = client.get(url).send().await.ok()?.error_for_status().ok()?;
    response.bytes().await.ok()
}

fn tag(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
}
