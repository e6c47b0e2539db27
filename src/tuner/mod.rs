//! acebridge as a network tuner: media centres (Plex, Jellyfin, Emby,
//! Channels DVR) that speak the HDHomeRun API see the saved channels as a
//! tuner's lineup and play them through acebridge.
//!
//! This module owns what the tuner is, independent of HTTP: its identity
//! (the [`DeviceId`] kept in the settings file, the tuner count), the
//! channel numbers of the lineup, the rule that at most `tuner_count`
//! channels play through the tuner at once, the documents of the HTTP API
//! ([`documents`]) and native discovery over UDP ([`discovery`], answered by the
//! [`responder`] that follows LAN sharing). The HTTP
//! routes live in `http::tuner`.

mod device_id;
pub mod discovery;
pub mod documents;
pub mod responder;

use std::sync::Mutex;

pub use self::device_id::{DeviceId, DeviceIdError};

use crate::channel::{ChannelError, Hub};
use crate::config::SavedChannel;
use crate::content_id::ContentId;
use crate::store::Store;

/// Channels that may play at once through the tuner unless the settings
/// say otherwise: what one engine on an ordinary connection keeps up with.
pub const DEFAULT_TUNER_COUNT: usize = 4;

/// The tuner a media centre sees.
#[derive(Debug)]
pub struct Tuner {
    device_id: DeviceId,
    tuner_count: usize,
    /// Serialises "is a tuner free?" with taking it, so two media centres
    /// tuning at once cannot both take the last one.
    tuning: Mutex<()>,
}

/// Why the tuner did not play a channel.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// Every tuner plays another channel: what a busy HDHomeRun answers with 503.
    #[error("all {0} tuners are in use; stop watching a channel first")]
    AllTunersBusy(usize),
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

impl Tuner {
    pub fn new(device_id: DeviceId, tuner_count: usize) -> Self {
        Self {
            device_id,
            tuner_count: tuner_count.max(1),
            tuning: Mutex::new(()),
        }
    }

    /// The tuner of this installation: the device id kept in the settings
    /// (made and saved now if there is none, replaced with a warning if the
    /// stored one is not valid), and the tuner count from the settings, at
    /// most `max_channels` (a tuner the channel table cannot serve is a lie).
    pub async fn load(store: &Store, max_channels: usize) -> std::io::Result<Self> {
        let mut settings = store.lock().await;
        let stored = settings.settings().device_id.clone();
        let valid = stored.as_deref().map(DeviceId::parse);
        let device_id = match valid {
            Some(Ok(id)) => id,
            other => {
                if let Some(Err(error)) = other {
                    tracing::warn!(
                        %error,
                        "the tuner's device_id in the settings file is not valid; made a new one \
                         (media centres will see a new tuner)"
                    );
                }
                let id =
                    DeviceId::generate().map_err(|err| std::io::Error::other(err.to_string()))?;
                let mut next = settings.settings().clone();
                next.device_id = Some(id.to_string());
                settings.save(next).await.map_err(std::io::Error::other)?;
                tracing::info!(device_id = %id, "made this installation's tuner id");
                id
            }
        };
        if settings
            .settings()
            .channels
            .iter()
            .any(|c| c.number.is_none())
        {
            // Saving numbers them: channels saved before numbers existed
            // get theirs now, in list order, and keep them.
            let next = settings.settings().clone();
            settings.save(next).await.map_err(std::io::Error::other)?;
        }
        let tuner_count = settings
            .settings()
            .tuner_count
            .unwrap_or(DEFAULT_TUNER_COUNT)
            .clamp(1, max_channels.max(1));
        Ok(Self::new(device_id, tuner_count))
    }

    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    pub fn tuner_count(&self) -> usize {
        self.tuner_count
    }

    /// Runs `join` (which adds a player to the channel `key`, playing `ids`)
    /// unless every tuner plays another channel. A channel already playing
    /// is shared, as one tuner serves every viewer of its channel; a channel
    /// lingering without players frees its tuner, so zapping never finds
    /// the tuners taken by channels nobody watches.
    pub fn tune<T>(
        &self,
        hub: &Hub,
        key: &str,
        ids: &[ContentId],
        join: impl FnOnce() -> Result<T, ChannelError>,
    ) -> Result<T, TuneError> {
        let _tuning = self.tuning.lock().unwrap_or_else(|p| p.into_inner());
        let mut busy = 0;
        for info in hub.list() {
            let this_one = info.channel.as_deref() == Some(key) || ids.contains(&info.id);
            if this_one {
                return Ok(join()?);
            }
            if info.players > 0 {
                busy += 1;
            }
        }
        if busy >= self.tuner_count {
            return Err(TuneError::AllTunersBusy(self.tuner_count));
        }
        Ok(join()?)
    }
}

