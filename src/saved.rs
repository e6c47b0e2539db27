//! A channel the user saved, as the program works with it: its ids are
//! [`ContentId`]s (the kind kept, so an infohash alternate is sent as
//! `infohash=`), its display name is [`SavedChannel::title`], and the rules
//! that keep its ids consistent (its own id among them, none twice, the one
//! that last played among them) live here, in one place.
//!
//! Owns the conversion at the settings file's boundary: [`SavedEntry`] is the
//! TOML shape (`id`, `infohash`, `alternates`, `last_good` as text, the
//! `#EXTINF` attributes), read and written by serde; everything else sees
//! only [`SavedChannel`]. Files written before alternates, or before
//! alternates could be infohashes, load unchanged and are written back the
//! same: an id is bare hex, its kind taken from `infohash` for the channel's
//! own id and from the text otherwise (an infohash alternate is written as
//! `acestream:?infohash=<hex>`, which older versions also read).
//!
//! It also owns "fill what it lacks" ([`SavedChannel::fill_from`]): how a
//! saved channel takes the name and attributes of another entry for the same
//! channel without losing its own.

use serde::{Deserialize, Serialize};

use crate::content_id::{self, ContentId, IdKind, ListEntry, ParseError};

/// A saved channel: its ids in the order they are tried, its name and the
/// M3U attributes it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SavedEntry", into = "SavedEntry")]
pub struct SavedChannel {
    /// The channel's identity: its key (`/channel/<key>.ts`) and API handle,
    /// whatever the order of its ids.
    id: ContentId,
    /// Every id, in the order they are tried; `id` among them, none twice.
    ids: Vec<ContentId>,
    /// The id that last played: tried first next time. Always among `ids`.
    last_good: Option<ContentId>,
    pub name: Option<String>,
    /// `#EXTINF` `group-title`: the group the channel is listed under.
    pub group: Option<String>,
    /// `#EXTINF` `tvg-logo`: the logo's URL.
    pub logo: Option<String>,
    /// `#EXTINF` `tvg-id`: the EPG id IPTV apps match guide data by.
    pub tvg_id: Option<String>,
    /// `#EXTINF` `tvg-name`.
    pub tvg_name: Option<String>,
    /// The URL of the imported list this channel came from; a refresh of that
    /// list may rename or remove it. `None`: added by hand.
    pub source: Option<String>,
    /// The channel's number (`GuideNumber` for media centres): from
    /// `tvg-chno`, else given when saved (see [`number_channels`]), then kept.
    pub number: Option<u32>,
    /// The guide channel the user picked for it (its id in a guide source);
    /// `None`: matched by `tvg-id` or name (see `guide::matching`).
    pub guide_id: Option<String>,
}

impl SavedChannel {
    /// A channel of `id` alone, nothing else set.
    pub fn new(id: ContentId) -> Self {
        Self {
            ids: vec![id.clone()],
            id,
            last_good: None,
            name: None,
            group: None,
            logo: None,
            tvg_id: None,
            tvg_name: None,
            source: None,
            number: None,
            guide_id: None,
        }
    }

    /// A channel for one entry of a pasted or imported list, with its name
    /// and attributes (cleaned as stored text is).
    pub fn from_list_entry(entry: &ListEntry) -> Self {
        let clean = |text: &Option<String>| text.as_deref().and_then(content_id::clean_text);
        Self {
            name: clean(&entry.name),
            group: clean(&entry.attributes.group),
            logo: clean(&entry.attributes.tvg_logo),
            tvg_id: clean(&entry.attributes.tvg_id),
            tvg_name: clean(&entry.attributes.tvg_name),
            number: entry
                .attributes
                .tvg_chno
                .as_deref()
                .and_then(channel_number),
            ..Self::new(entry.id.clone())
        }
    }

    /// A channel of `id` alone with this channel's name, attributes and source.
    pub fn with_texts_for(&self, id: ContentId) -> Self {
        Self {
            ids: vec![id.clone()],
            id,
            last_good: None,
            // A number belongs to one channel: the new one gets its own.
            number: None,
            ..self.clone()
        }
    }

