//! Channel lists imported from a URL: fetching a list (bounded in size and
//! time), and keeping the saved channels in step with it, once or every few
//! minutes.
//!
//! Owns the meaning of a channel's `source`: channels that came from a list
//! are added, renamed, regrouped and removed as the list says on every read
//! (but for what the user changed of them, see [`crate::list_edits`]);
//! channels the user saved by hand are never removed by a list, only given
//! what they lack. A read that fails, or finds no channel at all, changes no
//! channel (a broken server must not empty the user's list).
//!
//! Entries of one list that share a `tvg-id`, or else the same normalised
//! `tvg-name` or name, are one channel with several ids: they are saved as
//! one channel whose alternates are their ids in list order (see
//! [`group_alternates`]); a pasted list is grouped the same way. A refresh
//! keeps the user's order of the ids still listed. A list whose server is
//! down is tried again after [`RETRY_AFTER_FAILURE`] (or its interval, if
//! shorter), not at every check.
//!
//! A list is parsed, grouped and merged off the runtime, never under the
//! settings' lock (see [`Store::update`]), in time linear in its size; its
//! limits ([`MAX_LIST_ENTRIES`], [`store::MAX_ALTERNATES`]) are checked as it
//! is read, so an oversized list is refused before any other work.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use url::Url;

use crate::config::{ImportedList, Settings};
use crate::content_id::{self, ContentId, ListError, TooManyIds};
use crate::saved::SavedChannel;
use crate::store::{self, Owners, Store, TooManyChannels};

/// Largest list read: ~20 000 channels of a typical M3U.
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// Most ids one list (or paste) may have.
pub const MAX_LIST_ENTRIES: usize = 20_000;
/// Longest a whole read may take, connecting included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Shortest refresh interval accepted, in minutes.
pub const MIN_REFRESH_MINS: u64 = 5;
/// Most imported lists kept.
pub const MAX_IMPORTS: usize = 20;
/// How often due refreshes are looked for.
const REFRESH_CHECK: Duration = Duration::from_secs(60);
/// A read that failed is tried again after this long, or after the list's
/// interval if that is shorter.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid list URL: {0}")]
    BadUrl(String),
    #[error("the list server answered HTTP {0}")]
    Status(u16),
    #[error("the list is larger than {} MiB", MAX_LIST_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("the list server did not send the list within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot read the list: {0}")]
    Network(String),
    #[error("no channel found in the list ({0} lines were not channels)")]
    NoChannels(usize),
    #[error(transparent)]
    TooMany(#[from] TooManyChannels),
    #[error("too many ids in the list: at most {MAX_LIST_ENTRIES}")]
    TooManyIds,
    #[error("too many imported lists: at most {MAX_IMPORTS}")]
    TooManyLists,
    #[error(transparent)]
    Settings(#[from] crate::config::ConfigError),
}

/// What one read of a list changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub url: String,
    /// Channels in the list.
    pub channels: usize,
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// Entries that became another entry's alternate id (the same channel).
    pub alternates: usize,
    /// Lines of the list that were not channels (at most 20 listed).
    pub errors: Vec<ListError>,
}

