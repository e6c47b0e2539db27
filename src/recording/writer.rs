//! The disk side of a recording: a blocking task that writes the TS to its
//! file behind a bounded queue, so a slow or failing disk costs only that
//! recording. When the queue is full the recording stops reading its
//! channel; the channel's ring moves on without it and the recording later
//! resumes at a keyframe (counted as a drop), never holding back the channel
//! or its other players. Also: the free space of the recordings' disk.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches of TS (up to a player batch each) waiting for the disk.
const QUEUE_BATCHES: usize = 32;

/// How often, in bytes written, the free space is checked again.
const FREE_CHECK_EVERY: u64 = 32 * 1024 * 1024;

/// What the writer needs to know besides the bytes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Stop before the disk holds less than this.
    pub min_free_bytes: u64,
    /// A write error after this many bytes, as a disk that fills would give
    /// (for tests of the failure path).
    pub fail_after_bytes: Option<u64>,
}

/// A running writer: send batches, then [`Writer::finish`].
#[derive(Debug)]
pub struct Writer {
    queue: mpsc::Sender<Bytes>,
    task: JoinHandle<io::Result<()>>,
}

impl Writer {
    /// Starts writing to `file` (at `path`, for the free-space checks);
    /// `written` counts the bytes on disk.
    pub fn spawn(file: File, path: &Path, written: Arc<AtomicU64>, limits: Limits) -> Self {
        let (queue, batches) = mpsc::channel(QUEUE_BATCHES);
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let task =
            tokio::task::spawn_blocking(move || write_all(file, &dir, batches, &written, &limits));
        Self { queue, task }
    }

    /// Queues `bytes`; waits while the queue is full. An error means the
    /// writer has stopped (see [`Writer::finish`] for why).
    pub async fn send(&self, bytes: Bytes) -> Result<(), ()> {
        self.queue.send(bytes).await.map_err(|_| ())
    }

    /// Completes once the writer stopped on its own (an error).
    pub async fn stopped(&self) {
        self.queue.closed().await;
    }

    /// Writes what is queued, flushes and closes the file: the error that
    /// stopped the writer, if any.
    pub async fn finish(self) -> io::Result<()> {
        drop(self.queue);
        self.task
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join.to_string())))
    }
}

fn write_all(
    mut file: File,
    dir: &Path,
    mut batches: mpsc::Receiver<Bytes>,
    written: &AtomicU64,
    limits: &Limits,
) -> io::Result<()> {
    let mut good = 0u64;
    let mut next_check = FREE_CHECK_EVERY;
    let result = (|| {
        while let Some(bytes) = batches.blocking_recv() {
            let len = bytes.len() as u64;
            if limits
                .fail_after_bytes
                .is_some_and(|limit| good + len > limit)
            {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device (injected)",
                ));
            }
            file.write_all(&bytes)?;
            good += len;
            written.store(good, Ordering::Relaxed);
            if good >= next_check {
                next_check = good + FREE_CHECK_EVERY;
                if free_bytes(dir).is_some_and(|free| free < limits.min_free_bytes) {
                    return Err(io::Error::new(
                        io::ErrorKind::StorageFull,
                        "the disk is nearly full (below the recordings' free-space floor)",
                    ));
                }
            }
        }
        file.flush()?;
        file.sync_all()
    })();
    if result.is_err() {
        // The writer is done: later batches must not wait for it.
        batches.close();
        // A write that failed halfway leaves a torn batch; the file ends
        // after the last whole one so it plays to the end.
        let _ = file.set_len(good);
        let _ = file.sync_all();
    }
    result
}

/// Bytes free for an unprivileged user on the file system of `dir`; `None`
/// when it cannot be told.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    fs4::available_space(dir).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_error_ends_the_file_after_the_last_whole_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.ts");
        let file = File::create(&path).expect("create");
        let written = Arc::new(AtomicU64::new(0));
        let limits = Limits {
            min_free_bytes: 0,
            fail_after_bytes: Some(250),
        };
        let writer = Writer::spawn(file, &path, Arc::clone(&written), limits);
        for _ in 0..3 {
            if writer.send(Bytes::from(vec![0x47; 100])).await.is_err() {
                break;
            }
        }
        writer.stopped().await;
        let error = writer.finish().await.expect_err("the disk failed");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert_eq!(std::fs::metadata(&path).expect("file").len(), 200);
        assert_eq!(written.load(Ordering::Relaxed), 200);
    }

    #[test]
    fn free_space_is_known_here() {
        assert!(free_bytes(Path::new(".")).is_some_and(|free| free > 0));
    }
}
