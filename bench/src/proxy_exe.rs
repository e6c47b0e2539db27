//! Which executable runs as the measured proxy. By default the bench's own
//! hidden `proxy` subcommand; with `--proxy-exe` a real `acebridge` binary,
//! what users run, started as `acebridge serve` with the same settings. The
//! bench's own build links the test kit and its runner, so its code pages and
//! memory are not the release binary's. `--before` may name either kind too.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static PROXY_EXE: OnceLock<PathBuf> = OnceLock::new();

/// Sets the executable the proxy runs from (once, from the command line).
pub fn set(exe: PathBuf) {
    let _ = PROXY_EXE.set(exe);
}

/// The executable for a child started with `args`: `copier` always runs
/// from this bench; `proxy` from `exe` (an earlier build), else `--proxy-exe`.
pub fn choose(exe: Option<&Path>, args: &[String]) -> std::io::Result<PathBuf> {
    let is_proxy = args.first().is_some_and(|a| a == "proxy");
    match exe.or(PROXY_EXE.get().map(PathBuf::as_path).filter(|_| is_proxy)) {
        Some(exe) => Ok(exe.to_owned()),
        None => std::env::current_exe(),
    }
}

/// Whether `exe` is an `acebridge` binary rather than a bench build.
pub fn is_acebridge(exe: &Path) -> bool {
    exe.file_stem()
        .and_then(|stem| stem.to_str())
        .is_some_and(|stem| stem.starts_with("acebridge") && !stem.contains("bench"))
}

/// The bench's `proxy ENGINE LISTEN [--linger S] [--max-channels N]
/// [--recordings-dir D]` as `acebridge serve` flags: the same settings (and
/// the bench's defaults for them), as many players as the bench wants, no
/// HDHomeRun discovery, and a settings file of its own in the temp folder
/// (removed first, so every run starts from the defaults). A recording's
/// free-space floor stays the binary's.
pub fn serve_args(args: &[String]) -> Vec<String> {
    let mut rest = args.iter().skip(1);
    let (engine, listen) = (rest.next().cloned(), rest.next().cloned());
    let mut linger = "10".to_owned();
    let mut max_channels = "32".to_owned();
    let mut extra = Vec::new();
    while let Some(flag) = rest.next() {
        let value = rest.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--linger" => linger = value,
            "--max-channels" => max_channels = value,
            // The pool's other engines: `serve` takes `--engine` again for each.
            "--also-engine" => extra.extend(["--engine".to_owned(), value]),
            _ => extra.extend([flag.clone(), value]),
        }
    }
    let listen = listen.unwrap_or_default();
    let settings = std::env::temp_dir().join(format!(
        "acebridge-bench-settings-{}.toml",
        listen.rsplit(':').next().unwrap_or("0")
    ));
    let _ = std::fs::remove_file(&settings);
    let mut out: Vec<String> = [
        "serve",
        "--engine",
        &engine.unwrap_or_default(),
        "--listen",
        &listen,
        "--linger",
        &linger,
        "--max-channels",
        &max_channels,
        "--max-players",
        "10000",
        "--discovery-port",
        "0",
        "--settings",
        &settings.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    out.extend(extra);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_proxy_args_become_serve_flags() {
        let args: Vec<String> = [
            "proxy",
            "http://127.0.0.1:1",
            "127.0.0.1:2",
            "--linger",
            "1",
        ]
        .map(String::from)
        .to_vec();
        let serve = serve_args(&args);
        assert_eq!(
            serve[..5],
            [
                "serve",
                "--engine",
                "http://127.0.0.1:1",
                "--listen",
                "127.0.0.1:2"
            ]
        );
        assert_eq!(serve[5..7], ["--linger", "1"]);
        let pooled: Vec<String> = [
            "proxy",
            "http://a:1",
            "127.0.0.1:2",
            "--also-engine",
            "http://b:1",
        ]
        .map(String::from)
        .to_vec();
        let serve = serve_args(&pooled);
        assert_eq!(serve[serve.len() - 2..], ["--engine", "http://b:1"]);
        assert_eq!(serve.iter().filter(|a| *a == "--linger").count(), 1);
        assert!(is_acebridge(Path::new("/x/acebridge")));
        assert!(!is_acebridge(Path::new("/x/acebridge-bench")));
    }
}
