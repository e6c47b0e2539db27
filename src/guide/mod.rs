//! The programme guide: XMLTV sources read as streams ([`xmltv`]), fetched
//! and refreshed on their own intervals ([`sources`]), matched to the saved
//! channels ([`matching`]), kept in memory and in a cache beside the
//! settings file ([`store`]), and served back as one XMLTV document holding
//! exactly the saved channels ([`serve`]).
//!
//! [`Guide`] is the handle the rest of the program uses: now/next of a
//! saved channel, its programmes in a time range, the programme at a time
//! (for recordings), and a search of the guide's channel names.

pub mod matching;
pub mod serve;
pub mod sources;
pub mod store;
pub mod xmltv;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::saved::SavedChannel;
pub use sources::{GuideSettings, GuideSource};
pub use xmltv::{GuideChannel, Programme};

/// How far back programmes are kept, in seconds.
pub const KEEP_BEHIND: i64 = 6 * 3600;
/// How far ahead programmes are kept, in seconds.
pub const KEEP_AHEAD: i64 = 3 * 24 * 3600;

/// The guide as the program shares it. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Guide {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    kept: RwLock<store::Kept>,
    /// Where the kept guide is cached; `None`: memory only.
    cache: Option<PathBuf>,
    /// Wakes the refresher when a source was added.
    wake: tokio::sync::Notify,
    /// Held while a source is read: reads happen one at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// Tests hold cache writes here to see what waits on them.
    #[cfg(test)]
    cache_gate: tokio::sync::Mutex<()>,
    /// Told when a cache write reaches the gate.
    #[cfg(test)]
    cache_reached: tokio::sync::Notify,
}

/// A programme as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgrammeView {
    pub title: String,
    pub start: i64,
    pub stop: i64,
}

impl From<&Programme> for ProgrammeView {
    fn from(programme: &Programme) -> Self {
        Self {
            title: programme.title.clone(),
            start: programme.start,
            stop: programme.stop,
        }
    }
}

