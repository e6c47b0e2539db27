//! Settings: defaults, the TOML settings file in the OS config dir, environment
//! variables and command-line flags, resolved in that order of precedence
//! (flags beat env beat file beat defaults) into one [`Config`].
//!
//! Owns the settings file format and its safe writing: a temp file renamed over
//! the old one, so a crash never leaves half a file, and a corrupt file is kept
//! aside rather than overwritten.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::channel::ChannelSettings;
pub use crate::channel::UpstreamMode;

pub const DEFAULT_ENGINE: &str = "http://127.0.0.1:6878";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6880";
pub const DEFAULT_LINGER_SECS: u64 = 10;
pub const DEFAULT_START_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_HLS_BUFFER_MIB: usize = 64;
pub const DEFAULT_WRITE_STALL: Duration = Duration::from_secs(30);

/// Flags shared by the CLI and the tray app; each also reads its env var.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// AceStream engine URL
    #[arg(long, env = "ACEBRIDGE_ENGINE", value_name = "URL")]
    pub engine: Option<String>,
    /// Address and port to serve players on (use 0.0.0.0 only to share on your LAN)
    #[arg(long, env = "ACEBRIDGE_LISTEN", value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Seconds a channel with no players keeps its engine session, so zapping back is instant
    #[arg(long, env = "ACEBRIDGE_LINGER", value_name = "SECONDS")]
    pub linger: Option<u64>,
    /// Seconds to wait for a channel to start (P2P prebuffering often takes 10-25 s)
    #[arg(long, env = "ACEBRIDGE_START_TIMEOUT", value_name = "SECONDS")]
    pub start_timeout: Option<u64>,
    /// How the proxy reads channels from the engine: `ts` (one MPEG-TS session;
    /// the proxy cuts HLS segments from it) or `hls` (one HLS session; TS
    /// players get its segments concatenated)
    #[arg(long, env = "ACEBRIDGE_UPSTREAM", value_name = "MODE")]
    pub upstream: Option<UpstreamMode>,
    /// Target duration of the HLS segments the proxy cuts, in seconds (a stream
    /// whose keyframes are farther apart gets longer segments)
    #[arg(long, env = "ACEBRIDGE_HLS_SEGMENT", value_name = "SECONDS")]
    pub hls_segment: Option<u64>,
    /// Channels that may play at once (each costs the engine a P2P swarm)
    #[arg(long, env = "ACEBRIDGE_MAX_CHANNELS", value_name = "N")]
    pub max_channels: Option<usize>,
    /// Players that may watch one channel at once
    #[arg(long, env = "ACEBRIDGE_MAX_PLAYERS", value_name = "N")]
    pub max_players: Option<usize>,
    /// Memory for each HLS channel's segment buffer, in MiB
    #[arg(long, env = "ACEBRIDGE_HLS_BUFFER_MIB", value_name = "MIB")]
    pub hls_buffer_mib: Option<usize>,
    /// Settings file [default: acebridge/settings.toml in the OS config directory]
    #[arg(long, env = "ACEBRIDGE_SETTINGS", value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

/// What the settings file holds. Every field is optional so old files keep working.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub engine: Option<String>,
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: Option<SocketAddr>,
    pub linger_secs: Option<u64>,
    pub start_timeout_secs: Option<u64>,
    pub upstream: Option<UpstreamMode>,
    /// The LAN sharing token, generated the first time the proxy listens beyond
    /// this machine; kept here (a 0600 file), never in argv or logs.
    pub lan_token: Option<String>,
    /// Preferences of the tray app; the headless CLI ignores them.
    #[serde(skip_serializing_if = "DesktopSettings::is_default")]
    pub desktop: DesktopSettings,
    /// Channels the user saved in the web UI, in the order they were added.
    /// Kept last: TOML writes these as `[[channels]]` tables after the plain keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<SavedChannel>,
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
}

impl DesktopSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A channel saved by the user: its id (40 lowercase hex characters) and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedChannel {
    pub id: String,
    /// The id is a torrent infohash (sent as `infohash=`), not a content id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub infohash: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The resolved configuration a server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub engine: Url,
    pub listen: SocketAddr,
    pub channels: ChannelSettings,
    pub upstream: UpstreamMode,
    /// Memory bound of one HLS channel's segment buffer.
    pub hls_buffer_bytes: usize,
    /// A player whose socket accepts no bytes for this long is disconnected.
    pub write_stall: Duration,
    /// Whether clients on this machine may skip the LAN token (tests turn this
    /// off to play the part of another device).
    pub trust_loopback: bool,
    /// Where settings are persisted; `None` keeps them in memory only.
    pub settings_path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid engine URL {url:?}: {reason}")]
    EngineUrl { url: String, reason: String },
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write settings file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// A configuration with every default and no settings file, for tests and embedding.
    pub fn new(engine: Url, listen: SocketAddr) -> Self {
        Self {
            engine,
            listen,
            channels: ChannelSettings::default(),
            upstream: UpstreamMode::Ts,
            hls_buffer_bytes: DEFAULT_HLS_BUFFER_MIB * 1024 * 1024,
            write_stall: DEFAULT_WRITE_STALL,
            trust_loopback: true,
            settings_path: None,
        }
    }
}

