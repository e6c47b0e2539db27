//! Resolving the configuration: flags (clap reads their env vars too) beat
//! the settings file, which beats the defaults; the result is one [`Config`].
//! The channels' defaults are [`ChannelSettings::default`]'s; this module
//! holds only the server's own (engine URL, listen address, write stall), and
//! the parsers of the addresses users type.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::args::ConfigArgs;
use super::file::{default_settings_path, load_settings, EngineEntry, Settings};
use super::ConfigError;
use crate::channel::ChannelSettings;
use crate::engine_pool::{check_specs, EngineSpec, PoolSettings};
use crate::tuner::discovery::DISCOVERY_PORT;

/// The engine's own default address.
pub const DEFAULT_ENGINE: &str = "http://127.0.0.1:6878";
/// Where the proxy listens unless told otherwise: this machine only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6880));
/// A player whose socket accepts no bytes for this long is disconnected.
pub const DEFAULT_WRITE_STALL: Duration = Duration::from_secs(30);

/// Bounds on what flags may ask for: (least, most).
const START_TIMEOUT_SECS: (u64, u64) = (1, u64::MAX);
const HLS_SEGMENT_SECS: (u64, u64) = (1, 30);
const FAILOVER_AFTER_SECS: (u64, u64) = (1, 600);
const ENGINE_WAIT_SECS: (u64, u64) = (0, 86_400);
const HLS_BUFFER_MIB: (usize, usize) = (1, 4096);
const MIB: usize = 1024 * 1024;

/// The resolved configuration a server runs with.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "test-config", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// The engine (the first of a pool).
    pub engine: Url,
    /// A pool of engines; empty: `engine` alone (see [`Config::engine_specs`]).
    #[cfg_attr(feature = "test-config", serde(default))]
    pub engines: Vec<EngineSpec>,
    /// How the pool judges its engines.
    #[cfg_attr(feature = "test-config", serde(default))]
    pub pool: PoolSettings,
    pub listen: SocketAddr,
    /// Every channel tunable, the upstream mode and the HLS buffer included.
    pub channels: ChannelSettings,
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
    /// The UDP port HDHomeRun discovery is answered on; `None`: not at all
    /// (the default of [`Config::new`], so embedders and tests opt in).
    pub discovery_port: Option<u16>,
    /// Where and how recordings are written.
    pub recordings: crate::recording::RecordingSettings,
}

impl Config {
    /// A configuration with every default and no settings file, for tests and embedding.
    pub fn new(engine: Url, listen: SocketAddr) -> Self {
        Self {
            engine,
            engines: Vec::new(),
            pool: PoolSettings::default(),
            listen,
            channels: ChannelSettings::default(),
            write_stall: DEFAULT_WRITE_STALL,
            trust_loopback: true,
            settings_path: None,
            engine_command: None,
            engine_autostart: false,
            engine_idle_stop: None,
            engine_timeouts: Default::default(),
            discovery_port: None,
            recordings: Default::default(),
        }
    }
}

