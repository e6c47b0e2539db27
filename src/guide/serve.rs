//! The guide acebridge serves (`/epg.xml`): one XMLTV document holding
//! exactly the saved channels, each under the id `/playlist.m3u` writes as
//! its `tvg-id` ([`served_ids`]), with its name and number as display
//! names (media centres match tuner channels by number) and its logo, and
//! the programmes kept for it; a channel without any gets placeholder
//! blocks named after it (unless turned off), so grids still list it.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::xmltv::{format_time, Programme};
use super::{Guide, KEEP_AHEAD, KEEP_BEHIND};
use crate::config::Settings;
use crate::saved::SavedChannel;

/// Length of a placeholder programme.
const PLACEHOLDER_SECS: i64 = 2 * 3600;

/// The id each saved channel has in the served guide and the playlist:
/// its `tvg-id` when it has the form XMLTV asks for (`name.domain`) and no
/// other saved channel has the same (any case), else `<key>.acebridge`,
/// which is unique and stable.
pub fn served_ids(channels: &[SavedChannel]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for channel in channels {
        if let Some(id) = tvg_id(channel) {
            *counts.entry(id.to_lowercase()).or_default() += 1;
        }
    }
    channels
        .iter()
        .map(|channel| match tvg_id(channel) {
            Some(id) if counts.get(&id.to_lowercase()) == Some(&1) => id.to_owned(),
            _ => format!("{}.acebridge", channel.key()),
        })
        .collect()
}

fn tvg_id(channel: &SavedChannel) -> Option<&str> {
    channel
        .tvg_id
        .as_deref()
        .map(str::trim)
        .filter(|id| is_xmltv_id(id))
}