impl ConfigArgs {
    /// Resolves flags and env over the settings file over defaults.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let settings_path = self.settings.clone().or_else(default_settings_path);
        let file = match &settings_path {
            Some(path) => load_settings(path)?,
            None => Settings::default(),
        };
        let engine_text = self
            .engine
            .clone()
            .or(file.engine)
            .unwrap_or_else(|| DEFAULT_ENGINE.to_owned());
        let listen = self.listen.or(file.listen).unwrap_or_else(default_listen);
        let linger = self
            .linger
            .or(file.linger_secs)
            .unwrap_or(DEFAULT_LINGER_SECS);
        let start_timeout = self
            .start_timeout
            .or(file.start_timeout_secs)
            .unwrap_or(DEFAULT_START_TIMEOUT_SECS);
        let defaults = ChannelSettings::default();
        Ok(Config {
            engine: parse_engine_url(&engine_text)?,
            listen,
            channels: ChannelSettings {
                linger: Duration::from_secs(linger),
                start_timeout: Duration::from_secs(start_timeout.max(1)),
                max_channels: self.max_channels.unwrap_or(defaults.max_channels).max(1),
                max_players: self.max_players.unwrap_or(defaults.max_players).max(1),
                hls_segment: self.hls_segment.map_or(defaults.hls_segment, |secs| {
                    Duration::from_secs(secs.clamp(1, 30))
                }),
                ..defaults
            },
            upstream: self.upstream.or(file.upstream).unwrap_or_default(),
            hls_buffer_bytes: self
                .hls_buffer_mib
                .unwrap_or(DEFAULT_HLS_BUFFER_MIB)
                .clamp(1, 4096)
                * 1024
                * 1024,
            write_stall: DEFAULT_WRITE_STALL,
            trust_loopback: true,
            settings_path,
        })
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6880))
}

/// Parses a listen address: an IP address and port, or `localhost:PORT`
/// (the loopback address, the same one the default uses).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let invalid = || {
        format!("invalid listen address {text:?}: give an IP address and port, e.g. 127.0.0.1:6880 or localhost:6880")
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(invalid());
    }
    let port: u16 = port.parse().map_err(|_| invalid())?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
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

/// Checks an engine URL a user typed: http(s), a host, nothing after the origin.
pub fn parse_engine_url(text: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::EngineUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = text.trim();
    // Users type "127.0.0.1:6878" as often as the full URL.
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http:// and https:// are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "give only scheme, host and port, e.g. http://127.0.0.1:6878",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the URL are not supported"));
    }
    Ok(url)
}

/// Reads the settings file. A missing file gives defaults; a corrupt one is
/// renamed to `*.corrupt` with a warning, so the user's data is never silently lost.
pub fn load_settings(path: &Path) -> Result<Settings, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    match toml::from_str(&text) {
        Ok(settings) => Ok(settings),
        Err(err) => {
            let aside = path.with_extension("toml.corrupt");
            tracing::warn!(path = %path.display(), aside = %aside.display(), error = %err,
                "settings file is corrupt; keeping it aside and using defaults");
            if let Err(error) = std::fs::rename(path, &aside) {
                tracing::warn!(%error, "could not move the corrupt settings file aside");
            }
            Ok(Settings::default())
        }
    }
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
        std::fs::create_dir_all(dir).map_err(write_err)?;
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

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("acebridge-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        let file = Settings {
            engine: Some("http://10.0.0.2:6878".into()),
            linger_secs: Some(30),
            ..Settings::default()
        };
        save_settings(&path, &file).expect("save");
        let args = ConfigArgs {
            linger: Some(3),
            settings: Some(path),
            ..ConfigArgs::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(config.engine.as_str(), "http://10.0.0.2:6878/");
        assert_eq!(config.channels.linger, Duration::from_secs(3));
        assert_eq!(config.listen, default_listen());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn corrupt_settings_file_is_kept_aside() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "engine = [not toml").expect("write");
        assert_eq!(load_settings(&path).expect("load"), Settings::default());
        assert!(dir.join("settings.toml.corrupt").exists());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn listen_accepts_localhost_everywhere() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 6890));
        assert_eq!(parse_listen("localhost:6890"), Ok(loopback));
        assert_eq!(parse_listen("LocalHost:6890"), Ok(loopback));
        assert_eq!(parse_listen("127.0.0.1:6890"), Ok(loopback));
        assert_eq!(
            parse_listen("[::1]:6890"),
            Ok(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 6890)))
        );
        for bad in ["localhost", "localhost:x", "example.com:6880", "6880", ""] {
            let error = parse_listen(bad).expect_err(bad);
            assert!(error.contains("localhost:6880"), "{error}");
        }
        let settings: Settings = toml::from_str("listen = \"localhost:6890\"").expect("toml");
        assert_eq!(settings.listen, Some(loopback));
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "listen = \"localhost:6891\"\n").expect("write");
        let args = ConfigArgs {
            settings: Some(path),
            ..ConfigArgs::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(config.listen.port(), 6891);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn engine_urls_are_checked() {
        assert!(parse_engine_url("127.0.0.1:6878").is_ok());
        assert!(parse_engine_url("http://localhost:6878/").is_ok());
        assert!(parse_engine_url("ftp://x").is_err());
        assert!(parse_engine_url("http://host:6878/ace/getstream?id=1").is_err());
        assert!(parse_engine_url("http://").is_err());
        assert!(parse_engine_url("not a url at all").is_err());
    }

    #[test]
    fn saved_channels_round_trip_through_toml() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        let settings = Settings {
            engine: Some("http://127.0.0.1:6878".into()),
            channels: vec![
                SavedChannel {
                    id: "a".repeat(40),
                    infohash: false,
                    name: Some("News \"24\" ✓".into()),
                },
                SavedChannel {
                    id: "b".repeat(40),
                    infohash: true,
                    name: None,
                },
            ],
            desktop: DesktopSettings {
                player: Some("custom".into()),
                player_command: vec!["flatpak".into(), "run".into(), "{url}".into()],
                play_links: true,
            },
            ..Settings::default()
        };
        save_settings(&path, &settings).expect("save");
        assert_eq!(load_settings(&path).expect("load"), settings);
        std::fs::remove_dir_all(dir).ok();
    }
}
