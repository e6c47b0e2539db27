//! The persisted settings store: the settings file's contents in memory, shared
//! by the API handlers that change them (engine URL, saved channels).
//!
//! Every change goes through one async mutex held from reading the current
//! settings until the new ones are on disk (and, for callers that need it,
//! applied), so concurrent requests never interleave or lose each other's
//! writes. Files are written atomically by [`config::save_settings`]; the
//! in-memory copy only changes once the write succeeded.
//!
//! It also owns telling others about changes: every save bumps a watch
//! counter ([`Store::subscribe`]) that live views (the web UI's event stream)
//! wait on, and it keeps the warnings from reading the file, for the user.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{watch, Mutex, MutexGuard};

use crate::config::{self, ConfigError, SavedChannel, Settings};
use crate::content_id::{ContentId, IdKind};

/// The settings, shared and persisted. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None`: memory only (tests, embedding), nothing is written.
    path: Option<PathBuf>,
    settings: Mutex<Settings>,
    /// Bumped after every saved change; `None` once the server is shutting down.
    changes: watch::Sender<Option<u64>>,
    /// What was wrong with the settings file when it was read.
    warnings: Vec<String>,
}

impl Store {
    /// Loads the settings file at `path` (a missing file gives defaults; a
    /// corrupt one is kept aside by [`config::load_settings`]). `None` keeps
    /// settings in memory only.
    pub fn open(path: Option<PathBuf>) -> Result<Self, ConfigError> {
        let (settings, warnings) = match &path {
            Some(path) => config::load_settings_checked(path)?,
            None => (Settings::default(), Vec::new()),
        };
        Ok(Self::build(path, settings, warnings))
    }

    /// A store holding `settings`, persisted to `path` on the next change.
    pub fn with_settings(path: Option<PathBuf>, settings: Settings) -> Self {
        Self::build(path, settings, Vec::new())
    }

    fn build(path: Option<PathBuf>, settings: Settings, warnings: Vec<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                settings: Mutex::new(settings),
                changes: watch::Sender::new(Some(0)),
                warnings,
            }),
        }
    }

    /// What was wrong with the settings file when it was read (which file,
    /// which line, what was kept), one sentence each; empty when all was well.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// A receiver that sees a new value after every saved change, and `None`
    /// once [`Store::close`] was called (live views end then).
    pub fn subscribe(&self) -> watch::Receiver<Option<u64>> {
        self.inner.changes.subscribe()
    }

    /// Tells live views the server is shutting down.
    pub fn close(&self) {
        self.inner.changes.send_replace(None);
    }

    /// Where changes are written, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// A copy of the current settings.
    pub async fn get(&self) -> Settings {
        self.inner.settings.lock().await.clone()
    }

    /// Exclusive access for a read-modify-write; other changes wait until the
    /// returned guard is dropped.
    pub async fn lock(&self) -> StoreGuard<'_> {
        StoreGuard {
            path: self.inner.path.as_deref(),
            settings: self.inner.settings.lock().await,
            changes: &self.inner.changes,
        }
    }
}

/// Exclusive access to the settings, from [`Store::lock`].
#[derive(Debug)]
pub struct StoreGuard<'a> {
    path: Option<&'a Path>,
    settings: MutexGuard<'a, Settings>,
    changes: &'a watch::Sender<Option<u64>>,
}

impl StoreGuard<'_> {
    /// The current settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Writes `next` to the settings file, then makes it current. On a write
    /// error nothing changes, in memory or on disk.
    pub async fn save(&mut self, next: Settings) -> Result<(), ConfigError> {
        if let Some(path) = self.path {
            let path = path.to_owned();
            let copy = next.clone();
            tokio::task::spawn_blocking(move || config::save_settings(&path, &copy))
                .await
                .map_err(|join| ConfigError::Write {
                    path: self.path.map(Path::to_owned).unwrap_or_default(),
                    source: std::io::Error::other(join.to_string()),
                })??;
        }
        *self.settings = next;
        self.changes
            .send_modify(|version| *version = version.map(|v| v.wrapping_add(1)));
        Ok(())
    }
}

/// Most channels the settings file keeps.
pub const MAX_SAVED_CHANNELS: usize = 1000;

#[derive(Debug, thiserror::Error)]
#[error("too many saved channels: at most {MAX_SAVED_CHANNELS}")]
pub struct TooManyChannels;

/// `settings` with `new` channels saved after the existing ones. A channel
/// already saved keeps its place; it only takes the new name if it had none.
pub fn merge_channels(
    settings: &Settings,
    new: impl IntoIterator<Item = (ContentId, Option<String>)>,
) -> Result<Settings, TooManyChannels> {
    merge_saved(
        settings,
        new.into_iter().map(|(id, name)| SavedChannel {
            name,
            ..saved_channel(&id)
        }),
    )
}

