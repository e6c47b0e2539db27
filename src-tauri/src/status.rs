//! What the tray shows, worked out from the server's state: the icon for
//! idle / streaming / engine down, and the wording of the status lines.
//! Kept free of Tauri so it is tested as plain functions.

use acebridge::control::{ActiveStream, EngineStatus};

/// One reading of the server, taken by the tray's refresh loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub engine: EngineStatus,
    pub streams: Vec<ActiveStream>,
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

    /// The engine line of the menu.
    pub fn engine_line(&self) -> String {
        match &self.engine.version {
            Ok(version) => format!("Engine {version}: reachable"),
            Err(_) => "Engine not reachable".to_owned(),
        }
    }

    /// The line under it: how to fix an unreachable engine, else what plays.
    pub fn detail_line(&self) -> String {
        if self.engine.version.is_err() {
            return format!(
                "Start AceStream, or set the engine URL in the window ({})",
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

#[cfg(test)]
mod tests {
    use super::*;
    use acebridge::content_id::ContentId;

    fn snapshot(version: Result<&str, &str>, players: &[usize]) -> Snapshot {
        Snapshot {
            engine: EngineStatus {
                url: "http://127.0.0.1:6878/".into(),
                version: version.map(str::to_owned).map_err(str::to_owned),
            },
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
            "Engine 3.2.3: reachable"
        );
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
