//! The documents of the HDHomeRun HTTP API, as pure functions of what the
//! tuner is and which channels it has: `discover.json`, `lineup.json`,
//! `lineup_status.json` and `device.xml` (also served as `/capability`).
//! Field names and types are the ones Plex, Jellyfin and Emby read.

use serde::Serialize;

use super::DeviceId;

/// A model that is not an `HDTC` one: Jellyfin offers transcoding profiles
/// (and appends `?transcode=…`) only for those, and acebridge does not transcode.
pub const MODEL_NUMBER: &str = "HDHR5-4US";
const FIRMWARE_NAME: &str = "hdhomerun5_atsc";
const FRIENDLY_NAME: &str = "acebridge";
const MANUFACTURER: &str = "acebridge";

/// What a tuner says about itself, and where its API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunerInfo {
    pub device_id: DeviceId,
    pub tuner_count: usize,
    /// `http://host:port` plus the tuner's path prefix, if any; no trailing slash.
    pub base_url: String,
}

/// `discover.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Discover {
    pub friendly_name: &'static str,
    pub manufacturer: &'static str,
    pub model_number: &'static str,
    pub firmware_name: &'static str,
    pub firmware_version: &'static str,
    #[serde(rename = "DeviceID")]
    pub device_id: String,
    pub device_auth: String,
    #[serde(rename = "BaseURL")]
    pub base_url: String,
    #[serde(rename = "LineupURL")]
    pub lineup_url: String,
    /// A JSON integer: sent as a string, Plex showed dozens of tuners.
    pub tuner_count: usize,
}

pub fn discover(tuner: &TunerInfo) -> Discover {
    Discover {
        friendly_name: FRIENDLY_NAME,
        manufacturer: MANUFACTURER,
        model_number: MODEL_NUMBER,
        firmware_name: FIRMWARE_NAME,
        firmware_version: env!("CARGO_PKG_VERSION"),
        device_id: tuner.device_id.to_string(),
        // Only SiliconDust's guide service checks it; it must be present.
        device_auth: format!("acebridge{}", tuner.device_id),
        base_url: tuner.base_url.clone(),
        lineup_url: format!("{}/lineup.json", tuner.base_url),
        tuner_count: tuner.tuner_count,
    }
}

/// One channel of the tuner, as the lineup lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunerChannel {
    pub number: u32,
    pub name: String,
    /// The URL that plays it.
    pub url: String,
}

/// An entry of `lineup.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LineupEntry {
    pub guide_number: String,
    pub guide_name: String,
    #[serde(rename = "URL")]
    pub url: String,
    /// 0 or 1, as real tuners send it. AceStream channels are nearly all HD,
    /// and nothing tells acebridge otherwise before they play.
    #[serde(rename = "HD")]
    pub hd: u8,
    pub favorite: u8,
}

/// `lineup.json`: the channels in the order given.
pub fn lineup(channels: &[TunerChannel]) -> Vec<LineupEntry> {
    channels
        .iter()
        .map(|channel| LineupEntry {
            guide_number: channel.number.to_string(),
            guide_name: channel.name.clone(),
            url: channel.url.clone(),
            hd: 1,
            favorite: 0,
        })
        .collect()
}

/// `lineup_status.json`: no scan runs, and none is needed (the lineup is
/// the saved channels), but one is "possible" so Plex offers its scan button.
pub fn lineup_status() -> serde_json::Value {
    serde_json::json!({
        "ScanInProgress": 0,
        "ScanPossible": 1,
        "Source": "Cable",
        "SourceList": ["Cable"],
    })
}

/// `device.xml` (and `/capability`): the UPnP root description.
pub fn device_xml(tuner: &TunerInfo) -> String {
    let base = xml_escape(&tuner.base_url);
    let id = tuner.device_id;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <URLBase>{base}</URLBase>
  <device>
    <deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>
    <friendlyName>{FRIENDLY_NAME}</friendlyName>
    <manufacturer>{MANUFACTURER}</manufacturer>
    <modelName>{MODEL_NUMBER}</modelName>
    <modelNumber>{MODEL_NUMBER}</modelNumber>
    <serialNumber>{id}</serialNumber>
    <UDN>uuid:{id}</UDN>
  </device>
</root>
"#
    )
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuner() -> TunerInfo {
        TunerInfo {
            device_id: DeviceId::parse("10311E80").expect("id"),
            tuner_count: 4,
            base_url: "http://192.168.1.5:6880".into(),
        }
    }

    #[test]
    fn discover_json_has_the_fields_media_centres_read_with_their_types() {
        let json = serde_json::to_value(discover(&tuner())).expect("json");
        assert_eq!(json["DeviceID"], "10311E80");
        assert_eq!(json["TunerCount"], 4, "an integer, not a string");
        assert!(json["TunerCount"].is_u64());
        assert_eq!(json["BaseURL"], "http://192.168.1.5:6880");
        assert_eq!(json["LineupURL"], "http://192.168.1.5:6880/lineup.json");
        for field in [
            "FriendlyName",
            "Manufacturer",
            "ModelNumber",
            "FirmwareName",
            "FirmwareVersion",
            "DeviceAuth",
        ] {
            assert!(
                json[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field}"
            );
        }
        assert!(!json["ModelNumber"].as_str().unwrap_or("").contains("HDTC"));
    }

    #[test]
    fn the_lineup_keeps_order_numbers_and_urls() {
        let channels = [
            TunerChannel {
                number: 7,
                name: "News".into(),
                url: "http://h/channel/a.ts".into(),
            },
            TunerChannel {
                number: 2,
                name: "Sport \"1\"".into(),
                url: "http://h/channel/b.ts".into(),
            },
        ];
        let json = serde_json::to_value(lineup(&channels)).expect("json");
        assert_eq!(
            json,
            serde_json::json!([
                {"GuideNumber": "7", "GuideName": "News", "URL": "http://h/channel/a.ts", "HD": 1, "Favorite": 0},
                {"GuideNumber": "2", "GuideName": "Sport \"1\"", "URL": "http://h/channel/b.ts", "HD": 1, "Favorite": 0},
            ])
        );
        assert_eq!(
            serde_json::to_value(lineup(&[])).expect("json"),
            serde_json::json!([])
        );
    }

    #[test]
    fn lineup_status_says_no_scan_is_running() {
        let status = lineup_status();
        assert_eq!(status["ScanInProgress"], 0);
        assert_eq!(status["ScanPossible"], 1);
        assert_eq!(status["SourceList"][0], "Cable");
    }

    #[test]
    fn device_xml_is_a_upnp_description_with_escaped_urls() {
        let mut info = tuner();
        info.base_url = "http://h:1/hdhr/a&b".into();
        let xml = device_xml(&info);
        assert!(
            xml.contains("<URLBase>http://h:1/hdhr/a&amp;b</URLBase>"),
            "{xml}"
        );
        assert!(xml.contains("<UDN>uuid:10311E80</UDN>"));
        assert!(xml.contains("<serialNumber>10311E80</serialNumber>"));
        assert!(xml.contains("urn:schemas-upnp-org:device:MediaServer:1"));
        assert!(xml.contains(r#"<root xmlns="urn:schemas-upnp-org:device-1-0">"#));
    }
}