impl Config {
    /// The engines channels are placed on: the pool, or the one engine.
    pub fn engine_specs(&self) -> Vec<EngineSpec> {
        if self.engines.is_empty() {
            vec![EngineSpec {
                url: self.engine.clone(),
                max_channels: None,
            }]
        } else {
            self.engines.clone()
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
        let engines: Vec<EngineEntry> = if !self.engine.is_empty() {
            self.engine.iter().cloned().map(EngineEntry::Url).collect()
        } else if !file.engines.is_empty() {
            file.engines.clone()
        } else {
            vec![EngineEntry::Url(
                file.engine
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ENGINE.to_owned()),
            )]
        };
        let engines = match self.engine_max_channels {
            Some(limit) => engines
                .into_iter()
                .map(|entry| match entry.max_channels() {
                    Some(_) => entry,
                    None => EngineEntry::Table {
                        url: entry.url().to_owned(),
                        max_channels: Some(limit),
                    },
                })
                .collect(),
            None => engines,
        };
        let engines = parse_engine_list(&engines)?;
        let listen = self.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        let engine_command = match &self.engine_command {
            Some(text) => Some(parse_engine_command(text)?),
            None => (!file.engine_command.is_empty()).then_some(file.engine_command),
        };
        let engine_idle_stop = self
            .engine_idle_stop
            .or(file.engine_idle_stop_secs)
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs);
        let defaults = ChannelSettings::default();
        let secs_within = |(least, most): (u64, u64)| {
            move |secs: u64| Duration::from_secs(secs.clamp(least, most))
        };
        let (least_mib, most_mib) = HLS_BUFFER_MIB;
        let channels = ChannelSettings {
            upstream: self.upstream.or(file.upstream).unwrap_or(defaults.upstream),
            linger: self
                .linger
                .or(file.linger_secs)
                .map_or(defaults.linger, Duration::from_secs),
            start_timeout: self
                .start_timeout
                .or(file.start_timeout_secs)
                .map_or(defaults.start_timeout, secs_within(START_TIMEOUT_SECS)),
            max_channels: self.max_channels.unwrap_or(defaults.max_channels).max(1),
            max_players: self.max_players.unwrap_or(defaults.max_players).max(1),
            hls_segment: self
                .hls_segment
                .map_or(defaults.hls_segment, secs_within(HLS_SEGMENT_SECS)),
            failover_after: self
                .failover_after
                .map_or(defaults.failover_after, secs_within(FAILOVER_AFTER_SECS)),
            engine_wait: self
                .engine_wait
                .map_or(defaults.engine_wait, secs_within(ENGINE_WAIT_SECS)),
            hls_max_bytes: self.hls_buffer_mib.map_or(defaults.hls_max_bytes, |mib| {
                mib.clamp(least_mib, most_mib) * MIB
            }),
            ..defaults
        };
        let recordings = crate::recording::RecordingSettings {
            dir: self
                .recordings_dir
                .clone()
                .or(file.recordings_dir)
                .unwrap_or_else(crate::recording::default_dir),
            min_free_bytes: file
                .recordings_min_free_mib
                .map_or(crate::recording::DEFAULT_MIN_FREE_BYTES, |mib| {
                    mib.saturating_mul(MIB as u64)
                }),
            fail_writes_after: None,
        };
        Ok(Config {
            channels,
            recordings,
            settings_path,
            engine_command,
            engine_idle_stop,
            discovery_port: Some(self.discovery_port.unwrap_or(DISCOVERY_PORT)).filter(|p| *p != 0),
            engines: if engines.len() > 1 || engines[0].max_channels.is_some() {
                engines.clone()
            } else {
                Vec::new()
            },
            ..Config::new(engines[0].url.clone(), listen)
        })
    }
}

/// Parses a listen address: an IP address and port, or `localhost:PORT`
/// (the loopback address, the same one the default uses).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let invalid = || {
        format!(
            "invalid listen address {text:?}: give an IP address and port, e.g. \
             {DEFAULT_LISTEN} or localhost:{}",
            DEFAULT_LISTEN.port()
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(invalid());
    }
    let port: u16 = port.parse().map_err(|_| invalid())?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Parses an engine command typed by a user (flag, env var): shell-like
/// words and quotes, but no shell runs it.
fn parse_engine_command(text: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = |reason: &str| ConfigError::EngineCommand {
        command: text.to_owned(),
        reason: reason.to_owned(),
    };
    let words = shlex::split(text).ok_or_else(|| invalid("unbalanced quotes"))?;
    if words.is_empty() {
        return Err(invalid("the command is empty"));
    }
    Ok(words)
}

