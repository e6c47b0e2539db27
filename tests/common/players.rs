//! A player launcher standing in for the tray app's (which the desktop crate
//! tests with real programs), for the API and browser tests of Play.

use std::sync::Mutex;

use acebridge::config::DesktopSettings;
use acebridge::player_launcher::{PlayerChoice, PlayerLauncher, Players};

pub const ROOT_MESSAGE: &str =
    "VLC quit at once (exit status: 1): VLC is not supposed to be run as root. Sorry.";

/// Two players: VLC fails as it does when run as root, mpv plays.
#[derive(Debug, Default)]
pub struct FakePlayers {
    /// (player, url, title) of each launch.
    pub launched: Mutex<Vec<(String, String, String)>>,
}

impl PlayerLauncher for FakePlayers {
    fn players(&self, desktop: &DesktopSettings) -> Players {
        let available = vec![
            PlayerChoice {
                key: "vlc".into(),
                name: "VLC".into(),
            },
            PlayerChoice {
                key: "mpv".into(),
                name: "mpv".into(),
            },
        ];
        let chosen = desktop
            .player
            .clone()
            .filter(|key| available.iter().any(|p| &p.key == key))
            .or(Some("vlc".into()));
        Players { available, chosen }
    }

    fn launch(
        &self,
        desktop: &DesktopSettings,
        key: Option<&str>,
        url: &str,
        title: &str,
    ) -> Result<(), String> {
        let key = key
            .map(str::to_owned)
            .or(self.players(desktop).chosen)
            .unwrap_or_default();
        if let Ok(mut launched) = self.launched.lock() {
            launched.push((key.clone(), url.to_owned(), title.to_owned()));
        }
        match key.as_str() {
            "vlc" => Err(ROOT_MESSAGE.to_owned()),
            _ => Ok(()),
        }
    }
}