impl Guide {
    /// A guide cached at `cache` (read now, when it exists and is sound).
    pub fn load(cache: Option<PathBuf>) -> Self {
        let kept = cache.as_deref().map(store::read_cache).unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                kept: RwLock::new(kept),
                cache,
                ..Inner::default()
            }),
        }
    }

    /// The cache file beside the settings file at `settings`, named after
    /// it (`settings.guide-cache.json`), so two settings files in one
    /// directory never share a cache.
    pub fn cache_path(settings: &std::path::Path) -> Option<PathBuf> {
        Some(settings.with_extension("guide-cache.json"))
    }

    fn read<R>(&self, read: impl FnOnce(&store::Kept) -> R) -> R {
        match self.inner.kept.read() {
            Ok(kept) => read(&kept),
            Err(poisoned) => read(&poisoned.into_inner()),
        }
    }

    fn write<R>(&self, write: impl FnOnce(&mut store::Kept) -> R) -> R {
        match self.inner.kept.write() {
            Ok(mut kept) => write(&mut kept),
            Err(poisoned) => write(&mut poisoned.into_inner()),
        }
    }

    /// The programmes of `saved` overlapping `from..to`, in order.
    pub fn programmes(&self, saved: &SavedChannel, from: i64, to: i64) -> Vec<Programme> {
        self.read(|kept| {
            kept.programmes_of(saved)
                .iter()
                .filter(|p| p.stop > from && p.start < to)
                .cloned()
                .collect()
        })
    }

    /// What `saved` shows at `at`, and the programme after it.
    pub fn now_next(
        &self,
        saved: &SavedChannel,
        at: i64,
    ) -> (Option<ProgrammeView>, Option<ProgrammeView>) {
        self.read(|kept| {
            let list = kept.programmes_of(saved);
            let now = list.iter().position(|p| p.start <= at && at < p.stop);
            let next = match now {
                Some(index) => list.get(index + 1),
                None => list.iter().find(|p| p.start > at),
            };
            (
                now.map(|i| ProgrammeView::from(&list[i])),
                next.map(ProgrammeView::from),
            )
        })
    }

    /// The programme of `saved` running at `at` (for recordings).
    pub fn programme(&self, saved: &SavedChannel, at: i64) -> Option<ProgrammeView> {
        self.now_next(saved, at).0
    }

    /// The programme running at `at` on the saved channel whose key is
    /// `key` in `settings` (for recordings scheduled by channel key).
    pub fn programme_of_key(
        &self,
        settings: &crate::config::Settings,
        key: &str,
        at: i64,
    ) -> Option<ProgrammeView> {
        crate::store::find_by_key(settings, key).and_then(|saved| self.programme(saved, at))
    }

    /// The guide channel `saved` is matched to, and how.
    pub fn matched(&self, saved: &SavedChannel) -> Option<matching::Matched> {
        self.read(|kept| kept.matched(saved))
    }

    /// Guide channels whose id or a name contains `query` (any case), at most `limit`.
    pub fn search_channels(&self, query: &str, limit: usize) -> Vec<matching::ChannelHit> {
        self.read(|kept| kept.search_channels(query, limit))
    }

    /// The first programme of `saved` between `from` and `to` whose title
    /// has every word of `words` (lowercase) at the start of one of its words.
    pub fn find_title(
        &self,
        saved: &SavedChannel,
        words: &[String],
        from: i64,
        to: i64,
    ) -> Option<ProgrammeView> {
        if words.is_empty() {
            return None;
        }
        self.read(|kept| {
            kept.programmes_of(saved)
                .iter()
                .filter(|p| p.stop > from && p.start < to)
                .find(|p| title_has_words(&p.title, words))
                .map(ProgrammeView::from)
        })
    }

    /// Replaces what is kept of `url` by `parsed` and writes the cache.
    pub async fn replace(
        &self,
        url: &str,
        parsed: xmltv::Parsed,
        wanted: std::collections::HashSet<String>,
    ) {
        let snapshot = self.swap(url, parsed, wanted);
        self.write_cache(snapshot).await;
    }

    /// Replaces what is kept of `url` by `parsed` in memory; answers what
    /// the cache is to hold (`None`: no cache).
    fn swap(
        &self,
        url: &str,
        parsed: xmltv::Parsed,
        wanted: std::collections::HashSet<String>,
    ) -> Option<store::Kept> {
        self.write(|kept| {
            kept.replace(url, parsed, wanted);
            self.inner.cache.as_ref().map(|_| kept.clone())
        })
    }

    /// Forgets what is kept of `url`.
    pub async fn forget(&self, url: &str) {
        let snapshot = self.write(|kept| {
            kept.forget(url);
            self.inner.cache.as_ref().map(|_| kept.clone())
        });
        self.write_cache(snapshot).await;
    }

    /// Forgets the sources not among `urls` (removed from the settings).
    pub(crate) fn retain(&self, urls: &[String]) -> bool {
        self.write(|kept| kept.retain(urls))
    }

    /// Writes the cache as the guide is now.
    pub(crate) async fn write_cache_now(&self) {
        let snapshot = self.read(|kept| self.inner.cache.as_ref().map(|_| kept.clone()));
        self.write_cache(snapshot).await;
    }

    async fn write_cache(&self, snapshot: Option<store::Kept>) {
        let (Some(path), Some(kept)) = (self.inner.cache.clone(), snapshot) else {
            return;
        };
        #[cfg(test)]
        let _gate = {
            self.inner.cache_reached.notify_one();
            self.inner.cache_gate.lock().await
        };
        let written = tokio::task::spawn_blocking(move || store::write_cache(&path, &kept)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not write the guide cache"),
            Err(error) => tracing::warn!(%error, "could not write the guide cache"),
        }
    }

    /// Whether `url` lists a channel that `saved` now matches and whose
    /// programmes its last read did not keep (a channel saved since).
    pub(crate) fn lacks(&self, url: &str, saved: &[SavedChannel]) -> bool {
        self.read(|kept| kept.lacks(url, saved))
    }

    /// Asks the refresher to look for due sources now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    async fn woken(&self) {
        self.inner.wake.notified().await;
    }

    /// What the kept guide holds: (channels listed, programmes kept), for tests and logs.
    pub fn counts(&self) -> (usize, usize) {
        self.read(store::Kept::counts)
    }
}

/// `text` as searches compare it: lowercase and without accents, so
/// "futbol" finds "Fútbol" and "espana" finds "España", as the page's own
/// name search does.
pub fn folded(text: &str) -> String {
    use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `text` as the channel search compares them: [`folded`],
/// split at anything but letters and digits.
pub fn search_words(text: &str) -> Vec<String> {
    folded(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether every one of `words` begins a word of `title` (as the page's
/// search does: "arsenal" finds "Arsenal v Chelsea", "sen" does not).
fn title_has_words(title: &str, words: &[String]) -> bool {
    let title = search_words(title);
    words
        .iter()
        .all(|word| title.iter().any(|t| t.starts_with(word.as_str())))
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_programme_search_was_not_accent_insensitive_like_the_pages() {
        assert_eq!(
            search_words("Fútbol: España–Perú"),
            ["futbol", "espana", "peru"]
        );
        assert!(title_has_words(
            "Fútbol en directo",
            &search_words("futbol")
        ));
        assert!(title_has_words(
            "Futbol en directo",
            &search_words("Fútbol")
        ));
        assert!(!title_has_words(
            "Fútbol en directo",
            &search_words("utbol")
        ));
    }

    #[test]
    fn folding_keeps_letters_without_accents_and_other_scripts() {
        assert_eq!(folded("ÇA VA Ñandú"), "ca va nandu");
        assert_eq!(folded("Спорт 1"), "спорт 1");
        assert_eq!(folded("日本"), "日本");
    }
}