/// A saved channel for `id`, nothing else set.
pub fn saved_channel(id: &ContentId) -> SavedChannel {
    SavedChannel {
        id: id.as_hex().to_owned(),
        infohash: id.kind() == IdKind::Infohash,
        ..SavedChannel::default()
    }
}

/// [`merge_channels`] for channels with their M3U attributes: a channel
/// already saved keeps its place and what it has; it only takes what it lacks.
pub fn merge_saved(
    settings: &Settings,
    new: impl IntoIterator<Item = SavedChannel>,
) -> Result<Settings, TooManyChannels> {
    let mut next = settings.clone();
    for channel in new {
        // An id saved as another channel's alternate is that channel.
        let existing = owner_of(&next, &channel.id);
        match existing {
            Some(index) => {
                let saved = &mut next.channels[index];
                for (mine, theirs) in [
                    (&mut saved.name, channel.name),
                    (&mut saved.group, channel.group),
                    (&mut saved.logo, channel.logo),
                    (&mut saved.tvg_id, channel.tvg_id),
                    (&mut saved.tvg_name, channel.tvg_name),
                ] {
                    if mine.is_none() {
                        *mine = theirs;
                    }
                }
            }
            None => next.channels.push(channel),
        }
    }
    if next.channels.len() > MAX_SAVED_CHANNELS {
        return Err(TooManyChannels);
    }
    Ok(next)
}

/// The saved channel's id; entries that no longer parse (hand-edited file) give `None`.
pub fn saved_id(saved: &SavedChannel) -> Option<ContentId> {
    let parsed = if saved.infohash {
        ContentId::parse_infohash(&saved.id)
    } else {
        ContentId::parse(&saved.id)
    };
    parsed.ok()
}

