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

/// What the child did during one measured window.
pub struct Window {
    pub cpu: std::time::Duration,
    /// Seconds the window lasted.
    pub elapsed: f64,
    /// Bytes each counter gained, in the counters' order.
    pub delivered: Vec<u64>,
}

/// Measures the child `pid` for `length`: its CPU time and what each of
/// `counters` (one per player) gained meanwhile.
pub async fn window(
    pid: u32,
    counters: &[std::sync::Arc<std::sync::atomic::AtomicU64>],
    length: std::time::Duration,
) -> Result<Window, String> {
    use std::sync::atomic::Ordering;
    let start: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let cpu_before = cpu_time(pid).ok_or("no /proc for the child")?;
    let started = std::time::Instant::now();
    tokio::time::sleep(length).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_time(pid).ok_or("child died")? - cpu_before;
    let delivered = counters
        .iter()
        .zip(&start)
        .map(|(c, start)| c.load(Ordering::Relaxed) - start)
        .collect();
    Ok(Window {
        cpu,
        elapsed,
        delivered,
    })
}

/// Each player's bytes as thousandths of what `bitrate` (bits per second)
/// delivers in `elapsed` seconds.
pub fn per_mille(delivered: &[u64], bitrate: u64, elapsed: f64) -> Vec<u64> {
    let expected = bitrate as f64 / 8.0 * elapsed;
    delivered
        .iter()
        .map(|&bytes| (bytes as f64 / expected * 1000.0) as u64)
        .collect()
}
