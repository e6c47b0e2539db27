//! Parsing of what users paste as a channel: bare 40-hex ids, `acestream://` and
//! `ace://` links, `acestream:?content_id=…`, whole engine URLs, and M3U lists.
//!
//! Owns [`ContentId`], the only way user text reaches the engine: everything is
//! reduced to 40 lowercase hex characters plus the kind of id the user gave
//! (the engine treats `id=` and `infohash=` differently, so the kind is kept).

use std::fmt;

use serde::Serialize;

/// Which engine parameter an id is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// A content id (`id=` / `content_id=`).
    Content,
    /// A torrent infohash (`infohash=`).
    Infohash,
}

/// A validated channel id: 40 lowercase hex characters and its kind.
/// Serialises as the hex string, which is what users and URLs know it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId {
    kind: IdKind,
    hex: String,
}

/// Why a pasted text is not a channel id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no content id given")]
    Empty,
    #[error("a content id is 40 hexadecimal characters, got {0} characters")]
    WrongLength(usize),
    #[error("a content id is 40 hexadecimal characters, found {0:?}")]
    NotHex(char),
    #[error("the URL has no id, content_id or infohash parameter")]
    MissingIdParameter,
    #[error("unsupported link scheme {0:?} (expected acestream://, ace:// or an engine URL)")]
    UnsupportedScheme(String),
}

impl ContentId {
    /// Parses anything a user may paste for one channel.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::parse_as(input, IdKind::Content)
    }

    /// Parses text that arrived as the value of an `infohash=` parameter (or
    /// otherwise known to be an infohash); links inside it may still say otherwise.
    pub fn parse_infohash(input: &str) -> Result<Self, ParseError> {
        Self::parse_as(input, IdKind::Infohash)
    }

    fn parse_as(input: &str, default_kind: IdKind) -> Result<Self, ParseError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        let Some((scheme, rest)) = split_scheme(text) else {
            return Self::from_hex(text, default_kind);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "acestream" | "ace" => {
                // `acestream:?content_id=…` / `acestream://?infohash=…`
                let rest = rest.trim_start_matches('/');
                if let Some(query) = rest.strip_prefix('?') {
                    return Self::from_query(query);
                }
                let id = rest.split(['/', '?', '#']).next().unwrap_or_default();
                Self::from_hex(id, default_kind)
            }
            "http" | "https" => {
                let url = url::Url::parse(text)
                    .map_err(|_| ParseError::UnsupportedScheme(scheme.to_owned()))?;
                Self::from_query(url.query().unwrap_or_default())
            }
            other => Err(ParseError::UnsupportedScheme(other.to_owned())),
        }
    }

    fn from_query(query: &str) -> Result<Self, ParseError> {
        let mut found = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let kind = match key.as_ref() {
                "id" | "content_id" => IdKind::Content,
                "infohash" => IdKind::Infohash,
                _ => continue,
            };
            found = Some(Self::from_hex(value.trim(), kind));
            if kind == IdKind::Content {
                break;
            }
        }
        found.unwrap_or(Err(ParseError::MissingIdParameter))
    }

    fn from_hex(text: &str, kind: IdKind) -> Result<Self, ParseError> {
        if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(ParseError::NotHex(bad));
        }
        if text.len() != 40 {
            return Err(ParseError::WrongLength(text.len()));
        }
        Ok(Self {
            kind,
            hex: text.to_ascii_lowercase(),
        })
    }

    /// The kind of id, which decides the engine parameter.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The 40 lowercase hex characters.
    pub fn as_hex(&self) -> &str {
        &self.hex
    }

    /// The query parameter to send to the engine (and to put in our own URLs).
    pub fn query_param(&self) -> (&'static str, &str) {
        match self.kind {
            IdKind::Content => ("id", &self.hex),
            IdKind::Infohash => ("infohash", &self.hex),
        }
    }
}

impl Serialize for ContentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.hex)
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex)
    }
}

/// `scheme:rest` when `text` starts with a URL scheme (letters then `:`).
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// One line of a pasted list that named a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListEntry {
    /// The `#EXTINF` title that preceded it, if any.
    pub name: Option<String>,
    pub id: ContentId,
    /// 1-based line number in the pasted text.
    pub line: usize,
}

/// A line of a pasted list that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListError {
    pub line: usize,
    pub text: String,
    pub error: String,
}

/// The outcome of parsing a pasted list: channels and the lines that were not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParsedList {
    pub entries: Vec<ListEntry>,
    pub errors: Vec<ListError>,
}

