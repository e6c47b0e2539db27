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

/// The `#EXTINF` attributes IPTV apps use, kept so a list survives a round
/// trip through acebridge (`/playlist.m3u` writes them back).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct M3uAttributes {
    pub tvg_id: Option<String>,
    pub tvg_name: Option<String>,
    pub tvg_logo: Option<String>,
    /// `tvg-chno`: the channel's number in guides and media centres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tvg_chno: Option<String>,
    /// `group-title` (or a preceding `#EXTGRP:` line).
    pub group: Option<String>,
}

impl M3uAttributes {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One line of a pasted list that named a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListEntry {
    /// The `#EXTINF` title that preceded it, else what the line said around the id.
    pub name: Option<String>,
    pub id: ContentId,
    /// 1-based line number in the pasted text.
    pub line: usize,
    #[serde(flatten)]
    pub attributes: M3uAttributes,
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

/// What a line without a usable id is told.
pub const NO_ID_IN_LINE: &str = "no content id found in this line";

/// Parses a pasted block: one channel per line, or an M3U playlist whose
/// `#EXTINF` lines name (and describe) the entry that follows. A line is
/// forgiving: the id may sit anywhere in it (`Sky Sports - acestream://…`,
/// `DAZN: <40 hex>`), and the rest of the line is the name. Other `#` lines
/// and blank lines are ignored; duplicates keep their first occurrence.
pub fn parse_list(text: &str) -> ParsedList {
    match parse_list_at_most(text, usize::MAX) {
        Ok(parsed) | Err(TooManyIds { parsed, .. }) => parsed,
    }
}

/// A list with more ids than the caller takes: parsing stopped there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many ids in the list: at most {limit}")]
pub struct TooManyIds {
    pub limit: usize,
    /// What was parsed before the limit was reached.
    pub parsed: ParsedList,
}

/// [`parse_list`] that stops as soon as the list has more than `limit`
/// distinct ids, so an oversized list costs no more than `limit` entries.
pub fn parse_list_at_most(text: &str, limit: usize) -> Result<ParsedList, TooManyIds> {
    /// Longest line echoed back in an error, so a pasted blob is not reflected whole.
    const MAX_ECHO: usize = 120;
    let mut parsed = ParsedList::default();
    let mut seen = std::collections::HashSet::new();
    let mut pending: Option<(Option<String>, M3uAttributes)> = None;
    let mut pending_group: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            pending = Some(parse_extinf(info));
            continue;
        }
        if let Some(group) = line.strip_prefix("#EXTGRP:") {
            pending_group = clean_text(group);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (extinf_name, mut attributes) = pending.take().unwrap_or_default();
        if attributes.group.is_none() {
            attributes.group = pending_group.take();
        }
        match find_id(line) {
            Ok((id, rest)) => {
                if seen.insert(id.clone()) {
                    if parsed.entries.len() == limit {
                        return Err(TooManyIds { limit, parsed });
                    }
                    parsed.entries.push(ListEntry {
                        name: extinf_name.or(rest),
                        id,
                        line: index + 1,
                        attributes,
                    });
                }
            }
            Err(err) => parsed.errors.push(ListError {
                line: index + 1,
                text: line.chars().take(MAX_ECHO).collect(),
                error: err,
            }),
        }
    }
    Ok(parsed)
}

/// The channel id in one pasted line and the name the rest of the line gives.
/// The whole line as one link (an engine URL, `acestream:?content_id=…`) comes
/// first; then a link anywhere in it; then a bare 40-hex token.
fn find_id(line: &str) -> Result<(ContentId, Option<String>), String> {
    if let Ok(id) = ContentId::parse(line) {
        return Ok((id, None));
    }
    let mut link_error = None;
    let links = link_tokens(line);
    for &(start, end) in &links {
        match ContentId::parse(&line[start..end]) {
            Ok(id) => return Ok((id, name_around(line, start, end))),
            Err(err) => {
                link_error.get_or_insert_with(|| format!("{}: {err}", &line[start..end]));
            }
        }
    }
    if let Some((start, end)) = hex_token(line) {
        if let Ok(id) = ContentId::parse(&line[start..end]) {
            // An id inside a link of another kind (`http://host/stream/<id>`):
            // the whole link is not part of the name.
            let (start, end) = links
                .iter()
                .copied()
                .find(|&(link_start, link_end)| link_start <= start && end <= link_end)
                .unwrap_or((start, end));
            return Ok((id, name_around(line, start, end)));
        }
    }
    Err(link_error.unwrap_or_else(|| NO_ID_IN_LINE.to_owned()))
}

/// Byte ranges of the links in `line`: a known scheme up to the next space or delimiter.
fn link_tokens(line: &str) -> Vec<(usize, usize)> {
    const SCHEMES: [&str; 4] = ["acestream:", "ace://", "http://", "https://"];
    let lower = line.to_ascii_lowercase();
    let mut found: Vec<(usize, usize)> = Vec::new();
    for scheme in SCHEMES {
        for (start, _) in lower.match_indices(scheme) {
            // `acestream:` inside an earlier match, or a word ending in "ace://"… is not a link start.
            let boundary = line[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
            if !boundary || found.iter().any(|&(s, e)| start >= s && start < e) {
                continue;
            }
            let end = line[start..]
                .find(|c: char| c.is_whitespace() || "|\"'<>()[]{},;".contains(c))
                .map_or(line.len(), |offset| start + offset);
            found.push((start, end));
        }
    }
    found.sort_unstable();
    found
}

/// The first run of exactly 40 hex digits not glued to other letters or digits.
fn hex_token(line: &str) -> Option<(usize, usize)> {
    let mut start = None;
    for (index, c) in line.char_indices().chain([(line.len(), ' ')]) {
        if c.is_ascii_alphanumeric() {
            start.get_or_insert(index);
        } else if let Some(run) = start.take() {
            if index - run == 40 && line[run..index].chars().all(|c| c.is_ascii_hexdigit()) {
                return Some((run, index));
            }
        }
    }
    None
}

/// What a line says besides its id: the text before and after it, without
/// the separators people put around ids (`-`, `:`, `|`, emoji, empty brackets).
fn name_around(line: &str, start: usize, end: usize) -> Option<String> {
    let is_separator = |c: char| {
        c.is_whitespace() || "-\u{2013}\u{2014}:|,;/\\*=>\u{2022}\u{b7}".contains(c) || is_emoji(c)
    };
    let mut parts = Vec::new();
    for part in [&line[..start], &line[end..]] {
        let mut part = part.to_owned();
        for empty in ["()", "[]", "{}", "<>"] {
            part = part.replace(empty, "");
        }
        let open_at_end = |c: char| "([{<".contains(c);
        let close_at_start = |c: char| ")]}>".contains(c);
        let trimmed = part
            .trim_matches(is_separator)
            .trim_end_matches(|c| open_at_end(c) || is_separator(c))
            .trim_start_matches(|c| close_at_start(c) || is_separator(c));
        if !trimmed.is_empty() {
            parts.push(trimmed.to_owned());
        }
    }
    clean_text(&parts.join(" "))
}

/// Pictographs and their joiners: decoration, not part of a name's ends.
fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE0F | 0x200D | 0x20E3)
}