/// Checks a list of engines a user gave: each URL as [`parse_engine_url`]
/// checks it, no engine twice, no limit of zero, at least one.
pub fn parse_engine_list(entries: &[EngineEntry]) -> Result<Vec<EngineSpec>, ConfigError> {
    let specs = entries
        .iter()
        .map(|entry| {
            Ok(EngineSpec {
                url: parse_engine_url(entry.url())?,
                max_channels: entry.max_channels(),
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    check_specs(&specs).map_err(ConfigError::Engines)?;
    Ok(specs)
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

#[cfg(test)]
mod tests {
    use super::super::file::save_settings;
    use super::*;

    #[test]
    fn commands_are_split_like_a_shell_would_without_one() {
        assert_eq!(
            parse_engine_command(r#"docker run --rm -p "127.0.0.1:6878:6878" 'my image'"#)
                .expect("words"),
            [
                "docker",
                "run",
                "--rm",
                "-p",
                "127.0.0.1:6878:6878",
                "my image"
            ]
        );
        assert!(parse_engine_command("  ").is_err());
        assert!(parse_engine_command("engine \"unclosed").is_err());
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
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
        assert_eq!(config.listen, DEFAULT_LISTEN);
    }

    #[test]
    fn engine_command_comes_from_flag_or_file_and_is_split_without_a_shell() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
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
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "listen = \"localhost:6891\"\n").expect("write");
        let args = ConfigArgs {
            settings: Some(path),
            ..ConfigArgs::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(config.listen.port(), 6891);
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
    fn nothing_given_resolves_to_the_channel_defaults_and_the_servers_own() {
        let temp = tempfile::tempdir().expect("temp dir");
        let args = ConfigArgs {
            settings: Some(temp.path().join("settings.toml")),
            ..ConfigArgs::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(
            format!("{:?}", config.channels),
            format!("{:?}", ChannelSettings::default())
        );
        assert_eq!(config.engine.as_str(), format!("{DEFAULT_ENGINE}/"));
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.write_stall, DEFAULT_WRITE_STALL);
    }

    #[test]
    fn upstream_and_hls_buffer_land_in_the_channel_settings_the_server_runs_with() {
        let temp = tempfile::tempdir().expect("temp dir");
        let path = temp.path().join("settings.toml");
        let file = Settings {
            upstream: Some(crate::channel::UpstreamMode::Hls),
            ..Settings::default()
        };
        save_settings(&path, &file).expect("save");
        let args = ConfigArgs {
            settings: Some(path),
            hls_buffer_mib: Some(8),
            ..ConfigArgs::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(config.channels.upstream, crate::channel::UpstreamMode::Hls);
        assert_eq!(config.channels.hls_max_bytes, 8 * MIB);
        let flag = ConfigArgs {
            upstream: Some(crate::channel::UpstreamMode::Ts),
            ..args
        };
        let config = flag.resolve().expect("resolve");
        assert_eq!(config.channels.upstream, crate::channel::UpstreamMode::Ts);
    }

    #[test]
    fn engines_come_from_the_files_list_or_repeated_flags_and_one_engine_stays_one() {
        let temp = tempfile::tempdir().expect("temp dir");
        let path = temp.path().join("settings.toml");
        let file = Settings {
            engine: Some("http://10.0.0.9:6878".into()),
            engines: vec![
                EngineEntry::Table {
                    url: "http://10.0.0.2:6878".into(),
                    max_channels: Some(3),
                },
                EngineEntry::Url("10.0.0.3:6878".into()),
            ],
            ..Settings::default()
        };
        save_settings(&path, &file).expect("save");
        let from_file = ConfigArgs {
            settings: Some(path.clone()),
            ..ConfigArgs::default()
        };
        let config = from_file.resolve().expect("resolve");
        assert_eq!(config.engine.as_str(), "http://10.0.0.2:6878/");
        let specs = config.engine_specs();
        let listed: Vec<_> = specs
            .iter()
            .map(|spec| (spec.url.as_str(), spec.max_channels))
            .collect();
        assert_eq!(
            listed,
            [
                ("http://10.0.0.2:6878/", Some(3)),
                ("http://10.0.0.3:6878/", None)
            ]
        );
        // `--engine a --engine b,c`: a comma splits as in ACEBRIDGE_ENGINE.
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ConfigArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "acebridge",
            "--engine",
            "http://a:1",
            "--engine",
            "http://b:2,http://c:3",
        ])
        .expect("flags");
        let flags = ConfigArgs {
            settings: Some(path),
            ..cli.args
        };
        let urls: Vec<String> = flags
            .resolve()
            .expect("resolve")
            .engine_specs()
            .iter()
            .map(|spec| spec.url.to_string())
            .collect();
        assert_eq!(
            urls,
            ["http://a:1/", "http://b:2/", "http://c:3/"],
            "flags beat the file"
        );
        let one = ConfigArgs {
            engine: vec!["http://a:1".into()],
            settings: Some(temp.path().join("none.toml")),
            ..ConfigArgs::default()
        };
        let config = one.resolve().expect("resolve");
        assert!(config.engines.is_empty(), "one engine is no pool");
        assert_eq!(config.engine_specs().len(), 1);
    }

    #[test]
    fn engine_max_channels_limits_every_engine_without_a_limit_of_its_own() {
        let temp = tempfile::tempdir().expect("temp dir");
        let path = temp.path().join("settings.toml");
        let file = Settings {
            engines: vec![
                EngineEntry::Table {
                    url: "http://10.0.0.2:6878".into(),
                    max_channels: Some(5),
                },
                EngineEntry::Url("http://10.0.0.3:6878".into()),
            ],
            ..Settings::default()
        };
        save_settings(&path, &file).expect("save");
        let limits = |args: ConfigArgs| -> Vec<Option<usize>> {
            args.resolve()
                .expect("resolve")
                .engine_specs()
                .iter()
                .map(|spec| spec.max_channels)
                .collect()
        };
        let file_engines = ConfigArgs {
            settings: Some(path.clone()),
            engine_max_channels: Some(2),
            ..ConfigArgs::default()
        };
        assert_eq!(
            limits(file_engines),
            [Some(5), Some(2)],
            "the file's own limit stays"
        );
        let flag_engines = ConfigArgs {
            engine: vec!["http://a:1".into(), "http://b:2".into()],
            settings: Some(path.clone()),
            engine_max_channels: Some(3),
            ..ConfigArgs::default()
        };
        assert_eq!(limits(flag_engines), [Some(3), Some(3)]);
        // One engine with a limit is a pool of one: the limit holds.
        let one = ConfigArgs {
            engine: vec!["http://a:1".into()],
            settings: Some(path.clone()),
            engine_max_channels: Some(4),
            ..ConfigArgs::default()
        };
        assert_eq!(limits(one), [Some(4)]);
        let zero = ConfigArgs {
            engine: vec!["http://a:1".into()],
            settings: Some(path),
            engine_max_channels: Some(0),
            ..ConfigArgs::default()
        }
        .resolve()
        .expect_err("zero");
        assert!(zero.to_string().contains("at least 1"), "{zero}");
    }

    #[test]
    fn bad_lists_of_engines_are_refused_with_the_reason() {
        let temp = tempfile::tempdir().expect("temp dir");
        let resolve = |engines: &[&str]| {
            ConfigArgs {
                engine: engines.iter().map(|url| (*url).to_owned()).collect(),
                settings: Some(temp.path().join("none.toml")),
                ..ConfigArgs::default()
            }
            .resolve()
            .map(drop)
            .map_err(|error| error.to_string())
        };
        let twice = resolve(&["http://a:1", "http://a:1/"]).expect_err("twice");
        assert!(twice.contains("listed twice"), "{twice}");
        let bad = resolve(&["http://a:1", "ftp://b"]).expect_err("bad URL");
        assert!(bad.contains("ftp://b"), "{bad}");
        let zero = parse_engine_list(&[EngineEntry::Table {
            url: "http://a:1".into(),
            max_channels: Some(0),
        }])
        .expect_err("zero");
        assert!(zero.to_string().contains("at least 1"), "{zero}");
    }
}
