//! Reading an XMLTV guide as a stream: `<channel>` and `<programme>`
//! elements are taken one at a time from any [`BufRead`] (plain or gzip,
//! told apart by the gzip magic bytes), and only the programmes the caller
//! keeps are held, so memory is bounded by what is kept, never by the file.
//!
//! Owns what is refused: a document type declaring entities (an "XML bomb"
//! needs them; quick-xml never expands them, and they are refused before
//! anything is read), more bytes than [`Limits::max_bytes`] after
//! decompression, malformed XML and a truncated gzip. Also owns XMLTV
//! times (`20261203200000 +0100`), read to exact Unix seconds.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

/// Longest text kept of a title, sub-title or category.
const MAX_SHORT_TEXT: usize = 300;
/// Longest description kept.
const MAX_DESC: usize = 2000;
/// Most display names kept per guide channel.
const MAX_NAMES: usize = 8;
/// Most categories or episode numbers kept per programme.
const MAX_REPEATS: usize = 8;

/// A channel the guide describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuideChannel {
    pub id: String,
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// An episode number with its numbering system (`xmltv_ns`, `onscreen`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeNum {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub value: String,
}

/// One programme of a guide channel; times in Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Programme {
    /// The guide channel's id, as the source wrote it.
    pub channel: String,
    pub start: i64,
    pub stop: i64,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub episode_nums: Vec<EpisodeNum>,
}

/// What a read may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes of XML read (after decompression).
    pub max_bytes: u64,
    /// Most guide channels listed.
    pub max_channels: usize,
    /// Most programmes kept.
    pub max_programmes: usize,
}

/// Which programmes to keep: those of `channels` (lowercase guide ids)
/// that overlap `from..to` (Unix seconds).
pub trait Keep {
    /// Called with the channels listed before the first programme (or at
    /// the end), then with each channel listed after it (real guides
    /// interleave them): the lowercase ids among `listed` to keep, added to
    /// those kept before.
    fn channels(&mut self, listed: &[GuideChannel]) -> HashSet<String>;
    /// The window kept, Unix seconds.
    fn window(&self) -> (i64, i64);
}

/// What one read found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed {
    pub channels: Vec<GuideChannel>,
    pub programmes: Vec<Programme>,
    /// Programmes in the file, kept or not.
    pub programmes_seen: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum XmltvError {
    #[error("the guide declares entities in its DOCTYPE, which acebridge refuses (an XML bomb uses them)")]
    EntityDeclaration,
    #[error("the guide is larger than {} MiB uncompressed", .0 / (1024 * 1024))]
    TooLarge(u64),
    #[error("the gzip data is truncated or corrupt: {0}")]
    Gzip(String),
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("cannot read the guide: {0}")]
    Read(String),
    #[error("not an XMLTV guide: the root element is <{0}>, not <tv>")]
    NotXmltv(String),
    #[error("no channel and no programme found in the guide")]
    Empty,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads the guide in `input`, gzip or not (told by its first bytes).
pub fn parse(input: impl Read, keep: &mut dyn Keep, limits: Limits) -> Result<Parsed, XmltvError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let head = buffered
        .fill_buf()
        .map_err(|err| XmltvError::Read(err.to_string()))?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        let xml = as_utf8(Bounded::new(decoder, limits.max_bytes, true))?;
        parse_xml(xml, keep, limits)
    } else {
        let xml = as_utf8(Bounded::new(buffered, limits.max_bytes, false))?;
        parse_xml(xml, keep, limits)
    }
}

/// `input` as UTF-8: a guide whose XML declaration names another encoding
/// (ISO-8859-1 is common in real XMLTV), or that begins with a UTF-16
/// byte-order mark, is transcoded as it streams.
fn as_utf8<'a>(mut input: impl BufRead + 'a) -> Result<Box<dyn BufRead + 'a>, XmltvError> {
    let head = input.fill_buf().map_err(|err| from_io(&err))?;
    let Some(encoding) = declared_encoding(head) else {
        return Ok(Box::new(input));
    };
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .build(input);
    Ok(Box::new(BufReader::with_capacity(64 * 1024, decoded)))
}