/// Whether `id` has the form of an XMLTV channel id: words of letters,
/// digits and dashes joined by dots, at least two (`bbc1.uk`).
fn is_xmltv_id(id: &str) -> bool {
    let words: Vec<&str> = id.split('.').collect();
    words.len() >= 2
        && words.iter().all(|word| {
            !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Text made safe for XML: escaped, and without the characters XML 1.0
/// cannot carry (control characters a source sent as character references).
fn text(value: &str) -> String {
    let allowed: String = value
        .chars()
        .filter(|c| {
            matches!(c, '\t' | '\n' | '\r') || (*c >= ' ' && *c != '\u{FFFE}' && *c != '\u{FFFF}')
        })
        .collect();
    quick_xml::escape::escape(allowed.as_str()).into_owned()
}

/// `/epg.xml` at `now` (Unix seconds).
pub fn document(settings: &Settings, guide: &Guide, now: i64) -> String {
    let ids = served_ids(&settings.channels);
    let mut out = String::with_capacity(4096 + settings.channels.len() * 2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n");
    out.push_str("<tv generator-info-name=\"acebridge\">\n");
    for (saved, id) in settings.channels.iter().zip(&ids) {
        let icon = saved
            .logo
            .clone()
            .or_else(|| guide.matched(saved).and_then(|matched| matched.icon));
        let _ = write!(
            out,
            "  <channel id=\"{}\">\n    <display-name>{}</display-name>\n",
            text(id),
            text(&saved.title())
        );
        if let Some(number) = saved.number {
            let _ = writeln!(out, "    <display-name>{number}</display-name>");
        }
        if let Some(icon) = icon {
            let _ = writeln!(out, "    <icon src=\"{}\" />", text(&icon));
        }
        out.push_str("  </channel>\n");
    }
    let (from, to) = (now - KEEP_BEHIND, now + KEEP_AHEAD);
    for (saved, id) in settings.channels.iter().zip(&ids) {
        let programmes = guide.programmes(saved, from, to);
        if programmes.is_empty() {
            if settings.guide.placeholders() {
                placeholders(&mut out, id, &saved.title(), from, to);
            }
            continue;
        }
        for programme in &programmes {
            write_programme(&mut out, id, programme);
        }
    }
    out.push_str("</tv>\n");
    out
}

fn write_programme(out: &mut String, id: &str, programme: &Programme) {
    let _ = writeln!(
        out,
        "  <programme start=\"{}\" stop=\"{}\" channel=\"{}\">",
        format_time(programme.start),
        format_time(programme.stop),
        text(id)
    );
    let _ = writeln!(out, "    <title>{}</title>", text(&programme.title));
    if let Some(sub_title) = &programme.sub_title {
        let _ = writeln!(out, "    <sub-title>{}</sub-title>", text(sub_title));
    }
    if let Some(desc) = &programme.desc {
        let _ = writeln!(out, "    <desc>{}</desc>", text(desc));
    }
    for category in &programme.categories {
        let _ = writeln!(out, "    <category>{}</category>", text(category));
    }
    if let Some(icon) = &programme.icon {
        let _ = writeln!(out, "    <icon src=\"{}\" />", text(icon));
    }
    for episode in &programme.episode_nums {
        let system = episode.system.as_deref().unwrap_or("onscreen");
        let _ = writeln!(
            out,
            "    <episode-num system=\"{}\">{}</episode-num>",
            text(system),
            text(&episode.value)
        );
    }
    out.push_str("  </programme>\n");
}

/// Blocks of [`PLACEHOLDER_SECS`] named `title`, on whole block
/// boundaries, covering `from..to`.
fn placeholders(out: &mut String, id: &str, title: &str, from: i64, to: i64) {
    let mut start = from - from.rem_euclid(PLACEHOLDER_SECS);
    while start < to {
        write_programme(
            out,
            id,
            &Programme {
                start,
                stop: start + PLACEHOLDER_SECS,
                title: title.to_owned(),
                ..Programme::default()
            },
        );
        start += PLACEHOLDER_SECS;
    }
}

/// `document` gzipped, for `/epg.xml.gz`.
pub fn gzip(document: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(document.len() / 8),
        flate2::Compression::default(),
    );
    encoder.write_all(document.as_bytes())?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_id::ContentId;

    fn saved(n: u8, tvg_id: Option<&str>) -> SavedChannel {
        let mut channel =
            SavedChannel::new(ContentId::parse(&format!("{n:x}").repeat(40)).expect("id"));
        channel.tvg_id = tvg_id.map(str::to_owned);
        channel
    }

    #[test]
    fn served_ids_are_tvg_ids_when_unique_else_keys() {
        let channels = [
            saved(1, Some("sky.uk")),
            saved(2, Some("SKY.uk")),
            saved(3, Some("bbc.uk")),
            saved(4, None),
            saved(5, Some("Sky Sports")),
            saved(6, Some("sky..uk")),
        ];
        let key = |n: &str| format!("{}.acebridge", n.repeat(40));
        assert_eq!(
            served_ids(&channels),
            [
                key("1"),
                key("2"),
                "bbc.uk".into(),
                key("4"),
                key("5"),
                key("6")
            ]
        );
    }

    #[test]
    fn channels_without_programmes_get_placeholders_unless_turned_off() {
        let mut channel = saved(1, Some("x"));
        channel.name = Some("News <24> & \u{1}co".into());
        channel.number = Some(7);
        let mut settings = Settings {
            channels: vec![channel],
            ..Settings::default()
        };
        let guide = Guide::default();
        let now = 1_796_324_400;
        let xml = document(&settings, &guide, now);
        assert!(
            xml.contains("<display-name>News &lt;24&gt; &amp; co</display-name>"),
            "{xml}"
        );
        assert!(xml.contains("<display-name>7</display-name>"));
        let blocks = xml.matches("<programme ").count() as i64;
        assert_eq!(blocks, (KEEP_BEHIND + KEEP_AHEAD) / PLACEHOLDER_SECS + 1);
        settings.guide.placeholders = Some(false);
        assert!(!document(&settings, &guide, now).contains("<programme "));
    }
}