    /// The channel's own id (its identity, whichever id plays).
    pub fn id(&self) -> &ContentId {
        &self.id
    }

    /// The stable key of the channel (`/channel/<key>.ts`): its own id's hex.
    pub fn key(&self) -> &str {
        self.id.as_hex()
    }

    /// Every id, in the order they are tried when one fails.
    pub fn ids(&self) -> &[ContentId] {
        &self.ids
    }

    /// The id that last played well, if it is still one of the channel's.
    pub fn last_good(&self) -> Option<&ContentId> {
        self.last_good.as_ref()
    }

    /// The ids in the order a start tries them: the one that last played
    /// first, then the others in order.
    pub fn play_order(&self) -> Vec<ContentId> {
        let mut order = Vec::with_capacity(self.ids.len());
        order.extend(self.last_good.iter().cloned());
        order.extend(
            self.ids
                .iter()
                .filter(|id| Some(*id) != self.last_good.as_ref())
                .cloned(),
        );
        order
    }

    /// The name people read: the saved name, else "Channel d5869d…".
    pub fn title(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| content_id::default_name(self.key()))
    }

    /// Whether one of the channel's ids has this hex (any case, any kind).
    pub fn has_hex(&self, hex: &str) -> bool {
        self.position(hex).is_some()
    }

    /// Whether `key` (any case) is this channel's key.
    pub fn is_key(&self, key: &str) -> bool {
        self.key().eq_ignore_ascii_case(key)
    }

    fn position(&self, hex: &str) -> Option<usize> {
        self.ids
            .iter()
            .position(|id| id.as_hex().eq_ignore_ascii_case(hex))
    }

    /// The stored id with this hex: its kind as saved, whatever kind a
    /// caller parsed the hex as.
    pub fn id_with_hex(&self, hex: &str) -> Option<&ContentId> {
        self.position(hex).map(|at| &self.ids[at])
    }

    /// Records that `id` played well; false when it already was the one or
    /// is not one of the channel's ids.
    pub fn set_last_good(&mut self, id: &ContentId) -> bool {
        let Some(stored) = self.id_with_hex(id.as_hex()).cloned() else {
            return false;
        };
        if self.last_good.as_ref() == Some(&stored) {
            return false;
        }
        self.last_good = Some(stored);
        true
    }

    /// Replaces the channel's ids with `ids` (duplicates dropped). When its
    /// own id is no longer among them, the first one becomes its id (and key);
    /// a last good id that is gone is forgotten. Empty `ids` change nothing.
    pub fn set_ids(&mut self, ids: Vec<ContentId>) {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let unique: Vec<ContentId> = ids
            .into_iter()
            .filter(|id| seen.insert(id.as_hex().to_owned()))
            .collect();
        let Some(first) = unique.first().cloned() else {
            return;
        };
        if !unique.iter().any(|id| id.as_hex() == self.id.as_hex()) {
            self.id = first;
        }
        if let Some(good) = &self.last_good {
            if !unique.contains(good) {
                self.last_good = None;
            }
        }
        self.ids = unique;
    }

    /// Adds `id` after the others unless the channel has it already.
    pub fn push_id(&mut self, id: ContentId) {
        let mut ids = self.ids.clone();
        ids.push(id);
        self.set_ids(ids);
    }

    /// Takes the name and attributes `other` has and this channel lacks; what
    /// it has stays. (Its ids and source are not touched.)
    pub fn fill_from(&mut self, other: Self) {
        for (mine, theirs) in [
            (&mut self.name, other.name),
            (&mut self.group, other.group),
            (&mut self.logo, other.logo),
            (&mut self.tvg_id, other.tvg_id),
            (&mut self.tvg_name, other.tvg_name),
        ] {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        self.number = self.number.or(other.number);
    }

    /// Reads an entry of the settings file: `Err` when its own id is not an
    /// id (the channel cannot be kept), else the channel and how many of its
    /// alternates were dropped because they were not ids (hand edits).
    pub fn from_entry(entry: SavedEntry) -> Result<(Self, usize), RejectedEntry> {
        let own = if entry.infohash {
            ContentId::parse_infohash(&entry.id)
        } else {
            ContentId::parse(&entry.id)
        };
        let id = match own {
            Ok(id) => id,
            Err(error) => {
                return Err(RejectedEntry {
                    id: entry.id,
                    name: entry.name,
                    error,
                })
            }
        };
        // The own id written as bare hex keeps the kind `infohash` gives it.
        let parse = |text: &str| {
            if text.trim().eq_ignore_ascii_case(id.as_hex()) {
                Some(id.clone())
            } else {
                ContentId::parse(text).ok()
            }
        };
        let listed: Vec<ContentId> = entry.alternates.iter().filter_map(|t| parse(t)).collect();
        let dropped = entry.alternates.len() - listed.len();
        let mut ids = listed;
        if !ids.iter().any(|other| other.as_hex() == id.as_hex()) {
            ids.insert(0, id.clone());
        }
        let clean = |text: Option<String>| text.as_deref().and_then(content_id::clean_text);
        let mut channel = Self {
            name: clean(entry.name),
            group: clean(entry.group),
            logo: clean(entry.logo),
            tvg_id: clean(entry.tvg_id),
            tvg_name: clean(entry.tvg_name),
            source: entry.source,
            number: entry.number.filter(|n| *n > 0),
            guide_id: clean(entry.guide_id),
            ..Self::new(id.clone())
        };
        channel.set_ids(ids);
        if let Some(good) = entry.last_good.as_deref().and_then(parse) {
            channel.set_last_good(&good);
        }
        Ok((channel, dropped))
    }

    /// How the settings file writes an id of this channel (see the module doc).
    fn id_text(&self, id: &ContentId) -> String {
        if id.kind() == IdKind::Infohash && id.as_hex() != self.id.as_hex() {
            format!("acestream:?infohash={}", id.as_hex())
        } else {
            id.as_hex().to_owned()
        }
    }
}

