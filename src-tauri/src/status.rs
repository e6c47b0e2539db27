//! What the tray shows, worked out from the server's state: the icon for
//! idle / streaming / recording / engine down, the wording of the status
//! lines (the engine, what plays with its programme, what records), and the
//! names of channels. Kept free of Tauri so it is tested as plain functions.

use acebridge::config::SavedChannel;
use acebridge::control::{ActiveStream, EngineStatus, Playing};
use acebridge::engine_process::{ProcessState, ProcessStatus};
use acebridge::guide::ProgrammeView;
use acebridge::recording::{RecordingState, RecordingView};

/// How many recently played channels the tray lists (most recent first);
/// the window has every saved channel.
pub const SAVED_IN_TRAY: usize = acebridge::recent::MAX_RECENT;
/// Longer names are cut in the menu, which would otherwise grow off screen.
const MENU_LABEL_CHARS: usize = 48;
/// A channel's or a programme's name in a line that holds both.
const PART_CHARS: usize = 32;

/// One reading of the server, taken by the tray's refresh loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub engine: EngineStatus,
    pub process: EngineProcess,
    pub streams: Vec<ActiveStream>,
    /// A recording runs.
    pub recording: bool,
    /// Engines answering, of how many, when acebridge has a pool of them.
    pub engines_up: EnginesUp,
}

/// How many of the pool's engines are up (`of` is 1 without a pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnginesUp {
    pub up: usize,
    pub of: usize,
}

impl Default for EnginesUp {
    fn default() -> Self {
        Self { up: 1, of: 1 }
    }
}

/// What the tray needs of the engine process acebridge may manage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineProcess {
    /// The engine that runs is the one acebridge started (and may stop).
    pub started_by_us: bool,
    /// acebridge knows how to start the engine (a command, an engine on this machine).
    pub can_start: bool,
    /// A command is known, but the engine's URL points at another machine.
    pub elsewhere: bool,
    pub starting: bool,
}

impl From<&ProcessStatus> for EngineProcess {
    fn from(status: &ProcessStatus) -> Self {
        let not_managed = status.state == ProcessState::NotManaged;
        Self {
            started_by_us: status.started_by_acebridge,
            can_start: status.command.is_some() && !not_managed,
            elsewhere: status.command.is_some() && not_managed,
            starting: status.state == ProcessState::Starting,
        }
    }
}

/// A menu entry that acts: its label (which says why when it cannot be
/// clicked), and whether it can be clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub label: &'static str,
    pub enabled: bool,
}

/// The Start/Stop engine entry.
pub type EngineAction = Action;

/// The tray icon's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Idle,
    Streaming,
    Recording,
    EngineDown,
}

impl Snapshot {
    pub fn tray_state(&self) -> TrayState {
        if self.engine.version.is_err() {
            TrayState::EngineDown
        } else if self.recording {
            TrayState::Recording
        } else if self.streams.iter().any(|stream| stream.players > 0) {
            TrayState::Streaming
        } else {
            TrayState::Idle
        }
    }

    /// The engine line of the menu: whose engine runs, or that none answers.
    pub fn engine_line(&self) -> String {
        let EnginesUp { up, of } = self.engines_up;
        if of > 1 {
            return format!("Engines: {up} of {of} up");
        }
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
    /// Start when it does not answer and acebridge knows how to start it;
    /// a greyed Start says why it cannot be clicked.
    pub fn engine_action(&self) -> EngineAction {
        let reachable = self.engine.version.is_ok();
        let process = &self.process;
        let (label, enabled) = if reachable && process.started_by_us {
            ("Stop engine", true)
        } else if reachable {
            ("Start engine (already running)", false)
        } else if process.starting {
            ("Start engine (starting…)", false)
        } else if process.can_start {
            ("Start engine", true)
        } else if process.elsewhere {
            ("Start engine (the engine is on another machine)", false)
        } else {
            ("Start engine (no engine program found)", false)
        };
        Action { label, enabled }
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
        let recording = if self.recording { "recording, " } else { "" };
        format!(
            "acebridge: {recording}{}",
            self.detail_line().to_lowercase()
        )
    }
}

/// The channels the tray offers, as (key, menu label): the recently played
/// ones (see `acebridge::recent`), most recent first, at most
/// [`SAVED_IN_TRAY`], each labelled with its title (its name, else
/// "Channel d5869d…") and what it shows now (`on_now`, see [`with_programme`]).
pub fn saved_for_tray(
    recent: &[&SavedChannel],
    on_now: impl Fn(&SavedChannel) -> Option<ProgrammeView>,
    clock: impl Fn(i64) -> String,
) -> Vec<(String, String)> {
    recent
        .iter()
        .take(SAVED_IN_TRAY)
        .map(|channel| {
            let label = with_programme(&channel.title(), on_now(channel).as_ref(), &clock);
            (channel.key().to_owned(), label)
        })
        .collect()
}

/// `text` as a menu shows it literally: `&` would mark a keyboard shortcut.
pub fn menu_label(text: &str) -> String {
    literal(&cut(text, MENU_LABEL_CHARS))
}

/// `text`, cut to `max` characters (and "…") so a menu does not grow off screen.
fn cut(text: &str, max: usize) -> String {
    let mut label: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        label.push('…');
    }
    label
}

