//! The media players "Open in player" can start: VLC and mpv when they are on
//! `PATH`, and the user's own command from the settings file. Players are
//! started directly with their arguments, never through a shell, so a URL or
//! a setting can never become a command line. The channel's name goes along
//! as the window title, instead of the URL the player would show.
//!
//! A player that quits within [`QUICK_EXIT`] of starting with a failure
//! (VLC refuses to run as root, a broken install) did not play: its last
//! error lines are reported instead of a silent nothing.

use std::ffi::OsString;

use acebridge::config::DesktopSettings;
use acebridge::player_launcher::{PlayerChoice, PlayerLauncher, Players};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A player still running after this long counts as started.
pub const QUICK_EXIT: Duration = Duration::from_secs(1);
/// The end of a failed player's error output kept for the user.
const ERROR_TAIL_BYTES: usize = 600;

/// A player that can be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    /// `vlc`, `mpv` or `custom`: the menu item id and the saved preference.
    pub key: &'static str,
    /// What the menu shows.
    pub label: String,
    pub program: PathBuf,
    /// Arguments; `{url}` stands for the stream URL, `{title}` (anywhere in
    /// an argument) for the channel's name.
    pub args: Vec<String>,
}

const URL: &str = "{url}";
const TITLE: &str = "{title}";

/// Known players, in menu order: the program name and the arguments that
/// open a network stream in a window even when started without a terminal.
const KNOWN: [(&str, &str, &[&str]); 2] = [
    // VLC takes the title as an option of the item that follows it.
    (
        "vlc",
        "VLC",
        &["--no-one-instance", URL, ":meta-title={title}"],
    ),
    (
        "mpv",
        "mpv",
        &[
            "--player-operation-mode=pseudo-gui",
            "--force-media-title={title}",
            "--",
            URL,
        ],
    ),
];

/// The players found on `path` (a `PATH`-style list), then the custom command.
pub fn available(path: Option<OsString>, custom: &[String]) -> Vec<Player> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut players: Vec<Player> = KNOWN
        .iter()
        .filter_map(|(key, label, args)| {
            let program = which::which_in(key, path.as_ref(), &cwd).ok()?;
            Some(Player {
                key,
                label: (*label).to_owned(),
                program,
                args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            })
        })
        .collect();
    if let Some((program, args)) = custom.split_first() {
        let mut args = args.to_vec();
        if !args.iter().any(|arg| arg == URL) {
            args.push(URL.to_owned());
        }
        let name = PathBuf::from(program);
        let shown = name
            .file_name()
            .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
        players.push(Player {
            key: "custom",
            label: format!("{shown} (custom)"),
            program: name,
            args,
        });
    }
    players
}

/// The player to use when the user did not pick one: the saved preference if
/// it is still available, else the first one found.
pub fn preferred<'a>(players: &'a [Player], saved: Option<&str>) -> Option<&'a Player> {
    saved
        .and_then(|key| players.iter().find(|player| player.key == key))
        .or_else(|| players.first())
}

/// Why nothing plays when no player is found.
pub const NO_PLAYER: &str =
    "No player could be started. Install VLC or mpv, or set player_command \
     in the desktop part of the settings file; meanwhile, copy the TS URL into your player.";

/// Plays `url` (titled `title`) in player `key` among those on `path` and in
/// `desktop` (`None`: the preferred one), and waits up to [`QUICK_EXIT`] to
/// see it keep running; why not, in the user's words. Blocks: desktop work.
pub fn play(
    path: Option<OsString>,
    desktop: &DesktopSettings,
    key: Option<&str>,
    url: &str,
    title: Option<&str>,
) -> Result<(), String> {
    let found = available(path, &desktop.player_command);
    let Some(player) = preferred(&found, key.or(desktop.player.as_deref())) else {
        tracing::warn!("no player found: install VLC or mpv, or set player_command");
        return Err(NO_PLAYER.to_owned());
    };
    let outcome = player
        .launch(url, title)
        .map_err(|error| {
            tracing::warn!(player = player.key, %error, "cannot start the player");
            format!("{} could not be started: {error}", player.label)
        })
        .and_then(Launched::confirm);
    if let Err(why) = &outcome {
        tracing::warn!(%why, "the player did not play");
    }
    outcome
}

/// The players of this computer for the web UI (see
/// [`acebridge::player_launcher`]): those found on `PATH` when asked.
#[derive(Debug, Default)]
pub struct Launcher;

