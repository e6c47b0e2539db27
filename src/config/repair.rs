//! Keeping what is good of a bad settings file: a line that is not TOML costs
//! that line, a bad field falls back to its default, a bad channel or list
//! entry is dropped alone. The file as it was is copied aside under its own
//! timestamped name (never over an earlier copy), and the user is told, one
//! sentence per problem, which line and what was kept.

use std::path::{Path, PathBuf};

use super::file::{DesktopSettings, SavedChannel, Settings};
use crate::saved::SavedEntry;

/// What can be used of `text`, the settings file at `path`, and the warnings
/// for the user: none when all of it parses; else a first one saying where
/// the file as it was is kept, then one per problem.
pub(super) fn keep_what_parses(path: &Path, text: &str) -> (Settings, Vec<String>) {
    let (settings, problems) = parse_forgiving(text);
    if problems.is_empty() {
        return (settings, Vec::new());
    }
    let file = path.display();
    let aside = match set_aside(path) {
        Ok(aside) => format!("the file as it was is kept as {}", aside.display()),
        Err(error) => format!("a copy of the file could not be kept aside ({error})"),
    };
    let channels = match settings.channels.len() {
        1 => "1 saved channel".to_owned(),
        n => format!("{n} saved channels"),
    };
    let mut warnings = vec![format!(
        "Some settings in {file} could not be read: {aside}; everything else was kept \
         ({channels})."
    )];
    for problem in problems {
        let at = problem
            .line
            .map(|line| format!(" line {line}"))
            .unwrap_or_default();
        warnings.push(format!("{file}{at}: {}", problem.message));
    }
    (settings, warnings)
}

/// One part of a settings file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    line: Option<usize>,
    message: String,
}

/// Every part of `text` that parses, and what did not.
fn parse_forgiving(text: &str) -> (Settings, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut table = parse_skipping_bad_lines(text, &mut problems);
    let channels = table.remove("channels");
    let imports = table.remove("imports");
    let desktop = table.remove("desktop");
    let mut kept: toml::Table = forgiving_fields::<Settings>(table, text, None, &mut problems);
    if let Some(desktop) = desktop {
        let fields = match desktop {
            toml::Value::Table(fields) => {
                forgiving_fields::<DesktopSettings>(fields, text, Some("desktop"), &mut problems)
            }
            other => {
                problems.push(Problem {
                    line: line_of_key(text, None, "desktop"),
                    message: format!(
                        "desktop should be a table, found {}; the defaults are used",
                        other.type_str()
                    ),
                });
                toml::Table::new()
            }
        };
        kept.insert("desktop".into(), toml::Value::Table(fields));
    }
    let mut settings: Settings = toml::Value::Table(kept).try_into().unwrap_or_default();
    settings.channels = forgiving_channels(channels, text, &mut problems);
    settings.imports = forgiving_list(imports, "imports", text, &mut problems)
        .into_iter()
        .map(|(_, list)| list)
        .collect();
    (settings, problems)
}

/// The TOML table of `text`; each line that stops it from parsing is skipped
/// (and reported), so one typo costs one line, however many there are.
///
/// Lines that are not TOML even alone (each statement is tried on its own:
/// one line, or the lines a multi-line value spans) are dropped first, in one
/// pass. What is left almost always parses at once; when it does not (a key
/// set twice, a table defined twice), each table header's section is parsed
/// on its own, so a section that cannot be mended costs only itself.
fn parse_skipping_bad_lines(text: &str, problems: &mut Vec<Problem>) -> toml::Table {
    let lines = lines_that_parse(text, problems);
    if let Ok(table) = lines.join("\n").parse::<toml::Table>() {
        return table;
    }
    let mut table = toml::Table::new();
    let mut start = 0;
    while start < lines.len() {
        let end = (start + 1..lines.len())
            .find(|&index| lines[index].trim_start().starts_with('['))
            .unwrap_or(lines.len());
        if let Some(section) = parse_section(&lines[start..end], start, problems) {
            merge_section(&mut table, section, start + 1, problems);
        }
        start = end;
    }
    table
}

