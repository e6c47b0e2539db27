//! The integration tests' way into the real binary (feature `test-config`,
//! which only test builds have): a whole [`Config`] as JSON in
//! `ACEBRIDGE_TEST_CONFIG` replaces what flags and the settings file say.
//! Tests tune timings no flag exposes (stat interval, idle timeouts); with
//! this hook the same tests drive an in-process server or another build of the
//! binary, such as the Windows `.exe` under Wine, with the same settings.

use super::Config;

/// The environment variable holding the JSON of a [`Config`].
pub const TEST_CONFIG_ENV: &str = "ACEBRIDGE_TEST_CONFIG";

/// The config the tests handed over, if any.
pub fn from_env() -> Result<Option<Config>, String> {
    let Some(text) = std::env::var_os(TEST_CONFIG_ENV) else {
        return Ok(None);
    };
    let text = text
        .into_string()
        .map_err(|_| format!("{TEST_CONFIG_ENV} is not UTF-8"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| format!("{TEST_CONFIG_ENV}: {error}"))
}

/// The JSON that [`from_env`] reads back.
pub fn to_json(config: &Config) -> String {
    // A Config holds only strings, numbers, paths and durations: it always serialises.
    serde_json::to_string(config).unwrap_or_default()
}
