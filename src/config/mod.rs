//! Settings: defaults, the TOML settings file in the OS config dir, environment
//! variables and command-line flags, resolved in that order of precedence
//! (flags beat env beat file beat defaults) into one [`Config`].
//!
//! - [`args`]: the flags (and their env vars), shared by the CLI and the tray app.
//! - [`file`]: the settings file's shapes, where it lives, reading and safe writing.
//! - [`repair`]: keeping what is good of a file with bad parts, and telling the user.
//! - [`resolve`]: flags over file over defaults, into the [`Config`] a server runs with.

mod args;
mod file;
mod repair;
mod resolve;
#[cfg(feature = "test-config")]
pub mod test_hook;

use std::path::PathBuf;

pub use self::args::ConfigArgs;
pub use self::file::{
    load_settings, load_settings_checked, save_settings, DesktopSettings, EngineEntry,
    ImportedList, SavedChannel, Settings,
};
pub use self::resolve::{parse_engine_list, parse_engine_url, Config, DEFAULT_LISTEN};
pub use crate::channel::UpstreamMode;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid engine URL {url:?}: {reason}")]
    EngineUrl { url: String, reason: String },
    #[error("invalid list of engines: {0}")]
    Engines(String),
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
