//! Settings: defaults, the TOML settings file in the OS config dir, environment
//! variables and command-line flags, resolved in that order of precedence
//! (flags beat env beat file beat defaults) into one [`Config`].
//!
//! Owns the settings file format, its forgiving reading and its safe writing: a
//! bad field costs that field (its default is used) or that one channel, never
//! the file; the file as it was is copied aside under its own timestamped name
//! and the problems are reported; writes go to a temp file renamed over the
//! old one, so a crash never leaves half a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::channel::ChannelSettings;
pub use crate::channel::UpstreamMode;
pub use crate::saved::SavedChannel;
use crate::saved::SavedEntry;

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
    /// Seconds a saved channel with alternates waits without data (or with
    /// the engine reporting no peers and no progress) before it switches to
    /// its next id [default: 15]
    #[arg(long, env = "ACEBRIDGE_FAILOVER_AFTER", value_name = "SECONDS")]
    pub failover_after: Option<u64>,
    /// Settings file [default: acebridge/settings.toml in the OS config directory]
    #[arg(long, env = "ACEBRIDGE_SETTINGS", value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Start the AceStream engine with this command when it does not answer
    /// (program and arguments, quoted as in a shell; no shell runs it), e.g.
    /// "acestreamengine --client-console"; only for an engine on this machine
    #[arg(long, env = "ACEBRIDGE_ENGINE_COMMAND", value_name = "COMMAND")]
    pub engine_command: Option<String>,
    /// Stop the engine acebridge started after this many seconds without a
    /// channel [default: keep it running while acebridge runs]
    #[arg(long, env = "ACEBRIDGE_ENGINE_IDLE_STOP", value_name = "SECONDS")]
    pub engine_idle_stop: Option<u64>,
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
    /// The engine command acebridge starts the engine with when it does not
    /// answer: program and arguments, as a TOML array (no shell).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engine_command: Vec<String>,
    /// Seconds without a channel after which the engine acebridge started is stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_idle_stop_secs: Option<u64>,
    /// Preferences of the tray app; the headless CLI ignores them.
    #[serde(skip_serializing_if = "DesktopSettings::is_default")]
    pub desktop: DesktopSettings,
    /// Lists imported from a URL, re-read to keep their channels current.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportedList>,
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
    /// The command that starts the engine on demand (see [`crate::engine_process`]).
    pub engine_command: Option<Vec<String>>,
    /// Without a command, start an engine install found on this machine. Off
    /// for the headless CLI; the tray app turns it on.
    pub engine_autostart: bool,
    /// Stop the engine acebridge started after this long without a channel.
    pub engine_idle_stop: Option<Duration>,
    /// Bounds on starting and stopping the engine (tests shorten them).
    pub engine_timeouts: crate::engine_process::ProcessTimeouts,
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
    #[error("invalid engine command {command:?}: {reason}")]
    EngineCommand { command: String, reason: String },
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
            engine_command: None,
            engine_autostart: false,
            engine_idle_stop: None,
            engine_timeouts: Default::default(),
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
        let engine_command =
            match &self.engine_command {
                Some(text) => Some(crate::engine_process::parse_command(text).map_err(
                    |reason| ConfigError::EngineCommand {
                        command: text.clone(),
                        reason,
                    },
                )?),
                None => (!file.engine_command.is_empty()).then_some(file.engine_command),
            };
        let engine_idle_stop = self
            .engine_idle_stop
            .or(file.engine_idle_stop_secs)
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs);
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
                failover_after: self.failover_after.map_or(defaults.failover_after, |secs| {
                    Duration::from_secs(secs.clamp(1, 600))
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
            engine_command,
            engine_autostart: false,
            engine_idle_stop,
            engine_timeouts: Default::default(),
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

fn read_settings(path: &Path) -> Result<(Settings, Vec<String>), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Settings::default(), Vec::new()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            // Not UTF-8: read what is, the bad bytes cost their lines.
            match std::fs::read(path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })
                }
            }
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let (settings, problems) = parse_forgiving(&text);
    if problems.is_empty() {
        return Ok((settings, Vec::new()));
    }
    let file = path.display();
    let aside = match set_aside(path) {
        Ok(aside) => format!("the file as it was is kept as {}", aside.display()),
        Err(error) => format!("a copy of the file could not be kept aside ({error})"),
    };
    let channels = match settings.channels.len() {
        1 => "1 saved channel".to_owned(),
        n => format!("{n} saved channels"),
    };
    let mut warnings = vec![format!(
        "Some settings in {file} could not be read: {aside}; everything else was kept \
         ({channels})."
    )];
    for problem in problems {
        let at = problem
            .line
            .map(|line| format!(" line {line}"))
            .unwrap_or_default();
        warnings.push(format!("{file}{at}: {}", problem.message));
    }
    Ok((settings, warnings))
}