/// The lines of `text` with each one that is not TOML blanked (and
/// reported); a statement spanning lines (a multi-line array or string) is
/// kept whole when it parses whole.
fn lines_that_parse(text: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    /// Longest statement looked for across lines.
    const MAX_STATEMENT_LINES: usize = 64;
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::with_capacity(lines.len());
    let mut index = 0;
    while index < lines.len() {
        let mut statement = lines[index].to_owned();
        let mut last = index;
        let parsed = loop {
            match statement.parse::<toml::Table>() {
                Ok(_) => break Ok(()),
                Err(err) => {
                    // An error at the very end is a value still open: it may
                    // close on a later line.
                    let open = err.span().is_some_and(|span| span.start >= statement.len());
                    if !open || last + 1 >= lines.len() || last - index + 1 >= MAX_STATEMENT_LINES {
                        break Err(err);
                    }
                    last += 1;
                    statement.push('\n');
                    statement.push_str(lines[last]);
                }
            }
        };
        match parsed {
            Ok(()) => {
                kept.extend(lines[index..=last].iter().map(|line| (*line).to_owned()));
                index = last + 1;
            }
            Err(err) => {
                problems.push(skipped_line(index, lines[index], &err));
                kept.push(String::new());
                index += 1;
            }
        }
    }
    kept
}

/// The problem of line `index` (0-based), skipped for `err`.
fn skipped_line(index: usize, line: &str, err: &toml::de::Error) -> Problem {
    Problem {
        line: Some(index + 1),
        message: format!(
            "`{}` is not valid TOML ({}); the line was skipped",
            line.trim().chars().take(80).collect::<String>(),
            err.message().trim()
        ),
    }
}

/// One section of the file (a table header and its keys, or the keys before
/// the first header), starting at line `first` (0-based), as a TOML
/// document; each line that stops it from parsing is skipped. A section
/// that cannot be mended is dropped whole.
fn parse_section(
    section: &[String],
    first: usize,
    problems: &mut Vec<Problem>,
) -> Option<toml::Table> {
    /// Past this many skipped lines, the section is dropped (each retry
    /// parses the section again).
    const MAX_SKIPPED_LINES: usize = 100;
    let mut lines = section.to_vec();
    for _ in 0..MAX_SKIPPED_LINES {
        let current = lines.join("\n");
        let err = match current.parse::<toml::Table>() {
            Ok(table) => return Some(table),
            Err(err) => err,
        };
        // Bytes, not a str slice: a span inside a multi-byte character must not panic.
        let at = err.span().map_or(lines.len(), |span| {
            current.as_bytes()[..span.start.min(current.len())]
                .iter()
                .filter(|&&byte| byte == b'\n')
                .count()
        });
        // An error at the end belongs to the last line with text.
        let index = (0..=at.min(lines.len().saturating_sub(1)))
            .rev()
            .find(|&index| !lines[index].trim().is_empty())?;
        problems.push(skipped_line(first + index, &lines[index], &err));
        if index == 0 && first > 0 {
            // The section's header itself: its keys belong nowhere.
            break;
        }
        lines[index].clear();
    }
    problems.push(Problem {
        line: Some(first + 1),
        message: "this section could not be read; it was skipped".into(),
    });
    None
}

/// Adds a section parsed alone to the file's table: tables are merged,
/// arrays of tables extended; a key already set keeps its first value.
fn merge_section(
    table: &mut toml::Table,
    section: toml::Table,
    line: usize,
    problems: &mut Vec<Problem>,
) {
    for (key, value) in section {
        match (table.get_mut(&key), value) {
            (None, value) => {
                table.insert(key, value);
            }
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => {
                merge_section(mine, theirs, line, problems);
            }
            (Some(toml::Value::Array(mine)), toml::Value::Array(theirs))
                if theirs.iter().all(toml::Value::is_table) =>
            {
                mine.extend(theirs);
            }
            (Some(_), _) => problems.push(Problem {
                line: Some(line),
                message: format!("{key} is set twice; the first value is kept"),
            }),
        }
    }
}

