//! Guide sources: XMLTV URLs kept in the settings file with their state
//! (last success, channels and programmes found, last error), taken from a
//! list's `url-tvg`/`x-tvg-url` header or added by hand, each read on its
//! own interval by a background task.
//!
//! Owns reading one source: the download is bounded in size and time and
//! streamed into the parser, which runs in `spawn_blocking` so the
//! runtime's players never wait on it. A read that fails (an HTTP error, a
//! timeout, malformed XML, a truncated gzip, a bomb) is recorded on the
//! source and changes nothing else: its last good guide stays. A failed
//! source is tried again after [`RETRY_AFTER_FAILURE`] (or its interval, if
//! shorter), not at every check.

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use url::Url;

use super::xmltv::{self, Keep, Limits, XmltvError};
use super::{Guide, KEEP_AHEAD, KEEP_BEHIND};
use crate::config::Settings;
use crate::saved::SavedChannel;
use crate::store::Store;

/// Interval between reads of a source unless it says otherwise.
pub const DEFAULT_REFRESH_MINS: u64 = 6 * 60;
/// Shortest interval accepted, in minutes.
pub const MIN_REFRESH_MINS: u64 = 15;
/// A read that failed is tried again after this long (or the interval, if shorter).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30 * 60);
/// A channel saved since a source's last read is fetched for at most this often.
const NEW_CHANNEL_RETRY: Duration = Duration::from_secs(60);
/// Most sources kept.
pub const MAX_SOURCES: usize = 20;
/// Most bytes of a guide read, downloaded or decompressed.
pub const MAX_GUIDE_BYTES: u64 = 512 * 1024 * 1024;
/// Longest a whole read may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Longest the server may take to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often due sources are looked for.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// What one read may keep.
pub const LIMITS: Limits = Limits {
    max_bytes: MAX_GUIDE_BYTES,
    max_channels: 20_000,
    max_programmes: 100_000,
};

/// The guide part of the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuideSettings {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<GuideSource>,
    /// Placeholder programmes for channels without guide data in `/epg.xml`; `None`: on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholders: Option<bool>,
}

impl GuideSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    pub fn placeholders(&self) -> bool {
        self.placeholders.unwrap_or(true)
    }
}

/// A guide source and how its reads went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuideSource {
    pub url: String,
    /// Minutes between reads; `None`: [`DEFAULT_REFRESH_MINS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_mins: Option<u64>,
    /// When it was last read well (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_unix: Option<i64>,
    /// When a read was last tried, whether it worked or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_unix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Channels the last good read listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// Programmes the last good read found, and kept (of saved channels, in the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programmes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programmes_kept: Option<usize>,
}

impl GuideSource {
    fn interval(&self) -> i64 {
        let mins = self.refresh_mins.unwrap_or(DEFAULT_REFRESH_MINS);
        i64::try_from(mins.saturating_mul(60)).unwrap_or(i64::MAX)
    }

