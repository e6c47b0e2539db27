//! HDHomeRun discovery, the UDP protocol `libhdhomerun` speaks on port
//! 65001, so media centres and `hdhomerun_config discover` find acebridge
//! without an address typed in: the frame format (a big-endian type and
//! payload length, TLVs, a little-endian CRC-32 of both), the reply to a
//! discover request, and the task answering on the socket.
//!
//! A request names a device type and a device id, either of which may be the
//! wildcard; only requests matching a tuner with our id get a reply.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::DeviceId;

/// Where HDHomeRun clients send discover requests.
pub const DISCOVERY_PORT: u16 = 65001;

const DISCOVER_REQUEST: u16 = 0x0002;
const DISCOVER_REPLY: u16 = 0x0003;

const TAG_DEVICE_TYPE: u8 = 0x01;
const TAG_DEVICE_ID: u8 = 0x02;
const TAG_TUNER_COUNT: u8 = 0x10;
const TAG_LINEUP_URL: u8 = 0x27;
const TAG_BASE_URL: u8 = 0x2A;

const DEVICE_TYPE_TUNER: u32 = 0x0000_0001;
const WILDCARD: u32 = 0xFFFF_FFFF;

/// The longest TLV value the two-byte length form can say.
const MAX_VALUE_LEN: usize = 0x7FFF;
/// A discover request is a few dozen bytes; anything past this is not one.
const MAX_DATAGRAM: usize = 1500;

/// A frame: its type and its TLVs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u16,
    pub tlvs: Vec<(u8, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame too short")]
    Short,
    #[error("payload length {0} does not match the datagram")]
    Length(usize),
    #[error("CRC mismatch")]
    Crc,
    #[error("a TLV runs past the payload")]
    Tlv,
}

impl Frame {
    /// The frame's bytes. Values too long for a TLV are left out (ours never are).
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        for (tag, value) in &self.tlvs {
            if value.len() > MAX_VALUE_LEN {
                continue;
            }
            payload.push(*tag);
            if value.len() < 0x80 {
                payload.push(value.len() as u8);
            } else {
                payload.push(0x80 | (value.len() & 0x7F) as u8);
                payload.push((value.len() >> 7) as u8);
            }
            payload.extend_from_slice(value);
        }
        let mut frame = Vec::with_capacity(payload.len() + 8);
        frame.extend_from_slice(&self.kind.to_be_bytes());
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        frame.extend_from_slice(&payload);
        let crc = crc32fast::hash(&frame);
        frame.extend_from_slice(&crc.to_le_bytes());
        frame
    }

    /// Reads a frame, checking its length and CRC.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let header: [u8; 4] = bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(FrameError::Short)?;
        let kind = u16::from_be_bytes([header[0], header[1]]);
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if bytes.len() != 4 + length + 4 {
            return Err(FrameError::Length(length));
        }
        let (body, crc) = bytes.split_at(4 + length);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != crc {
            return Err(FrameError::Crc);
        }
        let mut payload = &body[4..];
        let mut tlvs = Vec::new();
        while !payload.is_empty() {
            let (&tag, rest) = payload.split_first().ok_or(FrameError::Tlv)?;
            let (&first, rest) = rest.split_first().ok_or(FrameError::Tlv)?;
            let (len, rest) = if first & 0x80 == 0 {
                (usize::from(first), rest)
            } else {
                let (&second, rest) = rest.split_first().ok_or(FrameError::Tlv)?;
                (usize::from(first & 0x7F) | usize::from(second) << 7, rest)
            };
            if rest.len() < len {
                return Err(FrameError::Tlv);
            }
            let (value, rest) = rest.split_at(len);
            tlvs.push((tag, value.to_vec()));
            payload = rest;
        }
        Ok(Self { kind, tlvs })
    }

    /// The first value of `tag` as a big-endian u32, if it is one.
    fn u32_of(&self, tag: u8) -> Option<u32> {
        self.tlvs
            .iter()
            .find(|(t, _)| *t == tag)
            .and_then(|(_, value)| <[u8; 4]>::try_from(value.as_slice()).ok())
            .map(u32::from_be_bytes)
    }
}

/// What a discover reply announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub device_id: DeviceId,
    pub tuner_count: usize,
    /// Where the HTTP API is, e.g. `http://127.0.0.1:6880`.
    pub base_url: String,
}

