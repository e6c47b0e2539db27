//! The record of recent problems the UI shows, so a player's bare 502 or a
//! switch has an explanation. Each entry names the channel (a saved
//! channel's key, so the UI shows its name) and the id concerned.
//!
//! An engine outage is one entry, however many channels wait for it:
//! "the engine is unreachable; 3 channels waiting", updated in place while it
//! lasts and closed with how long it took, instead of a line per channel and
//! per reconnect attempt.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::time::Instant;

use super::ChannelKey;
use crate::content_id::ContentId;

/// Problems remembered.
const MAX_PROBLEMS: usize = 20;

/// One failed start, drop, switch or engine outage.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The id concerned; none for an engine outage, which concerns them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ContentId>,
    /// The saved channel's key (its `/channel/<key>.ts` URL), if it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub at_unix: u64,
    pub error: String,
}

/// The most recent problems, newest first.
#[derive(Debug, Default)]
pub struct Problems(Mutex<Record>);

#[derive(Debug, Default)]
struct Record {
    entries: VecDeque<Problem>,
    outage: Option<Outage>,
}

/// An engine outage under way.
#[derive(Debug)]
struct Outage {
    since: Instant,
    since_unix: u64,
    reason: String,
    waiting: HashSet<ChannelKey>,
    /// Channels that waited at some point, and of those the ones that
    /// resumed when the engine answered: for the closing line.
    affected: usize,
    resumed: usize,
}

impl Outage {
    fn entry(&self) -> Problem {
        let waiting = self.waiting.len();
        Problem {
            id: None,
            channel: None,
            at_unix: self.since_unix,
            error: format!(
                "the engine is unreachable ({}); {waiting} {} waiting for it",
                self.reason,
                plural(waiting, "channel", "channels")
            ),
        }
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl Problems {
    fn lock(&self) -> MutexGuard<'_, Record> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(record: &mut Record, problem: Problem) {
        record.entries.push_front(problem);
        record.entries.truncate(MAX_PROBLEMS);
    }

    /// Something went wrong with `id` on the channel of `key`.
    pub(crate) fn record(&self, key: &ChannelKey, id: &ContentId, error: String) {
        let problem = Problem {
            id: Some(id.clone()),
            channel: key.saved().map(str::to_owned),
            at_unix: now_unix(),
            error,
        };
        Self::push(&mut self.lock(), problem);
    }

    /// The channel of `key` waits for an engine that does not answer.
    pub(crate) fn engine_away(&self, key: &ChannelKey, reason: &str) {
        let mut record = self.lock();
        let outage = record.outage.get_or_insert_with(|| Outage {
            since: Instant::now(),
            since_unix: now_unix(),
            reason: String::new(),
            waiting: HashSet::new(),
            affected: 0,
            resumed: 0,
        });
        // The latest reason: the first is often a torn stream, the rest say why.
        reason.clone_into(&mut outage.reason);
        if outage.waiting.insert(key.clone()) {
            outage.affected += 1;
        }
    }

    /// The channel of `key` no longer waits for the engine: it `answered`,
    /// or the channel ended. The last one out closes the outage's entry.
    pub(crate) fn engine_back(&self, key: &ChannelKey, answered: bool) {
        let mut record = self.lock();
        let Some(outage) = &mut record.outage else {
            return;
        };
        if outage.waiting.remove(key) && answered {
            outage.resumed += 1;
        }
        if !outage.waiting.is_empty() {
            return;
        }
        let Some(outage) = record.outage.take() else {
            return;
        };
        let lasted = Duration::from_secs(outage.since.elapsed().as_secs());
        let problem = Problem {
            id: None,
            channel: None,
            at_unix: outage.since_unix,
            error: format!(
                "the engine was unreachable for {lasted:?} ({}); {} of {} {} waiting for it resumed",
                outage.reason,
                outage.resumed,
                outage.affected,
                plural(outage.affected, "channel", "channels")
            ),
        };
        Self::push(&mut record, problem);
    }

    /// Newest first, an outage under way on top.
    pub(crate) fn list(&self) -> Vec<Problem> {
        let record = self.lock();
        record
            .outage
            .iter()
            .map(Outage::entry)
            .chain(record.entries.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ChannelKey {
        ChannelKey::Saved(format!("{:040x}", n))
    }

    #[tokio::test(start_paused = true)]
    async fn an_engine_outage_is_one_entry_however_many_channels_wait() {
        let problems = Problems::default();
        for round in 0..10 {
            for n in 0..3 {
                problems.engine_away(&key(n), "connection refused");
            }
            if round == 0 {
                tokio::time::advance(Duration::from_secs(1)).await;
            }
        }
        let list = problems.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(list[0].error.contains("3 channels waiting"), "{list:?}");
        tokio::time::advance(Duration::from_secs(30)).await;
        problems.engine_back(&key(0), true);
        problems.engine_back(&key(1), true);
        assert!(problems.list()[0].error.contains("1 channel waiting"));
        problems.engine_back(&key(2), false);
        let list = problems.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(
            list[0].error.contains("unreachable for 31s")
                && list[0]
                    .error
                    .contains("2 of 3 channels waiting for it resumed"),
            "{list:?}"
        );
    }

    #[test]
    fn a_problem_names_the_saved_channel_not_only_its_alternate() {
        let problems = Problems::default();
        let alternate = ContentId::parse(&"b".repeat(40)).expect("id");
        problems.record(&key(7), &alternate, "switched".into());
        let list = problems.list();
        assert_eq!(
            list[0].channel.as_deref(),
            Some(format!("{:040x}", 7).as_str())
        );
        assert_eq!(list[0].id.as_ref(), Some(&alternate));
    }

    #[test]
    fn only_the_newest_problems_are_kept() {
        let problems = Problems::default();
        let id = ContentId::parse(&"a".repeat(40)).expect("id");
        for n in 0..(MAX_PROBLEMS + 5) {
            problems.record(&ChannelKey::Id(id.clone()), &id, format!("problem {n}"));
        }
        let list = problems.list();
        assert_eq!(list.len(), MAX_PROBLEMS);
        assert_eq!(list[0].error, format!("problem {}", MAX_PROBLEMS + 4));
    }
}
