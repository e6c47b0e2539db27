//! The settings file: what it holds (the TOML shapes, every field optional so
//! files written by older versions keep loading), where it lives, reading it
//! (a file with bad parts goes through [`super::repair`]) and writing it
//! safely: a temp file renamed over the old one, so a crash never leaves half
//! a file, readable by the user only, since it holds the LAN token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::resolve::parse_listen;
use super::{ConfigError, UpstreamMode};
pub use crate::saved::SavedChannel;

/// What the settings file holds. Every field is optional so old files keep working.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The engine, when there is one; a list of several goes in `engines`.
    pub engine: Option<String>,
    /// A pool of engines, each a URL or `{ url = "…", max_channels = N }`;
    /// when set, it replaces `engine`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<EngineEntry>,
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: Option<SocketAddr>,
    pub linger_secs: Option<u64>,
    pub start_timeout_secs: Option<u64>,
    pub upstream: Option<UpstreamMode>,
    /// The LAN sharing token, generated the first time the proxy listens beyond
    /// this machine; kept here (a 0600 file), never in argv or logs.
    pub lan_token: Option<String>,
    /// LAN sharing switched on in the web UI (a listen address beyond
    /// loopback shares anyway).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lan_sharing: bool,
    /// The network tuner's HDHomeRun DeviceID (8 hex digits), made once:
    /// media centres know the tuner and its channel mapping by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Channels that may play at once through the network tuner (its
    /// `TunerCount`); at most the channel limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuner_count: Option<usize>,
    /// The engine command acebridge starts the engine with when it does not
    /// answer: program and arguments, as a TOML array (no shell).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engine_command: Vec<String>,
    /// Seconds without a channel after which the engine acebridge started is stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_idle_stop_secs: Option<u64>,
    /// Where recordings are written [default: `acebridge/` in the Videos folder].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recordings_dir: Option<PathBuf>,
    /// No recording starts below this much free space, in MiB [default: 1024].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recordings_min_free_mib: Option<u64>,
    /// Minutes a guide programme's recording begins early [default: 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recordings_pad_before_mins: Option<u64>,
    /// Minutes a guide programme's recording runs on [default: 5].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recordings_pad_after_mins: Option<u64>,
    /// Preferences of the tray app; the headless CLI ignores them.
    #[serde(skip_serializing_if = "DesktopSettings::is_default")]
    pub desktop: DesktopSettings,
    /// Programme guide sources and options (see `guide::sources`).
    #[serde(skip_serializing_if = "crate::guide::GuideSettings::is_default")]
    pub guide: crate::guide::GuideSettings,
    /// Lists imported from a URL, re-read to keep their channels current.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportedList>,
    /// Recordings planned for later, kept until they start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scheduled_recordings: Vec<crate::recording::ScheduledRecording>,
    /// The user's edits of channels from imported lists, kept across re-reads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub list_edits: Vec<crate::list_edits::ListEdit>,
    /// Channels the user saved in the web UI, in the order they were added.
    /// Kept last: TOML writes these as `[[channels]]` tables after the plain keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<SavedChannel>,
}

/// An engine of the `engines` list as the file holds it: a URL alone, or a
/// table with its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EngineEntry {
    Url(String),
    Table {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_channels: Option<usize>,
    },
}

impl EngineEntry {
    pub fn url(&self) -> &str {
        match self {
            EngineEntry::Url(url) | EngineEntry::Table { url, .. } => url,
        }
    }

    pub fn max_channels(&self) -> Option<usize> {
        match self {
            EngineEntry::Url(_) => None,
            EngineEntry::Table { max_channels, .. } => *max_channels,
        }
    }
}

/// The tray app's preferences, kept in the same file so one settings file
/// describes the whole install.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesktopSettings {
    /// The player "Open in player" and links use first: `vlc`, `mpv` or `custom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player: Option<String>,
    /// A custom player as program and arguments (no shell); an argument
    /// `{url}` is replaced by the stream URL, else the URL is appended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub player_command: Vec<String>,
    /// Open `acestream://` links in the player at once, not only add them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub play_links: bool,
    /// Keys of the channels played lately, most recent first (see `recent`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<String>,
}

impl DesktopSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A channel list imported from an http(s) URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedList {
    pub url: String,
    /// Re-read the list this often; `None`: only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_mins: Option<u64>,
    /// When it was last read successfully (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_unix: Option<u64>,
    /// When a read was last tried, whether it worked or not (Unix seconds):
    /// a list whose server is down is not asked again at every check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_unix: Option<u64>,
    /// Why the last refresh failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `listen` in the settings file, read with [`parse_listen`].
fn deserialize_listen<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| parse_listen(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// Where the settings file lives by default, if the OS has a config directory.
pub fn default_settings_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "acebridge")
        .map(|dirs| dirs.config_dir().join("settings.toml"))
}

/// Reads the settings file, forgivingly (see [`load_settings_checked`]),
/// without logging its problems: the settings store reads the file again at
/// start and reports them, once.
pub fn load_settings(path: &Path) -> Result<Settings, ConfigError> {
    read_settings(path).map(|(settings, _)| settings)
}