/// A discover request, as `libhdhomerun` sends it (for tests and tools).
pub fn request(device_type: u32, device_id: u32) -> Vec<u8> {
    Frame {
        kind: DISCOVER_REQUEST,
        tlvs: vec![
            (TAG_DEVICE_TYPE, device_type.to_be_bytes().to_vec()),
            (TAG_DEVICE_ID, device_id.to_be_bytes().to_vec()),
        ],
    }
    .encode()
}

/// The reply to `datagram`, if it is a discover request for a tuner with our
/// id (or the wildcard). A tag the request leaves out counts as the wildcard.
pub fn reply(datagram: &[u8], me: &Announcement) -> Option<Vec<u8>> {
    let request = Frame::decode(datagram).ok()?;
    if request.kind != DISCOVER_REQUEST {
        return None;
    }
    let device_type = request.u32_of(TAG_DEVICE_TYPE).unwrap_or(WILDCARD);
    let device_id = request.u32_of(TAG_DEVICE_ID).unwrap_or(WILDCARD);
    if device_type != WILDCARD && device_type != DEVICE_TYPE_TUNER {
        return None;
    }
    if device_id != WILDCARD && device_id != me.device_id.value() {
        return None;
    }
    let tuner_count = u8::try_from(me.tuner_count).unwrap_or(u8::MAX);
    let lineup_url = format!("{}/lineup.json", me.base_url);
    Some(
        Frame {
            kind: DISCOVER_REPLY,
            tlvs: vec![
                (TAG_DEVICE_TYPE, DEVICE_TYPE_TUNER.to_be_bytes().to_vec()),
                (TAG_DEVICE_ID, me.device_id.value().to_be_bytes().to_vec()),
                (TAG_TUNER_COUNT, vec![tuner_count]),
                (TAG_BASE_URL, me.base_url.clone().into_bytes()),
                (TAG_LINEUP_URL, lineup_url.into_bytes()),
            ],
        }
        .encode(),
    )
}

/// Binds the discovery socket on `ip`. A taken port is logged and gives
/// `None`: the HTTP API works without discovery (users type the address).
pub async fn bind(ip: IpAddr, port: u16) -> Option<UdpSocket> {
    match UdpSocket::bind((ip, port)).await {
        Ok(socket) => {
            tracing::info!(udp = %SocketAddr::new(ip, port), "answering HDHomeRun discovery");
            Some(socket)
        }
        Err(error) => {
            tracing::warn!(
                udp = %SocketAddr::new(ip, port),
                %error,
                "HDHomeRun discovery is off (is another tuner program running?); \
                 media centres can still add the tuner by its address"
            );
            None
        }
    }
}

/// Where the tuner's HTTP API is, for the replies.
#[derive(Debug, Clone)]
pub struct HttpApi {
    /// The address it listens on, when it is one address; else each reply
    /// uses the address the requester reaches us at.
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// The tuner's path prefix; empty at the root.
    pub path: String,
    /// Set when requests from this machine get the tuner at the root of
    /// this address instead (the server shared by the LAN switch listens on
    /// loopback, where the tuner needs no token).
    pub local_root: Option<IpAddr>,
}

/// Answers discover requests on `socket` until `stop`.
pub async fn respond(
    socket: UdpSocket,
    device_id: DeviceId,
    tuner_count: usize,
    http: HttpApi,
    stop: CancellationToken,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from earlier replies surface here on some systems.
                tracing::debug!(%error, "discovery socket");
                continue;
            }
        };
        let (ip, path) = match http.local_root {
            Some(local) if peer.ip().is_loopback() => (Some(local), ""),
            _ => (
                http.ip
                    .or_else(|| local_ip_towards(peer, socket.local_addr().ok())),
                http.path.as_str(),
            ),
        };
        let Some(ip) = ip else {
            continue;
        };
        let me = Announcement {
            device_id,
            tuner_count,
            base_url: format!("http://{}{path}", SocketAddr::new(ip, http.port)),
        };
        if let Some(answer) = buffer.get(..len).and_then(|request| reply(request, &me)) {
            if let Err(error) = socket.send_to(&answer, peer).await {
                tracing::debug!(%peer, %error, "discovery reply not sent");
            }
        }
    }
}

