//! The channels the user played lately, most recent first: kept in the
//! settings (`desktop.recent`, channel keys) so the tray's "Last stream" and
//! "Recently played" mean what was watched, across restarts, rather than the
//! last lines of an imported list. A play is a request for a saved
//! channel's stream (`/channel/<key>.ts` or `.m3u8`), from any player.

use crate::config::Settings;
use crate::saved::SavedChannel;
use crate::store::{self, Store};

/// How many recently played channels are kept.
pub const MAX_RECENT: usize = 10;

/// Puts the saved channel `key` first among the recently played.
pub async fn remember_played(store: &Store, key: &str) {
    let mut guard = store.lock().await;
    let mut next = guard.settings().clone();
    let recent = &mut next.desktop.recent;
    if recent
        .first()
        .is_some_and(|first| first.eq_ignore_ascii_case(key))
    {
        return;
    }
    recent.retain(|other| !other.eq_ignore_ascii_case(key));
    recent.insert(0, key.to_ascii_lowercase());
    recent.truncate(MAX_RECENT);
    if let Err(error) = guard.save(next).await {
        tracing::warn!(channel = %key, %error, "could not remember the channel played");
    }
}

/// The recently played channels that are still saved, most recent first.
pub fn recent_channels(settings: &Settings) -> Vec<&SavedChannel> {
    settings
        .desktop
        .recent
        .iter()
        .filter_map(|key| store::find_by_key(settings, key))
        .collect()
}
