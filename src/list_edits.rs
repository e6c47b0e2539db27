//! The user's edits of channels that came from an imported list, kept
//! across re-reads of that list: a rename, another group, another logo, a
//! removal. A re-read makes a channel what the list says ([`crate::import`]);
//! [`apply`], run after it, puts the user's edits back and drops the
//! channels the user removed, and remembers what the list says now, so the
//! UI can show "renamed; the list calls it …" and [`reset`] can go back to
//! the list's.
//!
//! Owns the `[[list_edits]]` tables of the settings file. Numbers need no
//! edit record (a re-read never changes a saved channel's number), nor does
//! the order of a channel's ids (a re-read keeps the user's order).

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::saved::SavedChannel;

/// One channel's edits, or its removal, for one imported list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListEdit {
    /// The imported list's URL (the channel's `source`).
    pub list: String,
    /// The channel's key.
    pub channel: String,
    /// The user's name, group and logo; `None`: the list's is used; `""`: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// What the list says for each field the user edited (absent: nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_logo: Option<String>,
    /// Set when the user removed the channel: every id it had (hex), so
    /// the list's entries for it stay away.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_ids: Vec<String>,
}

/// A field of a channel the user may change over the list's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Group,
    Logo,
}

const FIELDS: [Field; 3] = [Field::Name, Field::Group, Field::Logo];

impl Field {
    fn of(self, channel: &mut SavedChannel) -> &mut Option<String> {
        match self {
            Field::Name => &mut channel.name,
            Field::Group => &mut channel.group,
            Field::Logo => &mut channel.logo,
        }
    }

    /// The user's value and the list's, in an edit.
    fn in_edit(self, edit: &mut ListEdit) -> (&mut Option<String>, &mut Option<String>) {
        match self {
            Field::Name => (&mut edit.name, &mut edit.list_name),
            Field::Group => (&mut edit.group, &mut edit.list_group),
            Field::Logo => (&mut edit.logo, &mut edit.list_logo),
        }
    }
}

impl ListEdit {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.group.is_none()
            && self.logo.is_none()
            && self.removed_ids.is_empty()
    }

    fn is_removal(&self) -> bool {
        !self.removed_ids.is_empty()
    }
}

/// What the list says for each field the user changed, for the UI: absent
/// fields are not edited; `null` means the list gives none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListSays {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tvg_logo: Option<Option<String>>,
}

fn position(settings: &Settings, list: &str, key: &str) -> Option<usize> {
    settings
        .list_edits
        .iter()
        .position(|edit| edit.list == list && edit.channel == key && !edit.is_removal())
}

/// Sets `field` of channel `index` to `value`; for a channel from a list,
/// remembers it as the user's (a value equal to the list's is no edit).
pub fn record(settings: &mut Settings, index: usize, field: Field, value: Option<String>) {
    let channel = &mut settings.channels[index];
    let current = field.of(channel).clone();
    *field.of(channel) = value.clone();
    let Some(list) = channel.source.clone() else {
        return;
    };
    let key = channel.key().to_owned();
    let at = position(settings, &list, &key).unwrap_or_else(|| {
        settings.list_edits.push(ListEdit {
            list,
            channel: key,
            ..ListEdit::default()
        });
        settings.list_edits.len() - 1
    });
    let edit = &mut settings.list_edits[at];
    let (user, listed) = field.in_edit(edit);
    if user.is_none() {
        *listed = current;
    }
    *user = (value != *listed).then(|| value.unwrap_or_default());
    if edit.is_empty() {
        settings.list_edits.remove(at);
    }
}

/// Remembers that the user removed channel `index` (before it is removed),
/// if it came from a list: the list's next read leaves it out.
pub fn record_removal(settings: &mut Settings, index: usize) {
    let channel = &settings.channels[index];
    let Some(list) = channel.source.clone() else {
        return;
    };
    let key = channel.key().to_owned();
    let removed_ids = channel
        .ids()
        .iter()
        .map(|id| id.as_hex().to_owned())
        .collect();
    settings
        .list_edits
        .retain(|edit| !(edit.list == list && edit.channel == key));
    settings.list_edits.push(ListEdit {
        list,
        channel: key,
        removed_ids,
        ..ListEdit::default()
    });
}

/// After a read of `list` (once: it takes the channels' fields as what the
/// list says): drops the channels the user removed, puts the
/// user's edits back over what the list says (remembering what it says),
/// and forgets the edits of channels the list no longer has. Returns how
/// many channels it dropped.
pub fn apply(settings: &mut Settings, list: &str) -> usize {
    let removed: Vec<&str> = settings
        .list_edits
        .iter()
        .filter(|edit| edit.list == list)
        .flat_map(|edit| edit.removed_ids.iter().map(String::as_str))
        .collect();
    let before = settings.channels.len();
    settings.channels.retain(|channel| {
        channel.source.as_deref() != Some(list) || !removed.iter().any(|hex| channel.has_hex(hex))
    });
    let dropped = before - settings.channels.len();
    let Settings {
        channels,
        list_edits,
        ..
    } = settings;
    list_edits.retain_mut(|edit| {
        if edit.list != list || edit.is_removal() {
            return true;
        }
        let Some(channel) = channels
            .iter_mut()
            .find(|c| c.is_key(&edit.channel) && c.source.as_deref() == Some(list))
        else {
            return false;
        };
        for field in FIELDS {
            let (user, listed) = field.in_edit(edit);
            if let Some(value) = user {
                *listed = field.of(channel).clone();
                *field.of(channel) = (!value.is_empty()).then(|| value.clone());
            }
        }
        true
    });
    dropped
}