    /// Whether the source is to be read at `now` (Unix seconds): never
    /// tried, its interval passed since its last good read, or a failed
    /// read longer ago than the retry delay.
    pub fn is_due(&self, now: i64) -> bool {
        let Some(attempt) = self.last_attempt_unix else {
            return true;
        };
        if self.last_error.is_some() {
            let retry = self.interval().min(RETRY_AFTER_FAILURE.as_secs() as i64);
            return now >= attempt.saturating_add(retry);
        }
        now >= self
            .last_success_unix
            .unwrap_or(attempt)
            .saturating_add(self.interval())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid guide URL: {0}")]
    BadUrl(String),
    #[error("the guide server answered HTTP {0}")]
    Status(u16),
    #[error("the guide is larger than {} MiB", MAX_GUIDE_BYTES >> 20)]
    TooLarge,
    #[error("the guide server did not send the guide within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot read the guide: {0}")]
    Network(String),
    #[error(transparent)]
    Guide(#[from] XmltvError),
    #[error("too many guide sources: at most {MAX_SOURCES}")]
    TooMany,
    #[error(transparent)]
    Settings(#[from] crate::config::ConfigError),
}

/// Checks a guide URL: http(s) with a host (as a list's URL is checked).
pub fn parse_url(text: &str) -> Result<Url, FetchError> {
    crate::import::parse_list_url(text).map_err(|error| match error {
        crate::import::ImportError::BadUrl(reason) => FetchError::BadUrl(reason),
        other => FetchError::BadUrl(other.to_string()),
    })
}

/// The guide URLs an M3U list's header names (`url-tvg`, `x-tvg-url`,
/// each possibly a comma-separated list), valid ones only, once each.
pub fn header_urls(list: &str) -> Vec<String> {
    let Some(header) = list
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .filter(|line| line.starts_with("#EXTM3U"))
    else {
        return Vec::new();
    };
    let mut urls: Vec<String> = Vec::new();
    for name in ["url-tvg", "x-tvg-url"] {
        let Some(value) = attribute(header, name) else {
            continue;
        };
        for text in value.split(',') {
            if let Ok(url) = parse_url(text) {
                if !urls.contains(&url.to_string()) {
                    urls.push(url.to_string());
                }
            }
        }
    }
    urls
}

/// `name="value"` (or `name=value`) in an M3U header line.
fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let lower = line.to_ascii_lowercase();
    let at = lower
        .match_indices(&format!("{name}="))
        .map(|(at, _)| at)
        .find(|&at| at == 0 || line.as_bytes()[at - 1].is_ascii_whitespace())?;
    let rest = &line[at + name.len() + 1..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split_whitespace().next(),
    }
}

/// Adds `urls` to the sources of `settings` (those it has already and
/// those over [`MAX_SOURCES`] are left out); how many were added.
pub fn record(settings: &mut Settings, urls: &[String]) -> usize {
    let mut added = 0;
    for url in urls {
        let sources = &mut settings.guide.sources;
        if sources.len() >= MAX_SOURCES || sources.iter().any(|source| source.url == *url) {
            continue;
        }
        sources.push(GuideSource {
            url: url.clone(),
            ..GuideSource::default()
        });
        added += 1;
    }
    added
}

/// Keeps the programmes of the saved channels within the window.
struct KeepSaved {
    saved: Vec<SavedChannel>,
    window: (i64, i64),
    wanted: HashSet<String>,
}

impl Keep for KeepSaved {
    fn channels(&mut self, listed: &[xmltv::GuideChannel]) -> HashSet<String> {
        let more = super::matching::wanted(&self.saved, listed);
        self.wanted.extend(more.iter().cloned());
        more
    }

    fn window(&self) -> (i64, i64) {
        self.window
    }
}

/// A blocking reader of the chunks the download sends.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// What a good read found: the guide and the ids whose programmes it kept.
pub struct Fetched {
    pub parsed: xmltv::Parsed,
    pub wanted: HashSet<String>,
}

/// Reads the guide at `url`, keeping the programmes of `saved` around `now`.
pub async fn fetch(url: &Url, saved: Vec<SavedChannel>, now: i64) -> Result<Fetched, FetchError> {
    fetch_with(url, saved, now, LIMITS, FETCH_TIMEOUT).await
}

async fn fetch_with(
    url: &Url,
    saved: Vec<SavedChannel>,
    now: i64,
    limits: Limits,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut keep = KeepSaved {
        saved,
        window: (now - KEEP_BEHIND, now + KEEP_AHEAD),
        wanted: HashSet::new(),
    };
    let parser = tokio::task::spawn_blocking(move || {
        let chunks = Chunks {
            rx,
            current: Bytes::new(),
        };
        xmltv::parse(chunks, &mut keep, limits).map(|parsed| Fetched {
            parsed,
            wanted: keep.wanted,
        })
    });
    let downloaded = tokio::time::timeout(timeout, download(url, tx, limits.max_bytes))
        .await
        .unwrap_or(Err(FetchError::Timeout));
    // The download's own failure says more than what the parser made of
    // the cut stream; the parser ends either way (its input was closed).
    let parsed = parser
        .await
        .map_err(|join| FetchError::Network(join.to_string()))?;
    downloaded?;
    Ok(parsed?)
}

/// Streams the body of `url` into `tx`; stops early (fine) when the parser stopped.
async fn download(
    url: &Url,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    max: u64,
) -> Result<(), FetchError> {
    let client = crate::http_client::for_url(url)
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|err| FetchError::Network(err.to_string()))?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|err| FetchError::Network(err.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|length| length > max) {
        return Err(FetchError::TooLarge);
    }
    let mut total = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| FetchError::Network(err.without_url().to_string()))?
    {
        total += chunk.len() as u64;
        if total > max {
            return Err(FetchError::TooLarge);
        }
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Reads the source `url` now and records how it went: its guide replaced
/// on success, its error on failure (its last good guide kept). `Ok(false)`
/// when the source was removed meanwhile.
pub async fn refresh(store: &Store, guide: &Guide, url: &str) -> Result<bool, FetchError> {
    let _one_at_a_time = guide.inner.refreshing.lock().await;
    let saved = store.read(|settings| settings.channels.clone()).await;
    let now = super::now_unix();
    let started = std::time::Instant::now();
    let result = match parse_url(url) {
        Ok(parsed_url) => fetch(&parsed_url, saved, now).await,
        Err(error) => Err(error),
    };
    let mut guard = store.lock().await;
    let mut next = guard.settings().clone();
    let Some(source) = next.guide.sources.iter_mut().find(|s| s.url == url) else {
        return Ok(false);
    };
    source.last_attempt_unix = Some(now);
    let mut cache = None;
    let outcome = match result {
        Ok(fetched) => {
            let kept = fetched.parsed.programmes.len();
            source.last_success_unix = Some(now);
            source.last_error = None;
            source.channels = Some(fetched.parsed.channels.len());
            source.programmes = Some(fetched.parsed.programmes_seen);
            source.programmes_kept = Some(kept);
            tracing::info!(
                source = %url,
                channels = fetched.parsed.channels.len(),
                programmes = fetched.parsed.programmes_seen,
                kept,
                millis = started.elapsed().as_millis() as u64,
                "guide read"
            );
            // Swapped in while the source's state is saved, so both change
            // together; the cache file is written once the settings are free.
            cache = Some(guide.swap(url, fetched.parsed, fetched.wanted));
            Ok(true)
        }
        Err(error) => {
            tracing::warn!(source = %url, %error, "guide not read; its last good guide stays");
            source.last_error = Some(error.to_string());
            Err(error)
        }
    };
    guard.save(next).await?;
    drop(guard);
    if let Some(snapshot) = cache {
        guide.write_cache(snapshot).await;
    }
    outcome
}

/// Adds `url` as a source (`refresh_mins` `None`: the default) and reads it now.
pub async fn add(
    store: &Store,
    guide: &Guide,
    url: &Url,
    refresh_mins: Option<u64>,
) -> Result<GuideSource, FetchError> {
    let key = url.to_string();
    {
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        let sources = &mut next.guide.sources;
        let position = sources.iter().position(|source| source.url == key);
        if position.is_none() && sources.len() >= MAX_SOURCES {
            return Err(FetchError::TooMany);
        }
        let index = position.unwrap_or_else(|| {
            sources.push(GuideSource {
                url: key.clone(),
                // Read below: the refresher need not read it too.
                last_attempt_unix: Some(super::now_unix()),
                ..GuideSource::default()
            });
            sources.len() - 1
        });
        if let Some(mins) = refresh_mins {
            sources[index].refresh_mins = (mins > 0).then(|| mins.max(MIN_REFRESH_MINS));
        }
        guard.save(next).await?;
    }
    // A failed read is on the source's state, which the caller shows.
    let _ = refresh(store, guide, &key).await;
    let source = store
        .read(|settings| {
            settings
                .guide
                .sources
                .iter()
                .find(|s| s.url == key)
                .cloned()
        })
        .await;
    Ok(source.unwrap_or_default())
}

/// Removes the source `url` and what was kept of it; false if there was none.
pub async fn remove(store: &Store, guide: &Guide, url: &str) -> Result<bool, FetchError> {
    let mut guard = store.lock().await;
    let mut next = guard.settings().clone();
    let before = next.guide.sources.len();
    next.guide.sources.retain(|source| source.url != url);
    if next.guide.sources.len() == before {
        return Ok(false);
    }
    guard.save(next).await?;
    drop(guard);
    guide.forget(url).await;
    Ok(true)
}

/// Reads now the sources that list the guide channel `saved` is matched
/// to but did not keep its programmes (the user just picked it): a pick
/// shows its now/next at once, not at the next check.
pub async fn read_lacking(store: &Store, guide: &Guide, saved: &SavedChannel) {
    let urls = store
        .read(|settings| {
            settings
                .guide
                .sources
                .iter()
                .map(|source| source.url.clone())
                .collect::<Vec<_>>()
        })
        .await;
    for url in urls {
        if guide.lacks(&url, std::slice::from_ref(saved)) {
            // The outcome is on the source's state.
            let _ = refresh(store, guide, &url).await;
        }
    }
}

/// Reads every source that is due, and those listing a channel saved since
/// their last read, until the store closes.
pub async fn run(store: Store, guide: Guide) {
    let mut changes = store.subscribe();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = guide.woken() => {}
            changed = changes.changed() => {
                if changed.is_err() || changes.borrow_and_update().is_none() {
                    return;
                }
            }
        }
        for url in due(&store, &guide, super::now_unix()).await {
            // The outcome is on the source's state.
            let _ = refresh(&store, &guide, &url).await;
        }
    }
}

