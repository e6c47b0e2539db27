//! What is kept of every guide source: the channels it lists (for matching
//! and the pick search) and the programmes of the channels the saved
//! channels matched, within the kept window, in order; and the cache file
//! that carries them across restarts (JSON beside the settings file, at
//! most [`MAX_CACHE_BYTES`], written atomically).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::matching::{self, ChannelHit, ChannelIndex, Matched};
use super::xmltv::{GuideChannel, Parsed, Programme};
use crate::saved::SavedChannel;

/// Largest cache file written or read.
pub const MAX_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Every source's kept guide, in the order of the sources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Kept {
    sources: Vec<SourceData>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SourceData {
    url: String,
    channels: Vec<GuideChannel>,
    /// Sorted by (lowercase channel id, start).
    programmes: Vec<Programme>,
    /// The lowercase ids whose programmes the last read kept.
    wanted: HashSet<String>,
    #[serde(skip)]
    index: ChannelIndex,
    /// Lowercase channel id → its programmes in `programmes`.
    #[serde(skip)]
    by_channel: HashMap<String, Range<usize>>,
}

impl SourceData {
    fn new(url: &str, parsed: Parsed, wanted: HashSet<String>) -> Self {
        let mut data = Self {
            url: url.to_owned(),
            channels: parsed.channels,
            programmes: parsed.programmes,
            wanted,
            ..Self::default()
        };
        data.tidy(super::now_unix() - super::KEEP_BEHIND);
        data
    }

    /// Sorts the programmes, drops those over before `since` and
    /// duplicates, trims overlaps (a programme ends when the next starts),
    /// and rebuilds the indexes.
    fn tidy(&mut self, since: i64) {
        let key = |p: &Programme| p.channel.to_lowercase();
        self.programmes.retain(|p| p.stop > since);
        self.programmes
            .sort_by(|a, b| key(a).cmp(&key(b)).then(a.start.cmp(&b.start)));
        self.programmes
            .dedup_by(|later, earlier| key(later) == key(earlier) && later.start == earlier.start);
        for at in 1..self.programmes.len() {
            let (before, after) = self.programmes.split_at_mut(at);
            let (earlier, later) = (&mut before[at - 1], &after[0]);
            if key(earlier) == key(later) && earlier.stop > later.start {
                earlier.stop = later.start;
            }
        }
        self.index = ChannelIndex::new(&self.channels);
        self.by_channel.clear();
        let mut start = 0;
        for at in 1..=self.programmes.len() {
            let ends = at == self.programmes.len()
                || key(&self.programmes[at]) != key(&self.programmes[start]);
            if ends {
                self.by_channel
                    .insert(key(&self.programmes[start]), start..at);
                start = at;
            }
        }
    }

    /// The lowercase id `saved` is known by in this source.
    fn id_of(&self, saved: &SavedChannel) -> Option<(String, Option<usize>, matching::How)> {
        if let Some((at, how)) = self.index.resolve(saved) {
            return Some((self.channels[at].id.to_lowercase(), Some(at), how));
        }
        let id = matching::undeclared_id(saved)?;
        let how = if saved.guide_id.is_some() {
            matching::How::Pick
        } else {
            matching::How::TvgId
        };
        self.by_channel.contains_key(&id).then_some((id, None, how))
    }

    fn programmes_of(&self, saved: &SavedChannel) -> &[Programme] {
        self.id_of(saved)
            .and_then(|(id, _, _)| self.by_channel.get(&id).cloned())
            .map_or(&[], |range| &self.programmes[range])
    }
}

impl Kept {
    /// The programmes of `saved` from the first source that has some.
    pub fn programmes_of(&self, saved: &SavedChannel) -> &[Programme] {
        self.sources
            .iter()
            .map(|source| source.programmes_of(saved))
            .find(|list| !list.is_empty())
            .unwrap_or(&[])
    }

    /// The guide channel `saved` is matched to: in the first source that
    /// has programmes for it, else the first that lists it.
    pub fn matched(&self, saved: &SavedChannel) -> Option<Matched> {
        let found = self
            .sources
            .iter()
            .filter_map(|source| source.id_of(saved).map(|found| (source, found)))
            .min_by_key(|(source, (id, _, _))| !source.by_channel.contains_key(id))?;
        let (source, (id, at, how)) = found;
        let channel = at.map(|at| &source.channels[at]);
        Some(Matched {
            source: source.url.clone(),
            id: channel.map_or(id, |c| c.id.clone()),
            names: channel.map(|c| c.names.clone()).unwrap_or_default(),
            icon: channel.and_then(|c| c.icon.clone()),
            how,
        })
    }

    pub fn search_channels(&self, query: &str, limit: usize) -> Vec<ChannelHit> {
        let query = super::folded(query.trim());
        self.sources
            .iter()
            .flat_map(|source| source.channels.iter().map(move |c| (source, c)))
            .filter(|(_, channel)| {
                query.is_empty()
                    || super::folded(&channel.id).contains(&query)
                    || channel
                        .names
                        .iter()
                        .any(|name| super::folded(name).contains(&query))
            })
            .take(limit)
            .map(|(source, channel)| ChannelHit {
                source: source.url.clone(),
                id: channel.id.clone(),
                names: channel.names.clone(),
                icon: channel.icon.clone(),
            })
            .collect()
    }

