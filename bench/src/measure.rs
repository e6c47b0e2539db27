//! Measuring a child process from outside through /proc: CPU seconds used
//! and peak resident memory. Linux only, which is where the bench runs.

use std::time::Duration;

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks(),
    ))
}

/// Peak resident set size in bytes (`VmHWM`).
pub fn peak_rss(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib * 1024)
}

/// Current resident set size in bytes (`VmRSS`).
pub fn rss(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux architecture the bench runs on.
    100.0
}

/// The value at quantile `q` (0..=1) of unsorted samples.
pub fn quantile<T: Copy + Ord>(samples: &[T], q: f64) -> Option<T> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len().checked_sub(1)? as f64) * q).round() as usize;
    sorted.get(index).copied()
}
