//! Floods of local connections for the tests of what they cost the proxy:
//! many connections that send a prefix of a request and then nothing, and
//! a probe of `/api/health` that records its slowest answer.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::http;

/// Opens `count` connections from `from` to `to`, each sending `prefix` (a
/// request's start) and then nothing. Connections the proxy closes or the
/// kernel's backlog drops are not retried; the open ones are returned.
pub async fn stall_connections(
    from: IpAddr,
    to: SocketAddr,
    count: usize,
    prefix: Vec<u8>,
) -> Vec<tokio::net::TcpStream> {
    let prefix = std::sync::Arc::new(prefix);
    let attempts: Vec<_> = (0..count)
        .map(|_| {
            let prefix = std::sync::Arc::clone(&prefix);
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().ok()?;
                socket.bind(SocketAddr::new(from, 0)).ok()?;
                let mut stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
                    .await
                    .ok()?
                    .ok()?;
                // A prefix larger than the proxy reads stops being taken: what
                // was written is enough.
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), stream.write_all(&prefix)).await;
                Some(stream)
            })
        })
        .collect();
    let mut open = Vec::new();
    for attempt in attempts {
        if let Ok(Some(stream)) = attempt.await {
            open.push(stream);
        }
    }
    open
}

/// Asks `/api/health` every 200 ms for `during`; returns the slowest answer.
pub async fn slowest_health(url: String, during: Duration) -> Duration {
    let until = Instant::now() + during;
    let mut slowest = Duration::ZERO;
    while Instant::now() < until {
        let started = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(30), http().get(&url).send())
            .await
            .map(|answer| answer.map(|response| response.status()));
        assert!(
            matches!(answered, Ok(Ok(reqwest::StatusCode::OK))),
            "health did not answer: {answered:?}"
        );
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    slowest
}

/// Raises this process's soft limit on open files to `wanted` (or the hard
/// limit, if lower), so a flood of thousands of sockets fits; the proxy
/// started afterwards inherits it. Answers the soft limit in force. (Windows
/// has no such limit on sockets.)
#[cfg(not(unix))]
pub fn raise_open_files_limit(wanted: u64) -> u64 {
    wanted
}

/// See the other target's.
#[cfg(unix)]
pub fn raise_open_files_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted.min(limit.rlim_max);
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return 0;
        }
    }
    limit.rlim_cur
}