    pub fn replace(&mut self, url: &str, parsed: Parsed, wanted: HashSet<String>) {
        let data = SourceData::new(url, parsed, wanted);
        match self.sources.iter_mut().find(|source| source.url == url) {
            Some(source) => *source = data,
            None => self.sources.push(data),
        }
    }

    pub fn forget(&mut self, url: &str) {
        self.sources.retain(|source| source.url != url);
    }

    /// Keeps the sources among `urls`, in their order; whether any went.
    pub fn retain(&mut self, urls: &[String]) -> bool {
        let before = self.sources.len();
        self.sources.retain(|source| urls.contains(&source.url));
        self.sources
            .sort_by_key(|source| urls.iter().position(|url| *url == source.url));
        self.sources.len() != before
    }

    /// Whether `url` lists a channel one of `saved` matches that its last
    /// read did not keep programmes for.
    pub fn lacks(&self, url: &str, saved: &[SavedChannel]) -> bool {
        let Some(source) = self.sources.iter().find(|source| source.url == url) else {
            return false;
        };
        saved.iter().any(|channel| {
            source.index.resolve(channel).is_some_and(|(at, _)| {
                !source
                    .wanted
                    .contains(&source.channels[at].id.to_lowercase())
            })
        })
    }

    /// (channels listed, programmes kept) over every source.
    pub fn counts(&self) -> (usize, usize) {
        self.sources.iter().fold((0, 0), |(c, p), source| {
            (c + source.channels.len(), p + source.programmes.len())
        })
    }
}

/// The cached guide at `path`; empty when there is none or it is unsound
/// (a cache is only a head start: the sources are read again anyway).
pub fn read_cache(path: &Path) -> Kept {
    let read = || -> Result<Kept, String> {
        let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
        let size = file.metadata().map_err(|err| err.to_string())?.len();
        if size > MAX_CACHE_BYTES {
            return Err(format!("larger than {} MiB", MAX_CACHE_BYTES >> 20));
        }
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|err| err.to_string())
    };
    match read() {
        Ok(mut kept) => {
            let since = super::now_unix() - super::KEEP_BEHIND;
            for source in &mut kept.sources {
                source.tidy(since);
            }
            kept
        }
        Err(error) => {
            if path.exists() {
                tracing::warn!(path = %path.display(), %error, "guide cache not read");
            }
            Kept::default()
        }
    }
}

/// Writes the cache atomically (temp file, then rename); a guide too large
/// to cache is not written (and an older cache removed, so it cannot come
/// back stale).
pub fn write_cache(path: &Path, kept: &Kept) -> std::io::Result<()> {
    let text = serde_json::to_vec(kept).map_err(std::io::Error::other)?;
    if text.len() as u64 > MAX_CACHE_BYTES {
        let _ = std::fs::remove_file(path);
        return Err(std::io::Error::other(format!(
            "the guide is larger than {} MiB: not cached",
            MAX_CACHE_BYTES >> 20
        )));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = path.with_extension(format!("json.tmp.{}", uuid::Uuid::new_v4()));
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_id::ContentId;

    fn programme(channel: &str, start: i64, stop: i64, title: &str) -> Programme {
        Programme {
            channel: channel.into(),
            start,
            stop,
            title: title.into(),
            ..Programme::default()
        }
    }

    #[test]
    fn programmes_are_ordered_trimmed_and_cached() {
        let now = super::super::now_unix();
        let parsed = Parsed {
            channels: vec![GuideChannel {
                id: "A.uk".into(),
                names: vec!["Alpha".into()],
                icon: None,
            }],
            programmes: vec![
                programme("a.uk", now + 100, now + 4000, "second"),
                programme("A.UK", now - 50, now + 3600, "first"),
                programme("a.uk", now - 50, now + 3600, "duplicate"),
                programme("a.uk", now - 90_000, now - 80_000, "long gone"),
                programme("undeclared", now, now + 10, "x"),
            ],
            programmes_seen: 5,
        };
        let mut kept = Kept::default();
        kept.replace("http://g/1", parsed, HashSet::new());
        let mut saved = SavedChannel::new(ContentId::parse(&"a".repeat(40)).expect("id"));
        saved.name = Some("Alpha HD".into());
        let titles: Vec<_> = kept
            .programmes_of(&saved)
            .iter()
            .map(|p| p.title.as_str())
            .collect();
        assert_eq!(titles, ["first", "second"]);
        assert_eq!(
            kept.programmes_of(&saved)[0].stop,
            now + 100,
            "ends when the next starts"
        );
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("guide-cache.json");
        write_cache(&path, &kept).expect("write");
        let back = read_cache(&path);
        assert_eq!(back.programmes_of(&saved), kept.programmes_of(&saved));
        assert_eq!(back.matched(&saved).map(|m| m.id), Some("A.uk".into()));
        let mut other = SavedChannel::new(ContentId::parse(&"b".repeat(40)).expect("id"));
        other.tvg_id = Some("Undeclared".into());
        assert_eq!(
            back.programmes_of(&other).len(),
            1,
            "programmes of an unlisted tvg-id"
        );
        std::fs::write(&path, b"{not json").expect("write");
        assert_eq!(
            read_cache(&path).counts(),
            (0, 0),
            "a broken cache is only ignored"
        );
    }
}
