//! The persisted settings store: the settings file's contents in memory, shared
//! by the API handlers that change them (engine URL, saved channels).
//!
//! Every change goes through one async mutex held from reading the current
//! settings until the new ones are on disk (and, for callers that need it,
//! applied), so concurrent requests never interleave or lose each other's
//! writes. Files are written atomically by [`config::save_settings`]; the
//! in-memory copy only changes once the write succeeded.
//!
//! Work that takes time (a list of thousands of ids parsed, grouped and
//! merged) never runs on the runtime or under that mutex: [`Store::update`]
//! computes the change off the runtime from a copy, then takes the mutex only
//! to put the result in place (computing again if another change came first).
//! The merge itself looks ids up in an index ([`Owners`]), never by scanning
//! every channel for every id.
//!
//! It also owns telling others about changes: every save bumps a watch
//! counter ([`Store::subscribe`]) that live views (the web UI's event stream)
//! wait on, and it keeps the warnings from reading the file, for the user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Mutex, MutexGuard};

use crate::config::{self, ConfigError, Settings};
use crate::content_id::ContentId;
use crate::saved::SavedChannel;

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
    /// Counts saved changes; only changed with `settings` locked, so read
    /// with it locked it tells whether the settings changed since.
    generation: AtomicU64,
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

    fn build(path: Option<PathBuf>, settings: Settings, warnings: Vec<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                settings: Mutex::new(settings),
                generation: AtomicU64::new(0),
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

    /// What `read` makes of the current settings, without copying them (for
    /// views sampled often, such as the streams' titles).
    pub async fn read<R>(&self, read: impl FnOnce(&Settings) -> R) -> R {
        read(&*self.inner.settings.lock().await)
    }

    /// Exclusive access for a read-modify-write; other changes wait until the
    /// returned guard is dropped.
    pub async fn lock(&self) -> StoreGuard<'_> {
        StoreGuard {
            path: self.inner.path.as_deref(),
            settings: self.inner.settings.lock().await,
            generation: &self.inner.generation,
            changes: &self.inner.changes,
        }
    }

    /// Saves what `change` makes of the settings, and answers what else it
    /// gave. `change` runs off the runtime on a copy, without the lock, so
    /// players and other requests never wait for it; the lock is taken only
    /// to put the result in place. When another change was saved meanwhile,
    /// `change` runs again on the new settings (the last time under the lock,
    /// so a busy store cannot starve it). Nothing is written when the
    /// settings come out the same.
    pub async fn update<T, E>(
        &self,
        change: impl Fn(&Settings) -> Result<(Settings, T), E> + Send + Sync + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<ConfigError> + Send + 'static,
    {
        /// Tries without the lock before computing under it.
        const ATTEMPTS: usize = 3;
        let change = Arc::new(change);
        for attempt in 1..=ATTEMPTS {
            let (current, generation) = {
                let guard = self.inner.settings.lock().await;
                (guard.clone(), self.inner.generation.load(Ordering::Acquire))
            };
            let computed = self.off_runtime(&change, current).await?;
            let mut guard = self.lock().await;
            let (next, answer) = if guard.generation() == generation {
                computed?
            } else if attempt == ATTEMPTS {
                self.off_runtime(&change, guard.settings().clone())
                    .await??
            } else {
                continue;
            };
            if next != *guard.settings() {
                guard.save(next).await?;
            }
            return Ok(answer);
        }
        unreachable!("the last attempt always answers")
    }

    /// Runs `change` on `current` on tokio's blocking threads.
    async fn off_runtime<T, E>(
        &self,
        change: &Arc<impl Fn(&Settings) -> Result<(Settings, T), E> + Send + Sync + 'static>,
        current: Settings,
    ) -> Result<Result<(Settings, T), E>, ConfigError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let change = Arc::clone(change);
        tokio::task::spawn_blocking(move || change(&current))
            .await
            .map_err(|join| self.write_error(join))
    }

    fn write_error(&self, join: tokio::task::JoinError) -> ConfigError {
        ConfigError::Write {
            path: self.inner.path.clone().unwrap_or_default(),
            source: std::io::Error::other(join.to_string()),
        }
    }
}