impl PlayerLauncher for Launcher {
    fn players(&self, desktop: &DesktopSettings) -> Players {
        let found = available(std::env::var_os("PATH"), &desktop.player_command);
        Players {
            chosen: preferred(&found, desktop.player.as_deref()).map(|p| p.key.to_owned()),
            available: found
                .into_iter()
                .map(|player| PlayerChoice {
                    key: player.key.to_owned(),
                    name: player.label,
                })
                .collect(),
        }
    }

    fn launch(
        &self,
        desktop: &DesktopSettings,
        key: Option<&str>,
        url: &str,
        title: &str,
    ) -> Result<(), String> {
        play(std::env::var_os("PATH"), desktop, key, url, Some(title))
    }
}

impl Player {
    /// The command that plays `url` titled `title`; without a title the
    /// arguments that would carry it are left out (the player then shows
    /// what the stream or playlist says).
    pub fn command(&self, url: &str, title: Option<&str>) -> Command {
        let mut command = Command::new(&self.program);
        command.args(self.args.iter().filter_map(|arg| {
            if arg == URL {
                return Some(url.to_owned());
            }
            match title {
                Some(title) => Some(arg.replace(TITLE, title)),
                None => (!arg.contains(TITLE)).then(|| arg.clone()),
            }
        }));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Starts the player on `url` titled `title` and lets it run on its own;
    /// [`Launched::confirm`] says whether it kept running.
    pub fn launch(&self, url: &str, title: Option<&str>) -> std::io::Result<Launched> {
        let mut child = self.command(url, title).spawn()?;
        tracing::info!(player = self.key, pid = child.id(), "player started");
        let mut stderr = child.stderr.take();
        let (exited, outcome) = mpsc::channel();
        // Reap it when it exits, so no zombie is left behind; its error
        // output is drained meanwhile (a full pipe would block it) and only
        // the end is kept.
        std::thread::Builder::new()
            .name("player-reaper".into())
            .spawn(move || {
                let mut tail = Vec::new();
                if let Some(stderr) = stderr.as_mut() {
                    let mut chunk = [0u8; 4096];
                    while let Ok(read @ 1..) = stderr.read(&mut chunk) {
                        tail.extend_from_slice(&chunk[..read]);
                        let excess = tail.len().saturating_sub(ERROR_TAIL_BYTES);
                        tail.drain(..excess);
                    }
                }
                let status = child.wait();
                let _ = exited.send((status, tail));
            })?;
        Ok(Launched {
            label: self.label.clone(),
            outcome,
        })
    }
}

/// A player just started, see [`Player::launch`].
#[derive(Debug)]
pub struct Launched {
    label: String,
    outcome: mpsc::Receiver<(std::io::Result<std::process::ExitStatus>, Vec<u8>)>,
}

impl Launched {
    /// Waits up to [`QUICK_EXIT`]: an error saying what the player said when
    /// it failed at once, `Ok` when it runs on (or handed over and quit well).
    pub fn confirm(self) -> Result<(), String> {
        let Ok((status, tail)) = self.outcome.recv_timeout(QUICK_EXIT) else {
            return Ok(());
        };
        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => {
                let said = String::from_utf8_lossy(&tail);
                let said = said.trim();
                let label = &self.label;
                Err(if said.is_empty() {
                    format!("{label} quit at once ({status}).")
                } else {
                    format!("{label} quit at once ({status}): {said}")
                })
            }
            Err(error) => Err(format!("{} could not be watched: {error}", self.label)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn fake_program(dir: &std::path::Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[cfg(unix)]
    #[test]
    fn finds_installed_players_in_menu_order() {
        let dir = tempfile::tempdir().expect("dir");
        fake_program(dir.path(), "mpv");
        let players = available(Some(dir.path().into()), &[]);
        assert_eq!(players.len(), 1);
        assert_eq!(players[0].key, "mpv");
        fake_program(dir.path(), "vlc");
        let keys: Vec<_> = available(Some(dir.path().into()), &[])
            .iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, ["vlc", "mpv"]);
    }

    #[test]
    fn nothing_found_on_an_empty_path() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(available(Some(dir.path().into()), &[]).is_empty());
    }

    #[test]
    fn custom_command_gets_the_url_as_one_argument() {
        let url = "http://127.0.0.1:6880/ace/getstream?id=ab; rm -rf ~";
        let custom = [
            "flatpak".to_owned(),
            "run".to_owned(),
            "org.videolan.VLC".to_owned(),
        ];
        let players = available(Some(OsString::new()), &custom);
        let command = players[0].command(url, Some("News"));
        assert_eq!(command.get_program(), "flatpak");
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["run", "org.videolan.VLC", url]);

        let placed = [
            "player".to_owned(),
            URL.to_owned(),
            "--fullscreen".to_owned(),
        ];
        let players = available(Some(OsString::new()), &placed);
        let args: Vec<_> = players[0]
            .command(url, Some("News"))
            .get_args()
            .map(|a| a.to_owned())
            .collect();
        assert_eq!(args, [url, "--fullscreen"]);
    }