/// Gives channel `index` back the list's name, group and logo. False when
/// the user had changed none of them.
pub fn reset(settings: &mut Settings, index: usize) -> bool {
    let channel = &settings.channels[index];
    let (Some(list), key) = (channel.source.clone(), channel.key().to_owned()) else {
        return false;
    };
    let Some(at) = position(settings, &list, &key) else {
        return false;
    };
    let mut edit = settings.list_edits.remove(at);
    let channel = &mut settings.channels[index];
    for field in FIELDS {
        let (user, listed) = field.in_edit(&mut edit);
        if user.is_some() {
            *field.of(channel) = listed.clone();
        }
    }
    true
}

/// What the list says for the fields the user changed of `channel`, if any.
pub fn list_says(settings: &Settings, channel: &SavedChannel) -> Option<ListSays> {
    let list = channel.source.as_deref()?;
    let at = position(settings, list, channel.key())?;
    let edit = &settings.list_edits[at];
    let says =
        |user: &Option<String>, listed: &Option<String>| user.as_ref().map(|_| listed.clone());
    Some(ListSays {
        name: says(&edit.name, &edit.list_name),
        group: says(&edit.group, &edit.list_group),
        tvg_logo: says(&edit.logo, &edit.list_logo),
    })
}

/// How many channels of `list` the user removed.
pub fn removed_count(settings: &Settings, list: &str) -> usize {
    settings
        .list_edits
        .iter()
        .filter(|edit| edit.list == list && edit.is_removal())
        .count()
}

/// Forgets the user's removals of channels of `list`: its next read brings them back.
pub fn bring_back(settings: &mut Settings, list: &str) -> usize {
    let before = settings.list_edits.len();
    settings
        .list_edits
        .retain(|edit| !(edit.list == list && edit.is_removal()));
    before - settings.list_edits.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::sync;

    const LIST: &str = "http://lists.example/a.m3u";

    fn hex(n: u8) -> String {
        format!("{n:x}").repeat(40)
    }

    fn text(entries: &[(&str, &str, u8)]) -> String {
        let mut out = String::from("#EXTM3U\n");
        for (name, group, id) in entries {
            out.push_str(&format!(
                "#EXTINF:-1 group-title=\"{group}\",{name}\nacestream://{}\n",
                hex(*id)
            ));
        }
        out
    }

    /// A read of the list (which applies the user's edits).
    fn read(settings: &Settings, entries: &[(&str, &str, u8)]) -> Settings {
        sync(settings, LIST, &text(entries)).expect("sync").0
    }

    fn names(settings: &Settings) -> Vec<(Option<&str>, Option<&str>)> {
        settings
            .channels
            .iter()
            .map(|c| (c.name.as_deref(), c.group.as_deref()))
            .collect()
    }

    #[test]
    fn edits_and_removals_survive_two_reads_and_reset_gives_the_lists_back() {
        let list = [
            ("One", "Sport", 1),
            ("Two", "Sport", 2),
            ("Three", "News", 3),
        ];
        let mut settings = read(&Settings::default(), &list);
        record(&mut settings, 0, Field::Name, Some("Mine".into()));
        record(&mut settings, 0, Field::Group, None);
        record_removal(&mut settings, 1);
        settings.channels.remove(1);
        let renamed = [
            ("One HD", "Sport", 1),
            ("Two", "Sport", 2),
            ("Three", "News", 3),
        ];
        for _ in 0..2 {
            settings = read(&settings, &renamed);
            assert_eq!(
                names(&settings),
                [(Some("Mine"), None), (Some("Three"), Some("News"))]
            );
        }
        let says = list_says(&settings, &settings.channels[0]).expect("edited");
        assert_eq!(says.name, Some(Some("One HD".into())));
        assert_eq!(says.group, Some(Some("Sport".into())));
        assert_eq!(says.tvg_logo, None);
        assert!(reset(&mut settings, 0));
        assert_eq!(names(&settings)[0], (Some("One HD"), Some("Sport")));
        assert!(list_says(&settings, &settings.channels[0]).is_none());
        assert_eq!(removed_count(&settings, LIST), 1);
        assert_eq!(bring_back(&mut settings, LIST), 1);
        settings = read(&settings, &renamed);
        assert_eq!(settings.channels.len(), 3);
    }

    #[test]
    fn setting_the_lists_value_again_is_no_edit_and_hand_saved_channels_keep_none() {
        let mut settings = read(&Settings::default(), &[("One", "Sport", 1)]);
        record(&mut settings, 0, Field::Name, Some("Mine".into()));
        record(&mut settings, 0, Field::Name, Some("One".into()));
        assert!(settings.list_edits.is_empty());
        settings.channels[0].source = None;
        record(&mut settings, 0, Field::Name, Some("Mine".into()));
        assert!(settings.list_edits.is_empty());
        assert_eq!(settings.channels[0].name.as_deref(), Some("Mine"));
    }
}