/// Reads the settings file. A missing file gives defaults. A file with bad
/// parts keeps everything that parses: a bad field falls back to its default,
/// a bad channel is dropped, a line that is not TOML is skipped. The file as
/// it was is then copied aside under its own timestamped name (never
/// overwriting an earlier copy), and the returned warnings, one sentence each,
/// say which file, which line and what was kept, for the user to be shown.
pub fn load_settings_checked(path: &Path) -> Result<(Settings, Vec<String>), ConfigError> {
    let (settings, warnings) = read_settings(path)?;
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    Ok((settings, warnings))
}

/// Largest settings file read: a thousand channels with all their
/// alternates take a few MiB.
pub const MAX_SETTINGS_BYTES: u64 = 16 * 1024 * 1024;

fn read_settings(path: &Path) -> Result<(Settings, Vec<String>), ConfigError> {
    let bytes = match read_bounded(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Settings::default(), Vec::new()))
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    // Not UTF-8: read what is, the bad bytes cost their lines.
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
    Ok(super::repair::keep_what_parses(path, &text))
}

/// The bytes of the regular file at `path`, at most [`MAX_SETTINGS_BYTES`].
/// Anything else (a FIFO, a device such as `/dev/zero`, a directory), even
/// behind a symlink, is an error, never a wait or an endless read: it is
/// opened without blocking and checked before a byte is read.
pub(super) fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_SETTINGS_BYTES / (1024 * 1024)),
        )
    };
    if metadata.len() > MAX_SETTINGS_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // A file growing while it is read is bounded all the same.
    file.take(MAX_SETTINGS_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Creates the settings directory readable by the user only (the file holds
/// the LAN token), whatever the umask.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes the settings file atomically: temp file in the same directory, then rename.
pub fn save_settings(path: &Path, settings: &Settings) -> Result<(), ConfigError> {
    let write_err = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    let text = toml::to_string_pretty(settings)
        .map_err(|err| write_err(std::io::Error::other(err.to_string())))?;
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(write_err)?;
    }
    // A unique name, so two writers can never share a temp file, and synced
    // before the rename, so a crash cannot leave the new name on empty data.
    let temp = path.with_extension(format!("toml.tmp.{}", uuid::Uuid::new_v4()));
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // The file holds the LAN token: readable by the user only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    if let Err(err) = write() {
        let _ = std::fs::remove_file(&temp);
        return Err(write_err(err));
    }
    std::fs::rename(&temp, path).map_err(|err| {
        let _ = std::fs::remove_file(&temp);
        write_err(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration to alternates: a file written before them (the layout
    /// of 0.1 with M3U attributes) loads as channels of one id each, plays
    /// exactly those ids, and is written back byte for byte the same.
    #[test]
    fn a_settings_file_from_before_alternates_loads_and_saves_unchanged() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let old = format!(
            "engine = \"http://127.0.0.1:6878/\"\n\n[[channels]]\nid = \"{a}\"\nname = \"Sky Sports F1\"\n\
             group = \"Sport\"\ntvg_id = \"skyf1.uk\"\n\n[[channels]]\nid = \"{b}\"\ninfohash = true\n"
        );
        std::fs::write(&path, &old).expect("write");
        let (settings, problems) = load_settings_checked(&path).expect("load");
        assert!(problems.is_empty(), "{problems:?}");
        for saved in &settings.channels {
            assert!(saved.last_good().is_none());
            assert_eq!(saved.play_order(), [saved.id().clone()]);
        }
        save_settings(&path, &settings).expect("save");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), old);
    }

    #[cfg(unix)]
    #[test]
    fn a_settings_file_that_is_a_fifo_or_dev_zero_is_an_error_not_a_hang() {
        let temp = tempfile::tempdir().expect("temp dir");
        let zero = temp.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let fifo = temp.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let big = temp.path().join("big.toml");
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(MAX_SETTINGS_BYTES + 1).expect("grow");
        for path in [zero, fifo, big] {
            let error = load_settings(&path).expect_err("refused");
            let text = error.to_string();
            assert!(
                text.contains("not a regular file") || text.contains("larger than"),
                "{text}"
            );
        }
    }

    #[test]
    fn saved_channels_round_trip_through_toml() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        let id = |c: &str| crate::content_id::ContentId::parse(&c.repeat(40)).expect("id");
        let mut news = SavedChannel::new(id("a"));
        news.name = Some("News \"24\" ✓".into());
        news.group = Some("News".into());
        news.logo = Some("http://logos/n.png".into());
        news.tvg_id = Some("news.24".into());
        news.tvg_name = Some("News 24".into());
        news.source = Some("http://lists/a.m3u".into());
        news.set_ids(vec![id("c"), id("a")]);
        news.set_last_good(&id("a"));
        let unnamed = SavedChannel::new(
            crate::content_id::ContentId::parse_infohash(&"b".repeat(40)).expect("id"),
        );
        let settings = Settings {
            engine: Some("http://127.0.0.1:6878".into()),
            channels: vec![news, unnamed],
            imports: vec![ImportedList {
                url: "http://lists/a.m3u".into(),
                refresh_mins: Some(60),
                last_read_unix: Some(1),
                last_attempt_unix: Some(2),
                last_error: None,
            }],
            desktop: DesktopSettings {
                player: Some("custom".into()),
                player_command: vec!["flatpak".into(), "run".into(), "{url}".into()],
                play_links: true,
                recent: vec!["d5869d".repeat(7)[..40].to_owned()],
            },
            ..Settings::default()
        };
        save_settings(&path, &settings).expect("save");
        assert_eq!(load_settings(&path).expect("load"), settings);
    }
}
