//! The budget of request-body bytes in flight, shared by every request: a
//! request that brings a body reserves its size (its `Content-Length`, or
//! the most any route reads when it is sent in chunks) before the body is
//! read, and gives it back once answered; and at most
//! [`MAX_BODIES_IN_FLIGHT`] such requests are handled at once. When either
//! is spent the request is answered 503 at once, not queued (and its
//! connection closed, its body unread): local clients that open many
//! requests and trickle their bodies cannot make the proxy hold more than
//! the budget, nor keep the connection slots other clients need.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::manage::MAX_BODY_BYTES;
use super::ApiError;

/// Request-body bytes all requests together may have in flight.
pub const MAX_BODY_BYTES_IN_FLIGHT: usize = 64 * 1024 * 1024;
/// Requests with a body handled at once (the API is used by one person).
pub const MAX_BODIES_IN_FLIGHT: usize = 256;

/// The shared budget; cheap to clone.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    requests: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(bytes)),
            requests: Arc::new(Semaphore::new(MAX_BODIES_IN_FLIGHT)),
        }
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(MAX_BODY_BYTES_IN_FLIGHT)
    }
}

/// The bytes a request's body may take once read: none without a body,
/// its length (bounded by what any route reads) otherwise.
fn body_bytes(request: &Request<Body>) -> usize {
    let headers = request.headers();
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok())
    {
        return usize::try_from(length).map_or(MAX_BODY_BYTES, |n| n.min(MAX_BODY_BYTES));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        MAX_BODY_BYTES
    } else {
        0
    }
}

/// Reserves the request's body bytes for as long as it is handled (see the module doc).
pub async fn reserve(
    State(budget): State<BodyBudget>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let bytes = body_bytes(&request);
    if bytes == 0 {
        return next.run(request).await;
    }
    let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
    let reserved = Arc::clone(&budget.bytes)
        .try_acquire_many_owned(permits)
        .and_then(|bytes| Ok((bytes, Arc::clone(&budget.requests).try_acquire_owned()?)));
    let Ok(_reserved) = reserved else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests are sending data right now; try again in a moment",
        )
        .into_response();
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt as _;

    fn with_length(bytes: usize) -> Request<Body> {
        Request::post("/")
            .header(header::CONTENT_LENGTH, bytes.to_string())
            .body(Body::from(vec![b'x'; bytes]))
            .expect("request")
    }

    #[tokio::test]
    async fn bodies_over_the_budget_in_flight_are_refused_at_once() {
        let budget = BodyBudget::new(2 * MAX_BODY_BYTES);
        let (entered, mut inside) = tokio::sync::mpsc::channel::<()>(4);
        let release = Arc::new(tokio::sync::Notify::new());
        let waiting = Arc::clone(&release);
        let app = Router::new()
            .route(
                "/",
                post(move || {
                    let (entered, waiting) = (entered.clone(), Arc::clone(&waiting));
                    async move {
                        let _ = entered.send(()).await;
                        waiting.notified().await;
                        "done"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(budget, reserve));
        // Two bodies of the largest size take the whole budget...
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(app.clone().oneshot(with_length(MAX_BODY_BYTES))))
            .collect();
        for _ in 0..2 {
            inside.recv().await.expect("entered");
        }
        // ...so a third is answered 503 without waiting, and a bodiless request passes.
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            app.clone().oneshot(with_length(10)),
        )
        .await
        .expect("answered at once")
        .expect("infallible");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        release.notify_waiters();
        for request in held {
            let response = request.await.expect("task").expect("infallible");
            assert_eq!(response.status(), StatusCode::OK);
        }
        // Given back once answered.
        let tail = tokio::spawn(app.clone().oneshot(with_length(10)));
        inside.recv().await.expect("entered");
        release.notify_waiters();
        assert_eq!(
            tail.await.expect("task").expect("infallible").status(),
            StatusCode::OK
        );
    }
}
