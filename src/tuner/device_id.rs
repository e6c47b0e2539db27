//! The tuner's DeviceID: eight hex digits that pass libhdhomerun's checksum
//! (`hdhomerun_discover_validate_device_id`), made once per installation.
//! Media centres key the tuner and its channel mapping by this id, so it must
//! not change between runs; it is kept in the settings file.

use std::fmt;

/// libhdhomerun's substitution for the nibbles at bit offsets 28, 20, 12 and 4.
const NIBBLE_TABLE: [u8; 16] = [
    0xA, 0x5, 0xF, 0x6, 0x7, 0xC, 0x1, 0xB, 0x9, 0x2, 0x8, 0xD, 0x4, 0x3, 0xE, 0x0,
];

/// A DeviceID with a valid checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    #[error("a DeviceID is 8 hexadecimal digits, not {0:?}")]
    NotHex(String),
    #[error("{0:08X} fails the HDHomeRun DeviceID checksum")]
    Checksum(u32),
}

impl DeviceId {
    /// A new id from random bits. The first digit is never 0, 1 or F: 0 is
    /// "no id" to libhdhomerun, real HDHomeRun ids start with 1 (a collision
    /// with a real tuner on the LAN confuses clients), F is the wildcard's.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes)?;
        Ok(Self::from_random(u32::from_be_bytes(bytes)))
    }

    /// The valid id made of `bits`: first digit moved into 2..=E, the last
    /// digit chosen so the checksum is zero.
    fn from_random(bits: u32) -> Self {
        let first = 2 + (bits >> 28) % 13;
        let body = (first << 28) | (bits & 0x0FFF_FFF0);
        let last = u32::from(checksum(body));
        Self(body | last)
    }

    /// Parses an id as written (`1A2B3C4D`, any case): it must pass the checksum.
    pub fn parse(text: &str) -> Result<Self, DeviceIdError> {
        let text = text.trim();
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DeviceIdError::NotHex(text.to_owned()));
        }
        let value =
            u32::from_str_radix(text, 16).map_err(|_| DeviceIdError::NotHex(text.to_owned()))?;
        Self::from_u32(value)
    }

    /// The id `value` if it passes the checksum.
    pub fn from_u32(value: u32) -> Result<Self, DeviceIdError> {
        if checksum(value) == 0 {
            Ok(Self(value))
        } else {
            Err(DeviceIdError::Checksum(value))
        }
    }

    pub fn value(self) -> u32 {
        self.0
    }
}

/// libhdhomerun's checksum: XOR of the eight nibbles, every other one
/// through [`NIBBLE_TABLE`]; an id is valid when it is zero.
fn checksum(id: u32) -> u8 {
    (0..8).fold(0u8, |sum, index| {
        let shift = 28 - 4 * index;
        let nibble = ((id >> shift) & 0xF) as u8;
        sum ^ if index % 2 == 0 {
            NIBBLE_TABLE[usize::from(nibble)]
        } else {
            nibble
        }
    })
}

/// Upper-case, as HDHomeRun devices and `hdhomerun_config` write ids.
impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_real_devices_pass_and_their_neighbours_fail() {
        // Ids of real devices, as `hdhomerun_config discover` printed them.
        for real in ["10311E80", "10183772", "103DA852", "10B137F8"] {
            assert!(DeviceId::parse(real).is_ok(), "{real}");
        }
        let good = DeviceId::parse("10311E80").expect("valid").value();
        for bit in 0..32 {
            assert!(
                DeviceId::from_u32(good ^ (1 << bit)).is_err(),
                "flipping bit {bit} must break the checksum"
            );
        }
    }

    #[test]
    fn generated_ids_pass_the_checksum_and_avoid_reserved_first_digits() {
        for bits in [
            0,
            u32::MAX,
            0x1234_5678,
            0xF000_0000,
            0x0FFF_FFFF,
            0x1000_0001,
        ] {
            let id = DeviceId::from_random(bits);
            assert_eq!(checksum(id.value()), 0, "{id}");
            let first = id.value() >> 28;
            assert!((2..=0xE).contains(&first), "{id}");
            assert_eq!(DeviceId::parse(&id.to_string()), Ok(id));
        }
        let a = DeviceId::generate().expect("random");
        assert_eq!(checksum(a.value()), 0);
    }

    #[test]
    fn parse_refuses_what_is_not_an_id() {
        for bad in [
            "",
            "10311E8",
            "10311E800",
            "10311E8G",
            "+0311E80",
            "10311E81",
        ] {
            assert!(DeviceId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DeviceId::parse(" 10311e80 ").map(|id| id.to_string()),
            Ok("10311E80".into())
        );
    }
}
