//! Real-player checks with ffprobe/ffmpeg (skipped by callers when the tools
//! are missing): which codecs a URL or file carries, and whether some seconds
//! of it decode without a single error.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;

/// Whether both `ffprobe` and `ffmpeg` can be run (checked once per process).
/// When they cannot, says so on stderr so a skipped check is visible, and
/// panics if `ACEBRIDGE_REQUIRE_FFMPEG=1` (CI), so CI never skips silently.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    let available = *AVAILABLE.get_or_init(|| {
        ["ffprobe", "ffmpeg"].iter().all(|tool| {
            std::process::Command::new(tool)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
    });
    if !available {
        crate::skip::missing_tools(
            "ACEBRIDGE_REQUIRE_FFMPEG",
            "a real-player check",
            "ffmpeg/ffprobe (apt-get install ffmpeg)",
        );
    }
    available
}

/// A command for a tool that must not go through an HTTP proxy to reach
/// 127.0.0.1, and dies with its handle.
fn tool(name: &str) -> Command {
    let mut command = Command::new(name);
    command
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to completion within `limit`: (success, stdout, stderr).
async fn run(mut command: Command, limit: Duration) -> Result<(bool, String, String), String> {
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| format!("{command:?} did not finish within {limit:?}"))?
        .map_err(|err| format!("{command:?} could not run: {err}"))?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Codec names of the streams in `input` (a URL or a file path), from
/// `ffprobe -v error -show_streams -of json`.
pub async fn probe_codecs(input: &str) -> Result<Vec<String>, String> {
    let mut command = tool("ffprobe");
    command.args(["-v", "error", "-show_streams", "-of", "json", input]);
    let (ok, stdout, stderr) = run(command, Duration::from_secs(60)).await?;
    if !ok {
        return Err(format!("ffprobe failed on {input}: {stderr}"));
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout).map_err(|err| format!("ffprobe output: {err}"))?;
    let codecs = json["streams"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s["codec_name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(codecs)
}

/// Decodes the first `seconds` of `input` with
/// `ffmpeg -v error -i INPUT -t SECONDS -f null -`. Ok only if ffmpeg
/// succeeds and reports nothing; otherwise the error holds its stderr.
pub async fn decode(input: &str, seconds: u32) -> Result<(), String> {
    let limit = Duration::from_secs(u64::from(seconds) * 3 + 30);
    decode_at_level(input, Some(seconds), "error", limit).await
}

/// Decodes all of `input` (a captured file) and fails on warnings too: a
/// corrupt packet ("Packet corrupt", a PES size mismatch) is only a warning
/// to ffmpeg, while a player shows it as a glitch.
pub async fn decode_without_warnings(input: &str) -> Result<(), String> {
    decode_at_level(input, None, "warning", Duration::from_secs(120)).await
}

async fn decode_at_level(
    input: &str,
    seconds: Option<u32>,
    level: &str,
    limit: Duration,
) -> Result<(), String> {
    let mut command = tool("ffmpeg");
    command.args(["-nostdin", "-v", level, "-i", input]);
    if let Some(seconds) = seconds {
        command.arg("-t").arg(seconds.to_string());
    }
    command.args(["-f", "null", "-"]);
    let (ok, _, stderr) = run(command, limit).await?;
    if ok && stderr.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "ffmpeg {} decoding {input}: {}",
            if ok { "reported problems" } else { "failed" },
            stderr.trim()
        ))
    }
}

/// The duration of `input` in seconds, as ffprobe reads it from the container.
pub async fn probe_duration(input: &str) -> Result<f64, String> {
    let mut command = tool("ffprobe");
    command.args([
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "default=noprint_wrappers=1:nokey=1",
        input,
    ]);
    let (ok, stdout, stderr) = run(command, Duration::from_secs(60)).await?;
    if !ok {
        return Err(format!("ffprobe failed on {input}: {stderr}"));
    }
    stdout
        .trim()
        .parse()
        .map_err(|err| format!("ffprobe duration {stdout:?}: {err}"))
}