/// A saved channel whose own id is not an id, dropped from the settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "channel {:?} ({}) was dropped: invalid id: {error}",
    id.chars().take(60).collect::<String>(),
    name.as_deref().unwrap_or("no name")
)]
pub struct RejectedEntry {
    id: String,
    name: Option<String>,
    error: ParseError,
}

/// A saved channel as the settings file writes it. Every field but `id` is
/// optional, so files written by older versions load unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEntry {
    pub id: String,
    /// The id is a torrent infohash (sent as `infohash=`), not a content id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub infohash: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tvg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tvg_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Every id of the channel, in the order they are tried (`id` among
    /// them). Empty, as in files written before alternates existed: the
    /// channel is `id` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternates: Vec<String>,
    /// The alternate that last played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<String>,
    /// The channel's number (media centres' `GuideNumber`, `tvg-chno`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// The guide channel the user picked (its id in the guide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guide_id: Option<String>,
}

impl TryFrom<SavedEntry> for SavedChannel {
    type Error = RejectedEntry;

    fn try_from(entry: SavedEntry) -> Result<Self, Self::Error> {
        Self::from_entry(entry).map(|(channel, _)| channel)
    }
}

impl From<SavedChannel> for SavedEntry {
    fn from(channel: SavedChannel) -> Self {
        let alternates = if channel.ids.len() > 1 {
            channel.ids.iter().map(|id| channel.id_text(id)).collect()
        } else {
            Vec::new()
        };
        Self {
            id: channel.id.as_hex().to_owned(),
            infohash: channel.id.kind() == IdKind::Infohash,
            last_good: channel.last_good.as_ref().map(|id| channel.id_text(id)),
            alternates,
            name: channel.name,
            group: channel.group,
            logo: channel.logo,
            tvg_id: channel.tvg_id,
            tvg_name: channel.tvg_name,
            source: channel.source,
            number: channel.number,
            guide_id: channel.guide_id,
        }
    }
}

/// A channel number as `tvg-chno` writes it: a positive whole number
/// (`"101"`); sub-channels (`"5.1"`) and words are not numbers here.
pub fn channel_number(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|n| *n > 0)
}