/// One part of a settings file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    line: Option<usize>,
    message: String,
}

/// Every part of `text` that parses, and what did not.
fn parse_forgiving(text: &str) -> (Settings, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut table = parse_skipping_bad_lines(text, &mut problems);
    let channels = table.remove("channels");
    let imports = table.remove("imports");
    let desktop = table.remove("desktop");
    let mut kept: toml::Table = forgiving_fields::<Settings>(table, text, None, &mut problems);
    if let Some(desktop) = desktop {
        let fields = match desktop {
            toml::Value::Table(fields) => {
                forgiving_fields::<DesktopSettings>(fields, text, Some("desktop"), &mut problems)
            }
            other => {
                problems.push(Problem {
                    line: line_of_key(text, None, "desktop"),
                    message: format!(
                        "desktop should be a table, found {}; the defaults are used",
                        other.type_str()
                    ),
                });
                toml::Table::new()
            }
        };
        kept.insert("desktop".into(), toml::Value::Table(fields));
    }
    let mut settings: Settings = toml::Value::Table(kept).try_into().unwrap_or_default();
    settings.channels = forgiving_channels(channels, text, &mut problems);
    settings.imports = forgiving_list(imports, "imports", text, &mut problems)
        .into_iter()
        .map(|(_, list)| list)
        .collect();
    (settings, problems)
}

/// The TOML table of `text`; each line that stops it from parsing is skipped
/// (and reported), so one typo costs one line.
fn parse_skipping_bad_lines(text: &str, problems: &mut Vec<Problem>) -> toml::Table {
    /// Past this many broken lines the file is not TOML at all (and each retry
    /// parses the whole file again): it is set aside whole.
    const MAX_SKIPPED_LINES: usize = 100;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for skipped in 0..=lines.len() {
        if skipped == MAX_SKIPPED_LINES {
            problems.push(Problem {
                line: None,
                message: format!(
                    "more than {MAX_SKIPPED_LINES} lines are not valid TOML; \
                     nothing in the file was used"
                ),
            });
            break;
        }
        let current = lines.join("\n");
        let err = match current.parse::<toml::Table>() {
            Ok(table) => return table,
            Err(err) => err,
        };
        // Bytes, not a str slice: a span inside a multi-byte character must not panic.
        let at = err.span().map_or(lines.len(), |span| {
            current.as_bytes()[..span.start.min(current.len())]
                .iter()
                .filter(|&&byte| byte == b'\n')
                .count()
        });
        // An error at the end (an unclosed array) belongs to the last line with text.
        let Some(index) = (0..=at.min(lines.len().saturating_sub(1)))
            .rev()
            .find(|&index| !lines[index].trim().is_empty())
        else {
            break;
        };
        problems.push(Problem {
            line: Some(index + 1),
            message: format!(
                "`{}` is not valid TOML ({}); the line was skipped",
                lines[index].trim().chars().take(80).collect::<String>(),
                err.message().trim()
            ),
        });
        lines[index].clear();
    }
    toml::Table::new()
}