/// The encoding a document starting with `head` is in, when it is not UTF-8:
/// from a UTF-16 byte-order mark, else the XML declaration's `encoding`.
fn declared_encoding(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(head) {
        return (encoding != encoding_rs::UTF_8).then_some(encoding);
    }
    // The declaration is short and first; its attribute values are quoted ASCII.
    let head = &head[..head.len().min(512)];
    let declaration = head.strip_prefix(b"<?xml")?;
    let declaration = &declaration[..declaration.windows(2).position(|w| w == b"?>")?];
    let at = declaration.windows(8).position(|w| w == b"encoding")?;
    let rest = declaration[at + 8..]
        .trim_ascii_start()
        .strip_prefix(b"=")?;
    let rest = rest.trim_ascii_start();
    let quote = *rest.first().filter(|q| **q == b'"' || **q == b'\'')?;
    let label = &rest[1..];
    let label = &label[..label.iter().position(|c| *c == quote)?];
    encoding_rs::Encoding::for_label(label).filter(|encoding| *encoding != encoding_rs::UTF_8)
}

/// A reader that fails past `max` bytes, and names gzip errors as such.
struct Bounded<R> {
    inner: R,
    left: u64,
    max: u64,
    gzip: bool,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, max: u64, gzip: bool) -> BufReader<Self> {
        BufReader::with_capacity(
            64 * 1024,
            Self {
                inner,
                left: max,
                max,
                gzip,
            },
        )
    }
}

/// The marker of errors this module makes inside `io::Error`s, so they
/// come back out typed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Inner(#[source] XmltvError);

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf).map_err(|err| {
            let typed = if self.gzip && is_gzip_error(&err) {
                XmltvError::Gzip(err.to_string())
            } else {
                XmltvError::Read(err.to_string())
            };
            std::io::Error::other(Inner(typed))
        })?;
        if read as u64 > self.left {
            return Err(std::io::Error::other(Inner(XmltvError::TooLarge(self.max))));
        }
        self.left -= read as u64;
        Ok(read)
    }
}

fn is_gzip_error(err: &std::io::Error) -> bool {
    // flate2 reports a stream that ends early as UnexpectedEof and bad data
    // as InvalidInput/InvalidData; a failing transport underneath comes
    // through as Other with our own message.
    matches!(
        err.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::InvalidData
    )
}

/// The typed error inside an I/O error from [`Bounded`], else a read error.
fn from_io(err: &std::io::Error) -> XmltvError {
    if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<Inner>()) {
        return match &inner.0 {
            XmltvError::TooLarge(max) => XmltvError::TooLarge(*max),
            XmltvError::Gzip(text) => XmltvError::Gzip(text.clone()),
            other => XmltvError::Read(other.to_string()),
        };
    }
    XmltvError::Read(err.to_string())
}

fn xml_error(reader_position: u64, err: quick_xml::Error) -> XmltvError {
    match err {
        quick_xml::Error::Io(io) => from_io(&io),
        other => XmltvError::Xml {
            position: reader_position,
            message: other.to_string(),
        },
    }
}

/// Where the reader is inside the document.
enum Open {
    Nothing,
    Channel(GuideChannel),
    Programme(Box<Programme>),
}

/// The child element whose text is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    DisplayName,
    Title,
    SubTitle,
    Desc,
    Category,
    EpisodeNum,
}

