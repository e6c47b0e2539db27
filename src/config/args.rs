//! The command-line flags of `acebridge serve`, shared with the tray app;
//! each also reads its env var (clap does). Every flag is optional, so the
//! settings file and the defaults fill what is not given (see
//! [`super::resolve`]); the defaults the help shows are read from there too.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{EnumValueParser, TypedValueParser as _};
use clap::ValueEnum as _;

use super::resolve::{parse_listen, DEFAULT_ENGINE, DEFAULT_LISTEN};
use super::UpstreamMode;
use crate::channel::ChannelSettings;

/// Flags shared by the CLI and the tray app; each also reads its env var.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    #[arg(long, env = "ACEBRIDGE_ENGINE", value_name = "URL", value_delimiter = ',',
        help = format!("AceStream engine URL; give it several times (or a comma-separated \
            list in the env var) for a pool of engines, channels placed by load \
            [default: {DEFAULT_ENGINE}]"))]
    pub engine: Vec<String>,
    #[arg(
        long,
        env = "ACEBRIDGE_ENGINE_MAX_CHANNELS",
        value_name = "N",
        help = "Channels each engine may play at once, for every engine listed without a \
            limit of its own (a pool's engines are filled up to it; the settings file can \
            give each engine its own) [default: no limit per engine]"
    )]
    pub engine_max_channels: Option<usize>,
    #[arg(long, env = "ACEBRIDGE_LISTEN", value_name = "ADDR:PORT", value_parser = parse_listen,
        help = format!("Address and port to serve players on (use 0.0.0.0 only to share on \
            your LAN) [default: {DEFAULT_LISTEN}]"))]
    pub listen: Option<SocketAddr>,
    #[arg(long, env = "ACEBRIDGE_LINGER", value_name = "SECONDS",
        help = format!("Seconds a channel with no players keeps its engine session, so \
            zapping back is instant [default: {}]", defaults().linger.as_secs()))]
    pub linger: Option<u64>,
    #[arg(long, env = "ACEBRIDGE_START_TIMEOUT", value_name = "SECONDS",
        help = format!("Seconds to wait for a channel to start (P2P prebuffering often \
            takes 10-25 s) [default: {}]", defaults().start_timeout.as_secs()))]
    pub start_timeout: Option<u64>,
    #[arg(long, env = "ACEBRIDGE_UPSTREAM", value_name = "MODE",
        value_parser = EnumValueParser::<Upstream>::new().map(UpstreamMode::from),
        help = format!("How the proxy reads channels from the engine: `ts` (one MPEG-TS \
            session; the proxy cuts HLS segments from it) or `hls` (one HLS session; TS \
            players get its segments concatenated) [default: {}]",
            Upstream::from(defaults().upstream).name()))]
    pub upstream: Option<UpstreamMode>,
    #[arg(long, env = "ACEBRIDGE_HLS_SEGMENT", value_name = "SECONDS",
        help = format!("Target duration of the HLS segments the proxy cuts, in seconds (a \
            stream whose keyframes are farther apart gets longer segments) [default: {}]",
            defaults().hls_segment.as_secs()))]
    pub hls_segment: Option<u64>,
    #[arg(long, env = "ACEBRIDGE_MAX_CHANNELS", value_name = "N",
        help = format!("Channels that may play at once (each costs the engine a P2P swarm) \
            [default: {}]", defaults().max_channels))]
    pub max_channels: Option<usize>,
    #[arg(long, env = "ACEBRIDGE_DISCOVERY_PORT", value_name = "PORT",
        help = format!("UDP port to answer HDHomeRun discovery on, so media centres find \
            the tuner by themselves; 0 turns it off [default: {}]",
            crate::tuner::discovery::DISCOVERY_PORT))]
    pub discovery_port: Option<u16>,
    #[arg(long, env = "ACEBRIDGE_MAX_PLAYERS", value_name = "N",
        help = format!("Players that may watch one channel at once [default: {}]",
            defaults().max_players))]
    pub max_players: Option<usize>,
    #[arg(long, env = "ACEBRIDGE_HLS_BUFFER_MIB", value_name = "MIB",
        help = format!("Memory for each HLS channel's segment buffer, in MiB [default: {}]",
            defaults().hls_max_bytes / (1024 * 1024)))]
    pub hls_buffer_mib: Option<usize>,
    #[arg(long, env = "ACEBRIDGE_FAILOVER_AFTER", value_name = "SECONDS",
        help = format!("Seconds a saved channel with alternates waits without data (or with \
            the engine reporting no peers and no progress) before it switches to its next id \
            [default: {}]", defaults().failover_after.as_secs()))]
    pub failover_after: Option<u64>,
    #[arg(long, env = "ACEBRIDGE_ENGINE_WAIT", value_name = "SECONDS",
        help = format!("Seconds a playing channel waits, players connected, for an engine \
            that stopped answering before it ends their streams [default: {}]",
            defaults().engine_wait.as_secs()))]
    pub engine_wait: Option<u64>,
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
    /// Folder recordings are written to [default: acebridge/ in your Videos folder]
    #[arg(long, env = "ACEBRIDGE_RECORDINGS_DIR", value_name = "DIR")]
    pub recordings_dir: Option<PathBuf>,
}

fn defaults() -> ChannelSettings {
    ChannelSettings::default()
}

/// The names `--upstream` takes: the CLI's own, so the domain's
/// [`UpstreamMode`] owes nothing to clap.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Upstream {
    Ts,
    Hls,
}

impl Upstream {
    fn name(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default()
    }
}

impl From<Upstream> for UpstreamMode {
    fn from(upstream: Upstream) -> Self {
        match upstream {
            Upstream::Ts => Self::Ts,
            Upstream::Hls => Self::Hls,
        }
    }
}

impl From<UpstreamMode> for Upstream {
    fn from(mode: UpstreamMode) -> Self {
        match mode {
            UpstreamMode::Ts => Self::Ts,
            UpstreamMode::Hls => Self::Hls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ConfigArgs,
    }

    #[test]
    fn upstream_takes_the_modes_by_their_lowercase_names() {
        for (text, mode) in [("ts", UpstreamMode::Ts), ("hls", UpstreamMode::Hls)] {
            let cli = Cli::try_parse_from(["acebridge", "--upstream", text]).expect(text);
            assert_eq!(cli.args.upstream, Some(mode));
        }
        let error = Cli::try_parse_from(["acebridge", "--upstream", "dash"]).expect_err("dash");
        assert!(error.to_string().contains("ts, hls"), "{error}");
    }
}
