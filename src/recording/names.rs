//! Recording file names: `<channel> – <programme or local date and time>.ts`,
//! made safe on Windows, macOS and Linux, and never overwriting a file (a
//! name taken gets a ` (2)`, ` (3)`… suffix).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Longest stem kept, in bytes: well under every file system's 255, with
/// room for the suffix and the extension.
const MAX_STEM_BYTES: usize = 180;

/// Names Windows reserves whatever the extension.
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The stem of a recording of `channel`: `<channel> – <what>`, where `what`
/// is the programme's title or the local date and time.
pub fn stem(channel: &str, what: &str) -> String {
    sanitise(&format!("{channel} – {what}"))
}

/// `name` as a file name every desktop OS accepts: no path separators,
/// no characters Windows refuses, no control characters, no trailing dots
/// or spaces, not a reserved device name, not too long.
pub fn sanitise(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | '|' => '-',
            ':' => '.',
            '<' | '>' | '"' | '?' | '*' => '_',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let collapsed = mapped.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut stem = truncate(&collapsed, MAX_STEM_BYTES)
        .trim_matches(|c: char| c == '.' || c == ' ')
        .to_owned();
    if stem.is_empty() {
        stem = "recording".to_owned();
    }
    let base = stem.split('.').next().unwrap_or_default().trim_end();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(base)) {
        stem.insert(0, '_');
    }
    stem
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Creates `<dir>/<stem>.ts`, or `<stem> (2).ts` and so on if taken; never
/// opens an existing file.
pub fn create_unique(dir: &Path, stem: &str) -> io::Result<(PathBuf, File)> {
    for n in 1..=999u32 {
        let name = if n == 1 {
            format!("{stem}.ts")
        } else {
            format!("{stem} ({n}).ts")
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("999 recordings named {stem:?} already exist"),
    ))
}

/// The local date and time of `unix` as `2026-12-05 21.30` (no colon: Windows refuses it).
pub fn local_date_time(unix: i64) -> String {
    let (year, month, day, hour, minute) = local_fields(unix);
    format!("{year:04}-{month:02}-{day:02} {hour:02}.{minute:02}")
}

/// The local time of day of `unix` as `15:30` (for "until 15:30").
pub fn local_time_of_day(unix: i64) -> String {
    let (_, _, _, hour, minute) = local_fields(unix);
    format!("{hour:02}:{minute:02}")
}

/// Hand-written with the C library because the `time` crate refuses the
/// local offset in a process with more than one thread (ours has several).
#[cfg(unix)]
fn local_fields(unix: i64) -> (i32, u32, u32, u32, u32) {
    let t = unix as libc::time_t;
    // SAFETY: `localtime_r` writes only into the `tm` it is given and reads `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return utc_fields(unix);
    }
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
    )
}

/// Without a local time zone at hand, UTC.
#[cfg(not(unix))]
fn local_fields(unix: i64) -> (i32, u32, u32, u32, u32) {
    utc_fields(unix)
}

fn utc_fields(unix: i64) -> (i32, u32, u32, u32, u32) {
    let at =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (
        at.year(),
        u32::from(u8::from(at.month())),
        u32::from(at.day()),
        u32::from(at.hour()),
        u32::from(at.minute()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_what_windows_macos_and_linux_refuse() {
        assert_eq!(
            stem("Sky: Sports/1 <HD>", "2026-12-05 21.30"),
            "Sky. Sports-1 _HD_ – 2026-12-05 21.30"
        );
        assert_eq!(sanitise("a\\b|c?d*e\"f\u{7}g"), "a-b-c_d_e_f g");
        assert_eq!(sanitise("trailing dots... "), "trailing dots");
        assert_eq!(sanitise("CON"), "_CON");
        assert_eq!(sanitise("nul.txt"), "_nul.txt");
        assert_eq!(sanitise("..."), "recording");
        let long = "é".repeat(200);
        let cut = sanitise(&long);
        assert!(cut.len() <= MAX_STEM_BYTES && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_taken_name_gets_a_suffix_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x.ts"), b"keep").expect("write");
        let (second, _) = create_unique(dir.path(), "x").expect("create");
        let (third, _) = create_unique(dir.path(), "x").expect("create");
        assert_eq!(second, dir.path().join("x (2).ts"));
        assert_eq!(third, dir.path().join("x (3).ts"));
        assert_eq!(
            std::fs::read(dir.path().join("x.ts")).expect("read"),
            b"keep"
        );
    }

    #[test]
    fn the_date_and_time_have_no_colon() {
        let text = local_date_time(1_780_000_000);
        assert_eq!(text.len(), "2026-05-28 20.26".len(), "{text}");
        assert!(!text.contains(':'));
    }
}