/// `#EXTINF:<duration> key="value" …,<title>`: the title and the attributes kept.
fn parse_extinf(info: &str) -> (Option<String>, M3uAttributes) {
    let mut attributes = M3uAttributes::default();
    let mut rest = info;
    let mut title = None;
    // Walk key="value" pairs; the title follows the first comma outside quotes.
    let mut in_quotes = false;
    for (index, c) in info.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                rest = &info[..index];
                title = clean_text(&info[index + 1..]);
                break;
            }
            _ => {}
        }
    }
    let mut remaining = rest;
    while let Some(eq) = remaining.find("=\"") {
        let key = remaining[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let after = &remaining[eq + 2..];
        let Some(close) = after.find('"') else { break };
        let value = clean_text(&after[..close]);
        match key.as_str() {
            "tvg-id" => attributes.tvg_id = value,
            "tvg-name" => attributes.tvg_name = value,
            "tvg-logo" => attributes.tvg_logo = value,
            "tvg-chno" => attributes.tvg_chno = value,
            "group-title" => attributes.group = value,
            _ => {}
        }
        remaining = &after[close + 1..];
    }
    (title, attributes)
}

/// Longest name or attribute kept, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// Text as it may reach a playlist line: control characters and Unicode line
/// and paragraph separators (which line splitters honour) become spaces,
/// runs of spaces collapse, trimmed and bounded; empty means none.
pub fn clean_text(text: &str) -> Option<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            ' '
        } else {
            c
        };
        if c == ' ' && (cleaned.is_empty() || cleaned.ends_with(' ')) {
            continue;
        }
        cleaned.push(c);
    }
    let cleaned: String = cleaned.trim_end().chars().take(MAX_TEXT_CHARS).collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