/// Exclusive access to the settings, from [`Store::lock`].
#[derive(Debug)]
pub struct StoreGuard<'a> {
    path: Option<&'a Path>,
    settings: MutexGuard<'a, Settings>,
    generation: &'a AtomicU64,
    changes: &'a watch::Sender<Option<u64>>,
}

impl StoreGuard<'_> {
    /// The current settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How many changes were saved before this guard's settings.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Writes `next` to the settings file, then makes it current. On a write
    /// error nothing changes, in memory or on disk.
    pub async fn save(&mut self, mut next: Settings) -> Result<(), ConfigError> {
        crate::saved::number_channels(&mut next.channels);
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
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changes
            .send_modify(|version| *version = version.map(|v| v.wrapping_add(1)));
        Ok(())
    }
}

/// Most channels the settings file keeps.
pub const MAX_SAVED_CHANNELS: usize = 1000;
/// Most ids one saved channel has (its own and its alternates).
pub const MAX_ALTERNATES: usize = 64;

/// A change that would take the saved channels over their limits.
#[derive(Debug, thiserror::Error)]
pub enum TooManyChannels {
    #[error("too many saved channels: at most {MAX_SAVED_CHANNELS}")]
    Channels,
    #[error("too many ids for the channel {0:?}: at most {MAX_ALTERNATES}")]
    Alternates(String),
}

/// Which saved channel has which id (by hex), so a merge looks each id up
/// once instead of scanning every channel.
#[derive(Debug, Default)]
pub struct Owners(HashMap<String, usize>);

impl Owners {
    /// The owners of the ids of `settings`' channels (the first, should two share one).
    pub fn of(settings: &Settings) -> Self {
        let mut owners = Self::default();
        for (index, saved) in settings.channels.iter().enumerate() {
            owners.add(index, saved.ids());
        }
        owners
    }

    /// Index of the saved channel that has `hex` among its ids.
    pub fn get(&self, hex: &str) -> Option<usize> {
        self.0.get(&hex.to_ascii_lowercase()).copied()
    }

    /// Records that channel `index` has `ids` (those no other channel has).
    fn add(&mut self, index: usize, ids: &[ContentId]) {
        for id in ids {
            self.0.entry(id.as_hex().to_owned()).or_insert(index);
        }
    }

    /// Gives channel `index` of `settings` these ids (see
    /// [`SavedChannel::set_ids`]), keeping the index in step.
    pub fn set_ids(&mut self, settings: &mut Settings, index: usize, ids: Vec<ContentId>) {
        let saved = &mut settings.channels[index];
        for id in saved.ids() {
            if self.0.get(id.as_hex()) == Some(&index) {
                self.0.remove(id.as_hex());
            }
        }
        saved.set_ids(ids);
        self.add(index, saved.ids());
    }

    /// Appends `channel` to `settings`.
    fn push(&mut self, settings: &mut Settings, channel: SavedChannel) {
        self.add(settings.channels.len(), channel.ids());
        settings.channels.push(channel);
    }
}

/// `settings` with `new` channels saved after the existing ones (see [`merge_saved`]).
pub fn merge_channels(
    settings: &Settings,
    new: impl IntoIterator<Item = (ContentId, Option<String>)>,
) -> Result<Settings, TooManyChannels> {
    merge_saved(
        settings,
        new.into_iter().map(|(id, name)| {
            let mut channel = SavedChannel::new(id);
            channel.name = name;
            channel
        }),
    )
}

/// `settings` with `new` channels saved after the existing ones. A channel
/// that has one of a new channel's ids already is that channel: it keeps its
/// place and what it has, and takes what it lacks ([`absorb`]).
pub fn merge_saved(
    settings: &Settings,
    new: impl IntoIterator<Item = SavedChannel>,
) -> Result<Settings, TooManyChannels> {
    let mut next = settings.clone();
    let mut owners = Owners::of(&next);
    for channel in new {
        let existing = channel.ids().iter().find_map(|id| owners.get(id.as_hex()));
        match existing {
            Some(index) => absorb(&mut next, &mut owners, index, channel)?,
            None if channel.ids().len() > MAX_ALTERNATES => {
                return Err(TooManyChannels::Alternates(channel.title()))
            }
            None => owners.push(&mut next, channel),
        }
        if next.channels.len() > MAX_SAVED_CHANNELS {
            return Err(TooManyChannels::Channels);
        }
    }
    Ok(next)
}

