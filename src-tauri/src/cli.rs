//! The tray app's command line. The first launch parses it; later launches'
//! arguments reach the running app through single instance and are parsed
//! with it too.

use acebridge::config::ConfigArgs;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "acebridge-desktop",
    version,
    about = "acebridge in the system tray: share AceStream channels with any player"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Start in the tray without opening the window (used by Start at login)
    #[arg(long)]
    pub minimized: bool,
    /// Ask the running acebridge to stop every stream and quit
    #[arg(long)]
    pub quit: bool,
    /// acestream:// links or content ids to add (and play, if set so)
    #[arg(value_name = "LINK")]
    pub links: Vec<String>,
}
