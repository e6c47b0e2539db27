//! Channels handed to the app as arguments: by the user, by the OS opening an
//! `acestream://` link, or forwarded from a second launch. Untrusted input:
//! each argument must parse as exactly one content id (the core parser takes
//! `acestream://<40 hex>`, bare ids and engine URLs, and nothing else).

use acebridge::content_id::ContentId;

/// The ids among `args`, in order, without repeats; anything else is logged and skipped.
pub fn ids_in<'a>(args: impl IntoIterator<Item = &'a str>) -> Vec<ContentId> {
    let mut ids: Vec<ContentId> = Vec::new();
    for arg in args {
        match ContentId::parse(arg) {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            // Only the length is logged: a mistyped link should not end up verbatim in logs.
            Err(error) => {
                tracing::warn!(chars = arg.chars().count(), %error, "ignored an argument that is not a channel")
            }
        }
    }
    ids
}

/// The channel of a web UI "Open in player" download
/// (`/api/channels/<hex>/play.m3u`), if `url` is one.
pub fn play_m3u_channel(url: &url::Url) -> Option<String> {
    let mut segments = url.path_segments()?;
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("api"), Some("channels"), Some(hex), Some("play.m3u"), None) => Some(hex.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn links_and_ids_become_channels_once() {
        let upper = HEX.to_uppercase();
        let link = format!("acestream://{HEX}");
        let ids = ids_in([link.as_str(), upper.as_str(), HEX]);
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].as_hex(), HEX);
    }

    #[test]
    fn play_downloads_name_their_channel() {
        let url = |text: &str| url::Url::parse(text).expect("url");
        let play = url(&format!(
            "http://127.0.0.1:6880/api/channels/{HEX}/play.m3u"
        ));
        assert_eq!(play_m3u_channel(&play).as_deref(), Some(HEX));
        for other in [
            "http://127.0.0.1:6880/playlist.m3u",
            "http://127.0.0.1:6880/api/channels",
            "http://127.0.0.1:6880/api/channels/x/play.m3u/more",
        ] {
            assert_eq!(play_m3u_channel(&url(other)), None, "{other}");
        }
    }

    #[test]
    fn anything_else_is_ignored() {
        let short = format!("acestream://{}", &HEX[..39]);
        let ids = ids_in([
            short.as_str(),
            "acestream://../../etc/passwd",
            "http://example.com/",
            "--minimized",
            "",
        ]);
        assert!(ids.is_empty(), "{ids:?}");
    }
}