    #[test]
    fn preference_falls_back_to_the_first_player() {
        let custom = ["myplayer".to_owned()];
        let players = available(Some(OsString::new()), &custom);
        assert_eq!(
            preferred(&players, Some("vlc")).map(|p| p.key),
            Some("custom")
        );
        assert_eq!(
            preferred(&players, Some("custom")).map(|p| p.key),
            Some("custom")
        );
        assert_eq!(preferred(&[], None), None);
    }

    #[cfg(unix)]
    #[test]
    fn launch_reports_a_missing_program() {
        let player = Player {
            key: "custom",
            label: "missing".into(),
            program: "/nonexistent/player".into(),
            args: vec![URL.into()],
        };
        assert!(player.launch("http://127.0.0.1/", Some("News")).is_err());
    }

    #[cfg(unix)]
    fn script(dir: &std::path::Path, body: &str) -> Player {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("player");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Player {
            key: "custom",
            label: "VLC".into(),
            program: path,
            args: vec![URL.into()],
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_player_that_quits_at_once_is_reported_with_its_message() {
        let dir = tempfile::tempdir().expect("dir");
        let root = script(
            dir.path(),
            "echo 'VLC is not supposed to be run as root. Sorry.' >&2; exit 1",
        );
        let launched = root.launch("http://127.0.0.1/", None).expect("spawn");
        let error = launched.confirm().expect_err("reported");
        assert!(
            error.starts_with(
                "VLC quit at once (exit status: 1): VLC is not supposed to be run as root."
            ),
            "{error}"
        );
        // One that keeps running (or hands over and quits well) is started.
        let running = script(dir.path(), "sleep 3");
        let started = std::time::Instant::now();
        assert_eq!(
            running
                .launch("http://127.0.0.1/", None)
                .expect("spawn")
                .confirm(),
            Ok(())
        );
        assert!(started.elapsed() < QUICK_EXIT * 2);
        let handed_over = script(dir.path(), "exit 0");
        assert_eq!(
            handed_over
                .launch("http://127.0.0.1/", None)
                .expect("spawn")
                .confirm(),
            Ok(())
        );
    }

    #[cfg(unix)]
    #[test]
    fn play_uses_the_saved_choice_and_reports_what_a_failing_player_said() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        for (name, body) in [
            (
                "vlc",
                "echo 'VLC is not supposed to be run as root. Sorry.' >&2; exit 1",
            ),
            ("mpv", "sleep 3"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let path = || Some(dir.path().as_os_str().to_owned());
        let url = "http://127.0.0.1:6880/channel/ab.ts";
        let first = play(path(), &DesktopSettings::default(), None, url, Some("News"));
        let error = first.expect_err("VLC, the first found, fails");
        assert!(
            error.contains("VLC is not supposed to be run as root"),
            "{error}"
        );
        let chosen = DesktopSettings {
            player: Some("mpv".into()),
            ..DesktopSettings::default()
        };
        assert_eq!(play(path(), &chosen, None, url, Some("News")), Ok(()));
        assert!(play(path(), &chosen, Some("vlc"), url, None).is_err());
        let empty = tempfile::tempdir().expect("dir");
        let none = play(
            Some(empty.path().as_os_str().to_owned()),
            &chosen,
            None,
            url,
            None,
        );
        assert_eq!(none, Err(NO_PLAYER.to_owned()));
    }

    #[cfg(unix)]
    #[test]
    fn known_players_get_the_channel_name_as_title() {
        let dir = tempfile::tempdir().expect("dir");
        fake_program(dir.path(), "mpv");
        fake_program(dir.path(), "vlc");
        let url = "http://127.0.0.1:6880/ace/getstream?id=ab";
        let title = "Sky {url} -- \"F1\"";
        let args = |player: &Player| -> Vec<String> {
            player
                .command(url, Some(title))
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let players = available(Some(dir.path().into()), &[]);
        assert_eq!(
            args(&players[0]),
            ["--no-one-instance", url, ":meta-title=Sky {url} -- \"F1\""]
        );
        assert_eq!(
            args(&players[1]),
            [
                "--player-operation-mode=pseudo-gui",
                "--force-media-title=Sky {url} -- \"F1\"",
                "--",
                url
            ]
        );
        let untitled: Vec<_> = players[1]
            .command(url, None)
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(untitled, ["--player-operation-mode=pseudo-gui", "--", url]);
    }
}
