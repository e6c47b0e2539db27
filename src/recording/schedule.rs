//! Recordings planned for later: what the settings file keeps of them, which
//! are due, which were missed while acebridge was not running, and whether a
//! new one fits under the channel limit.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// A recording planned for a time range, as the settings file keeps it
/// (`[[scheduled_recordings]]`) until it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRecording {
    pub id: String,
    /// The saved channel's key or the content id (lowercase hex).
    pub channel: String,
    pub start_unix: u64,
    pub end_unix: u64,
    /// Its start passed while acebridge was not running.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missed: bool,
    /// The guide programme it records (the file is named after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
}

/// How late a start found at launch may still be made: a restart takes a
/// few seconds, so a schedule due meanwhile still records (a little late).
pub const LATE_START_GRACE_SECS: u64 = 30;

impl ScheduledRecording {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        !self.missed && self.start_unix < end && start < self.end_unix
    }
}

/// Marks as missed, at launch, the schedules whose start passed (beyond the
/// grace) while acebridge was not running; returns whether any changed.
pub fn mark_missed(schedules: &mut [ScheduledRecording], now: u64) -> bool {
    let mut changed = false;
    for schedule in schedules.iter_mut().filter(|s| !s.missed) {
        if now > schedule.start_unix.saturating_add(LATE_START_GRACE_SECS)
            || now >= schedule.end_unix
        {
            schedule.missed = true;
            changed = true;
        }
    }
    changed
}

/// The schedules to start now.
pub fn due(schedules: &[ScheduledRecording], now: u64) -> Vec<ScheduledRecording> {
    schedules
        .iter()
        .filter(|s| !s.missed && s.start_unix <= now)
        .cloned()
        .collect()
}

/// Seconds until the next schedule starts, if any is waiting.
pub fn next_start_in(schedules: &[ScheduledRecording], now: u64) -> Option<u64> {
    schedules
        .iter()
        .filter(|s| !s.missed)
        .map(|s| s.start_unix.saturating_sub(now))
        .min()
}

/// Refuses a recording of `channel` from `start` to `end` that would make
/// more channels record at once than `max_channels`: schedules overlapping
/// it, and recordings running then (`running`: their channels and ends,
/// `None` for no end), count once per channel.
pub fn check_room(
    schedules: &[ScheduledRecording],
    running: &[(String, Option<u64>)],
    channel: &str,
    (start, end): (u64, u64),
    max_channels: usize,
) -> Result<(), String> {
    let mut channels: HashSet<&str> = schedules
        .iter()
        .filter(|s| s.overlaps(start, end))
        .map(|s| s.channel.as_str())
        .collect();
    channels.extend(
        running
            .iter()
            .filter(|(_, ends)| ends.is_none_or(|ends| ends > start))
            .map(|(channel, _)| channel.as_str()),
    );
    channels.insert(channel);
    if channels.len() > max_channels {
        return Err(format!(
            "{} channels would be recording at once then, over the limit of {max_channels} \
             channels playing at once (--max-channels)",
            channels.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(id: &str, channel: &str, start: u64, end: u64) -> ScheduledRecording {
        ScheduledRecording {
            id: id.into(),
            channel: channel.into(),
            start_unix: start,
            end_unix: end,
            missed: false,
            programme: None,
        }
    }

    #[test]
    fn a_schedule_whose_start_passed_while_not_running_is_missed_not_started_late() {
        let mut schedules = vec![
            schedule("past", "a", 1_000, 2_000),
            schedule("just", "a", 1_990, 3_000),
            schedule("later", "b", 5_000, 6_000),
        ];
        assert!(mark_missed(&mut schedules, 2_000));
        let missed: Vec<_> = schedules.iter().map(|s| s.missed).collect();
        assert_eq!(missed, [true, false, false]);
        assert_eq!(due(&schedules, 2_000)[0].id, "just");
        assert_eq!(next_start_in(&schedules, 2_000), Some(0));
        assert!(!mark_missed(&mut schedules, 2_000), "nothing more to mark");
    }

    #[test]
    fn a_schedule_over_the_channel_limit_is_refused_with_the_reason() {
        let schedules = vec![
            schedule("1", "a", 100, 200),
            schedule("2", "b", 150, 250),
            schedule("3", "c", 300, 400),
        ];
        assert!(
            check_room(&schedules, &[], "a", (120, 180), 2).is_ok(),
            "same channel"
        );
        assert!(
            check_room(&schedules, &[], "c", (250, 350), 2).is_ok(),
            "after b"
        );
        let refused = check_room(&schedules, &[], "c", (160, 170), 2).expect_err("3 > 2");
        assert!(
            refused.contains("3 channels") && refused.contains("limit of 2"),
            "{refused}"
        );
        let running = [("d".to_owned(), None)];
        assert!(check_room(&schedules, &running, "c", (300, 310), 2).is_ok());
        assert!(check_room(&schedules, &running, "e", (300, 310), 2).is_err());
    }
}
