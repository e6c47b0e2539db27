//! Checks that need optional system tools (ffmpeg, a browser, a headless
//! desktop) skip, visibly, where the tools are missing, and fail instead
//! where `scripts/test` set `ACEBRIDGE_REQUIRE_<TOOLS>=1`, so CI never
//! passes by skipping.

/// Reports that `check` cannot run because `missing` is not installed: a
/// panic if the environment variable `require` is `1`, else a line on stderr.
pub fn missing_tools(require: &str, check: &str, missing: &str) {
    assert!(
        std::env::var(require).as_deref() != Ok("1"),
        "{check} needs {missing}, which is not installed ({require}=1)"
    );
    eprintln!("SKIPPED {check}: {missing} not installed");
}