/// The fields of `table` that deserialize as part of a `T`, one at a time, so
/// a bad one costs only itself (its default is used).
fn forgiving_fields<T: serde::de::DeserializeOwned>(
    table: toml::Table,
    text: &str,
    section: Option<&str>,
    problems: &mut Vec<Problem>,
) -> toml::Table {
    let mut kept = toml::Table::new();
    for (key, value) in table {
        let mut candidate = kept.clone();
        candidate.insert(key.clone(), value.clone());
        match toml::Value::Table(candidate.clone()).try_into::<T>() {
            Ok(_) => kept = candidate,
            Err(err) => {
                let name =
                    section.map_or_else(|| key.clone(), |section| format!("{section}.{key}"));
                problems.push(Problem {
                    line: line_of_key(text, section, &key),
                    message: format!(
                        "{name} = {value} is not valid ({}); the default is used",
                        err.message().trim()
                    ),
                });
            }
        }
    }
    kept
}

/// The saved channels that parse and carry a valid id; each other one is
/// dropped alone, and reported (see [`SavedChannel::from_entry`]).
fn forgiving_channels(
    value: Option<toml::Value>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<SavedChannel> {
    let entries: Vec<(usize, SavedEntry)> = forgiving_list(value, "channels", text, problems);
    let mut kept = Vec::with_capacity(entries.len());
    for (index, entry) in entries {
        let line = line_of_table(text, "channels", index);
        match SavedChannel::from_entry(entry) {
            Ok((channel, dropped)) => {
                if dropped > 0 {
                    problems.push(Problem {
                        line,
                        message: format!(
                            "channel {} lost {dropped} alternate id(s) that are not content ids",
                            channel.key()
                        ),
                    });
                }
                kept.push(channel);
            }
            Err(rejected) => problems.push(Problem {
                line,
                message: rejected.to_string(),
            }),
        }
    }
    kept
}

/// The elements of an array of tables that deserialize, with their index in
/// the file; each other one is dropped alone.
fn forgiving_list<T: serde::de::DeserializeOwned>(
    value: Option<toml::Value>,
    key: &str,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(usize, T)> {
    let items = match value {
        None => return Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(other) => {
            problems.push(Problem {
                line: line_of_key(text, None, key),
                message: format!(
                    "{key} should be a list, found {}; it was ignored",
                    other.type_str()
                ),
            });
            return Vec::new();
        }
    };
    let mut kept = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item.clone().try_into::<T>() {
            Ok(parsed) => kept.push((index, parsed)),
            Err(err) => problems.push(Problem {
                line: line_of_table(text, key, index),
                message: format!(
                    "entry {} of {key} was dropped ({}): {}",
                    index + 1,
                    err.message().trim(),
                    item.to_string().chars().take(120).collect::<String>()
                ),
            }),
        }
    }
    kept
}

/// The 1-based line where `key = …` is set in `section` (`None`: the top level).
fn line_of_key(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            current = Some(line.trim_matches(['[', ']', ' ']).to_owned());
            continue;
        }
        let in_section = current.as_deref() == section;
        let sets_key = line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_section && sets_key {
            return Some(index + 1);
        }
    }
    None
}

/// The 1-based line of the `index`-th `[[key]]` header.
fn line_of_table(text: &str, key: &str, index: usize) -> Option<usize> {
    let header = format!("[[{key}]]");
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == header)
        .nth(index)
        .map(|(number, _)| number + 1)
}

