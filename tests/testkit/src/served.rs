//! A text file served over HTTP on a real socket, whose contents a test can
//! change while it is served: an M3U list that an import reads again.

use std::sync::{Arc, Mutex};

/// Serves its text at `/list.m3u` (404 elsewhere) until dropped with the runtime.
pub struct ServedText {
    text: Arc<Mutex<String>>,
    url: String,
}

impl ServedText {
    /// Starts serving `text`. Panics if it cannot bind a loopback port.
    pub async fn start(text: impl Into<String>) -> Self {
        use axum::routing::get;
        let text = Arc::new(Mutex::new(text.into()));
        let served = Arc::clone(&text);
        let app = axum::Router::new().route(
            "/list.m3u",
            get(move || {
                let served = Arc::clone(&served);
                async move { served.lock().map(|t| t.clone()).unwrap_or_default() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the list server");
        let addr = listener.local_addr().expect("list server address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            text,
            url: format!("http://{addr}/list.m3u"),
        }
    }

    /// `http://127.0.0.1:PORT/list.m3u`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the next request gets.
    pub fn set(&self, text: impl Into<String>) {
        if let Ok(mut served) = self.text.lock() {
            *served = text.into();
        }
    }
}