/// Checks a list URL a user typed: http(s) with a host.
pub fn parse_list_url(text: &str) -> Result<Url, ImportError> {
    let url = Url::parse(text.trim()).map_err(|err| {
        ImportError::BadUrl(match err {
            url::ParseError::RelativeUrlWithoutBase => {
                "a list's address starts with http:// or https://".into()
            }
            other => format!("this is not a web address ({other})"),
        })
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ImportError::BadUrl(
            "only http:// and https:// URLs can be imported".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ImportError::BadUrl("no host".into()));
    }
    Ok(url)
}

/// Reads the list at `url`: at most [`MAX_LIST_BYTES`], within [`FETCH_TIMEOUT`].
async fn fetch_list(url: &Url) -> Result<String, ImportError> {
    let read = async {
        let client = crate::http_client::for_url(url)
            .no_proxy()
            .build()
            .map_err(|err| ImportError::Network(err.to_string()))?;
        let mut response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|err| ImportError::Network(network_reason(&err)))?;
        if !response.status().is_success() {
            return Err(ImportError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_LIST_BYTES as u64)
        {
            return Err(ImportError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| ImportError::Network(network_reason(&err)))?
        {
            if body.len() + chunk.len() > MAX_LIST_BYTES {
                return Err(ImportError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(FETCH_TIMEOUT, read)
        .await
        .map_err(|_| ImportError::Timeout)?
}

/// A list read and grouped into channels, before it meets the settings.
#[derive(Debug, Clone)]
pub struct ListedChannels {
    url: String,
    channels: Vec<SavedChannel>,
    /// Entries in the list.
    entries: usize,
    errors: Vec<ListError>,
    /// The programme guides its header names (`url-tvg`, `x-tvg-url`).
    guide_urls: Vec<String>,
}

/// The channels of the list at `url` whose text is `text`: parsed and
/// grouped, its limits checked as it is read.
pub fn read_list(url: &str, text: &str) -> Result<ListedChannels, ImportError> {
    let parsed = content_id::parse_list_at_most(text, MAX_LIST_ENTRIES)
        .map_err(|_: TooManyIds| ImportError::TooManyIds)?;
    if parsed.entries.is_empty() {
        return Err(ImportError::NoChannels(parsed.errors.len()));
    }
    let entries = parsed.entries.iter().map(|entry| {
        let mut channel = SavedChannel::from_list_entry(entry);
        channel.source = Some(url.to_owned());
        channel
    });
    Ok(ListedChannels {
        url: url.to_owned(),
        channels: group_alternates(entries)?,
        entries: parsed.entries.len(),
        errors: parsed.errors.into_iter().take(20).collect(),
        guide_urls: crate::guide::sources::header_urls(text),
    })
}

/// Why a list's server could not be read, in the user's words rather than
/// the HTTP client's ("error sending request").
fn network_reason(err: &reqwest::Error) -> String {
    let chain = std::iter::successors(Some(err as &dyn std::error::Error), |e| e.source())
        .map(|e| e.to_string().to_lowercase())
        .collect::<Vec<_>>()
        .join(": ");
    if chain.contains("dns") || chain.contains("lookup") {
        "no server has that name (check the address)".into()
    } else if err.is_connect() {
        "its server does not answer (check the address, or try later)".into()
    } else if err.is_timeout() {
        "its server took too long to answer".into()
    } else if err.is_body() || err.is_decode() {
        "the connection broke while reading it".into()
    } else {
        chain
    }
}

/// `settings` with the channels of the list at `url` as `text` says they are.
pub fn sync(
    settings: &Settings,
    url: &str,
    text: &str,
) -> Result<(Settings, SyncReport), ImportError> {
    sync_listed(settings, &read_list(url, text)?)
}

/// `settings` with the channels of a list read by [`read_list`].
pub fn sync_listed(
    settings: &Settings,
    list: &ListedChannels,
) -> Result<(Settings, SyncReport), ImportError> {
    let url = list.url.as_str();
    let mut report = SyncReport {
        url: url.to_owned(),
        channels: list.entries,
        errors: list.errors.clone(),
        ..SyncReport::default()
    };
    let mut next = settings.clone();
    let listed_ids: std::collections::HashSet<&str> = list
        .channels
        .iter()
        .flat_map(|channel| channel.ids().iter().map(ContentId::as_hex))
        .collect();
    report.alternates = report.channels - list.channels.len();
    let before = next.channels.len();
    next.channels.retain(|saved| {
        saved.source.as_deref() != Some(url)
            || saved
                .ids()
                .iter()
                .any(|id| listed_ids.contains(id.as_hex()))
    });
    report.removed = before - next.channels.len();
    let mut owners = Owners::of(&next);
    let mut fresh = Vec::new();
    for new in list.channels.iter().cloned() {
        let existing = new.ids().iter().find_map(|id| owners.get(id.as_hex()));
        let Some(index) = existing else {
            fresh.push(new);
            report.added += 1;
            continue;
        };
        if next.channels[index].source.as_deref() != Some(url) {
            // Saved by hand or from another list: the user's entry stays,
            // and only gains what it lacks.
            store::absorb(&mut next, &mut owners, index, new)?;
            continue;
        }
        // Ids another saved channel has stay there.
        let ids: Vec<ContentId> = keep_order(next.channels[index].ids(), new.ids())
            .into_iter()
            .filter(|id| owners.get(id.as_hex()).is_none_or(|owner| owner == index))
            .collect();
        let mut updated = next.channels[index].clone();
        updated.set_ids(ids.clone());
        updated.name = new.name;
        updated.group = new.group;
        updated.logo = new.logo;
        updated.tvg_id = new.tvg_id;
        updated.tvg_name = new.tvg_name;
        if next.channels[index] != updated {
            owners.set_ids(&mut next, index, ids);
            next.channels[index] = updated;
            report.updated += 1;
        }
    }
    next = store::merge_saved(&next, fresh)?;
    report.added = report
        .added
        .saturating_sub(crate::list_edits::apply(&mut next, url));
    crate::guide::sources::record(&mut next, &list.guide_urls);
    Ok((next, report))
}

/// `ours` (the user's order) without what `listed` dropped, then what it added.
fn keep_order(ours: &[ContentId], listed: &[ContentId]) -> Vec<ContentId> {
    let listed_hex: std::collections::HashSet<&str> =
        listed.iter().map(ContentId::as_hex).collect();
    let mut ids: Vec<ContentId> = ours
        .iter()
        .filter(|id| listed_hex.contains(id.as_hex()))
        .cloned()
        .collect();
    let kept: std::collections::HashSet<String> =
        ids.iter().map(|id| id.as_hex().to_owned()).collect();
    ids.extend(
        listed
            .iter()
            .filter(|id| !kept.contains(id.as_hex()))
            .cloned(),
    );
    ids
}

/// What makes list entries one channel: their `tvg-id`, or else their
/// normalised `tvg-name` or name (the two compared with each other).
fn group_key(entry: &SavedChannel) -> Option<String> {
    let present = |text: &Option<String>| {
        text.as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    if let Some(tvg_id) = present(&entry.tvg_id) {
        return Some(format!("tvg:{}", tvg_id.to_lowercase()));
    }
    let name = [&entry.tvg_name, &entry.name]
        .into_iter()
        .filter_map(present)
        .map(|name| normalised_name(&name))
        .find(|name| !name.is_empty())?;
    Some(format!("name:{name}"))
}

/// Quality tags lists append to one channel's names ("DAZN 1 HD", "DAZN 1 FHD").
const QUALITY_TAGS: [&str; 12] = [
    "hd", "fhd", "uhd", "sd", "4k", "8k", "hevc", "h264", "h265", "hdr", "fullhd", "hq",
];
/// Vertical resolutions, which lists write bare ("1080"), with a scan
/// letter ("1080p", "1080i") and a frame rate ("1080p50").
const RESOLUTIONS: [&str; 5] = ["2160", "1080", "720", "576", "480"];

/// Whether `word` (lowercase) says how a channel is sent, not which one it
/// is: "hd", "4k", "1080", "720p", "1080i50", "50fps". Other numbers are
/// channel numbers ("Sky Sports 1"), and are kept.
fn is_quality_tag(word: &str) -> bool {
    if QUALITY_TAGS.contains(&word) {
        return true;
    }
    if let Some(rate) = word.strip_suffix("fps") {
        return !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit());
    }
    RESOLUTIONS.iter().any(|resolution| {
        word.strip_prefix(resolution).is_some_and(|rest| {
            let rate = rest.strip_prefix(['p', 'i']).unwrap_or(rest);
            (rest.is_empty() || rest.len() > rate.len())
                && rate.len() <= 3
                && rate.chars().all(|c| c.is_ascii_digit())
        })
    })
}

/// A name's words, lowercase, without punctuation or trailing quality tags.
pub(crate) fn normalised_name(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    while words.len() > 1 && words.last().is_some_and(|word| is_quality_tag(word)) {
        words.pop();
    }
    words.join(" ")
}

/// Entries of one channel (see [`group_key`]) as one saved channel whose
/// alternates are their ids in list order; the first entry gives the name
/// and attributes, later ones fill what it lacks. A channel with more than
/// [`store::MAX_ALTERNATES`] ids is refused as soon as it has them.
pub fn group_alternates(
    entries: impl IntoIterator<Item = SavedChannel>,
) -> Result<Vec<SavedChannel>, TooManyChannels> {
    // Each group's ids are collected first and given to it once: handing a
    // channel its ids one entry at a time would check them all every time.
    let mut grouped: Vec<(SavedChannel, Vec<ContentId>)> = Vec::new();
    let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for entry in entries {
        let index = match group_key(&entry) {
            Some(key) => match by_key.get(&key) {
                Some(&index) => index,
                None => {
                    by_key.insert(key, grouped.len());
                    grouped.push((entry, Vec::new()));
                    continue;
                }
            },
            None => {
                grouped.push((entry, Vec::new()));
                continue;
            }
        };
        let (channel, more) = &mut grouped[index];
        more.extend(entry.ids().iter().cloned());
        if channel.ids().len() + more.len() > store::MAX_ALTERNATES {
            return Err(TooManyChannels::Alternates(channel.title()));
        }
        channel.fill_from(entry);
    }
    Ok(grouped
        .into_iter()
        .map(|(mut channel, more)| {
            if !more.is_empty() {
                let mut ids = channel.ids().to_vec();
                ids.extend(more);
                channel.set_ids(ids);
            }
            channel
        })
        .collect())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Reads the list at `url` and saves its channels, and the list itself with
/// its refresh interval (`refresh_mins` `None`: keep what was set, `Some(0)`:
/// no refresh). A failed read is recorded on the list and returned.
pub async fn import(
    store: &Store,
    url: &Url,
    refresh_mins: Option<u64>,
) -> Result<SyncReport, ImportError> {
    import_at(store, url, refresh_mins, now_unix()).await
}

/// [`import`] at `now` (Unix seconds), the time recorded on the list.
async fn import_at(
    store: &Store,
    url: &Url,
    refresh_mins: Option<u64>,
    now: u64,
) -> Result<SyncReport, ImportError> {
    let key = url.as_str().to_owned();
    let listed = match fetch_list(url).await {
        Ok(text) => {
            let key = key.clone();
            tokio::task::spawn_blocking(move || read_list(&key, &text))
                .await
                .unwrap_or_else(|join| Err(ImportError::Network(join.to_string())))
        }
        Err(error) => Err(error),
    };
    let (listed, failure) = match listed {
        Ok(listed) => (Some(listed), None),
        Err(error) => (None, Some(error)),
    };
    let failure_text = failure.as_ref().map(ToString::to_string);
    let list_url = key.clone();
    let recorded = store
        .update(move |settings| {
            let mut next = settings.clone();
            let position = next.imports.iter().position(|list| list.url == list_url);
            if position.is_none() && next.imports.len() >= MAX_IMPORTS {
                return Err(ImportError::TooManyLists);
            }
            // `None`: the read failed (with `failure`).
            let result = match &listed {
                Some(list) => match sync_listed(&next, list) {
                    Ok((synced, report)) => {
                        next = synced;
                        Ok(report)
                    }
                    Err(error) => Err(Some(error)),
                },
                None => Err(None),
            };
            let index = position.unwrap_or_else(|| {
                next.imports.push(ImportedList {
                    url: list_url.clone(),
                    ..ImportedList::default()
                });
                next.imports.len() - 1
            });
            let list = &mut next.imports[index];
            if let Some(mins) = refresh_mins {
                list.refresh_mins = (mins > 0).then(|| mins.max(MIN_REFRESH_MINS));
            }
            list.last_attempt_unix = Some(now);
            match &result {
                Ok(_) => {
                    list.last_read_unix = Some(now);
                    list.last_error = None;
                }
                Err(Some(error)) => list.last_error = Some(error.to_string()),
                Err(None) => list.last_error.clone_from(&failure_text),
            }
            // A first import that failed is not remembered: nothing was added.
            if position.is_none() && result.is_err() {
                next.imports.pop();
            }
            Ok((next, result))
        })
        .await?;
    let result = recorded.map_err(|error| {
        error
            .or(failure)
            .unwrap_or_else(|| ImportError::Network("the list could not be read".into()))
    });
    match &result {
        Ok(report) => tracing::info!(
            list = %key, added = report.added, updated = report.updated,
            removed = report.removed, "channel list read"
        ),
        Err(error) => tracing::warn!(list = %key, %error, "channel list not read"),
    }
    result
}

/// Forgets an imported list; its channels stay, as if saved by hand.
pub async fn forget(store: &Store, url: &str) -> Result<bool, ImportError> {
    let mut guard = store.lock().await;
    let mut next = guard.settings().clone();
    let before = next.imports.len();
    next.imports.retain(|list| list.url != url);
    if next.imports.len() == before {
        return Ok(false);
    }
    for channel in &mut next.channels {
        if channel.source.as_deref() == Some(url) {
            channel.source = None;
        }
    }
    guard.save(next).await?;
    Ok(true)
}

/// Re-reads every list whose refresh is due, until the store closes.
pub async fn refresh_lists(store: Store) {
    let mut closed = store.subscribe();
    let mut tick = tokio::time::interval(REFRESH_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = closed.changed() => {
                if changed.is_err() || closed.borrow_and_update().is_none() {
                    return;
                }
                continue;
            }
        }
        refresh_due(&store, now_unix()).await;
    }
}

/// Whether `list` is to be read again at `now` (Unix seconds): its interval
/// has passed since its last good read, and since a failed try, its
/// interval or [`RETRY_AFTER_FAILURE`], whichever is shorter.
fn is_due(list: &ImportedList, now: u64) -> bool {
    let Some(mins) = list.refresh_mins else {
        return false;
    };
    let interval = mins.saturating_mul(60);
    let retry = interval.min(RETRY_AFTER_FAILURE.as_secs());
    let since = |at: Option<u64>| now.saturating_sub(at.unwrap_or(0));
    since(list.last_read_unix) >= interval && since(list.last_attempt_unix) >= retry
}

/// One refresh pass at `now` (Unix seconds): re-reads the lists that are
/// due (see [`is_due`]); answers the URLs it tried.
async fn refresh_due(store: &Store, now: u64) -> Vec<String> {
    let due: Vec<String> = store
        .get()
        .await
        .imports
        .iter()
        .filter(|list| is_due(list, now))
        .map(|list| list.url.clone())
        .collect();
    for url in &due {
        if let Ok(parsed) = parse_list_url(url) {
            // Errors are logged and recorded on the list by `import`.
            let _ = import_at(store, &parsed, None, now).await;
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const URL: &str = "http://lists.example/sport.m3u";

    fn list(entries: &[(&str, &str, &str)]) -> String {
        let mut text = String::from("#EXTM3U\n");
        for (id, name, group) in entries {
            text.push_str(&format!(
                "#EXTINF:-1 group-title=\"{group}\",{name}\nacestream://{id}\n"
            ));
        }
        text
    }

    #[test]
    fn a_refresh_adds_renames_and_removes_as_the_list_says() {
        let mut settings = Settings::default();
        let mut mine = SavedChannel::new(ContentId::parse(C).expect("id"));
        mine.name = Some("Mine".into());
        settings.channels.push(mine);
        let first = list(&[(A, "One", "Sport"), (B, "Two", "Sport"), (C, "Three", "X")]);
        let (settings, report) = sync(&settings, URL, &first).expect("sync");
        assert_eq!((report.added, report.updated, report.removed), (2, 0, 0));
        assert_eq!(settings.channels.len(), 3);
        // The hand-saved channel keeps its name; it gains the group it lacked.
        assert_eq!(settings.channels[0].name.as_deref(), Some("Mine"));
        assert_eq!(settings.channels[0].group.as_deref(), Some("X"));
        assert_eq!(settings.channels[0].source, None);

        let second = list(&[(B, "Two HD", "Sport"), (C, "Three", "X")]);
        let (settings, report) = sync(&settings, URL, &second).expect("sync");
        assert_eq!((report.added, report.updated, report.removed), (0, 1, 1));
        let names: Vec<_> = settings
            .channels
            .iter()
            .map(|c| c.name.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(names, ["Mine", "Two HD"]);
    }

    const D: &str = "dddddddddddddddddddddddddddddddddddddddd";
    const E: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    const F: &str = "ffffffffffffffffffffffffffffffffffffffff";
    const G: &str = "0000000000000000000000000000000000000001";
    const H: &str = "0000000000000000000000000000000000000002";

    fn ids(saved: &SavedChannel) -> Vec<String> {
        saved
            .ids()
            .iter()
            .map(|id| id.as_hex().to_owned())
            .collect()
    }

    fn id(hex: &str) -> ContentId {
        ContentId::parse(hex).expect("id")
    }

    #[test]
    fn entries_sharing_a_tvg_id_are_one_channel_with_alternates() {
        let text = format!(
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"dazn1.es\",DAZN 1\nacestream://{A}\n\
             #EXTINF:-1 tvg-id=\"other\",Other\nacestream://{B}\n\
             #EXTINF:-1 tvg-id=\"DAZN1.es\" tvg-logo=\"http://l/d.png\",DAZN 1 (backup)\nacestream://{C}\n"
        );
        let (settings, report) = sync(&Settings::default(), URL, &text).expect("sync");
        assert_eq!(report.added, 2);
        assert_eq!(settings.channels.len(), 2);
        let dazn = &settings.channels[0];
        assert_eq!(ids(dazn), [A, C]);
        assert_eq!(
            dazn.name.as_deref(),
            Some("DAZN 1"),
            "the first entry names it"
        );
        assert_eq!(
            dazn.logo.as_deref(),
            Some("http://l/d.png"),
            "later ones fill gaps"
        );
        assert_eq!(ids(&settings.channels[1]), [B]);
        assert!(
            !toml::to_string(&settings.channels[1])
                .expect("toml")
                .contains("alternates"),
            "a lone id is saved as before"
        );
    }

    #[test]
    fn entries_without_tvg_id_and_the_same_normalised_name_are_one_channel() {
        let text = list(&[
            (A, "Sky Sports F1", "Sport"),
            (B, "sky sports f1 HD", "Sport"),
            (C, "Sky Sports F2", "Sport"),
            (D, "Sky-Sports  F1 FHD", "Sport"),
        ]);
        let (settings, _) = sync(&Settings::default(), URL, &text).expect("sync");
        let grouped: Vec<_> = settings.channels.iter().map(ids).collect();
        assert_eq!(grouped, [vec![A, B, D], vec![C]]);
        // A refresh keeps the user's order of the ids still listed.
        let mut reordered = settings.clone();
        reordered.channels[0].set_ids(vec![id(D), id(A), id(B)]);
        let again = list(&[(A, "Sky Sports F1", "Sport"), (D, "Sky Sports F1", "Sport")]);
        let (next, _) = sync(&reordered, URL, &again).expect("sync");
        assert_eq!(ids(&next.channels[0]), [D, A]);
        assert_eq!(next.channels[0].key(), A, "the key stays");
    }

    #[test]
    fn an_empty_or_broken_list_changes_nothing() {
        let settings = Settings::default();
        assert!(matches!(
            sync(&settings, URL, "<html>not found</html>"),
            Err(ImportError::NoChannels(1))
        ));
    }

    /// A store that imported a served list of channel `A`, re-read hourly:
    /// the list's server, its URL, the store and when it was read.
    async fn imported_hourly() -> (acebridge_testkit::served::ServedText, String, Store, u64) {
        let served = acebridge_testkit::served::ServedText::start(list(&[(A, "One", "S")])).await;
        let url = served.url().to_owned();
        let store = Store::open(None).expect("store");
        let parsed = parse_list_url(&url).expect("url");
        import(&store, &parsed, Some(60)).await.expect("import");
        let read_at = store.get().await.imports[0]
            .last_read_unix
            .expect("read time");
        (served, url, store, read_at)
    }

    #[tokio::test]
    async fn a_due_list_is_read_again_and_others_wait() {
        let (served, url, store, read_at) = imported_hourly().await;
        served.set(list(&[(B, "Two", "S")]));

        // 59 minutes later nothing is due; at 60 the list is read again.
        assert!(refresh_due(&store, read_at + 59 * 60).await.is_empty());
        assert_eq!(store.get().await.channels[0].key(), A);
        assert_eq!(refresh_due(&store, read_at + 60 * 60).await, [url]);
        let channels = store.get().await.channels;
        assert_eq!(channels.len(), 1);
        assert_eq!(channels[0].key(), B);
    }

    #[tokio::test]
    async fn a_list_whose_server_is_down_is_not_read_at_every_check() {
        let (served, url, store, read_at) = imported_hourly().await;
        served.set("<html>down for maintenance</html>");

        let due_at = read_at + 60 * 60;
        assert_eq!(
            refresh_due(&store, due_at).await,
            std::slice::from_ref(&url),
            "tried"
        );
        let list = store.get().await.imports[0].clone();
        assert!(list.last_error.is_some(), "the failure is recorded");
        assert_eq!(list.last_attempt_unix, Some(due_at));
        assert_eq!(
            list.last_read_unix,
            Some(read_at),
            "the last good read stays"
        );
        // The next checks (one a minute) leave it alone until the retry is due.
        let retry = RETRY_AFTER_FAILURE.as_secs();
        for later in [60, 5 * 60, retry - 1] {
            assert!(
                refresh_due(&store, due_at + later).await.is_empty(),
                "{later} s after a failed read"
            );
        }
        assert_eq!(
            refresh_due(&store, due_at + retry).await,
            std::slice::from_ref(&url)
        );
        assert_eq!(
            store.get().await.channels[0].key(),
            A,
            "a failed read changes no channel"
        );
        // A short interval retries at its own pace.
        let mut guard = store.lock().await;
        let mut next = guard.settings().clone();
        next.imports[0].refresh_mins = Some(MIN_REFRESH_MINS);
        guard.save(next).await.expect("save");
        drop(guard);
        let short = MIN_REFRESH_MINS * 60;
        assert!(refresh_due(&store, due_at + retry + short - 1)
            .await
            .is_empty());
        assert_eq!(refresh_due(&store, due_at + retry + short).await, [url]);
    }

    #[test]
    fn resolution_tags_and_tvg_names_group_entries_but_channel_numbers_do_not() {
        let text = format!(
            "#EXTM3U\n#EXTINF:-1,Eurosport 1 HD\nacestream://{A}\n\
             #EXTINF:-1,EUROSPORT 1 1080\nacestream://{B}\n\
             #EXTINF:-1,Eurosport 2 1080p50\nacestream://{C}\n\
             #EXTINF:-1,Eurosport 2 4K 50fps\nacestream://{D}\n\
             #EXTINF:-1,Sky Sports 1\nacestream://{E}\n\
             #EXTINF:-1,Sky Sports 2\nacestream://{F}\n\
             #EXTINF:-1 tvg-name=\"DAZN 1\",DAZN1 Spain\nacestream://{G}\n\
             #EXTINF:-1 tvg-name=\"dazn 1 FHD\",LaLiga TV\nacestream://{H}\n"
        );
        let (settings, _) = sync(&Settings::default(), URL, &text).expect("sync");
        let grouped: Vec<_> = settings.channels.iter().map(ids).collect();
        assert_eq!(
            grouped,
            [vec![A, B], vec![C, D], vec![E], vec![F], vec![G, H],]
        );
        for (word, tag) in [
            ("1080", true),
            ("720p", true),
            ("1080i50", true),
            ("uhd", true),
            ("50fps", true),
            ("1", false),
            ("108", false),
            ("10800", false),
            ("fps", false),
            ("720x", false),
        ] {
            assert_eq!(is_quality_tag(word), tag, "{word}");
        }
    }

    /// `count` distinct ids, one M3U entry each, named by `name(n)`.
    fn numbered_list(count: usize, name: impl Fn(usize) -> String) -> String {
        let mut text = String::from("#EXTM3U\n");
        for n in 0..count {
            text.push_str(&format!("#EXTINF:-1,{}\nacestream://{n:040x}\n", name(n)));
        }
        text
    }

    #[test]
    fn a_list_of_100k_ids_is_refused_before_it_is_grouped_or_merged() {
        let text: String = (0..100_000).map(|n| format!("{n:040x}\n")).collect();
        let refused = within(Duration::from_secs(2), || {
            sync(&Settings::default(), URL, &text)
        });
        assert!(
            matches!(refused, Err(ImportError::TooManyIds)),
            "{refused:?}"
        );
    }

    #[test]
    fn twenty_thousand_ids_under_one_name_stop_at_the_alternates_limit() {
        let text = numbered_list(MAX_LIST_ENTRIES, |_| "DAZN 1".into());
        let refused = within(Duration::from_secs(2), || {
            sync(&Settings::default(), URL, &text)
        });
        assert!(
            matches!(refused, Err(ImportError::TooMany(TooManyChannels::Alternates(ref name))) if name == "DAZN 1"),
            "{refused:?}"
        );
        // At the limit, the channel is saved with all its ids.
        let text = numbered_list(store::MAX_ALTERNATES, |_| "DAZN 1".into());
        let (settings, _) = sync(&Settings::default(), URL, &text).expect("sync");
        assert_eq!(settings.channels[0].ids().len(), store::MAX_ALTERNATES);
    }

    #[test]
    fn rereading_a_list_of_full_channels_is_linear() {
        // As many channels and ids as the limits allow a list, read twice
        // (the second read finds every id saved).
        let per_channel = MAX_LIST_ENTRIES / store::MAX_SAVED_CHANNELS;
        let text = numbered_list(MAX_LIST_ENTRIES, |n| {
            format!("Channel {} Sport", n / per_channel)
        });
        // The bound is far above linear time, far below quadratic time.
        let (first, second) = within(Duration::from_secs(10), || {
            let (first, report) = sync(&Settings::default(), URL, &text).expect("first read");
            assert_eq!(report.added, store::MAX_SAVED_CHANNELS);
            let (second, report) = sync(&first, URL, &text).expect("re-read");
            assert_eq!((report.added, report.updated, report.removed), (0, 0, 0));
            (first, second)
        });
        assert_eq!(first, second);
    }

    /// What `work` answers, failing when it took longer than `bound`.
    fn within<T>(bound: Duration, work: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let answer = work();
        assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
        answer
    }

    #[test]
    fn list_urls_are_checked() {
        assert!(parse_list_url("http://host/list.m3u").is_ok());
        assert!(parse_list_url("ftp://host/list.m3u").is_err());
        assert!(parse_list_url("https://host/list.m3u").is_ok());
        assert!(parse_list_url("list.m3u").is_err());
    }
}
