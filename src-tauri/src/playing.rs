//! Playing a channel in the user's player: from a link, from the tray (the
//! last stream or a saved channel) and from the window's "Open in player".
//! The player gets our TS URL (a saved channel's stable one, which fails
//! over between its alternates) and the channel's name as its title.

use acebridge::config::DesktopSettings;
use acebridge::content_id::ContentId;
use acebridge::control::Control;
use tauri::AppHandle;

use crate::dialog::{self, Kind};
use crate::players;
use crate::state::{self, on_desktop};

/// Plays the saved channel `hex` in the player `key` (or the preferred one),
/// or says why not; a player picked by the user becomes the preferred one.
pub fn play_saved(app: &AppHandle, hex: String, key: Option<String>) {
    state::spawn_with_control(app, |app, control| async move {
        let Some(id) = control.saved_channel(&hex).await else {
            return;
        };
        play_or_explain(&app, &control, &id, key).await;
    });
}

/// Plays `id` in the player `key` (or the preferred one); a dialog explains
/// when no player could start. A player picked by the user becomes the
/// preferred one.
pub async fn play_or_explain(
    app: &AppHandle,
    control: &Control,
    id: &ContentId,
    key: Option<String>,
) {
    if let Err(why) = play(control, id, key.as_deref()).await {
        dialog::tell(app, Kind::Warning, &why);
        return;
    }
    if let Some(key) = key {
        let saved = control
            .update_desktop(|desktop| desktop.player = Some(key.clone()))
            .await;
        if let Err(error) = saved {
            tracing::warn!(%error, "cannot save the preferred player");
        }
        state::notify_changed(app);
    }
}

/// Plays a channel of the other acebridge (see [`crate::state::Elsewhere`])
/// from its web UI's "Open in player": the player gets that acebridge's
/// one-entry playlist URL, which names the channel.
pub fn play_elsewhere(app: &AppHandle, playlist_url: String) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let played = on_desktop(move || {
            let desktop = DesktopSettings::default();
            players::play(
                std::env::var_os("PATH"),
                &desktop,
                None,
                &playlist_url,
                None,
            )
        });
        if let Some(Err(why)) = played.await {
            dialog::tell(&app, Kind::Warning, &why);
        }
    });
}

/// Opens `id` in the player `key` (or the preferred one); why not, in the
/// user's words, when none could start or it quit at once.
pub async fn play(control: &Control, id: &ContentId, key: Option<&str>) -> Result<(), String> {
    let title = control.channel_title(id).await;
    let desktop = control.settings().await.desktop;
    let url = control.play_url(id).await;
    let key = key.map(str::to_owned);
    on_desktop(move || {
        let path = std::env::var_os("PATH");
        players::play(path, &desktop, key.as_deref(), &url, Some(&title))
    })
    .await
    .unwrap_or_else(|| Err(players::NO_PLAYER.to_owned()))
}