/// Parses a pasted block: one id or link per line, or an M3U playlist whose
/// `#EXTINF:…,Name` lines name the entry that follows. Other `#` lines and
/// blank lines are ignored; duplicates keep their first occurrence.
pub fn parse_list(text: &str) -> ParsedList {
    /// Longest line echoed back in an error, so a pasted blob is not reflected whole.
    const MAX_ECHO: usize = 120;
    let mut parsed = ParsedList::default();
    let mut pending_name: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            pending_name = info
                .split_once(',')
                .map(|(_, name)| name.trim().to_owned())
                .filter(|name| !name.is_empty());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name = pending_name.take();
        match ContentId::parse(line) {
            Ok(id) => {
                if !parsed.entries.iter().any(|entry| entry.id == id) {
                    parsed.entries.push(ListEntry {
                        name,
                        id,
                        line: index + 1,
                    });
                }
            }
            Err(err) => parsed.errors.push(ListError {
                line: index + 1,
                text: line.chars().take(MAX_ECHO).collect(),
                error: err.to_string(),
            }),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef01234567";

    fn content(hex: &str) -> ContentId {
        ContentId {
            kind: IdKind::Content,
            hex: hex.to_owned(),
        }
    }

    #[test]
    fn accepts_every_pasted_form() {
        let upper = HEX.to_ascii_uppercase();
        let forms = [
            HEX.to_owned(),
            format!("  {upper}\n"),
            format!("acestream://{HEX}"),
            format!("acestream://{HEX}/"),
            format!("acestream://{HEX}?foo=bar"),
            format!("ACESTREAM://{HEX}"),
            format!("acestream:?content_id={HEX}"),
            format!("ace://{HEX}"),
            format!("http://127.0.0.1:6878/ace/getstream?id={HEX}&pid=42"),
            format!("http://host:6878/ace/getstream?content_id={HEX}"),
            format!("http://host:6878/ace/manifest.m3u8?pid=1&id={HEX}"),
        ];
        for form in forms {
            assert_eq!(ContentId::parse(&form), Ok(content(HEX)), "{form}");
        }
    }

    #[test]
    fn keeps_infohash_kind() {
        let url = format!("http://host:6878/ace/getstream?infohash={HEX}");
        let id = ContentId::parse(&url).expect("infohash url");
        assert_eq!(id.kind(), IdKind::Infohash);
        assert_eq!(id.query_param(), ("infohash", HEX));
        let id = ContentId::parse_infohash(HEX).expect("bare infohash");
        assert_eq!(id.kind(), IdKind::Infohash);
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!(ContentId::parse("   "), Err(ParseError::Empty));
        assert_eq!(ContentId::parse("abc"), Err(ParseError::WrongLength(3)));
        assert_eq!(
            ContentId::parse(&format!("{HEX}0")),
            Err(ParseError::WrongLength(41))
        );
        assert_eq!(
            ContentId::parse("zz23456789abcdef0123456789abcdef01234567"),
            Err(ParseError::NotHex('z'))
        );
        assert_eq!(
            ContentId::parse("http://host/ace/getstream?pid=1"),
            Err(ParseError::MissingIdParameter)
        );
        assert!(matches!(
            ContentId::parse(&format!("magnet:?xt={HEX}")),
            Err(ParseError::UnsupportedScheme(_))
        ));
        assert_eq!(
            ContentId::parse(&format!("{HEX}; rm -rf /")),
            Err(ParseError::NotHex(';'))
        );
    }

    #[test]
    fn parses_m3u_lists_with_names_and_errors() {
        let other = "fedcba9876543210fedcba9876543210fedcba98";
        let text = format!(
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"x\",Sport One\nacestream://{HEX}\n\n\
             #EXTINF:-1,News\nhttp://127.0.0.1:6878/ace/getstream?id={other}\nnot an id\n{HEX}\n"
        );
        let parsed = parse_list(&text);
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.entries[0].name.as_deref(), Some("Sport One"));
        assert_eq!(parsed.entries[0].id, content(HEX));
        assert_eq!(parsed.entries[1].name.as_deref(), Some("News"));
        assert_eq!(parsed.entries[1].id, content(other));
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 7);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = ContentId::parse(&text);
            let _ = parse_list(&text);
        }

        #[test]
        fn valid_ids_round_trip(hex in "[0-9a-fA-F]{40}", pad in "[ \t\r\n]{0,3}") {
            let id = ContentId::parse(&format!("{pad}acestream://{hex}{pad}")).expect("valid");
            proptest::prop_assert_eq!(id.as_hex(), hex.to_ascii_lowercase());
        }
    }
}
