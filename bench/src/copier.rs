//! The reference copier: the least a fan-out can do. It reads the upstream
//! once and writes every chunk to every connected socket through a tokio
//! broadcast channel (a lagging client skips what it missed). The proxy is
//! measured against it in the same run.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

pub async fn run(upstream: String, listener: TcpListener) -> std::io::Result<()> {
    let (tx, _) = broadcast::channel::<Bytes>(4096);
    let feed = tx.clone();
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default();
        let Ok(response) = client.get(&upstream).send().await else {
            eprintln!("copier: upstream {upstream} unreachable");
            return;
        };
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            let _ = feed.send(chunk);
        }
    });
    loop {
        let (socket, _) = listener.accept().await?;
        let rx = tx.subscribe();
        tokio::spawn(serve(socket, rx));
    }
}

async fn serve(mut socket: TcpStream, mut rx: broadcast::Receiver<Bytes>) {
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