/// The saved channels with their numbers (kept in the settings, see
/// [`crate::saved::number_channels`]); a channel not numbered yet gets its
/// position in the list, from 1.
pub fn numbered(channels: &[SavedChannel]) -> impl Iterator<Item = (u32, &SavedChannel)> {
    (1u32..)
        .zip(channels)
        .map(|(position, saved)| (saved.number.unwrap_or(position), saved))
}

/// The channel numbered `number` (as `/auto/v<number>` gives it).
pub fn by_number<'a>(channels: &'a [SavedChannel], number: &str) -> Option<&'a SavedChannel> {
    let number: u32 = number.trim().parse().ok()?;
    numbered(channels)
        .find(|(n, _)| *n == number)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(hex: char, number: Option<u32>) -> SavedChannel {
        let id = ContentId::parse(&hex.to_string().repeat(40)).expect("id");
        let mut saved = SavedChannel::new(id);
        saved.number = number;
        saved
    }

    #[test]
    fn numbers_are_the_kept_ones_else_the_position() {
        let list = [
            channel('a', Some(7)),
            channel('b', None),
            channel('c', Some(3)),
        ];
        let numbers: Vec<_> = numbered(&list).map(|(n, c)| (n, c.key())).collect();
        assert_eq!(
            numbers,
            [(7, list[0].key()), (2, list[1].key()), (3, list[2].key())]
        );
        assert_eq!(
            by_number(&list, "7").map(SavedChannel::key),
            Some(list[0].key())
        );
        for missing in ["0", "1", "4", "", "x", "-1", "2.1"] {
            assert!(by_number(&list, missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn tvg_chno_of_a_pasted_list_is_the_channel_number() {
        let text = format!(
            "#EXTM3U\n#EXTINF:-1 tvg-chno=\"101\",News\nacestream://{a}\n\
             #EXTINF:-1 tvg-chno=\"5.1\",Sub\nacestream://{b}\n",
            a = "a".repeat(40),
            b = "b".repeat(40)
        );
        let parsed = crate::content_id::parse_list(&text);
        let saved: Vec<_> = parsed
            .entries
            .iter()
            .map(SavedChannel::from_list_entry)
            .collect();
        assert_eq!(saved[0].number, Some(101));
        assert_eq!(saved[1].number, None, "a sub-channel is no number here");
    }

    #[test]
    fn numbering_keeps_numbers_and_gives_the_rest_the_next_ones() {
        let mut list = vec![
            channel('a', Some(5)),
            channel('b', None),
            channel('c', Some(5)),
            channel('d', Some(2)),
        ];
        crate::saved::number_channels(&mut list);
        let numbers: Vec<_> = list.iter().map(|c| c.number).collect();
        assert_eq!(
            numbers,
            [Some(5), Some(6), Some(7), Some(2)],
            "a duplicate is renumbered"
        );
        list.remove(1);
        list.push(channel('e', None));
        crate::saved::number_channels(&mut list);
        let numbers: Vec<_> = list.iter().map(|c| c.number).collect();
        assert_eq!(
            numbers,
            [Some(5), Some(7), Some(2), Some(8)],
            "no renumbering"
        );
    }

    #[tokio::test]
    async fn the_device_id_is_made_once_and_a_bad_one_replaced() {
        let temp = tempfile::tempdir().expect("temp dir");
        let path = temp.path().join("settings.toml");
        let store = Store::open(Some(path.clone())).expect("store");
        let first = Tuner::load(&store, 32).await.expect("tuner").device_id();
        let again = Store::open(Some(path.clone())).expect("store");
        assert_eq!(
            Tuner::load(&again, 32).await.expect("tuner").device_id(),
            first
        );

        std::fs::write(&path, "device_id = \"12345678\"\ntuner_count = 99\n").expect("write");
        let bad = Store::open(Some(path.clone())).expect("store");
        let tuner = Tuner::load(&bad, 6).await.expect("tuner");
        assert_ne!(tuner.device_id().to_string(), "12345678");
        assert_eq!(tuner.tuner_count(), 6, "clamped to max_channels");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(&tuner.device_id().to_string()), "{text}");
        assert!(
            text.contains("tuner_count = 99"),
            "the user's setting is kept: {text}"
        );
    }
}