/// Gives every channel a number, keeping those they have: a channel
/// without one, or whose number an earlier channel of the list already has,
/// gets the next after the highest. So adding or removing a channel never
/// renumbers the others, and media centres keep their mapping.
pub fn number_channels(channels: &mut [SavedChannel]) {
    let mut taken = std::collections::HashSet::new();
    for channel in channels.iter_mut() {
        if let Some(number) = channel.number {
            if !taken.insert(number) {
                channel.number = None;
            }
        }
    }
    let mut next = taken.iter().copied().max().unwrap_or(0);
    for channel in channels.iter_mut().filter(|c| c.number.is_none()) {
        next = next.saturating_add(1);
        channel.number = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(n: u8) -> String {
        format!("{n:x}").repeat(40)
    }

    fn entry(text: &str) -> SavedEntry {
        toml::from_str(text).expect("toml")
    }

    fn written(channel: &SavedChannel) -> String {
        toml::to_string(channel).expect("toml")
    }

    #[test]
    fn infohash_alternates_stay_infohashes_through_the_file() {
        let (a, b, c) = (hex(10), hex(11), hex(12));
        let text = format!(
            "id = \"{a}\"\ninfohash = true\nalternates = [\"{a}\", \"{b}\", \"acestream:?infohash={c}\"]\n\
             last_good = \"acestream:?infohash={c}\"\n"
        );
        let (channel, dropped) = SavedChannel::from_entry(entry(&text)).expect("entry");
        assert_eq!(dropped, 0);
        let kinds: Vec<_> = channel.ids().iter().map(ContentId::kind).collect();
        assert_eq!(
            kinds,
            [IdKind::Infohash, IdKind::Content, IdKind::Infohash],
            "the own id takes its kind from `infohash`, the others from their text"
        );
        assert_eq!(channel.play_order()[0].query_param(), ("infohash", &*c));
        assert_eq!(written(&channel), text, "written back the same");
    }

    #[test]
    fn entries_with_alternates_from_the_previous_version_are_written_back_the_same() {
        let (a, c) = (hex(10), hex(12));
        let text = format!(
            "id = \"{a}\"\nname = \"News\"\nsource = \"http://l/x.m3u\"\n\
             alternates = [\"{c}\", \"{a}\"]\nlast_good = \"{c}\"\n"
        );
        let (channel, dropped) = SavedChannel::from_entry(entry(&text)).expect("entry");
        assert_eq!(dropped, 0);
        assert_eq!(
            channel.key(),
            a,
            "the key is the own id, not the first tried"
        );
        assert_eq!(channel.play_order()[0].as_hex(), c);
        assert_eq!(written(&channel), text);
    }

    #[test]
    fn an_infohash_alternate_added_later_is_not_replayed_as_a_content_id() {
        let mut channel = SavedChannel::new(ContentId::parse(&hex(10)).expect("id"));
        channel.push_id(ContentId::parse_infohash(&hex(11)).expect("id"));
        let reread: SavedChannel = toml::from_str(&written(&channel)).expect("read back");
        assert_eq!(reread.ids()[1].kind(), IdKind::Infohash);
        assert_eq!(reread, channel);
    }

    #[test]
    fn titles_are_the_name_or_the_start_of_the_key() {
        let mut channel = SavedChannel::new(ContentId::parse(&hex(13)).expect("id"));
        assert_eq!(channel.title(), "Channel dddddd\u{2026}");
        channel.name = Some("News".into());
        assert_eq!(channel.title(), "News");
    }

    #[test]
    fn new_ids_keep_the_channel_consistent() {
        let id = |n| ContentId::parse(&hex(n)).expect("id");
        let mut channel = SavedChannel::new(id(1));
        channel.set_ids(vec![id(2), id(1), id(2)]);
        assert_eq!(channel.ids(), [id(2), id(1)]);
        assert!(channel.set_last_good(&id(1)));
        assert!(!channel.set_last_good(&id(1)));
        assert_eq!(channel.play_order(), [id(1), id(2)]);
        channel.set_ids(vec![id(2), id(3)]);
        assert_eq!(channel.key(), hex(2), "the next id becomes the key");
        assert_eq!(
            channel.last_good(),
            None,
            "a removed last good is forgotten"
        );
        channel.set_ids(Vec::new());
        assert_eq!(channel.ids().len(), 2, "a channel never loses its last id");
    }
}