/// The sources to read at `now`.
async fn due(store: &Store, guide: &Guide, now: i64) -> Vec<String> {
    let settings = store.get().await;
    let urls: Vec<String> = settings
        .guide
        .sources
        .iter()
        .map(|s| s.url.clone())
        .collect();
    if guide.retain(&urls) {
        guide.write_cache_now().await;
    }
    settings
        .guide
        .sources
        .iter()
        .filter(|source| {
            source.is_due(now)
                || (guide.lacks(&source.url, &settings.channels)
                    && source
                        .last_attempt_unix
                        .is_none_or(|at| now >= at + NEW_CHANNEL_RETRY.as_secs() as i64))
        })
        .map(|source| source.url.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_urls_are_read_from_both_attributes() {
        let list = "\n#EXTM3U url-tvg=\"http://a/g.xml.gz,https://b/g.xml, nope\" x-tvg-url=\"http://a/g.xml.gz\" tvg-shift=0\n#EXTINF:-1,x\n";
        assert_eq!(header_urls(list), ["http://a/g.xml.gz", "https://b/g.xml"]);
        assert_eq!(
            header_urls("#EXTM3U x-tvg-url=http://c/e.xml\n"),
            ["http://c/e.xml"]
        );
        assert!(header_urls("#EXTINF:-1 url-tvg=\"http://a/x\",x\n").is_empty());
        assert!(header_urls("#EXTM3U xurl-tvg=\"http://a/x\"\n").is_empty());
    }

    #[test]
    fn a_failed_source_is_not_read_at_every_check() {
        let source = GuideSource {
            url: "http://g".into(),
            last_attempt_unix: Some(1000),
            last_error: Some("HTTP 404".into()),
            ..GuideSource::default()
        };
        assert!(!source.is_due(1000 + 60));
        assert!(source.is_due(1000 + RETRY_AFTER_FAILURE.as_secs() as i64));
        let good = GuideSource {
            last_success_unix: Some(1000),
            last_error: None,
            ..source
        };
        assert!(!good.is_due(1000 + 3600));
        assert!(good.is_due(1000 + 6 * 3600));
        assert!(GuideSource::default().is_due(0), "never read: due");
    }

    #[tokio::test]
    async fn a_channel_saved_since_the_last_read_has_its_source_read_again_soon() {
        use crate::content_id::ContentId;
        let url = "http://g/guide.xml";
        let store = Store::open(None).expect("store");
        let guide = Guide::default();
        let listed = vec![xmltv::GuideChannel {
            id: "bbc1.uk".into(),
            names: vec!["BBC One".into()],
            icon: None,
        }];
        let parsed = xmltv::Parsed {
            channels: listed,
            ..xmltv::Parsed::default()
        };
        guide.replace(url, parsed, HashSet::new()).await;
        let read_at = 1_000_000;
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.guide.sources.push(GuideSource {
            url: url.into(),
            last_attempt_unix: Some(read_at),
            last_success_unix: Some(read_at),
            ..GuideSource::default()
        });
        guard.save(next.clone()).await.expect("save");
        drop(guard);
        assert!(
            due(&store, &guide, read_at + 120).await.is_empty(),
            "nothing new"
        );
        let mut bbc = SavedChannel::new(ContentId::parse(&"b".repeat(40)).expect("id"));
        bbc.name = Some("BBC One HD".into());
        next.channels.push(bbc);
        store.lock().await.save(next).await.expect("save");
        assert!(
            due(&store, &guide, read_at + 30).await.is_empty(),
            "not at once again"
        );
        assert_eq!(due(&store, &guide, read_at + 61).await, [url]);
    }

    /// One HTTP answer per connection: `status` and `body`.
    async fn serve_once(status: u16, body: Vec<u8>) -> Url {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            }
        });
        Url::parse(&format!("http://{addr}/guide.xml")).expect("url")
    }

    #[tokio::test]
    async fn a_download_over_the_limit_or_a_404_is_an_error_on_the_source() {
        let not_found = serve_once(404, b"nope".to_vec()).await;
        let error = fetch(&not_found, Vec::new(), 0).await.err().expect("404");
        assert!(matches!(error, FetchError::Status(404)), "{error}");
        let big = serve_once(200, vec![b' '; 4096]).await;
        let small = Limits {
            max_bytes: 1000,
            ..LIMITS
        };
        let error = fetch_with(&big, Vec::new(), 0, small, FETCH_TIMEOUT)
            .await
            .err()
            .expect("too large");
        assert!(matches!(error, FetchError::TooLarge), "{error}");
    }

    #[tokio::test]
    async fn the_guide_cache_is_written_after_the_settings_lock_is_let_go() {
        let guide_xml = r#"<tv><channel id="a.uk"><display-name>A</display-name></channel></tv>"#;
        let url = serve_once(200, guide_xml.as_bytes().to_vec()).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let guide = Guide::load(Some(dir.path().join("settings.guide-cache.json")));
        let store = Store::open(None).expect("store");
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.guide.sources.push(GuideSource {
            url: url.to_string(),
            ..GuideSource::default()
        });
        guard.save(next).await.expect("save");
        drop(guard);
        let gate = guide.inner.cache_gate.lock().await;
        let refresher = {
            let (store, guide, url) = (store.clone(), guide.clone(), url.to_string());
            tokio::spawn(async move { refresh(&store, &guide, &url).await })
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            guide.inner.cache_reached.notified(),
        )
        .await
        .expect("the read reaches the cache write");
        let settings = tokio::time::timeout(Duration::from_secs(2), store.lock()).await;
        assert!(
            settings.is_ok(),
            "the settings stay locked while the guide cache is written"
        );
        drop(settings);
        drop(gate);
        let read = refresher.await.expect("join");
        assert!(matches!(read, Ok(true)), "{read:?}");
        assert!(dir.path().join("settings.guide-cache.json").exists());
    }
}