/// Copies the file at `path` to `<name>.corrupt-<UTC time>`, never over an
/// earlier copy; a copy with the same contents already there is reused, so
/// reading the same bad file twice keeps one copy.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let original = super::file::read_bounded(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings.toml".into());
    let prefix = format!("{file_name}.corrupt-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let same_name = entry.file_name().to_string_lossy().starts_with(&prefix);
            if same_name
                && super::file::read_bounded(&entry.path()).is_ok_and(|copy| copy == original)
            {
                return Ok(entry.path());
            }
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for attempt in 1..1000 {
        let suffix = if attempt == 1 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let aside = dir.join(format!("{prefix}{stamp}{suffix}"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&aside) {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, &original)?;
                file.sync_all()?;
                return Ok(aside);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::other("too many copies already"))
}

#[cfg(test)]
mod tests {
    use super::super::file::{load_settings_checked, SavedChannel};
    use super::*;

    fn copies_aside(dir: &Path) -> Vec<PathBuf> {
        let mut copies: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.to_string_lossy().contains("settings.toml.corrupt-"))
            .collect();
        copies.sort();
        copies
    }

    #[test]
    fn corrupt_settings_file_is_kept_aside() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "engine = [not toml").expect("write");
        let (settings, warnings) = load_settings_checked(&path).expect("load");
        assert_eq!(settings, Settings::default());
        let copies = copies_aside(dir);
        assert_eq!(copies.len(), 1);
        assert_eq!(
            std::fs::read_to_string(&copies[0]).expect("copy"),
            "engine = [not toml"
        );
        assert!(
            warnings[0].contains(&copies[0].display().to_string()),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("line 1"), "{warnings:?}");
    }

    #[test]
    fn one_bad_field_costs_only_that_field() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        let hex = "a".repeat(40);
        std::fs::write(
            &path,
            format!(
                "engine = \"http://10.0.0.2:6878\"\nlinger_secs = \"ten\"\n\n[desktop]\nplayer = \"mpv\"\nplay_links = \"yes\"\n\n\
                 [[channels]]\nname = \"no id\"\n\n[[channels]]\nid = \"{hex}\"\nname = \"Kept\\u2028One\"\n\n\
                 [[channels]]\nid = \"not-hex\"\nname = \"Bad id\"\n"
            ),
        )
        .expect("write");
        let (settings, warnings) = load_settings_checked(&path).expect("load");
        assert_eq!(settings.engine.as_deref(), Some("http://10.0.0.2:6878"));
        assert_eq!(settings.linger_secs, None);
        assert_eq!(settings.desktop.player.as_deref(), Some("mpv"));
        assert!(!settings.desktop.play_links);
        assert_eq!(settings.channels.len(), 1);
        assert_eq!(settings.channels[0].key(), hex);
        assert_eq!(settings.channels[0].name.as_deref(), Some("Kept One"));
        let all = warnings.join("\n");
        assert!(all.contains("line 2: linger_secs"), "{all}");
        assert!(all.contains("line 6: desktop.play_links"), "{all}");
        assert!(
            all.contains("line 8: entry 1 of channels was dropped"),
            "{all}"
        );
        assert!(
            all.contains("line 15: channel \"not-hex\" (Bad id) was dropped: invalid id"),
            "{all}"
        );
        assert!(all.contains("1 saved channel)"), "{all}");
    }

    #[test]
    fn a_line_that_is_not_toml_costs_that_line() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        std::fs::write(
            &path,
            "engine = \"http://10.0.0.2:6878\"\nthis is not toml\nlinger_secs = 4\n",
        )
        .expect("write");
        let (settings, warnings) = load_settings_checked(&path).expect("load");
        assert_eq!(settings.engine.as_deref(), Some("http://10.0.0.2:6878"));
        assert_eq!(settings.linger_secs, Some(4));
        assert!(warnings[1].contains("line 2"), "{warnings:?}");
    }

    #[test]
    fn a_file_that_is_not_toml_at_all_gives_defaults_and_a_problem_per_line() {
        let text = "\u{0}garbage ]]\n".repeat(500);
        let (settings, problems) = parse_forgiving(&text);
        assert_eq!(settings, Settings::default());
        assert_eq!(problems.len(), 500);
        assert_eq!(problems[499].line, Some(500));
    }

    #[test]
    fn hundreds_of_bad_lines_cost_only_themselves() {
        let hex = |n: usize| format!("{n:040x}");
        let mut text = String::from("engine = \"http://10.0.0.2:6878\"\n");
        for n in 1..=3 {
            text.push_str(&format!(
                "\n[[channels]]\nid = \"{}\"\nname = \"Kept {n}\"\n",
                hex(n)
            ));
            for _ in 0..101 {
                text.push_str("this line is not toml\n");
            }
        }
        text.push_str("\n[desktop]\nplayer_command = [\n  \"mpv\",\n  \"{url}\",\n]\n");
        let (settings, problems) = parse_forgiving(&text);
        assert_eq!(settings.engine.as_deref(), Some("http://10.0.0.2:6878"));
        assert_eq!(settings.channels.len(), 3, "{problems:?}");
        assert_eq!(settings.channels[2].name.as_deref(), Some("Kept 3"));
        assert_eq!(settings.desktop.player_command, ["mpv", "{url}"]);
        assert_eq!(problems.len(), 303);
    }

    #[test]
    fn a_key_set_twice_costs_its_section_line_not_the_file() {
        let a = "a".repeat(40);
        let text = format!(
            "linger_secs = 4\nlinger_secs = 5\n\n[[channels]]\nid = \"{a}\"\n\n[desktop]\nplayer = \"mpv\"\n\n[desktop]\nplayer = \"vlc\"\n"
        );
        let (settings, problems) = parse_forgiving(&text);
        assert_eq!(settings.linger_secs, Some(4));
        assert_eq!(settings.channels.len(), 1);
        assert_eq!(settings.desktop.player.as_deref(), Some("mpv"));
        assert!(!problems.is_empty());
    }

    #[test]
    fn every_corrupt_copy_keeps_its_own_name() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let path = dir.join("settings.toml");
        std::fs::write(&path, "linger_secs = \"first\"").expect("write");
        load_settings_checked(&path).expect("load");
        // The same bad file read again (the CLI reads it twice at start) keeps one copy.
        load_settings_checked(&path).expect("load again");
        std::fs::write(&path, "linger_secs = \"second\"").expect("write");
        load_settings_checked(&path).expect("load");
        let copies = copies_aside(dir);
        assert_eq!(copies.len(), 2, "{copies:?}");
        let contents: Vec<String> = copies
            .iter()
            .map(|copy| std::fs::read_to_string(copy).expect("copy"))
            .collect();
        assert!(contents.contains(&"linger_secs = \"first\"".to_owned()));
        assert!(contents.contains(&"linger_secs = \"second\"".to_owned()));
    }

    #[test]
    fn old_settings_files_load_unchanged() {
        let hex = "b".repeat(40);
        let text = format!("engine = \"http://127.0.0.1:6878\"\n\n[[channels]]\nid = \"{hex}\"\ninfohash = true\nname = \"Old\"\n");
        let (settings, problems) = parse_forgiving(&text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut old =
            SavedChannel::new(crate::content_id::ContentId::parse_infohash(&hex).expect("id"));
        old.name = Some("Old".into());
        assert_eq!(settings.channels, vec![old]);
    }

    #[test]
    fn bad_alternates_are_dropped_alone_and_the_own_id_is_kept_among_them() {
        let (a, c) = ("a".repeat(40), "c".repeat(40));
        let text = format!(
            "[[channels]]\nid = \"{a}\"\nalternates = [\"{c}\", \"junk\"]\nlast_good = \"zz\"\n"
        );
        let (settings, problems) = parse_forgiving(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let ids: Vec<&str> = settings.channels[0]
            .ids()
            .iter()
            .map(|id| id.as_hex())
            .collect();
        assert_eq!(ids, [a, c]);
        assert_eq!(settings.channels[0].last_good(), None);
    }
}