fn parse_xml(
    input: impl BufRead,
    keep: &mut dyn Keep,
    limits: Limits,
) -> Result<Parsed, XmltvError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::with_capacity(4096);
    let mut parsed = Parsed::default();
    let mut wanted: Option<HashSet<String>> = None;
    let mut matched = 0;
    let (from, to) = keep.window();
    let mut open = Open::Nothing;
    let mut field: Option<(Field, Option<String>)> = None;
    let mut text = String::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    loop {
        buf.clear();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|err| xml_error(reader.buffer_position(), err))?;
        match event {
            Event::DocType(doctype) if doctype.to_ascii_uppercase().contains("<!ENTITY") => {
                return Err(XmltvError::EntityDeclaration);
            }
            Event::Start(element) => {
                depth += 1;
                if depth == 1 {
                    check_root(&element)?;
                    saw_root = true;
                    continue;
                }
                if depth == 2 {
                    open = open_element(&element, &mut parsed, &mut wanted, keep, limits, from, to);
                } else if depth == 3 {
                    field = field_of(&element, &mut open);
                    text.clear();
                }
            }
            Event::Empty(element) => {
                if depth == 0 {
                    check_root(&element)?;
                    saw_root = true;
                } else if depth == 1 {
                    // `<channel id="x"/>` or `<programme …/>`: nothing inside.
                    let opened =
                        open_element(&element, &mut parsed, &mut wanted, keep, limits, from, to);
                    close_element(opened, &mut parsed, limits);
                    listed_late(&parsed, &mut wanted, keep, &mut matched);
                } else if depth == 2 {
                    take_icon(&element, &mut open);
                }
            }
            Event::Text(content) if field.is_some() => {
                push_bounded(&mut text, &content.xml10_content());
            }
            Event::CData(content) if field.is_some() => {
                push_bounded(&mut text, &content.xml10_content());
            }
            Event::GeneralRef(reference) if field.is_some() => {
                // Only the five predefined entities and character
                // references mean something; anything else was never
                // declared (declarations are refused) and is dropped.
                if let Ok(Some(c)) = reference.resolve_char_ref() {
                    text.push(c);
                } else if let Some(value) = quick_xml::escape::resolve_predefined_entity(&reference)
                {
                    text.push_str(value);
                }
            }
            Event::End(_) => {
                if depth == 3 {
                    if let Some((which, lang_or_system)) = field.take() {
                        store_field(&mut open, which, lang_or_system, std::mem::take(&mut text));
                    }
                } else if depth == 2 {
                    let done = std::mem::replace(&mut open, Open::Nothing);
                    close_element(done, &mut parsed, limits);
                    listed_late(&parsed, &mut wanted, keep, &mut matched);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(XmltvError::Empty);
    }
    if depth != 0 {
        return Err(XmltvError::Xml {
            position: reader.buffer_position(),
            message: "the document ends inside an element".into(),
        });
    }
    if parsed.channels.is_empty() && parsed.programmes_seen == 0 {
        return Err(XmltvError::Empty);
    }
    if wanted.is_none() {
        keep.channels(&parsed.channels);
    }
    Ok(parsed)
}

fn check_root(element: &BytesStart) -> Result<(), XmltvError> {
    let name = element.local_name();
    if name.as_ref() != "tv" {
        return Err(XmltvError::NotXmltv(
            name.as_ref().chars().take(40).collect(),
        ));
    }
    Ok(())
}

fn push_bounded(text: &mut String, more: &str) {
    if text.len() < MAX_DESC {
        text.push_str(more);
    }
}

/// A `<channel>` or `<programme>` opening (anything else is skipped).
#[allow(clippy::too_many_arguments)]
fn open_element(
    element: &BytesStart,
    parsed: &mut Parsed,
    wanted: &mut Option<HashSet<String>>,
    keep: &mut dyn Keep,
    limits: Limits,
    from: i64,
    to: i64,
) -> Open {
    match element.local_name().as_ref() {
        "channel" => match attribute(element, "id") {
            Some(id) if parsed.channels.len() < limits.max_channels => {
                Open::Channel(GuideChannel {
                    id,
                    ..GuideChannel::default()
                })
            }
            _ => Open::Nothing,
        },
        "programme" => {
            parsed.programmes_seen += 1;
            let wanted = wanted.get_or_insert_with(|| keep.channels(&parsed.channels));
            let Some(channel) = attribute(element, "channel") else {
                return Open::Nothing;
            };
            if !wanted.contains(&channel.to_lowercase()) {
                return Open::Nothing;
            }
            let times = attribute(element, "start")
                .and_then(|start| parse_time(&start))
                .map(|start| {
                    let stop = attribute(element, "stop").and_then(|stop| parse_time(&stop));
                    (start, stop.filter(|stop| *stop > start))
                });
            let Some((start, stop)) = times else {
                return Open::Nothing;
            };
            // A programme without a stop lasts until the next one; it is
            // given an hour here, and the store trims it to its follower.
            let stop = stop.unwrap_or(start + 3600);
            if stop <= from || start >= to {
                return Open::Nothing;
            }
            Open::Programme(Box::new(Programme {
                channel,
                start,
                stop,
                ..Programme::default()
            }))
        }
        _ => Open::Nothing,
    }
}

/// A channel listed after the first programme (guides that interleave
/// channels and programmes): its programmes from here on are kept too.
/// Called after every closed element; acts only when a channel was just added.
/// `matched`: how many of the listed channels `keep` has seen.
fn listed_late(
    parsed: &Parsed,
    wanted: &mut Option<HashSet<String>>,
    keep: &mut dyn Keep,
    matched: &mut usize,
) {
    let listed = parsed.channels.len();
    if let Some(wanted) = wanted.as_mut() {
        if listed > *matched {
            wanted.extend(keep.channels(&parsed.channels[*matched..]));
        }
    }
    *matched = listed;
}

fn close_element(done: Open, parsed: &mut Parsed, limits: Limits) {
    match done {
        Open::Channel(channel) => {
            if parsed.channels.len() < limits.max_channels {
                parsed.channels.push(channel);
            }
        }
        Open::Programme(programme) => {
            if !programme.title.is_empty() && parsed.programmes.len() < limits.max_programmes {
                parsed.programmes.push(*programme);
            }
        }
        Open::Nothing => {}
    }
}

fn field_of(element: &BytesStart, open: &mut Open) -> Option<(Field, Option<String>)> {
    let name = element.local_name();
    let which = match (&*open, name.as_ref()) {
        (Open::Channel(_), "display-name") => Field::DisplayName,
        (Open::Programme(_), "title") => Field::Title,
        (Open::Programme(_), "sub-title") => Field::SubTitle,
        (Open::Programme(_), "desc") => Field::Desc,
        (Open::Programme(_), "category") => Field::Category,
        (Open::Programme(_), "episode-num") => {
            return Some((Field::EpisodeNum, attribute(element, "system")))
        }
        (_, "icon") => {
            take_icon(element, open);
            return None;
        }
        _ => return None,
    };
    Some((which, None))
}

fn take_icon(element: &BytesStart, open: &mut Open) {
    if element.local_name().as_ref() != "icon" {
        return;
    }
    let src = attribute(element, "src").filter(|src| src.len() <= 2048);
    match open {
        Open::Channel(channel) if channel.icon.is_none() => channel.icon = src,
        Open::Programme(programme) if programme.icon.is_none() => programme.icon = src,
        _ => {}
    }
}

fn clip(text: &str, max: usize) -> Option<String> {
    let trimmed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.is_empty() {
        return None;
    }
    Some(match trimmed.char_indices().nth(max) {
        Some((at, _)) => trimmed[..at].to_owned(),
        None => trimmed,
    })
}

fn store_field(open: &mut Open, which: Field, system: Option<String>, text: String) {
    match (open, which) {
        (Open::Channel(channel), Field::DisplayName) if channel.names.len() < MAX_NAMES => {
            channel.names.extend(clip(&text, MAX_SHORT_TEXT));
        }
        (Open::Programme(programme), field) => {
            let short = clip(&text, MAX_SHORT_TEXT);
            match field {
                // The first of each (in the source's first language) is kept.
                Field::Title if programme.title.is_empty() => {
                    programme.title = short.unwrap_or_default();
                }
                Field::SubTitle if programme.sub_title.is_none() => programme.sub_title = short,
                Field::Desc if programme.desc.is_none() => programme.desc = clip(&text, MAX_DESC),
                Field::Category if programme.categories.len() < MAX_REPEATS => {
                    programme.categories.extend(short);
                }
                Field::EpisodeNum if programme.episode_nums.len() < MAX_REPEATS => {
                    if let Some(value) = short {
                        programme.episode_nums.push(EpisodeNum { system, value });
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn attribute(element: &BytesStart, name: &str) -> Option<String> {
    let attribute = element.try_get_attribute(name).ok().flatten()?;
    let value = attribute
        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .ok()?;
    let value = value.trim();
    (!value.is_empty() && value.len() <= 4096).then(|| value.to_owned())
}

/// An XMLTV time, `YYYYMMDDhhmmss +hhmm`, as Unix seconds. Seconds,
/// minutes and hours may be left off (they are then 0); without an offset
/// the time is UTC. `Z`, `+hh:mm` and `+hh` offsets are read too.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if !(8..=14).contains(&digits) || digits % 2 != 0 {
        return None;
    }
    let number = |from: usize, len: usize| -> Option<u32> {
        if from + len > digits {
            return Some(0);
        }
        text.get(from..from + len)?.parse().ok()
    };
    let year = i32::try_from(number(0, 4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(4, 2)?).ok()?).ok()?;
    let day = u8::try_from(number(6, 2)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(number(8, 2)?).ok()?,
        u8::try_from(number(10, 2)?).ok()?,
        u8::try_from(number(12, 2)?).ok()?,
    )
    .ok()?;
    let offset = parse_offset(text[digits..].trim())?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_offset(offset)
            .unix_timestamp(),
    )
}

fn parse_offset(text: &str) -> Option<time::UtcOffset> {
    if text.is_empty() || text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return Some(time::UtcOffset::UTC);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let rest = rest.replace(':', "");
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match rest.len() {
        2 => (rest.parse::<i8>().ok()?, 0),
        4 => (rest[..2].parse::<i8>().ok()?, rest[2..].parse::<i8>().ok()?),
        _ => return None,
    };
    // Real zones lie within ±14 h.
    if hours > 14 || minutes > 59 {
        return None;
    }
    time::UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// Unix seconds as an XMLTV time in UTC: `20261203190000 +0000`.
pub fn format_time(unix: i64) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02} +0000",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct KeepAll(i64, i64);

    impl Keep for KeepAll {
        fn channels(&mut self, listed: &[GuideChannel]) -> HashSet<String> {
            let mut ids: HashSet<String> = listed.iter().map(|c| c.id.to_lowercase()).collect();
            ids.insert("undeclared".into());
            ids
        }
        fn window(&self) -> (i64, i64) {
            (self.0, self.1)
        }
    }

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        max_channels: 100,
        max_programmes: 100,
    };

    fn read(bytes: &[u8]) -> Result<Parsed, XmltvError> {
        parse(bytes, &mut KeepAll(i64::MIN, i64::MAX), LIMITS)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    const GUIDE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE tv SYSTEM "xmltv.dtd">
<tv generator-info-name="test">
  <channel id="Sky.UK"><display-name lang="en">Sky Sports &amp; Co</display-name><display-name>401</display-name><icon src="http://l/s.png"/></channel>
  <channel id="bbc1.uk"><display-name>BBC One</display-name></channel>
  <programme start="20261203200000 +0100" stop="20261203213000 +0100" channel="sky.uk">
    <title lang="en">Arsenal v Spurs</title><title lang="de">Arsenal gegen Spurs</title>
    <sub-title>Premier League</sub-title>
    <desc>Live &#8211; <![CDATA[<b>the</b>]]> derby</desc>
    <category>Sport</category><category>Football</category>
    <icon src="http://i/a.png" />
    <episode-num system="xmltv_ns">0.11.0/1</episode-num>
  </programme>
  <programme start="20261203213000 +0100" channel="Sky.UK"><title>Highlights</title></programme>
  <programme start="bad" channel="sky.uk"><title>No time</title></programme>
</tv>"#;

    #[test]
    fn channels_and_programmes_are_read_with_every_field() {
        let parsed = read(GUIDE.as_bytes()).expect("parse");
        assert_eq!(parsed.channels.len(), 2);
        assert_eq!(parsed.channels[0].names, ["Sky Sports & Co", "401"]);
        assert_eq!(parsed.channels[0].icon.as_deref(), Some("http://l/s.png"));
        assert_eq!(parsed.programmes_seen, 3);
        assert_eq!(parsed.programmes.len(), 2);
        let first = &parsed.programmes[0];
        assert_eq!(first.title, "Arsenal v Spurs");
        assert_eq!(first.start, parse_time("20261203190000").expect("time"));
        assert_eq!(first.stop - first.start, 90 * 60);
        assert_eq!(first.sub_title.as_deref(), Some("Premier League"));
        assert_eq!(
            first.desc.as_deref(),
            Some("Live \u{2013} <b>the</b> derby")
        );
        assert_eq!(first.categories, ["Sport", "Football"]);
        assert_eq!(first.icon.as_deref(), Some("http://i/a.png"));
        assert_eq!(first.episode_nums[0].system.as_deref(), Some("xmltv_ns"));
        assert_eq!(parsed.programmes[1].stop - parsed.programmes[1].start, 3600);
        // The same guide gzipped reads the same.
        assert_eq!(read(&gzip(GUIDE.as_bytes())).expect("gzip"), parsed);
    }

    #[test]
    fn times_are_exact_across_offsets_and_a_dst_change() {
        let utc = parse_time("20261203190000 +0000").expect("time");
        for same in [
            "20261203200000 +0100",
            "20261203140000 -0500",
            "20261204003000 +0530",
            "20261203190000",
            "20261203190000 Z",
            "20261203210000 +02:00",
        ] {
            assert_eq!(parse_time(same), Some(utc), "{same}");
        }
        assert_eq!(utc, 1_796_324_400);
        // Europe's clocks went back at 01:00 UTC on 25 October 2026: 02:30
        // local happened twice, once at +0200 and once at +0100, an hour apart.
        let before = parse_time("20261025023000 +0200").expect("time");
        let after = parse_time("20261025023000 +0100").expect("time");
        assert_eq!(after - before, 3600);
        assert_eq!(format_time(before), "20261025003000 +0000");
        // A programme spanning the change lasts its real length.
        let start = parse_time("20261025013000 +0200").expect("time");
        let stop = parse_time("20261025033000 +0100").expect("time");
        assert_eq!(stop - start, 3 * 3600);
        for bad in [
            "",
            "2026120",
            "20261303190000",
            "20261203250000",
            "20261203190000 +2500",
            "20261203190000 hello",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(parse_time("202612031900"), Some(utc), "seconds left off");
        assert_eq!(format_time(utc), "20261203190000 +0000");
    }

    #[test]
    fn an_xml_bomb_is_refused_before_anything_is_expanded() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE tv [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<tv><channel id="a"><display-name>&lol9;</display-name></channel></tv>"#;
        assert!(matches!(
            read(bomb.as_bytes()),
            Err(XmltvError::EntityDeclaration)
        ));
        // An undeclared entity in a guide without a DTD is dropped, not expanded.
        let parsed =
            read(b"<tv><channel id=\"a\"><display-name>A&lol9;B</display-name></channel></tv>")
                .expect("parse");
        assert_eq!(parsed.channels[0].names, ["AB"]);
    }

    #[test]
    fn malformed_truncated_and_oversized_guides_are_clear_errors() {
        let cut = &GUIDE.as_bytes()[..GUIDE.len() / 2];
        let error = read(cut).expect_err("cut");
        assert!(matches!(error, XmltvError::Xml { .. }), "{error}");
        let mismatched = read(b"<tv><channel id=\"a\"></programme></tv>").expect_err("bad");
        assert!(error_says(&mismatched, "malformed XML"), "{mismatched}");
        let zipped = gzip(GUIDE.as_bytes());
        let truncated = read(&zipped[..zipped.len() - 40]).expect_err("truncated");
        assert!(matches!(truncated, XmltvError::Gzip(_)), "{truncated}");
        assert!(
            error_says(&truncated, "gzip data is truncated"),
            "{truncated}"
        );
        let html = read(b"<html><body>Not found</body></html>").expect_err("html");
        assert!(error_says(&html, "root element is <html>"), "{html}");
        let small = Limits {
            max_bytes: 200,
            ..LIMITS
        };
        let big = parse(
            &gzip(GUIDE.as_bytes())[..],
            &mut KeepAll(i64::MIN, i64::MAX),
            small,
        )
        .expect_err("too large");
        assert!(matches!(big, XmltvError::TooLarge(200)), "{big}");
        assert!(matches!(read(b""), Err(XmltvError::Empty)));
    }

    fn error_says(error: &XmltvError, text: &str) -> bool {
        error.to_string().contains(text)
    }

    #[test]
    fn only_programmes_of_wanted_channels_within_the_window_are_kept() {
        struct Only;
        impl Keep for Only {
            fn channels(&mut self, listed: &[GuideChannel]) -> HashSet<String> {
                assert_eq!(listed.len(), 2, "asked once the channels are known");
                ["sky.uk".to_owned()].into()
            }
            fn window(&self) -> (i64, i64) {
                let start = parse_time("20261203203000 +0100").expect("time");
                (start, start + 60)
            }
        }
        let parsed = parse(GUIDE.as_bytes(), &mut Only, LIMITS).expect("parse");
        assert_eq!(parsed.channels.len(), 2, "every channel is listed");
        let titles: Vec<_> = parsed.programmes.iter().map(|p| &p.title).collect();
        assert_eq!(titles, ["Arsenal v Spurs"]);
    }

    /// `text` as ISO-8859-1 bytes (every char of it is below U+0100).
    fn latin1(text: &str) -> Vec<u8> {
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
            .collect()
    }

    #[test]
    fn a_guide_in_iso_8859_1_is_read_not_refused_as_malformed() {
        let guide = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<tv>\
            <channel id=\"tve.es\"><display-name>Teledeporte España</display-name></channel>\
            <programme start=\"20261203190000 +0100\" stop=\"20261203210000 +0100\" channel=\"tve.es\">\
            <title>Fútbol: Atlético – Sevilla</title><desc>En directo desde el Metropolitano</desc>\
            </programme></tv>"
            .replace('–', "-");
        let bytes = latin1(&guide);
        for input in [bytes.clone(), gzip(&bytes)] {
            let parsed =
                parse(&input[..], &mut KeepAll(i64::MIN, i64::MAX), LIMITS).expect("latin-1 guide");
            assert_eq!(parsed.channels[0].names, ["Teledeporte España"]);
            assert_eq!(parsed.programmes[0].title, "Fútbol: Atlético - Sevilla");
        }
        let single_quoted = latin1(&guide.replace("\"ISO-8859-1\"", "'iso-8859-1'"));
        let parsed = parse(&single_quoted[..], &mut KeepAll(i64::MIN, i64::MAX), LIMITS)
            .expect("single quotes");
        assert_eq!(parsed.programmes[0].title, "Fútbol: Atlético - Sevilla");
    }

    #[test]
    fn a_guide_in_utf_16_with_its_byte_order_mark_is_read() {
        let guide = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><tv>\
            <channel id=\"a\"><display-name>Ünï</display-name></channel></tv>";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(guide.encode_utf16().flat_map(u16::to_le_bytes));
        let parsed =
            parse(&bytes[..], &mut KeepAll(i64::MIN, i64::MAX), LIMITS).expect("utf-16 guide");
        assert_eq!(parsed.channels[0].names, ["Ünï"]);
    }

    #[test]
    fn programmes_of_a_channel_listed_after_the_first_programme_are_kept() {
        // Real guides often interleave: each channel, then its programmes.
        let guide = r#"<tv>
<channel id="a.uk"><display-name>A</display-name></channel>
<programme start="20261203190000 +0000" stop="20261203200000 +0000" channel="a.uk"><title>A1</title></programme>
<channel id="b.uk"><display-name>B</display-name></channel>
<programme start="20261203190000 +0000" stop="20261203200000 +0000" channel="b.uk"><title>B1</title></programme>
<channel id="c.uk"/>
<programme start="20261203190000 +0000" stop="20261203200000 +0000" channel="c.uk"><title>C1</title></programme>
</tv>"#;
        let parsed =
            parse(guide.as_bytes(), &mut KeepAll(i64::MIN, i64::MAX), LIMITS).expect("guide");
        let titles: Vec<&str> = parsed.programmes.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["A1", "B1", "C1"]);
        assert_eq!(parsed.channels.len(), 3);
    }
}
