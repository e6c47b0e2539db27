//! What the tray shows, worked out from the server's state: the icon for
//! idle / streaming / engine down, the wording of the status lines, and the
//! names of channels. Kept free of Tauri so it is tested as plain functions.

use acebridge::config::SavedChannel;
use acebridge::control::{ActiveStream, EngineStatus};
use acebridge::engine_process::{ProcessState, ProcessStatus};

/// How many recently played channels the tray lists (most recent first);
/// the window has every saved channel.
pub const SAVED_IN_TRAY: usize = acebridge::recent::MAX_RECENT;
/// Longer names are cut in the menu, which would otherwise grow off screen.
const MENU_LABEL_CHARS: usize = 48;

/// One reading of the server, taken by the tray's refresh loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub engine: EngineStatus,
    pub process: EngineProcess,
    pub streams: Vec<ActiveStream>,
}

/// What the tray needs of the engine process acebridge may manage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineProcess {
    /// The engine that runs is the one acebridge started (and may stop).
    pub started_by_us: bool,
    /// acebridge knows how to start the engine (a command, an engine on this machine).
    pub can_start: bool,
    pub starting: bool,
}

impl From<&ProcessStatus> for EngineProcess {
    fn from(status: &ProcessStatus) -> Self {
        Self {
            started_by_us: status.started_by_acebridge,
            can_start: status.command.is_some() && status.state != ProcessState::NotManaged,
            starting: status.state == ProcessState::Starting,
        }
    }
}

/// The Start/Stop engine entry: its label, and whether it can be clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineAction {
    pub label: &'static str,
    pub enabled: bool,
}

/// The tray icon's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Idle,
    Streaming,
    EngineDown,
}

impl Snapshot {
    pub fn tray_state(&self) -> TrayState {
        if self.engine.version.is_err() {
            TrayState::EngineDown
        } else if self.streams.iter().any(|stream| stream.players > 0) {
            TrayState::Streaming
        } else {
            TrayState::Idle
        }
    }

    /// The engine line of the menu: whose engine runs, or that none answers.
    pub fn engine_line(&self) -> String {
        match &self.engine.version {
            Ok(version) if self.process.started_by_us => {
                format!("Engine {version}: started by acebridge")
            }
            Ok(version) => format!("Engine {version}: running"),
            Err(_) if self.process.starting => "Engine starting…".to_owned(),
            Err(_) => "Engine not reachable".to_owned(),
        }
    }

    /// The Start/Stop engine entry: Stop for the engine acebridge started,
    /// Start when it does not answer and acebridge knows how to start it.
    pub fn engine_action(&self) -> EngineAction {
        let reachable = self.engine.version.is_ok();
        if reachable && self.process.started_by_us {
            EngineAction {
                label: "Stop engine",
                enabled: true,
            }
        } else {
            EngineAction {
                label: "Start engine",
                enabled: !reachable && self.process.can_start && !self.process.starting,
            }
        }
    }

    /// The line under it: how to fix an unreachable engine, else what plays.
    pub fn detail_line(&self) -> String {
        if self.engine.version.is_err() {
            let start = if self.process.can_start {
                "Choose Start engine"
            } else {
                "Start AceStream"
            };
            return format!(
                "{start}, or set the engine URL in the window ({})",
                self.engine.url.trim_end_matches('/')
            );
        }
        let players: usize = self.streams.iter().map(|stream| stream.players).sum();
        match (self.streams.len(), players) {
            (0, _) => "Nothing playing".to_owned(),
            (1, 1) => "1 channel, 1 player".to_owned(),
            (1, players) => format!("1 channel, {players} players"),
            (channels, 1) => format!("{channels} channels, 1 player"),
            (channels, players) => format!("{channels} channels, {players} players"),
        }
    }

    /// Tooltip and title where the platform shows them.
    pub fn tooltip(&self) -> String {
        format!("acebridge: {}", self.detail_line().to_lowercase())
    }
}

/// The channels the tray offers, as (key, menu label): the recently played
/// ones (see `acebridge::recent`), most recent first, at most
/// [`SAVED_IN_TRAY`], each labelled with its title (its name, else
/// "Channel d5869d…").
pub fn saved_for_tray(recent: &[&SavedChannel]) -> Vec<(String, String)> {
    recent
        .iter()
        .take(SAVED_IN_TRAY)
        .map(|channel| (channel.key().to_owned(), menu_label(&channel.title())))
        .collect()
}