/// The fields of `table` that deserialize as part of a `T`, one at a time, so
/// a bad one costs only itself (its default is used).
fn forgiving_fields<T: serde::de::DeserializeOwned>(
    table: toml::Table,
    text: &str,
    section: Option<&str>,
    problems: &mut Vec<Problem>,
) -> toml::Table {
    let mut kept = toml::Table::new();
    for (key, value) in table {
        let mut candidate = kept.clone();
        candidate.insert(key.clone(), value.clone());
        match toml::Value::Table(candidate.clone()).try_into::<T>() {
            Ok(_) => kept = candidate,
            Err(err) => {
                let name =
                    section.map_or_else(|| key.clone(), |section| format!("{section}.{key}"));
                problems.push(Problem {
                    line: line_of_key(text, section, &key),
                    message: format!(
                        "{name} = {value} is not valid ({}); the default is used",
                        err.message().trim()
                    ),
                });
            }
        }
    }
    kept
}

/// The saved channels that parse and carry a valid id; each other one is
/// dropped alone, and reported (see [`SavedChannel::from_entry`]).
fn forgiving_channels(
    value: Option<toml::Value>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<SavedChannel> {
    let entries: Vec<(usize, SavedEntry)> = forgiving_list(value, "channels", text, problems);
    let mut kept = Vec::with_capacity(entries.len());
    for (index, entry) in entries {
        let line = line_of_table(text, "channels", index);
        match SavedChannel::from_entry(entry) {
            Ok((channel, dropped)) => {
                if dropped > 0 {
                    problems.push(Problem {
                        line,
                        message: format!(
                            "channel {} lost {dropped} alternate id(s) that are not content ids",
                            channel.key()
                        ),
                    });
                }
                kept.push(channel);
            }
            Err(rejected) => problems.push(Problem {
                line,
                message: rejected.to_string(),
            }),
        }
    }
    kept
}

/// The elements of an array of tables that deserialize, with their index in
/// the file; each other one is dropped alone.
fn forgiving_list<T: serde::de::DeserializeOwned>(
    value: Option<toml::Value>,
    key: &str,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(usize, T)> {
    let items = match value {
        None => return Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(other) => {
            problems.push(Problem {
                line: line_of_key(text, None, key),
                message: format!(
                    "{key} should be a list, found {}; it was ignored",
                    other.type_str()
                ),
            });
            return Vec::new();
        }
    };
    let mut kept = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item.clone().try_into::<T>() {
            Ok(parsed) => kept.push((index, parsed)),
            Err(err) => problems.push(Problem {
                line: line_of_table(text, key, index),
                message: format!(
                    "entry {} of {key} was dropped ({}): {}",
                    index + 1,
                    err.message().trim(),
                    item.to_string().chars().take(120).collect::<String>()
                ),
            }),
        }
    }
    kept
}

/// The 1-based line where `key = …` is set in `section` (`None`: the top level).
fn line_of_key(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            current = Some(line.trim_matches(['[', ']', ' ']).to_owned());
            continue;
        }
        let in_section = current.as_deref() == section;
        let sets_key = line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_section && sets_key {
            return Some(index + 1);
        }
    }
    None
}

/// The 1-based line of the `index`-th `[[key]]` header.
fn line_of_table(text: &str, key: &str, index: usize) -> Option<usize> {
    let header = format!("[[{key}]]");
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == header)
        .nth(index)
        .map(|(number, _)| number + 1)
}

