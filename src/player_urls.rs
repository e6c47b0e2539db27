//! The URLs players open, built in one place for the API, `/playlist.m3u`,
//! the HLS playlists' segment links and the tray app: a saved channel's
//! stable `/channel/<key>.ts|.m3u8` (which fails over between its ids), an
//! id's own `/ace/getstream?id=…` and `/ace/manifest.m3u8?id=…` (the kind
//! kept: `infohash=` for an infohash), each with the LAN token when other
//! devices need one.

use crate::content_id::ContentId;
use crate::saved::SavedChannel;

/// Which view of a channel a URL opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MPEG-TS, for VLC, mpv and IPTV apps.
    Ts,
    /// HLS, for browsers and TVs.
    Hls,
}

/// Builds player URLs for one origin (`http://host:port`) and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerUrls {
    origin: String,
    token: Option<String>,
}

impl PlayerUrls {
    /// URLs on `origin` (no trailing slash); `token` is added to each when
    /// set (LAN sharing: other devices must send it).
    pub fn new(origin: impl Into<String>, token: Option<&str>) -> Self {
        Self {
            origin: origin.into().trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
        }
    }

    /// URLs for players on this computer: a wildcard listener is reached
    /// through loopback, and loopback needs no LAN token (leaving it out
    /// keeps it off command lines and clipboards).
    pub fn local(listen: std::net::SocketAddr) -> Self {
        let host = if listen.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], listen.port()))
        } else {
            listen
        };
        Self::new(format!("http://{host}"), None)
    }

    /// `http://host:port`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The stable URL of a saved channel, which plays whichever of its ids works.
    pub fn channel(&self, saved: &SavedChannel, format: Format) -> String {
        let extension = match format {
            Format::Ts => "ts",
            Format::Hls => "m3u8",
        };
        format!(
            "{}/channel/{}.{extension}{}",
            self.origin,
            saved.key(),
            self.token_query('?')
        )
    }

    /// The programme guide of the saved channels (`/epg.xml`).
    pub fn guide(&self) -> String {
        format!("{}/epg.xml{}", self.origin, self.token_query('?'))
    }

    /// The URL of `id` alone (no failover), with its kind's parameter.
    pub fn id(&self, id: &ContentId, format: Format) -> String {
        let path = match format {
            Format::Ts => "ace/getstream",
            Format::Hls => "ace/manifest.m3u8",
        };
        let (param, hex) = id.query_param();
        format!(
            "{}/{path}?{param}={hex}{}",
            self.origin,
            self.token_query('&')
        )
    }

    fn token_query(&self, first: char) -> String {
        token_query(self.token.as_deref(), first)
    }
}

/// `?token=…` (or `&token=…` after other parameters, with `first` = `'&'`)
/// when a token is set, else empty: what every player URL, and every link
/// inside an HLS playlist, carries with LAN sharing on.
pub fn token_query(token: Option<&str>, first: char) -> String {
    token
        .map(|token| format!("{first}token={token}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_id_kind_and_carry_the_token() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        let id = ContentId::parse_infohash(hex).expect("id");
        let urls = PlayerUrls::new("http://h:1", None);
        assert_eq!(
            urls.id(&id, Format::Ts),
            format!("http://h:1/ace/getstream?infohash={hex}")
        );
        assert_eq!(
            urls.id(&id, Format::Hls),
            format!("http://h:1/ace/manifest.m3u8?infohash={hex}")
        );
        let saved = SavedChannel::new(id.clone());
        assert_eq!(
            urls.channel(&saved, Format::Hls),
            format!("http://h:1/channel/{hex}.m3u8")
        );
        let lan = PlayerUrls::new("http://h:1/", Some("t0k"));
        assert!(lan
            .id(&id, Format::Ts)
            .ends_with(&format!("{hex}&token=t0k")));
        assert_eq!(
            lan.channel(&saved, Format::Ts),
            format!("http://h:1/channel/{hex}.ts?token=t0k")
        );
        assert_eq!(token_query(Some("t0k"), '?'), "?token=t0k");
        assert_eq!(token_query(None, '?'), "");
    }
}