/// Our address as `peer` sees it: the socket's own if it is bound to one,
/// else the one the OS routes to `peer` from.
fn local_ip_towards(peer: SocketAddr, bound: Option<SocketAddr>) -> Option<IpAddr> {
    if let Some(bound) = bound.filter(|addr| !addr.ip().is_unspecified()) {
        return Some(bound.ip());
    }
    crate::lan::route_towards(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Announcement {
        Announcement {
            device_id: DeviceId::parse("10311E80").expect("id"),
            tuner_count: 4,
            base_url: "http://127.0.0.1:6880".into(),
        }
    }

    /// The request `hdhomerun_config discover` sends, byte for byte as
    /// libhdhomerun builds it, with its CRC computed independently.
    #[test]
    fn a_libhdhomerun_request_is_understood() {
        let bytes = request(WILDCARD, WILDCARD);
        assert_eq!(
            &bytes[..16],
            &[0, 2, 0, 12, 1, 4, 0xFF, 0xFF, 0xFF, 0xFF, 2, 4, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        // zlib.crc32 of the 16 bytes above, little-endian: the 20 bytes are
        // also the ones Jellyfin's tuner discovery broadcasts, as a constant.
        assert_eq!(&bytes[16..], &[0x73, 0xCC, 0x7D, 0x8F]);
        let frame = Frame::decode(&bytes).expect("decode");
        assert_eq!(frame.kind, DISCOVER_REQUEST);
        assert_eq!(frame.u32_of(TAG_DEVICE_ID), Some(WILDCARD));
    }

    #[test]
    fn the_reply_announces_type_id_tuners_and_urls() {
        let answer = reply(&request(WILDCARD, WILDCARD), &me()).expect("reply");
        let frame = Frame::decode(&answer).expect("decode");
        assert_eq!(frame.kind, DISCOVER_REPLY);
        assert_eq!(frame.u32_of(TAG_DEVICE_TYPE), Some(DEVICE_TYPE_TUNER));
        assert_eq!(frame.u32_of(TAG_DEVICE_ID), Some(0x1031_1E80));
        let value = |tag| {
            frame
                .tlvs
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value(TAG_TUNER_COUNT), Some(vec![4]));
        assert_eq!(value(TAG_BASE_URL), Some(b"http://127.0.0.1:6880".to_vec()));
        assert_eq!(
            value(TAG_LINEUP_URL),
            Some(b"http://127.0.0.1:6880/lineup.json".to_vec())
        );
    }

    #[test]
    fn only_requests_for_a_tuner_with_our_id_are_answered() {
        assert!(reply(&request(DEVICE_TYPE_TUNER, 0x1031_1E80), &me()).is_some());
        assert!(reply(&request(DEVICE_TYPE_TUNER, WILDCARD), &me()).is_some());
        assert!(reply(&request(WILDCARD, 0x1018_3772), &me()).is_none());
        assert!(reply(&request(5, WILDCARD), &me()).is_none(), "storage");
        let reply_frame = reply(&request(WILDCARD, WILDCARD), &me()).expect("reply");
        assert!(
            reply(&reply_frame, &me()).is_none(),
            "a reply is no request"
        );
    }

    #[test]
    fn damaged_frames_are_refused() {
        let good = request(WILDCARD, WILDCARD);
        let mut bad_crc = good.clone();
        bad_crc[6] ^= 1;
        assert_eq!(Frame::decode(&bad_crc), Err(FrameError::Crc));
        assert_eq!(Frame::decode(&good[..3]), Err(FrameError::Short));
        assert!(matches!(
            Frame::decode(&good[..good.len() - 1]),
            Err(FrameError::Length(_))
        ));
        // A TLV claiming more bytes than the payload holds, with a valid CRC.
        let mut body = vec![0, 2, 0, 3, TAG_DEVICE_ID, 9, 0];
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(Frame::decode(&body), Err(FrameError::Tlv));
        for garbage in [&[][..], &[0xFF; 7], &[0; 64]] {
            assert!(reply(garbage, &me()).is_none());
        }
    }

    #[test]
    fn long_values_use_the_two_byte_length() {
        let long = vec![b'x'; 300];
        let frame = Frame {
            kind: DISCOVER_REPLY,
            tlvs: vec![(TAG_BASE_URL, long.clone())],
        };
        let bytes = frame.encode();
        assert_eq!(
            &bytes[4..7],
            &[TAG_BASE_URL, 0x80 | 0x2C, 2],
            "300 = 2 << 7 | 0x2C"
        );
        assert_eq!(Frame::decode(&bytes), Ok(frame));
    }
}
