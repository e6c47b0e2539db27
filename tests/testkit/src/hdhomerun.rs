//! The real HDHomeRun client, libhdhomerun's `hdhomerun_config`: which tuners
//! its discovery finds at an address (skipped by callers when the tool is
//! missing, except in CI).

use std::net::IpAddr;
use std::time::Duration;

/// The device ids `hdhomerun_config discover <ip>` finds at `ip`; `None`
/// (after saying so, or panicking when `ACEBRIDGE_REQUIRE_HDHOMERUN=1`) when
/// the tool is missing.
pub async fn discover(ip: IpAddr) -> Option<Vec<String>> {
    let output = tokio::process::Command::new("hdhomerun_config")
        .args(["discover", &ip.to_string()])
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(20), output).await {
        Ok(Ok(output)) => output,
        Ok(Err(_)) => {
            crate::skip::missing_tools(
                "ACEBRIDGE_REQUIRE_HDHOMERUN",
                "discovery by a real libhdhomerun client",
                "hdhomerun_config (apt-get install hdhomerun-config)",
            );
            return None;
        }
        Err(_) => panic!("hdhomerun_config discover {ip} did not finish"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let at = ip.to_string();
    Some(
        stdout
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("hdhomerun device ")?;
                let (id, found_at) = rest.split_once(" found at ")?;
                (found_at.trim() == at).then(|| id.to_owned())
            })
            .collect(),
    )
}
