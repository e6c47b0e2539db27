//! A TCP listener for the simulated engine that can play dead: while the
//! engine is "down", new connections are closed at once and open ones fail on
//! their next read or write.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct DownAwareListener {
    inner: TcpListener,
    down: Arc<AtomicBool>,
}

impl DownAwareListener {
    pub(crate) fn new(inner: TcpListener, down: Arc<AtomicBool>) -> Self {
        Self { inner, down }
    }
}

impl Listener for DownAwareListener {
    type Io = DownAwareStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            if self.down.load(Ordering::SeqCst) {
                drop(stream);
                continue;
            }
            let down = self.down.clone();
            return (
                DownAwareStream {
                    inner: stream,
                    down,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails its reads and writes while the engine is down.
pub(crate) struct DownAwareStream {
    inner: TcpStream,
    down: Arc<AtomicBool>,
}

impl DownAwareStream {
    fn check(&self) -> io::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated engine is down",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for DownAwareStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DownAwareStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