/// Channel `index` takes what `other` (an entry for the same channel) has
/// and it lacks: the ids no other saved channel has, tried after its own,
/// and the name and attributes it has none of.
pub fn absorb(
    settings: &mut Settings,
    owners: &mut Owners,
    index: usize,
    other: SavedChannel,
) -> Result<(), TooManyChannels> {
    let mut ids = settings.channels[index].ids().to_vec();
    ids.extend(
        other
            .ids()
            .iter()
            .filter(|id| owners.get(id.as_hex()).is_none())
            .cloned(),
    );
    if ids.len() > MAX_ALTERNATES {
        return Err(TooManyChannels::Alternates(
            settings.channels[index].title(),
        ));
    }
    owners.set_ids(settings, index, ids);
    settings.channels[index].fill_from(other);
    Ok(())
}

/// Records that `id` played well for the saved channel `key`, so it is
/// tried first next time. Nothing is written when it already was the one.
pub async fn remember_last_good(store: &Store, key: &str, id: &ContentId) {
    let mut guard = store.lock().await;
    let mut next = guard.settings().clone();
    let Some(saved) = next.channels.iter_mut().find(|saved| saved.is_key(key)) else {
        return;
    };
    if !saved.set_last_good(id) {
        return;
    }
    if let Err(error) = guard.save(next).await {
        tracing::warn!(channel = %key, %error, "could not remember the alternate that played");
    }
}

/// The saved channel whose key is `key` (any case).
pub fn find_by_key<'a>(settings: &'a Settings, key: &str) -> Option<&'a SavedChannel> {
    settings.channels.iter().find(|saved| saved.is_key(key))
}

/// The name to show for `id`: the title of the saved channel that has it
/// among its ids (whichever of them plays), else "Channel d5869d…".
pub fn title_of(settings: &Settings, id: &ContentId) -> String {
    owner_of(settings, id.as_hex()).map_or_else(
        || crate::content_id::default_name(id.as_hex()),
        |index| settings.channels[index].title(),
    )
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
    settings
        .channels
        .iter()
        .position(|saved| saved.has_hex(hex))
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
            channel: settings.channels[owner].key().to_owned(),
        });
    }
    let mut next = settings.clone();
    next.channels[index].push_id(id.clone());
    Ok(next)
}

/// Puts channel `index`'s ids in `order`, which must list each exactly once
/// (by hex: each keeps the kind it was saved with).
pub fn reorder_alternates(
    settings: &Settings,
    index: usize,
    order: &[ContentId],
) -> Result<Settings, AlternatesError> {
    let mut next = settings.clone();
    let saved = &mut next.channels[index];
    let wanted: Vec<ContentId> = order
        .iter()
        .map(|id| saved.id_with_hex(id.as_hex()).cloned())
        .collect::<Option<_>>()
        .ok_or(AlternatesError::NotAPermutation)?;
    let mut unique = wanted.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != wanted.len() || wanted.len() != saved.ids().len() {
        return Err(AlternatesError::NotAPermutation);
    }
    saved.set_ids(wanted);
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
    let taken = saved
        .id_with_hex(id.as_hex())
        .cloned()
        .ok_or_else(|| AlternatesError::NotAnAlternate(id.as_hex().to_owned()))?;
    if saved.ids().len() == 1 {
        return Err(AlternatesError::LastId);
    }
    let split = saved.with_texts_for(taken.clone());
    let rest: Vec<ContentId> = saved
        .ids()
        .iter()
        .filter(|own| **own != taken)
        .cloned()
        .collect();
    saved.set_ids(rest);
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
    let mut ids = saved.ids().to_vec();
    ids.extend(taken.ids().iter().cloned());
    saved.set_ids(ids);
    next.channels.remove(from);
    Ok(next)
}

