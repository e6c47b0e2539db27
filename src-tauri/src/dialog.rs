//! Every message box of the app goes through here, so they all look and read
//! alike: titled "acebridge", plain text (no Markdown: dialogs show backticks
//! as they are), non-blocking (the answer arrives in a callback).

use tauri::AppHandle;
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

/// The title of every dialog, unless a question names its subject.
pub const TITLE: &str = "acebridge";

/// How serious a message is (its icon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Info,
    Warning,
    Error,
}

/// Shows `text`; returns at once.
pub fn tell(app: &AppHandle, kind: Kind, text: &str) {
    show(app, TITLE, kind, text, None, |_| {});
}

/// Shows `text`, then exits with `code` once the user closes it: for what
/// stops the app from starting at all (a bad setting, no port).
pub fn fatal(app: &AppHandle, text: &str, code: i32) {
    tracing::error!("{text}");
    let exit_app = app.clone();
    show(app, TITLE, Kind::Error, text, None, move |_| {
        exit_app.exit(code)
    });
}

/// Asks a question with two buttons; `then(true)` when the user picks `yes`,
/// `then(false)` for `no` or closing the dialog.
pub fn ask(
    app: &AppHandle,
    title: &str,
    text: &str,
    (yes, no): (&str, &str),
    then: impl FnOnce(bool) + Send + 'static,
) {
    let buttons = MessageDialogButtons::OkCancelCustom(yes.to_owned(), no.to_owned());
    show(app, title, Kind::Warning, text, Some(buttons), then);
}

/// Problems found in the settings file at start (values ignored, a corrupt
/// file kept aside), from `Control::settings_warnings()`, as one dialog;
/// nothing when there are none.
pub fn settings_warnings(app: &AppHandle, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    tell(app, Kind::Warning, &settings_warnings_text(warnings));
}

fn settings_warnings_text(warnings: &[String]) -> String {
    let lines: Vec<String> = warnings.iter().map(|w| format!("• {w}")).collect();
    format!(
        "acebridge started, but its settings file has problems:\n\n{}\n\n\
         Fix them in the window (or in the file) and they are gone at the next start.",
        lines.join("\n")
    )
}

fn show(
    app: &AppHandle,
    title: &str,
    kind: Kind,
    text: &str,
    buttons: Option<MessageDialogButtons>,
    then: impl FnOnce(bool) + Send + 'static,
) {
    debug_assert!(!text.contains('`'), "markup in a dialog: {text}");
    let kind = match kind {
        Kind::Info => MessageDialogKind::Info,
        Kind::Warning => MessageDialogKind::Warning,
        Kind::Error => MessageDialogKind::Error,
    };
    let mut builder = app.dialog().message(text).title(title).kind(kind);
    if let Some(buttons) = buttons {
        builder = builder.buttons(buttons);
    }
    builder.show(then);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_warnings_are_listed_one_a_line() {
        let text = settings_warnings_text(&["engine: bad URL".into(), "listen: bad".into()]);
        assert!(text.contains("• engine: bad URL\n• listen: bad"), "{text}");
    }
}