/// The name shown for a channel the user did not name: "Channel d5869d…",
/// short enough to read, with enough of the id to tell channels apart.
pub fn default_name(hex: &str) -> String {
    let short: String = hex.chars().take(6).collect();
    format!("Channel {short}\u{2026}")
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

    #[test]
    fn finds_the_id_anywhere_in_a_line() {
        let lines = [
            (
                format!("Sky Sports F1 HD - acestream://{HEX}"),
                Some("Sky Sports F1 HD"),
            ),
            (format!("acestream://{HEX} Sky Sports"), Some("Sky Sports")),
            (format!("DAZN LaLiga: {HEX}"), Some("DAZN LaLiga")),
            (
                format!("\u{26bd} Match | ace://{HEX} | HD"),
                Some("Match HD"),
            ),
            (
                format!("Movies (acestream:?content_id={HEX})"),
                Some("Movies"),
            ),
            (format!("[{HEX}] News 24"), Some("News 24")),
            (
                format!("Movies 24 http://host/live/{HEX}.ts"),
                Some("Movies 24"),
            ),
            (HEX.to_owned(), None),
            (
                format!("http://127.0.0.1:6878/ace/getstream?id={HEX}"),
                None,
            ),
        ];
        for (line, name) in lines {
            let (id, found) = find_id(&line).unwrap_or_else(|err| panic!("{line}: {err}"));
            assert_eq!(id, content(HEX), "{line}");
            assert_eq!(found.as_deref(), name, "{line}");
        }
    }

    #[test]
    fn a_line_without_an_id_says_so() {
        assert_eq!(find_id("Sky Sports HD").unwrap_err(), NO_ID_IN_LINE);
        // 41 hex digits are not an id, nor is one glued to letters.
        assert_eq!(find_id(&format!("{HEX}0 x")).unwrap_err(), NO_ID_IN_LINE);
        assert_eq!(find_id(&format!("x{HEX}")).unwrap_err(), NO_ID_IN_LINE);
        let err = find_id("Sport acestream://abc").unwrap_err();
        assert!(err.contains("got 3 characters"), "{err}");
    }

    #[test]
    fn keeps_extinf_attributes() {
        let text = format!(
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"sky.uk\" tvg-name=\"Sky, UK\" tvg-logo=\"http://l/s.png\" group-title=\"Sport\",Sky Sports\nacestream://{HEX}\n#EXTGRP:News\n#EXTINF:-1,BBC\nfedcba9876543210fedcba9876543210fedcba98\n"
        );
        let parsed = parse_list(&text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let first = &parsed.entries[0];
        assert_eq!(first.name.as_deref(), Some("Sky Sports"));
        assert_eq!(first.attributes.tvg_id.as_deref(), Some("sky.uk"));
        assert_eq!(first.attributes.tvg_name.as_deref(), Some("Sky, UK"));
        assert_eq!(first.attributes.tvg_logo.as_deref(), Some("http://l/s.png"));
        assert_eq!(first.attributes.group.as_deref(), Some("Sport"));
        assert_eq!(parsed.entries[1].attributes.group.as_deref(), Some("News"));
    }

    #[test]
    fn line_separators_never_reach_a_name() {
        assert_eq!(
            clean_text("News\u{2028}#EXTINF:-1,x\u{2029}\r\n\u{85} 24"),
            Some("News #EXTINF:-1,x 24".into())
        );
        assert_eq!(clean_text(" \t\u{2028} "), None);
        assert_eq!(
            clean_text(&"x".repeat(500)).map(|n| n.chars().count()),
            Some(MAX_TEXT_CHARS)
        );
    }

    #[test]
    fn default_names_show_the_start_of_the_id() {
        assert_eq!(default_name(HEX), "Channel 012345\u{2026}");
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

        #[test]
        fn an_id_is_found_whatever_surrounds_it(
            hex in "[0-9a-fA-F]{40}",
            before in "[A-Za-z ]{0,20}",
            separator in "( - | \\| |: | )",
            after in "[A-Za-z ]{0,20}",
            link in proptest::bool::ANY,
        ) {
            let token = if link { format!("acestream://{hex}") } else { hex.clone() };
            let line = format!("{before}{separator}{token} {after}");
            let (id, name) = find_id(&line).map_err(proptest::test_runner::TestCaseError::fail)?;
            proptest::prop_assert_eq!(id.as_hex(), hex.to_ascii_lowercase());
            let words: Vec<&str> = before.split_whitespace().chain(after.split_whitespace()).collect();
            proptest::prop_assert_eq!(name, (!words.is_empty()).then(|| words.join(" ")));
        }

        #[test]
        fn clean_text_leaves_no_line_breaks(text in "\\PC*") {
            if let Some(clean) = clean_text(&text) {
                proptest::prop_assert_eq!(clean.lines().count(), 1);
                let separators = ['\u{2028}', '\u{2029}'];
                proptest::prop_assert!(!clean.contains(separators), "{:?}", clean);
            }
        }
    }
}
