//! Recording a programme from the guide: the programme a saved channel shows
//! at a start time, padded before and after (a broadcast rarely keeps to the
//! guide's minute), planned as a schedule named after the programme.

use super::{now_unix, RecordingError, RecordingView, Recordings};
use crate::guide::{Guide, ProgrammeView};

/// Minutes a programme's recording begins early unless asked otherwise.
pub const DEFAULT_PAD_BEFORE_MINS: u64 = 1;
/// Minutes a programme's recording runs on unless asked otherwise.
pub const DEFAULT_PAD_AFTER_MINS: u64 = 5;
/// Longest padding taken: past this, "padding" is a typo for seconds.
pub const MAX_PAD_MINS: u64 = 240;

/// Minutes before and after a programme a recording of it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    pub before_mins: u64,
    pub after_mins: u64,
}

impl Default for Padding {
    fn default() -> Self {
        Self {
            before_mins: DEFAULT_PAD_BEFORE_MINS,
            after_mins: DEFAULT_PAD_AFTER_MINS,
        }
    }
}

/// The unix time range to record `programme` with `padding`, as of `now`: a
/// programme under way records from now; one that ended is refused.
pub fn padded_range(
    programme: &ProgrammeView,
    padding: Padding,
    now: u64,
) -> Result<(u64, u64), RecordingError> {
    for pad in [padding.before_mins, padding.after_mins] {
        if pad > MAX_PAD_MINS {
            return Err(RecordingError::BadRequest(format!(
                "padding of {pad} minutes is too long: at most {MAX_PAD_MINS}"
            )));
        }
    }
    let start = u64::try_from(programme.start).unwrap_or(0);
    let stop = u64::try_from(programme.stop).unwrap_or(0);
    let end = stop.saturating_add(padding.after_mins * 60);
    if end <= now {
        return Err(RecordingError::BadRequest(format!(
            "“{}” is over (it ended at {}): it can no longer be recorded",
            programme.title,
            super::names::local_date_time(programme.stop)
        )));
    }
    let start = start.saturating_sub(padding.before_mins * 60).max(now);
    Ok((start, end))
}

impl Recordings {
    /// Plans a recording of the programme that the saved channel `channel`
    /// (its key or one of its ids) starts at `start` (unix seconds) in
    /// `guide`, padded by `padding`; the file is named after the programme.
    pub async fn schedule_programme(
        &self,
        guide: &Guide,
        channel: &str,
        start: i64,
        padding: Padding,
    ) -> Result<RecordingView, RecordingError> {
        let target = self.resolve(channel).await?;
        let programme = self
            .inner
            .store
            .read(|settings| guide.programme_of_key(settings, &target.name, start))
            .await
            .filter(|programme| programme.start == start)
            .ok_or_else(|| {
                RecordingError::NoChannel(format!(
                    "the guide has no programme of {} starting at {}: reload the guide and pick it again",
                    target.title,
                    super::names::local_date_time(start)
                ))
            })?;
        let (from, to) = padded_range(&programme, padding, now_unix())?;
        self.schedule_target(target, from, to, Some(programme.title))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programme(start: i64, stop: i64) -> ProgrammeView {
        ProgrammeView {
            title: "Arsenal v Chelsea".into(),
            start,
            stop,
        }
    }

    #[test]
    fn a_programme_is_padded_one_minute_before_and_five_after_by_default() {
        let range = padded_range(&programme(10_000, 16_000), Padding::default(), 1_000);
        assert_eq!(range.ok(), Some((10_000 - 60, 16_000 + 300)));
    }

    #[test]
    fn a_programme_under_way_records_from_now_and_one_over_is_refused() {
        let padding = Padding {
            before_mins: 2,
            after_mins: 0,
        };
        let running = padded_range(&programme(10_000, 16_000), padding, 12_000);
        assert_eq!(running.ok(), Some((12_000, 16_000)));
        let over = padded_range(&programme(10_000, 16_000), padding, 16_000);
        let Err(RecordingError::BadRequest(message)) = over else {
            panic!("{over:?}");
        };
        assert!(message.contains("is over"), "{message}");
        let within_padding = padded_range(&programme(10_000, 16_000), Padding::default(), 16_100);
        assert_eq!(within_padding.ok(), Some((16_100, 16_300)));
    }

    #[test]
    fn an_absurd_padding_is_refused() {
        let padding = Padding {
            before_mins: 1,
            after_mins: 100_000,
        };
        assert!(matches!(
            padded_range(&programme(10_000, 16_000), padding, 0),
            Err(RecordingError::BadRequest(_))
        ));
    }
}