/// `&` would mark a keyboard shortcut.
fn literal(text: &str) -> String {
    text.replace('&', "&&")
}

/// `title` with what it shows now: "Sky Sports F1 — Practice 2 (until
/// 15:30)", the end in local time (`clock`), as a menu shows it literally.
/// Each name is cut on its own, so the end time always shows.
pub fn with_programme(
    title: &str,
    programme: Option<&ProgrammeView>,
    clock: impl Fn(i64) -> String,
) -> String {
    let Some(programme) = programme else {
        return menu_label(title);
    };
    literal(&format!(
        "{} — {} (until {})",
        cut(title, PART_CHARS),
        cut(&programme.title, PART_CHARS),
        clock(programme.stop)
    ))
}

/// The playing line: the channel playing now with its programme, else the
/// one played last.
pub fn playing_line(playing: Option<&str>, last: Option<&str>) -> String {
    match (playing, last) {
        (Some(now), _) => format!("Playing: {now}"),
        (None, Some(last)) => format!("Last played: {last}"),
        (None, None) => "Nothing played yet".to_owned(),
    }
}

/// Record, for the channel playing now; Stop recording while it records.
pub fn record_action(playing: Option<&Playing>) -> Action {
    match playing {
        Some(playing) if !playing.recordings.is_empty() => Action {
            label: "Stop recording",
            enabled: true,
        },
        Some(_) => Action {
            label: "Record",
            enabled: true,
        },
        None => Action {
            label: "Record (nothing playing)",
            enabled: false,
        },
    }
}

fn running(recording: &RecordingView) -> bool {
    matches!(
        recording.state,
        RecordingState::Starting | RecordingState::Recording
    )
}

/// "● Recording Sky Sports F1 3:12 · 45.2 MB" for the newest running
/// recording (and how many more run); `None` when none runs.
pub fn recording_line(recordings: &[RecordingView]) -> Option<String> {
    let mut running = recordings.iter().filter(|r| running(r));
    let newest = running.next()?;
    let more = match running.count() {
        0 => String::new(),
        n => format!(" (+{n} more)"),
    };
    Some(literal(&format!(
        "● Recording {} {} · {}{more}",
        cut(&newest.title, PART_CHARS),
        clock_duration(newest.duration_secs),
        size(newest.bytes)
    )))
}

/// The newest recording this run that has a file ("Show file").
pub fn latest_file(recordings: &[RecordingView]) -> Option<&str> {
    recordings
        .iter()
        .filter(|r| r.state != RecordingState::Scheduled && r.state != RecordingState::Missed)
        .find_map(|r| r.file.as_deref())
}

/// The question Quit asks while recordings run; `None`: quit at once.
pub fn quit_question(recordings: &[RecordingView]) -> Option<String> {
    let running: Vec<&RecordingView> = recordings.iter().filter(|r| running(r)).collect();
    Some(match running.as_slice() {
        [] => return None,
        [one] => format!(
            "acebridge is recording {} ({} so far).\n\n\
             Quitting stops the recording; its file is kept and plays up to that point.",
            one.title,
            clock_duration(one.duration_secs)
        ),
        many => format!(
            "acebridge is making {} recordings.\n\n\
             Quitting stops them; their files are kept and play up to that point.",
            many.len()
        ),
    })
}

