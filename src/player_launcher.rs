//! The hook through which an embedding app lets the web UI start players on
//! this computer: the tray app knows which players are installed and how to
//! start them; the server only passes a key the page chose among the players
//! the app found. The page never names a program or an argument, so it can
//! start nothing the user did not install or configure in the settings file.
//!
//! Headless (`acebridge serve`) there is no launcher: the page then keeps
//! its playlist download, which the OS hands to the user's own player.

use crate::config::DesktopSettings;

/// A player the launcher found, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlayerChoice {
    /// `vlc`, `mpv` or `custom`: what the page sends back and the settings keep.
    pub key: String,
    /// What the page shows ("VLC").
    pub name: String,
}

/// The players found, and the one Play uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Players {
    pub available: Vec<PlayerChoice>,
    /// The saved choice when it is still installed, else the first found;
    /// `None` when nothing was found.
    pub chosen: Option<String>,
}

/// Starts players for the page. Both methods may block (they look at the
/// disk and start processes, and [`PlayerLauncher::launch`] waits up to a
/// second to see the player keep running): the server calls them off its
/// async thread.
pub trait PlayerLauncher: std::fmt::Debug + Send + Sync + 'static {
    /// The players found now, with the one `desktop` prefers.
    fn players(&self, desktop: &DesktopSettings) -> Players;

    /// Plays `url` titled `title` in player `key`, one of [`Self::players`]
    /// (`None`: the preferred one). `Err` says, in the user's words, why
    /// nothing plays: no player, a player that cannot start, or one that
    /// quit at once (with what it said).
    fn launch(
        &self,
        desktop: &DesktopSettings,
        key: Option<&str>,
        url: &str,
        title: &str,
    ) -> Result<(), String>;
}
