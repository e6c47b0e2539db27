//! Which guide channel a saved channel is: the user's pick (kept on the
//! saved channel as `guide_id`), else the guide channel whose id is its
//! `tvg-id` (any case), else one whose display name is its name or
//! `tvg-name` normalised as alternates are merged ("Sky Sports F1 HD" is
//! "sky sports f1"), else none.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::xmltv::GuideChannel;
use crate::import::normalised_name;
use crate::saved::SavedChannel;

/// How a saved channel was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// The user picked the guide channel.
    Pick,
    TvgId,
    Name,
}

/// The guide channel a saved channel is matched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    /// The source it was found in.
    pub source: String,
    /// The guide channel's id, as the source writes it.
    pub id: String,
    pub names: Vec<String>,
    pub icon: Option<String>,
    pub how: How,
}

/// A guide channel found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelHit {
    pub source: String,
    pub id: String,
    pub names: Vec<String>,
    pub icon: Option<String>,
}

/// The guide channels of one source by lowercase id and by normalised name.
#[derive(Debug, Clone, Default)]
pub struct ChannelIndex {
    by_id: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl ChannelIndex {
    pub fn new(channels: &[GuideChannel]) -> Self {
        let mut index = Self::default();
        for (at, channel) in channels.iter().enumerate() {
            index.by_id.entry(channel.id.to_lowercase()).or_insert(at);
            for name in &channel.names {
                let name = normalised_name(name);
                if !name.is_empty() {
                    index.by_name.entry(name).or_insert(at);
                }
            }
        }
        index
    }

    /// The listed channel `saved` is, and how it was found.
    pub fn resolve(&self, saved: &SavedChannel) -> Option<(usize, How)> {
        if let Some(pick) = &saved.guide_id {
            return self
                .by_id
                .get(&pick.to_lowercase())
                .map(|at| (*at, How::Pick));
        }
        if let Some(at) = saved
            .tvg_id
            .as_deref()
            .and_then(|id| self.by_id.get(&id.trim().to_lowercase()))
        {
            return Some((*at, How::TvgId));
        }
        [&saved.name, &saved.tvg_name]
            .into_iter()
            .flatten()
            .map(|name| normalised_name(name))
            .filter(|name| !name.is_empty())
            .find_map(|name| self.by_name.get(&name))
            .map(|at| (*at, How::Name))
    }
}

/// The id a saved channel's programmes are filed under when the source
/// does not list it as a channel (programmes of undeclared channels): its
/// pick, else its `tvg-id`; lowercase.
pub fn undeclared_id(saved: &SavedChannel) -> Option<String> {
    saved
        .guide_id
        .as_deref()
        .or(saved.tvg_id.as_deref())
        .map(|id| id.trim().to_lowercase())
        .filter(|id| !id.is_empty())
}

/// The lowercase ids of the guide channels in `listed` that `saved` match,
/// and their picks and `tvg-id`s (a guide may have programmes of channels
/// it does not list).
pub fn wanted(saved: &[SavedChannel], listed: &[GuideChannel]) -> HashSet<String> {
    let index = ChannelIndex::new(listed);
    let mut ids = HashSet::new();
    for channel in saved {
        match index.resolve(channel) {
            Some((at, _)) => {
                ids.insert(listed[at].id.to_lowercase());
            }
            None => ids.extend(undeclared_id(channel)),
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_id::ContentId;

    fn listed() -> Vec<GuideChannel> {
        let channel = |id: &str, names: &[&str]| GuideChannel {
            id: id.into(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            icon: None,
        };
        vec![
            channel("Sky.F1.uk", &["Sky Sports F1"]),
            channel("bbc1.uk", &["BBC One", "BBC 1"]),
            channel("dazn1.es", &["DAZN 1"]),
        ]
    }

    fn saved(n: u8, name: Option<&str>, tvg_id: Option<&str>) -> SavedChannel {
        let mut channel =
            SavedChannel::new(ContentId::parse(&format!("{n:x}").repeat(40)).expect("id"));
        channel.name = name.map(str::to_owned);
        channel.tvg_id = tvg_id.map(str::to_owned);
        channel
    }

    #[test]
    fn matched_by_tvg_id_then_name_then_the_users_pick() {
        let index = ChannelIndex::new(&listed());
        let by_id = saved(1, Some("Something else"), Some("sky.f1.UK"));
        assert_eq!(index.resolve(&by_id), Some((0, How::TvgId)), "any case");
        let by_name = saved(2, Some("BBC 1 HD"), Some("not.in.guide"));
        assert_eq!(
            index.resolve(&by_name),
            Some((1, How::Name)),
            "quality tag dropped"
        );
        let mut by_tvg_name = saved(3, None, None);
        by_tvg_name.tvg_name = Some("dazn-1 FHD".into());
        assert_eq!(index.resolve(&by_tvg_name), Some((2, How::Name)));
        assert_eq!(index.resolve(&saved(4, Some("Canal+"), None)), None);
        let mut picked = by_id.clone();
        picked.guide_id = Some("DAZN1.es".into());
        assert_eq!(
            index.resolve(&picked),
            Some((2, How::Pick)),
            "the pick wins"
        );
        picked.guide_id = Some("gone.es".into());
        assert_eq!(index.resolve(&picked), None, "a pick is not second-guessed");
        let wanted = wanted(
            &[by_id, by_name, picked, saved(5, None, Some("Other.ID"))],
            &listed(),
        );
        let mut wanted: Vec<_> = wanted.into_iter().collect();
        wanted.sort();
        assert_eq!(wanted, ["bbc1.uk", "gone.es", "other.id", "sky.f1.uk"]);
    }
}