/// "3:12", "1:02:03" (as the web UI writes durations).
fn clock_duration(secs: u64) -> String {
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// "45.2 MB" (as the web UI writes sizes: decimal units).
fn size(bytes: u64) -> String {
    let bytes = bytes as f64;
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.0} kB", bytes / 1e3)
    }
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
            recording: false,
            engines_up: EnginesUp::default(),
        }
    }

    /// With a pool, the engine line counts the engines up.
    #[test]
    fn a_pool_of_engines_is_counted_in_the_engine_line() {
        let mut pool = snapshot(Ok("3.2.3"), &[1]);
        assert_eq!(pool.engine_line(), "Engine 3.2.3: running");
        pool.engines_up = EnginesUp { up: 2, of: 3 };
        assert_eq!(pool.engine_line(), "Engines: 2 of 3 up");
    }

    /// A greyed Start engine used to give no reason.
    #[test]
    fn the_engine_entry_starts_a_known_engine_and_stops_only_ours() {
        let mut down = snapshot(Err("refused"), &[]);
        let greyed = |label| EngineAction {
            label,
            enabled: false,
        };
        assert_eq!(
            down.engine_action(),
            greyed("Start engine (no engine program found)"),
            "no command: nothing to start"
        );
        down.process.elsewhere = true;
        assert_eq!(
            down.engine_action(),
            greyed("Start engine (the engine is on another machine)")
        );
        down.process = EngineProcess {
            can_start: true,
            ..EngineProcess::default()
        };
        assert_eq!(
            down.engine_action(),
            EngineAction {
                label: "Start engine",
                enabled: true
            }
        );
        assert!(down.detail_line().starts_with("Choose Start engine"));
        down.process.starting = true;
        assert_eq!(down.engine_line(), "Engine starting…");
        assert_eq!(down.engine_action(), greyed("Start engine (starting…)"));
        let mut ours = snapshot(Ok("3.2.3"), &[]);
        assert_eq!(
            ours.engine_action(),
            greyed("Start engine (already running)"),
            "someone else's engine"
        );
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
        let mut recording = snapshot(Ok("3.2.3"), &[1]);
        recording.recording = true;
        assert_eq!(recording.tray_state(), TrayState::Recording);
    }

    #[test]
    fn the_engine_process_says_why_acebridge_cannot_start_it() {
        let status = |command: Option<&str>, state| ProcessStatus {
            state,
            started_by_acebridge: false,
            command: command.map(|c| vec![c.to_owned()]),
            detected: false,
            pid: None,
            error: None,
            attempts: 0,
            restarts: 0,
            log_file: None,
        };
        let none = EngineProcess::from(&status(None, ProcessState::NotManaged));
        assert!(!none.can_start && !none.elsewhere);
        let remote =
            EngineProcess::from(&status(Some("acestreamengine"), ProcessState::NotManaged));
        assert!(!remote.can_start && remote.elsewhere);
        let local = EngineProcess::from(&status(Some("acestreamengine"), ProcessState::Stopped));
        assert!(local.can_start && !local.elsewhere);
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
        let tray = saved_for_tray(&[&list[1], &list[0]], |_| None, utc_clock);
        assert_eq!(tray[0].1, "Channel d5869d…");
        assert_eq!(tray[1].1, "One");
    }

    #[test]
    fn the_tray_lists_recent_channels_in_order_and_caps_the_list() {
        let list: Vec<_> = (0..30)
            .map(|n| saved(n, Some(&format!("Ch {n}"))))
            .collect();
        let recent: Vec<&SavedChannel> = list.iter().rev().collect();
        let tray = saved_for_tray(&recent, |_| None, utc_clock);
        assert_eq!(tray.len(), SAVED_IN_TRAY);
        assert_eq!(tray[0], (format!("{:040x}", 29), "Ch 29".to_owned()));
        assert_eq!(tray[SAVED_IN_TRAY - 1].1, "Ch 20");
        let odd = [
            saved(1, Some("Sport & News")),
            saved(2, Some(&"x".repeat(60))),
        ];
        let tray = saved_for_tray(&[&odd[1], &odd[0]], |_| None, utc_clock);
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

    /// "15:30" in UTC: the tests do not depend on the machine's time zone.
    fn utc_clock(unix: i64) -> String {
        format!("{:02}:{:02}", unix / 3600 % 24, unix / 60 % 60)
    }

    fn programme(title: &str, stop: i64) -> ProgrammeView {
        ProgrammeView {
            title: title.to_owned(),
            start: stop - 3600,
            stop,
        }
    }

    #[test]
    fn the_playing_line_and_recent_channels_show_the_programme_on_now() {
        let practice = programme("Practice 2", 15 * 3600 + 30 * 60);
        let line = with_programme("Sky Sports F1", Some(&practice), utc_clock);
        assert_eq!(line, "Sky Sports F1 — Practice 2 (until 15:30)");
        assert_eq!(
            playing_line(Some(&line), Some("Old News")),
            "Playing: Sky Sports F1 — Practice 2 (until 15:30)"
        );
        assert_eq!(
            playing_line(None, Some("Old News")),
            "Last played: Old News"
        );
        assert_eq!(playing_line(None, None), "Nothing played yet");
        // Long names are cut each on its own: the end time always shows.
        let long = programme(&"Q".repeat(80), 60);
        let line = with_programme(&"C".repeat(80), Some(&long), utc_clock);
        assert!(line.ends_with("… (until 00:01)"), "{line}");
        assert_eq!(
            with_programme("Sport & News", Some(&programme("A & B", 0)), utc_clock),
            "Sport && News — A && B (until 00:00)"
        );
        let list = [saved(1, Some("Sky Sports F1")), saved(2, Some("No Guide"))];
        let tray = saved_for_tray(
            &[&list[0], &list[1]],
            |channel| (channel.title() == "Sky Sports F1").then(|| practice.clone()),
            utc_clock,
        );
        assert_eq!(tray[0].1, "Sky Sports F1 — Practice 2 (until 15:30)");
        assert_eq!(tray[1].1, "No Guide");
    }

    fn recording(title: &str, state: RecordingState, secs: u64, bytes: u64) -> RecordingView {
        RecordingView {
            id: format!("{title}-id"),
            channel: "key".into(),
            title: title.into(),
            file: Some(format!("/videos/{title}.ts")),
            state,
            started_at: Some(1),
            ends_at: None,
            start_unix: None,
            duration_secs: secs,
            bytes,
            dropped: 0,
            error: None,
            programme: None,
        }
    }

    #[test]
    fn record_says_stop_while_the_playing_channel_records() {
        assert_eq!(
            record_action(None),
            Action {
                label: "Record (nothing playing)",
                enabled: false
            }
        );
        let mut playing = Playing {
            channel: "key".into(),
            title: "Sky Sports F1".into(),
            programme: None,
            recordings: vec![],
        };
        assert_eq!(record_action(Some(&playing)).label, "Record");
        playing.recordings.push("r1".into());
        assert_eq!(
            record_action(Some(&playing)),
            Action {
                label: "Stop recording",
                enabled: true
            }
        );
    }

    #[test]
    fn the_recording_line_gives_time_and_size_of_the_newest_running_one() {
        assert_eq!(recording_line(&[]), None);
        let ended = recording("Old", RecordingState::Finished, 60, 1);
        assert_eq!(recording_line(std::slice::from_ref(&ended)), None);
        let one = recording("Sky Sports F1", RecordingState::Recording, 192, 45_200_000);
        assert_eq!(
            recording_line(&[one.clone(), ended.clone()]).as_deref(),
            Some("● Recording Sky Sports F1 3:12 · 45.2 MB")
        );
        let two = recording("BBC & Co", RecordingState::Starting, 3723, 1_500_000_000);
        assert_eq!(
            recording_line(&[two, one, ended]).as_deref(),
            Some("● Recording BBC && Co 1:02:03 · 1.50 GB (+1 more)")
        );
    }

    #[test]
    fn show_file_means_the_newest_recording_with_a_file() {
        let mut scheduled = recording("Later", RecordingState::Scheduled, 0, 0);
        scheduled.file = None;
        let newest = recording("New", RecordingState::Recording, 1, 1);
        let older = recording("Old", RecordingState::Finished, 1, 1);
        assert_eq!(latest_file(&[]), None);
        assert_eq!(
            latest_file(&[scheduled, newest, older]),
            Some("/videos/New.ts")
        );
    }

    /// Quitting while a recording runs ends it: Quit asks first, and only then.
    #[test]
    fn quit_asks_only_while_a_recording_runs() {
        let ended = recording("Old", RecordingState::Finished, 60, 1);
        let failed = recording("Bad", RecordingState::Failed, 60, 1);
        let later = recording("Later", RecordingState::Scheduled, 0, 0);
        assert_eq!(quit_question(&[ended.clone(), failed, later]), None);
        let running = recording("Sky Sports F1", RecordingState::Recording, 192, 1);
        let question = quit_question(&[running.clone(), ended]).expect("asks");
        assert!(
            question.starts_with("acebridge is recording Sky Sports F1 (3:12 so far)."),
            "{question}"
        );
        assert!(question.contains("its file is kept"), "{question}");
        let starting = recording("BBC One", RecordingState::Starting, 0, 0);
        let question = quit_question(&[running, starting]).expect("asks");
        assert!(
            question.starts_with("acebridge is making 2 recordings."),
            "{question}"
        );
    }
}