/// Index of the saved channel whose key is this id's hex, if any.
pub fn find_saved(settings: &Settings, id: &ContentId) -> Option<usize> {
    settings
        .channels
        .iter()
        .position(|saved| saved.is_key(id.as_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(n: usize) -> SavedChannel {
        let mut saved = SavedChannel::new(id(n));
        saved.name = Some(format!("channel {n}"));
        saved
    }

    fn ids(settings: &Settings) -> Vec<Vec<String>> {
        settings
            .channels
            .iter()
            .map(|saved| {
                saved
                    .ids()
                    .iter()
                    .map(|id| id.as_hex().to_owned())
                    .collect()
            })
            .collect()
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
        assert_eq!(reordered.channels[0].key(), hex(1), "the key stays");
        for bad in [vec![id(3)], vec![id(3), id(3)], vec![id(3), id(1), id(2)]] {
            assert!(reorder_alternates(&added, 0, &bad).is_err(), "{bad:?}");
        }
        let merged = merge_into(&reordered, 0, 1).expect("merge");
        assert_eq!(ids(&merged), [vec![hex(3), hex(1), hex(2)]]);
        let split = split_alternate(&merged, 0, &id(1)).expect("split");
        assert_eq!(ids(&split), [vec![hex(3), hex(2)], vec![hex(1)]]);
        assert_eq!(split.channels[0].key(), hex(3), "known by its next id");
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
            saved.play_order(),
            [id(1)],
            "an old entry plays its id alone"
        );
        saved.set_ids(vec![id(1), id(2)]);
        assert_eq!(saved.play_order(), [id(1), id(2)]);
        saved.set_last_good(&id(2));
        assert_eq!(saved.play_order(), [id(2), id(1)]);
        assert!(!saved.set_last_good(&id(9)), "a stranger is ignored");
        assert_eq!(saved.play_order(), [id(2), id(1)]);
    }

    #[test]
    fn a_channels_title_follows_it_to_any_of_its_ids() {
        let mut settings = Settings {
            channels: vec![channel(1)],
            ..Settings::default()
        };
        settings.channels[0].push_id(id(2));
        assert_eq!(title_of(&settings, &id(2)), "channel 1");
        assert_eq!(title_of(&settings, &id(3)), "Channel 000000\u{2026}");
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
    async fn a_slow_change_holds_no_lock_and_keeps_a_change_saved_meanwhile() {
        let store = Store::open(None).expect("open");
        let (go_on, wait) = std::sync::mpsc::channel::<()>();
        let wait = std::sync::Mutex::new(wait);
        let calls = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let slow = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .update(move |settings| {
                        // The first run waits until another change is saved.
                        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                            let _ = wait.lock().map(|wait| wait.recv());
                        }
                        let mut next = settings.clone();
                        next.channels.push(channel(1));
                        Ok::<_, ConfigError>((next, ()))
                    })
                    .await
            }
        });
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // While it runs, readers and other writers go on.
        let read = tokio::time::timeout(std::time::Duration::from_secs(1), store.get()).await;
        assert!(read.is_ok(), "a reader waited for a change being computed");
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.engine = Some("http://127.0.0.1:1".into());
        guard.save(next).await.expect("save");
        drop(guard);
        go_on.send(()).expect("send");
        slow.await.expect("task").expect("update");
        let settings = store.get().await;
        assert_eq!(settings.engine.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(settings.channels.len(), 1);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "computed again on the new settings"
        );
    }

    #[tokio::test]
    async fn a_settings_file_with_101_bad_lines_keeps_its_channels_across_a_save() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("settings.toml");
        let mut text = String::new();
        for n in 1..=3 {
            text.push_str(&format!("[[channels]]\nid = \"{n:040x}\"\n"));
            for _ in 0..101 {
                text.push_str("a hand edit gone wrong\n");
            }
        }
        std::fs::write(&path, text).expect("write");
        let store = Store::open(Some(path.clone())).expect("open");
        assert_eq!(store.get().await.channels.len(), 3);
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.engine = Some("http://127.0.0.1:1".into());
        guard.save(next).await.expect("save");
        drop(guard);
        let on_disk = config::load_settings(&path).expect("load");
        assert_eq!(on_disk.channels.len(), 3);
        assert_eq!(on_disk.engine.as_deref(), Some("http://127.0.0.1:1"));
    }

    #[tokio::test]
    async fn failed_write_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("settings.toml");
        std::fs::create_dir_all(path.join("occupied")).expect("dir");
        let store = Store::build(Some(path), Settings::default(), Vec::new());
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
