//! The M3U playlists players and IPTV apps read: `/playlist.m3u` with every
//! saved channel, and one channel's `play.m3u` ("Open in player"). Play
//! routes: a LAN device with the token may read them.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::manage::parse_id;
use super::{base_url, ApiError, AppState};
use crate::content_id;
use crate::guide::serve::served_ids;
use crate::player_urls::Format;
use crate::saved::SavedChannel;
use crate::store::find_saved;

/// One `#EXTINF` entry of an M3U playlist, with the channel's attributes
/// and its id in `/epg.xml` as `tvg-id`. Every text was cleaned when saved;
/// it is cleaned again here because the file may have been edited by hand,
/// and quotes would end an attribute.
fn m3u_entry(out: &mut String, saved: &SavedChannel, guide_id: &str, url: &str) {
    out.push_str("#EXTINF:-1");
    if let Some(number) = saved.number {
        // The number media centres show (`GuideNumber` in the tuner's lineup).
        out.push_str(&format!(" tvg-chno=\"{number}\""));
    }
    let guide_id = Some(guide_id.to_owned());
    for (key, value) in [
        ("tvg-id", &guide_id),
        ("tvg-name", &saved.tvg_name),
        ("tvg-logo", &saved.logo),
        ("group-title", &saved.group),
    ] {
        if let Some(value) = value.as_deref().and_then(content_id::clean_text) {
            out.push_str(&format!(" {key}=\"{}\"", value.replace('"', "'")));
        }
    }
    out.push(',');
    let name = content_id::clean_text(&saved.title()).unwrap_or_default();
    out.push_str(&name);
    out.push('\n');
    out.push_str(url);
    out.push('\n');
}

const M3U_TYPE: &str = "audio/x-mpegurl";

/// `GET /playlist.m3u`: the saved channels as an M3U for IPTV apps, with
/// their stable TS URLs (which fail over between alternates).
pub async fn playlist(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let settings = state.store.get().await;
    let urls = base_url(&state, &headers);
    // IPTV apps find the guide through the header; its ids are the tvg-ids below.
    let guide = urls.guide().replace('"', "%22");
    let mut body = format!("#EXTM3U url-tvg=\"{guide}\" x-tvg-url=\"{guide}\"\n");
    let guide_ids = served_ids(&settings.channels);
    for (saved, guide_id) in settings.channels.iter().zip(&guide_ids) {
        m3u_entry(&mut body, saved, guide_id, &urls.channel(saved, Format::Ts));
    }
    (
        [
            (header::CONTENT_TYPE, M3U_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/channels/{id}/play.m3u`: a one-entry M3U of a saved channel, as a
/// download, so the OS hands it to the user's player ("Open in player").
pub async fn play_m3u(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let settings = state.store.get().await;
    let index =
        find_saved(&settings, &id).ok_or_else(|| ApiError::not_found("no such saved channel"))?;
    let saved = &settings.channels[index];
    let ts_url = base_url(&state, &headers).channel(saved, Format::Ts);
    let name = saved.title();
    let mut body = String::from("#EXTM3U\n");
    let guide_id = &served_ids(&settings.channels)[index];
    m3u_entry(&mut body, saved, guide_id, &ts_url);
    let disposition = download_disposition(&name);
    Ok((
        [
            (header::CONTENT_TYPE, M3U_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// `Content-Disposition` of a download named after `name` (`.m3u`): an
/// ASCII, quote-free `filename` for old clients, and the name itself as
/// RFC 5987's `filename*`, so "Первый канал" is not saved as `____________`.
fn download_disposition(name: &str) -> String {
    let stem = |keep: fn(char) -> bool| -> String {
        name.chars()
            .map(|c| if keep(c) { c } else { '_' })
            .take(60)
            .collect()
    };
    let ascii = stem(|c| c.is_ascii_alphanumeric() || c == '-');
    let unicode = stem(|c| c.is_alphanumeric() || c == '-');
    // RFC 5987's attr-char: letters, digits and a few marks go as they are.
    const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    let encoded = percent_encoding::utf8_percent_encode(&unicode, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}.m3u\"; filename*=UTF-8''{encoded}.m3u")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_of_cyrillic_channels_keep_their_names() {
        assert_eq!(
            download_disposition("Первый канал"),
            "attachment; filename=\"____________.m3u\"; \
             filename*=UTF-8''%D0%9F%D0%B5%D1%80%D0%B2%D1%8B%D0%B9_%D0%BA%D0%B0%D0%BD%D0%B0%D0%BB.m3u"
        );
        assert_eq!(
            download_disposition("Sky \"F1\"; x"),
            "attachment; filename=\"Sky__F1___x.m3u\"; filename*=UTF-8''Sky__F1___x.m3u"
        );
    }
    use crate::content_id::ContentId;

    #[test]
    fn playlist_lines_survive_hand_edited_names() {
        let id = ContentId::parse(&"d5869d".repeat(7)[..40]).expect("id");
        let mut saved = SavedChannel::new(id.clone());
        saved.name = Some("News\u{2028}#EXTINF:-1,evil".into());
        saved.group = Some("Sp\"ort".into());
        let mut out = String::new();
        m3u_entry(&mut out, &saved, "g\"1", "http://h/x");
        assert_eq!(
            out,
            "#EXTINF:-1 tvg-id=\"g'1\" group-title=\"Sp'ort\",News #EXTINF:-1,evil\nhttp://h/x\n"
        );
        let unnamed = SavedChannel::new(id);
        let mut out = String::new();
        m3u_entry(&mut out, &unnamed, "k", "http://h/x");
        assert_eq!(
            out,
            "#EXTINF:-1 tvg-id=\"k\",Channel d5869d\u{2026}\nhttp://h/x\n"
        );
    }
}
