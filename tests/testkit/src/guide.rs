//! XMLTV guides for tests: times in any UTC offset, a small guide around
//! now whose programmes tests name, a large generated one (gzip) for the
//! memory and time bounds, and files served over HTTP whose contents and
//! status a test changes while they are served.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

/// `unix` as an XMLTV time in the zone `offset_mins` east of UTC
/// (`20261203200000 +0100`).
pub fn xmltv_time(unix: i64, offset_mins: i64) -> String {
    let local = unix + offset_mins * 60;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let sign = if offset_mins < 0 { '-' } else { '+' };
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02} {sign}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        offset_mins.abs() / 60,
        offset_mins.abs() % 60
    )
}

/// The calendar date `days` after 1970-01-01 (Howard Hinnant's algorithm;
/// the kit does without a date crate).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// A guide of four channels (`Sky.F1.uk` "Sky Sports F1", `bbc1.uk` "BBC
/// One", `dazn1.es` "DAZN 1", `other.fr` "Other") whose programmes run
/// around `now` (each on now for at least 20 minutes more), written in
/// several UTC offsets. On `Sky.F1.uk`: "Race & Build-up", then "Chequered
/// Flag"; on `bbc1.uk`: "News", then "Arsenal v Spurs"; on `dazn1.es`:
/// "LaLiga"; on `other.fr`: "Never kept".
pub fn sample(now: i64) -> String {
    let programme = |channel: &str, start: i64, stop: i64, offset: i64, title: &str| {
        format!(
            "<programme start=\"{}\" stop=\"{}\" channel=\"{channel}\"><title lang=\"en\">{title}</title>\
             <sub-title>Part 1</sub-title><desc>About {title}</desc><category>Sport</category>\
             <icon src=\"http://img/{channel}.png\"/><episode-num system=\"xmltv_ns\">1.2.0/1</episode-num></programme>\n",
            xmltv_time(start, offset),
            xmltv_time(stop, offset)
        )
    };
    let mut text = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n<tv>\n\
         <channel id=\"Sky.F1.uk\"><display-name>Sky Sports F1</display-name><icon src=\"http://img/f1.png\"/></channel>\n\
         <channel id=\"bbc1.uk\"><display-name>BBC One</display-name></channel>\n\
         <channel id=\"dazn1.es\"><display-name>DAZN 1</display-name></channel>\n\
         <channel id=\"other.fr\"><display-name>Other</display-name></channel>\n",
    );
    text += &programme(
        "sky.f1.uk",
        now - 3600,
        now + 1800,
        60,
        "Race &amp; Build-up",
    );
    text += &programme("Sky.F1.uk", now + 1800, now + 5400, -300, "Chequered Flag");
    text += &programme("bbc1.uk", now - 600, now + 1200, 0, "News");
    text += &programme("bbc1.uk", now + 1200, now + 7200, 330, "Arsenal v Spurs");
    text += &programme("dazn1.es", now - 600, now + 5400, 120, "LaLiga");
    text += &programme("other.fr", now, now + 3600, 60, "Never kept");
    text += "</tv>\n";
    text
}

/// A gzip guide of `channels` channels (`ch<n>.test`, "Channel <n>") with
/// `per_channel` half-hour programmes each, starting a day before `now`,
/// with descriptions as real guides have.
pub fn large(channels: usize, per_channel: usize, now: i64) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut out = String::with_capacity(1 << 20);
    let mut flush = |out: &mut String, force: bool| {
        if force || out.len() > (1 << 20) {
            encoder.write_all(out.as_bytes()).expect("gzip");
            out.clear();
        }
    };
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv generator-info-name=\"testkit\">\n",
    );
    for n in 0..channels {
        out.push_str(&format!(
            "  <channel id=\"ch{n}.test\"><display-name>Channel {n}</display-name><icon src=\"http://img/{n}.png\"/></channel>\n"
        ));
        flush(&mut out, false);
    }
    let first = now - now.rem_euclid(1800) - 86_400;
    for n in 0..channels {
        for p in 0..per_channel {
            let start = first + p as i64 * 1800;
            out.push_str(&format!(
                "  <programme start=\"{}\" stop=\"{}\" channel=\"ch{n}.test\"><title>Show {p} on {n}</title>\
                 <desc>Episode {p} of a programme on channel {n}, described at the length real guides use for their descriptions.</desc>\
                 <category>Entertainment</category></programme>\n",
                xmltv_time(start, 60),
                xmltv_time(start + 1800, 60)
            ));
            flush(&mut out, false);
        }
    }
    out.push_str("</tv>\n");
    flush(&mut out, true);
    encoder.finish().expect("gzip")
}

/// A served file: its status and body, by path (shared, not copied, per request).
type Served = HashMap<String, (u16, bytes::Bytes)>;

/// Files served over HTTP on a real socket; a test changes their contents
/// and status while they are served. Unknown paths are 404.
#[derive(Clone, Default)]
pub struct ServedFiles(Arc<Mutex<Served>>);

impl ServedFiles {
    /// Serves until the runtime ends; answers `http://127.0.0.1:PORT`.
    pub async fn start(&self) -> String {
        let files = self.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let files = files.clone();
            async move {
                let found = files.0.lock().ok().and_then(|f| f.get(uri.path()).cloned());
                let (status, body) =
                    found.unwrap_or((404, bytes::Bytes::from_static(b"not found")));
                let status = axum::http::StatusCode::from_u16(status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                (status, body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the file server");
        let addr = listener.local_addr().expect("file server address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// What the next request for `path` gets.
    pub fn set(&self, path: &str, status: u16, body: impl Into<bytes::Bytes>) {
        if let Ok(mut files) = self.0.lock() {
            files.insert(path.to_owned(), (status, body.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_their_offset() {
        assert_eq!(xmltv_time(1_796_324_400, 60), "20261203200000 +0100");
        assert_eq!(xmltv_time(1_796_324_400, -300), "20261203140000 -0500");
        assert_eq!(xmltv_time(0, 0), "19700101000000 +0000");
        assert_eq!(xmltv_time(951_782_400, 0), "20000229000000 +0000");
    }
}