/// Copies the file at `path` to `<name>.corrupt-<UTC time>`, never over an
/// earlier copy; a copy with the same contents already there is reused, so
/// reading the same bad file twice keeps one copy.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let original = std::fs::read(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings.toml".into());
    let prefix = format!("{file_name}.corrupt-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let same_name = entry.file_name().to_string_lossy().starts_with(&prefix);
            if same_name && std::fs::read(entry.path()).is_ok_and(|copy| copy == original) {
                return Ok(entry.path());
            }
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for attempt in 1..1000 {
        let suffix = if attempt == 1 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let aside = dir.join(format!("{prefix}{stamp}{suffix}"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&aside) {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, &original)?;
                file.sync_all()?;
                return Ok(aside);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::other("too many copies already"))
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
            failover_after: Some(4),
            settings: Some(path),
            ..ConfigArgs::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(config.engine.as_str(), "http://10.0.0.2:6878/");
        assert_eq!(config.channels.linger, Duration::from_secs(3));
        assert_eq!(config.channels.failover_after, Duration::from_secs(4));
        assert_eq!(config.listen, default_listen());
        std::fs::remove_dir_all(dir).ok();
    }

    fn copies_aside(dir: &Path) -> Vec<PathBuf> {
        let mut copies: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.to_string_lossy().contains("settings.toml.corrupt-"))
            .collect();
        copies.sort();
        copies
    }

    #[test]
    fn engine_command_comes_from_flag_or_file_and_is_split_without_a_shell() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        let file = Settings {
            engine_command: vec!["/opt/ace stream/engine".into(), "--client-console".into()],
            engine_idle_stop_secs: Some(0),
            ..Settings::default()
        };
        save_settings(&path, &file).expect("save");
        let from_file = ConfigArgs {
            settings: Some(path.clone()),
            ..ConfigArgs::default()
        };
        let config = from_file.resolve().expect("resolve");
        assert_eq!(config.engine_command, Some(file.engine_command.clone()));
        assert_eq!(config.engine_idle_stop, None, "0 keeps the engine running");
        assert!(
            !config.engine_autostart,
            "detection is the tray app's choice"
        );
        let from_flag = ConfigArgs {
            engine_command: Some(r#""/opt/ace stream/engine" --port 6879"#.into()),
            engine_idle_stop: Some(300),
            ..from_file.clone()
        };
        let config = from_flag.resolve().expect("resolve");
        assert_eq!(
            config.engine_command,
            Some(vec![
                "/opt/ace stream/engine".into(),
                "--port".into(),
                "6879".into()
            ])
        );
        assert_eq!(config.engine_idle_stop, Some(Duration::from_secs(300)));
        let unbalanced = ConfigArgs {
            engine_command: Some("engine \"--x".into()),
            ..from_file
        };
        assert!(matches!(
            unbalanced.resolve(),
            Err(ConfigError::EngineCommand { .. })
        ));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn corrupt_settings_file_is_kept_aside() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "engine = [not toml").expect("write");
        let (settings, warnings) = load_settings_checked(&path).expect("load");
        assert_eq!(settings, Settings::default());
        let copies = copies_aside(&dir);
        assert_eq!(copies.len(), 1);
        assert_eq!(
            std::fs::read_to_string(&copies[0]).expect("copy"),
            "engine = [not toml"
        );
        assert!(
            warnings[0].contains(&copies[0].display().to_string()),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("line 1"), "{warnings:?}");
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
    fn one_bad_field_costs_only_that_field() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        let hex = "a".repeat(40);
        std::fs::write(
            &path,
            format!(
                "engine = \"http://10.0.0.2:6878\"\nlinger_secs = \"ten\"\n\n[desktop]\nplayer = \"mpv\"\nplay_links = \"yes\"\n\n\
                 [[channels]]\nname = \"no id\"\n\n[[channels]]\nid = \"{hex}\"\nname = \"Kept\\u2028One\"\n\n\
                 [[channels]]\nid = \"not-hex\"\nname = \"Bad id\"\n"
            ),
        )
        .expect("write");
        let (settings, warnings) = load_settings_checked(&path).expect("load");
        assert_eq!(settings.engine.as_deref(), Some("http://10.0.0.2:6878"));
        assert_eq!(settings.linger_secs, None);
        assert_eq!(settings.desktop.player.as_deref(), Some("mpv"));
        assert!(!settings.desktop.play_links);
        assert_eq!(settings.channels.len(), 1);
        assert_eq!(settings.channels[0].key(), hex);
        assert_eq!(settings.channels[0].name.as_deref(), Some("Kept One"));
        let all = warnings.join("\n");
        assert!(all.contains("line 2: linger_secs"), "{all}");
        assert!(all.contains("line 6: desktop.play_links"), "{all}");
        assert!(
            all.contains("line 8: entry 1 of channels was dropped"),
            "{all}"
        );
        assert!(
            all.contains("line 15: channel \"not-hex\" (Bad id) was dropped: invalid id"),
            "{all}"
        );
        assert!(all.contains("1 saved channel)"), "{all}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_line_that_is_not_toml_costs_that_line() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        std::fs::write(
            &path,
            "engine = \"http://10.0.0.2:6878\"\nthis is not toml\nlinger_secs = 4\n",
        )
        .expect("write");
        let (settings, warnings) = load_settings_checked(&path).expect("load");
        assert_eq!(settings.engine.as_deref(), Some("http://10.0.0.2:6878"));
        assert_eq!(settings.linger_secs, Some(4));
        assert!(warnings[1].contains("line 2"), "{warnings:?}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_file_that_is_not_toml_at_all_is_set_aside_whole() {
        let text = "\u{0}garbage ]]\n".repeat(500);
        let (settings, problems) = parse_forgiving(&text);
        assert_eq!(settings, Settings::default());
        assert!(problems
            .last()
            .is_some_and(|p| p.message.contains("nothing in the file was used")));
    }

    #[test]
    fn every_corrupt_copy_keeps_its_own_name() {
        let dir = temp_dir();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "linger_secs = \"first\"").expect("write");
        load_settings_checked(&path).expect("load");
        // The same bad file read again (the CLI reads it twice at start) keeps one copy.
        load_settings_checked(&path).expect("load again");
        std::fs::write(&path, "linger_secs = \"second\"").expect("write");
        load_settings_checked(&path).expect("load");
        let copies = copies_aside(&dir);
        assert_eq!(copies.len(), 2, "{copies:?}");
        let contents: Vec<String> = copies
            .iter()
            .map(|copy| std::fs::read_to_string(copy).expect("copy"))
            .collect();
        assert!(contents.contains(&"linger_secs = \"first\"".to_owned()));
        assert!(contents.contains(&"linger_secs = \"second\"".to_owned()));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn old_settings_files_load_unchanged() {
        let hex = "b".repeat(40);
        let text = format!("engine = \"http://127.0.0.1:6878\"\n\n[[channels]]\nid = \"{hex}\"\ninfohash = true\nname = \"Old\"\n");
        let (settings, problems) = parse_forgiving(&text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut old =
            SavedChannel::new(crate::content_id::ContentId::parse_infohash(&hex).expect("id"));
        old.name = Some("Old".into());
        assert_eq!(settings.channels, vec![old]);
    }

    /// The migration to alternates: a file written before them (the layout
    /// of 0.1 with M3U attributes) loads as channels of one id each, plays
    /// exactly those ids, and is written back byte for byte the same.
    #[test]
    fn a_settings_file_from_before_alternates_loads_and_saves_unchanged() {
        let dir = temp_dir();
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
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_alternates_are_dropped_alone_and_the_own_id_is_kept_among_them() {
        let (a, c) = ("a".repeat(40), "c".repeat(40));
        let text = format!(
            "[[channels]]\nid = \"{a}\"\nalternates = [\"{c}\", \"junk\"]\nlast_good = \"zz\"\n"
        );
        let (settings, problems) = parse_forgiving(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let ids: Vec<&str> = settings.channels[0]
            .ids()
            .iter()
            .map(|id| id.as_hex())
            .collect();
        assert_eq!(ids, [a, c]);
        assert_eq!(settings.channels[0].last_good(), None);
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
            },
            ..Settings::default()
        };
        save_settings(&path, &settings).expect("save");
        assert_eq!(load_settings(&path).expect("load"), settings);
        std::fs::remove_dir_all(dir).ok();
    }
}
