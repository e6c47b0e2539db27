//! Waiting on conditions in tests instead of sleeping: poll a predicate every
//! 10 ms and fail with a clear message when it does not hold in time.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often predicates are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls the async predicate `check` until it returns true; panics with
/// `what` if that does not happen within `timeout` (a predicate call that
/// hangs counts against the timeout too).
///
/// ```no_run
/// # async fn demo(engine: acebridge_testkit::engine::SimEngine) {
/// use std::time::Duration;
/// acebridge_testkit::wait::wait_until(Duration::from_secs(5), "session stopped", || async {
///     engine.stops_total() == 1
/// })
/// .await;
/// # }
/// ```
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let poll = async {
        loop {
            if check().await {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    };
    if tokio::time::timeout(timeout, poll).await.is_err() {
        panic!(
            "timed out after {:?} waiting for: {what}",
            started.elapsed()
        );
    }
}

/// [`wait_until`] for a plain (non-async) predicate.
pub async fn wait_until_sync<F>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> bool,
{
    wait_until(timeout, what, || std::future::ready(check())).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let calls = AtomicUsize::new(0);
        wait_until_sync(Duration::from_secs(5), "third call", || {
            calls.fetch_add(1, Ordering::SeqCst) >= 2
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for: never")]
    async fn panics_with_the_description() {
        wait_until(Duration::from_millis(50), "never", || async { false }).await;
    }
}