/// `text` as a menu shows it literally: `&` would mark a keyboard shortcut.
pub fn menu_label(text: &str) -> String {
    let mut label: String = text.chars().take(MENU_LABEL_CHARS).collect();
    if text.chars().count() > MENU_LABEL_CHARS {
        label.push('…');
    }
    label.replace('&', "&&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use acebridge::content_id::ContentId;
    use acebridge::EngineError;

    fn snapshot(version: Result<&str, &str>, players: &[usize]) -> Snapshot {
        Snapshot {
            engine: EngineStatus {
                url: "http://127.0.0.1:6878/".into(),
                version: version
                    .map(str::to_owned)
                    .map_err(|reason| EngineError::Unreachable {
                        url: "http://127.0.0.1:6878/".into(),
                        reason: reason.to_owned(),
                    }),
            },
            process: EngineProcess::default(),
            streams: players
                .iter()
                .enumerate()
                .map(|(n, players)| ActiveStream {
                    id: ContentId::parse(&format!("{n:040x}")).expect("id"),
                    hls: false,
                    players: *players,
                    uptime_secs: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn the_engine_entry_starts_a_known_engine_and_stops_only_ours() {
        let mut down = snapshot(Err("refused"), &[]);
        let start = |enabled| EngineAction {
            label: "Start engine",
            enabled,
        };
        assert_eq!(
            down.engine_action(),
            start(false),
            "no command: nothing to start"
        );
        down.process.can_start = true;
        assert_eq!(down.engine_action(), start(true));
        assert!(down.detail_line().starts_with("Choose Start engine"));
        down.process.starting = true;
        assert_eq!(down.engine_line(), "Engine starting…");
        assert_eq!(down.engine_action(), start(false));
        let mut ours = snapshot(Ok("3.2.3"), &[]);
        assert_eq!(ours.engine_action(), start(false), "someone else's engine");
        ours.process.started_by_us = true;
        assert_eq!(ours.engine_line(), "Engine 3.2.3: started by acebridge");
        assert_eq!(
            ours.engine_action(),
            EngineAction {
                label: "Stop engine",
                enabled: true
            }
        );
    }

    #[test]
    fn icon_follows_engine_and_players() {
        assert_eq!(snapshot(Ok("3.2.3"), &[]).tray_state(), TrayState::Idle);
        // A lingering channel has no players: nothing is being watched.
        assert_eq!(snapshot(Ok("3.2.3"), &[0]).tray_state(), TrayState::Idle);
        assert_eq!(
            snapshot(Ok("3.2.3"), &[0, 2]).tray_state(),
            TrayState::Streaming
        );
        assert_eq!(
            snapshot(Err("refused"), &[2]).tray_state(),
            TrayState::EngineDown
        );
    }

    #[test]
    fn engine_down_says_how_to_fix_it() {
        let down = snapshot(Err("connection refused"), &[]);
        assert_eq!(down.engine_line(), "Engine not reachable");
        assert_eq!(
            down.detail_line(),
            "Start AceStream, or set the engine URL in the window (http://127.0.0.1:6878)"
        );
        assert_eq!(
            snapshot(Ok("3.2.3"), &[]).engine_line(),
            "Engine 3.2.3: running"
        );
    }

    fn saved(n: usize, name: Option<&str>) -> SavedChannel {
        let mut channel = SavedChannel::new(ContentId::parse(&format!("{n:040x}")).expect("id"));
        channel.name = name.map(str::to_owned);
        channel
    }

    #[test]
    fn unnamed_channels_get_a_short_readable_name() {
        let unnamed = ContentId::parse("d5869d0123456789abcdef0123456789abcdef01").expect("id");
        let list = [saved(1, Some("One")), SavedChannel::new(unnamed)];
        let tray = saved_for_tray(&[&list[1], &list[0]]);
        assert_eq!(tray[0].1, "Channel d5869d…");
        assert_eq!(tray[1].1, "One");
    }

    #[test]
    fn the_tray_lists_recent_channels_in_order_and_caps_the_list() {
        let list: Vec<_> = (0..30)
            .map(|n| saved(n, Some(&format!("Ch {n}"))))
            .collect();
        let recent: Vec<&SavedChannel> = list.iter().rev().collect();
        let tray = saved_for_tray(&recent);
        assert_eq!(tray.len(), SAVED_IN_TRAY);
        assert_eq!(tray[0], (format!("{:040x}", 29), "Ch 29".to_owned()));
        assert_eq!(tray[SAVED_IN_TRAY - 1].1, "Ch 20");
        let odd = [
            saved(1, Some("Sport & News")),
            saved(2, Some(&"x".repeat(60))),
        ];
        let tray = saved_for_tray(&[&odd[1], &odd[0]]);
        assert_eq!(tray[1].1, "Sport && News");
        assert_eq!(tray[0].1, format!("{}…", "x".repeat(48)));
    }

    #[test]
    fn detail_counts_channels_and_players() {
        assert_eq!(snapshot(Ok("1"), &[]).detail_line(), "Nothing playing");
        assert_eq!(snapshot(Ok("1"), &[1]).detail_line(), "1 channel, 1 player");
        assert_eq!(
            snapshot(Ok("1"), &[3]).detail_line(),
            "1 channel, 3 players"
        );
        assert_eq!(
            snapshot(Ok("1"), &[1, 0]).detail_line(),
            "2 channels, 1 player"
        );
        assert_eq!(
            snapshot(Ok("1"), &[2, 3]).detail_line(),
            "2 channels, 5 players"
        );
        assert_eq!(
            snapshot(Ok("1"), &[2, 3]).tooltip(),
            "acebridge: 2 channels, 5 players"
        );
    }
}