/// The ids a saved channel plays, in the order they are tried: the one that
/// last played first, then its alternates in order (just its `id` when it has
/// none). Entries that do not parse are left out.
pub fn saved_ids(saved: &SavedChannel) -> Vec<ContentId> {
    let own = saved_id(saved);
    let parse = |text: &str| {
        if text.eq_ignore_ascii_case(&saved.id) {
            own.clone()
        } else {
            ContentId::parse(text).ok()
        }
    };
    let listed: Vec<ContentId> = if saved.alternates.is_empty() {
        own.iter().cloned().collect()
    } else {
        saved
            .alternates
            .iter()
            .filter_map(|text| parse(text))
            .collect()
    };
    let mut ids = Vec::with_capacity(listed.len());
    if let Some(good) = saved.last_good.as_deref().and_then(parse) {
        if listed.contains(&good) {
            ids.push(good);
        }
    }
    for id in listed {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Records that `id` played well for the saved channel `key`, so it is
/// tried first next time. Nothing is written when it already was the one.
pub async fn remember_last_good(store: &Store, key: &str, id: &ContentId) {
    let mut guard = store.lock().await;
    let mut next = guard.settings().clone();
    let Some(saved) = next
        .channels
        .iter_mut()
        .find(|saved| channel_key(saved) == key)
    else {
        return;
    };
    if saved.last_good.as_deref() == Some(id.as_hex()) {
        return;
    }
    saved.last_good = Some(id.as_hex().to_owned());
    if let Err(error) = guard.save(next).await {
        tracing::warn!(channel = %key, %error, "could not remember the alternate that played");
    }
}

/// The stable key of a saved channel (`/channel/<key>.ts`): its own id's
/// lowercase hex, which reordering, adding or removing alternates leaves alone.
pub fn channel_key(saved: &SavedChannel) -> String {
    saved.id.to_ascii_lowercase()
}

/// Every id of a saved channel as stored, in order: its alternates, or its
/// `id` alone when it has none.
pub fn channel_ids(saved: &SavedChannel) -> Vec<String> {
    if saved.alternates.is_empty() {
        vec![saved.id.clone()]
    } else {
        saved.alternates.clone()
    }
}

/// Why a change to a channel's alternates was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlternatesError {
    #[error("{id} is already an id of the saved channel {channel:?}: merge the channels instead")]
    Taken { id: String, channel: String },
    #[error("{0} is not an id of this channel")]
    NotAnAlternate(String),
    #[error("the new order must list each of the channel's ids exactly once")]
    NotAPermutation,
    #[error("a channel's only id cannot be split off")]
    LastId,
    #[error("a channel cannot be merged with itself")]
    SameChannel,
}

/// Index of the saved channel that has `hex` among its ids.
pub fn owner_of(settings: &Settings, hex: &str) -> Option<usize> {
    settings.channels.iter().position(|saved| {
        channel_ids(saved)
            .iter()
            .any(|id| id.eq_ignore_ascii_case(hex))
    })
}

/// Adds `id` as the last alternate of channel `index`.
pub fn add_alternate(
    settings: &Settings,
    index: usize,
    id: &ContentId,
) -> Result<Settings, AlternatesError> {
    if let Some(owner) = owner_of(settings, id.as_hex()) {
        return Err(AlternatesError::Taken {
            id: id.as_hex().to_owned(),
            channel: settings.channels[owner].id.clone(),
        });
    }
    let mut next = settings.clone();
    let saved = &mut next.channels[index];
    saved.alternates = channel_ids(saved);
    saved.alternates.push(id.as_hex().to_owned());
    Ok(next)
}

/// Puts channel `index`'s ids in `order`, which must list each exactly once.
pub fn reorder_alternates(
    settings: &Settings,
    index: usize,
    order: &[ContentId],
) -> Result<Settings, AlternatesError> {
    let mut next = settings.clone();
    let saved = &mut next.channels[index];
    let current = channel_ids(saved);
    let wanted: Vec<String> = order.iter().map(|id| id.as_hex().to_owned()).collect();
    let mut sorted_current: Vec<String> =
        current.iter().map(|id| id.to_ascii_lowercase()).collect();
    let mut sorted_wanted = wanted.clone();
    sorted_current.sort();
    sorted_wanted.sort();
    sorted_wanted.dedup();
    if sorted_current != sorted_wanted || wanted.len() != current.len() {
        return Err(AlternatesError::NotAPermutation);
    }
    saved.alternates = if wanted.len() == 1 {
        Vec::new()
    } else {
        wanted
    };
    Ok(next)
}

/// Takes `id` out of channel `index` into a channel of its own, saved right
/// after it with the same name and attributes. When `id` is the channel's
/// own id, the channel is known by its next alternate from then on (and the
/// stable URL of `id` follows `id`).
pub fn split_alternate(
    settings: &Settings,
    index: usize,
    id: &ContentId,
) -> Result<Settings, AlternatesError> {
    let mut next = settings.clone();
    let saved = &mut next.channels[index];
    let mut ids = channel_ids(saved);
    let at = ids
        .iter()
        .position(|own| own.eq_ignore_ascii_case(id.as_hex()))
        .ok_or_else(|| AlternatesError::NotAnAlternate(id.as_hex().to_owned()))?;
    if ids.len() == 1 {
        return Err(AlternatesError::LastId);
    }
    let taken = ids.remove(at);
    let mut split = SavedChannel {
        id: taken.clone(),
        infohash: saved.infohash && taken.eq_ignore_ascii_case(&saved.id),
        alternates: Vec::new(),
        last_good: None,
        ..saved.clone()
    };
    if taken.eq_ignore_ascii_case(&saved.id) {
        saved.id = ids[0].clone();
        saved.infohash = false;
    } else {
        split.infohash = false;
    }
    if saved
        .last_good
        .as_deref()
        .is_some_and(|good| good.eq_ignore_ascii_case(&taken))
    {
        saved.last_good = None;
    }
    saved.alternates = if ids.len() == 1 { Vec::new() } else { ids };
    next.channels.insert(index + 1, split);
    Ok(next)
}

/// Appends the ids of channel `from` to channel `into` and removes `from`.
pub fn merge_into(
    settings: &Settings,
    into: usize,
    from: usize,
) -> Result<Settings, AlternatesError> {
    if into == from {
        return Err(AlternatesError::SameChannel);
    }
    let mut next = settings.clone();
    let taken = next.channels[from].clone();
    let saved = &mut next.channels[into];
    let mut ids = channel_ids(saved);
    for id in channel_ids(&taken) {
        if !ids.iter().any(|own| own.eq_ignore_ascii_case(&id)) {
            ids.push(id);
        }
    }
    saved.alternates = ids;
    next.channels.remove(from);
    Ok(next)
}

/// Index of the saved channel with this id's hex, if any.
pub fn find_saved(settings: &Settings, id: &ContentId) -> Option<usize> {
    settings
        .channels
        .iter()
        .position(|saved| saved.id.eq_ignore_ascii_case(id.as_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SavedChannel;

    fn channel(n: usize) -> SavedChannel {
        SavedChannel {
            id: format!("{n:040x}"),
            name: Some(format!("channel {n}")),
            ..SavedChannel::default()
        }
    }

    fn ids(settings: &Settings) -> Vec<Vec<String>> {
        settings.channels.iter().map(channel_ids).collect()
    }

    fn id(n: usize) -> ContentId {
        ContentId::parse(&format!("{n:040x}")).expect("id")
    }

    #[test]
    fn alternates_are_added_reordered_split_and_merged() {
        let hex = |n: usize| format!("{n:040x}");
        let settings = Settings {
            channels: vec![channel(1), channel(2)],
            ..Settings::default()
        };
        let added = add_alternate(&settings, 0, &id(3)).expect("add");
        assert_eq!(ids(&added), [vec![hex(1), hex(3)], vec![hex(2)]]);
        assert!(matches!(
            add_alternate(&added, 0, &id(2)),
            Err(AlternatesError::Taken { .. })
        ));
        let reordered = reorder_alternates(&added, 0, &[id(3), id(1)]).expect("reorder");
        assert_eq!(ids(&reordered)[0], [hex(3), hex(1)]);
        assert_eq!(reordered.channels[0].id, hex(1), "the key stays");
        for bad in [vec![id(3)], vec![id(3), id(3)], vec![id(3), id(1), id(2)]] {
            assert!(reorder_alternates(&added, 0, &bad).is_err(), "{bad:?}");
        }
        let merged = merge_into(&reordered, 0, 1).expect("merge");
        assert_eq!(ids(&merged), [vec![hex(3), hex(1), hex(2)]]);
        let split = split_alternate(&merged, 0, &id(1)).expect("split");
        assert_eq!(ids(&split), [vec![hex(3), hex(2)], vec![hex(1)]]);
        assert_eq!(split.channels[0].id, hex(3), "known by its next id");
        assert_eq!(split.channels[1].name, merged.channels[0].name);
        let alone = split_alternate(&split, 1, &id(1));
        assert!(matches!(alone, Err(AlternatesError::LastId)));
    }

    #[test]
    fn an_id_saved_as_an_alternate_is_not_saved_again() {
        let settings = Settings {
            channels: vec![channel(1)],
            ..Settings::default()
        };
        let with = add_alternate(&settings, 0, &id(2)).expect("add");
        let next = merge_channels(&with, [(id(2), Some("dup".into()))]).expect("merge");
        assert_eq!(next.channels.len(), 1);
    }

    #[test]
    fn the_id_that_last_played_is_tried_first() {
        let mut saved = channel(1);
        assert_eq!(
            saved_ids(&saved),
            [id(1)],
            "an old entry plays its id alone"
        );
        saved.alternates = vec![format!("{:040x}", 1), format!("{:040x}", 2)];
        assert_eq!(saved_ids(&saved), [id(1), id(2)]);
        saved.last_good = Some(format!("{:040x}", 2));
        assert_eq!(saved_ids(&saved), [id(2), id(1)]);
        saved.last_good = Some(format!("{:040x}", 9));
        assert_eq!(saved_ids(&saved), [id(1), id(2)], "a stale one is ignored");
    }

    #[tokio::test]
    async fn concurrent_changes_never_lose_a_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("settings.toml");
        let store = Store::open(Some(path.clone())).expect("open");
        let tasks: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut guard = store.lock().await;
                    let mut next = guard.settings().clone();
                    tokio::task::yield_now().await;
                    next.channels.push(channel(n));
                    guard.save(next).await.expect("save");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let on_disk = config::load_settings(&path).expect("load");
        assert_eq!(on_disk.channels.len(), 32);
        assert_eq!(on_disk, store.get().await);
        let reopened = Store::open(Some(path)).expect("reopen");
        assert_eq!(reopened.get().await.channels.len(), 32);
    }

    #[tokio::test]
    async fn failed_write_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("settings.toml");
        std::fs::create_dir_all(path.join("occupied")).expect("dir");
        let store = Store::with_settings(Some(path), Settings::default());
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.channels.push(channel(1));
        assert!(guard.save(next).await.is_err());
        assert!(guard.settings().channels.is_empty());
    }

    #[tokio::test]
    async fn saves_are_announced_and_close_ends_them() {
        let store = Store::open(None).expect("open");
        let mut changes = store.subscribe();
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.channels.push(channel(1));
        guard.save(next).await.expect("save");
        drop(guard);
        tokio::time::timeout(std::time::Duration::from_secs(1), changes.changed())
            .await
            .expect("announced")
            .expect("sender alive");
        assert_eq!(*changes.borrow_and_update(), Some(1));
        store.close();
        changes.changed().await.expect("sender alive");
        assert_eq!(*changes.borrow(), None);
    }

    #[tokio::test]
    async fn memory_only_store_keeps_changes() {
        let store = Store::open(None).expect("open");
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.engine = Some("http://127.0.0.1:1".into());
        guard.save(next).await.expect("save");
        drop(guard);
        assert_eq!(
            store.get().await.engine.as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert!(store.path().is_none());
    }
}
