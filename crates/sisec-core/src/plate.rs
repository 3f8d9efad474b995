//! Licence plates: validation of a plate as read, normalisation (upper case,
//! letters and digits only) and a compact 64-bit key for hashing.
//!
//! Up to 10 characters from a 36-symbol alphabet fit in one `u64` (base 37, zero
//! reserved), so a plate is hashed and compared as an integer, never as a string.

use std::fmt;

/// Most characters a plate may have as read, separators included.
pub const MAX_RAW_LEN: usize = 16;
/// Fewest letters/digits in a plate.
pub const MIN_LEN: usize = 2;
/// Most letters/digits in a plate.
pub const MAX_LEN: usize = 10;

/// A normalised plate: 2..=10 upper-case ASCII letters and digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Plate {
    bytes: [u8; MAX_LEN],
    len: u8,
}

/// Why a string is not a plate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateError {
    /// More than [`MAX_RAW_LEN`] characters as read.
    TooLong,
    /// A character other than a letter, digit, space, dot or dash.
    BadCharacter,
    /// Fewer than [`MIN_LEN`] or more than [`MAX_LEN`] letters and digits.
    BadLength,
}

impl PlateError {
    pub fn describe(self) -> &'static str {
        match self {
            PlateError::TooLong => "plate is longer than 16 characters",
            PlateError::BadCharacter => {
                "plate may only hold ASCII letters, digits, spaces, dots and dashes"
            }
            PlateError::BadLength => "plate must hold 2 to 10 letters and digits",
        }
    }
}

const fn code(c: u8) -> u64 {
    match c {
        b'0'..=b'9' => (c - b'0') as u64 + 1,
        _ => (c - b'A') as u64 + 11,
    }
}

/// The key of normalised plate characters (see [`Plate::key`]); also of parts
/// of a plate, such as the plate without its first character.
pub fn key_of(chars: &[u8]) -> u64 {
    chars.iter().fold(0u64, |k, &c| k * 37 + code(c))
}

impl Plate {
    /// Validate a plate as read and normalise it (`"abc-123"` → `ABC123`).
    pub fn parse(raw: &str) -> Result<Plate, PlateError> {
        let raw_b = raw.as_bytes();
        // Non-ASCII input is rejected below; count characters only for the length rule.
        let n_chars = if raw.is_ascii() {
            raw_b.len()
        } else {
            raw.chars().count()
        };
        if n_chars > MAX_RAW_LEN {
            return Err(PlateError::TooLong);
        }
        let mut bytes = [0u8; MAX_LEN];
        let mut len = 0usize;
        for &c in raw_b {
            let up = match c {
                b'A'..=b'Z' | b'0'..=b'9' => c,
                b'a'..=b'z' => c - 32,
                b' ' | b'.' | b'-' => continue,
                _ => return Err(PlateError::BadCharacter),
            };
            if len == MAX_LEN {
                return Err(PlateError::BadLength);
            }
            bytes[len] = up;
            len += 1;
        }
        if len < MIN_LEN {
            return Err(PlateError::BadLength);
        }
        Ok(Plate {
            bytes,
            len: len as u8,
        })
    }

    /// The normalised plate as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("plate bytes are ASCII")
    }

    /// A unique integer for this plate (base-37 digits, zero reserved).
    pub fn key(&self) -> u64 {
        key_of(&self.bytes[..usize::from(self.len)])
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plate({})", self.as_str())
    }
}

impl fmt::Display for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_separators() {
        assert_eq!(Plate::parse("abc-123").unwrap().as_str(), "ABC123");
        assert_eq!(Plate::parse(" ABC 12d ").unwrap().as_str(), "ABC12D");
        assert_eq!(Plate::parse("ABC-123-A").unwrap().as_str(), "ABC123A");
        assert_eq!(Plate::parse("a.b").unwrap().as_str(), "AB");
    }

    #[test]
    fn rejects_non_plates() {
        assert_eq!(Plate::parse("A"), Err(PlateError::BadLength));
        assert_eq!(Plate::parse("- -"), Err(PlateError::BadLength));
        assert_eq!(Plate::parse("ABCDEFGHIJK"), Err(PlateError::BadLength));
        assert_eq!(Plate::parse("ÑAB123"), Err(PlateError::BadCharacter));
        assert_eq!(Plate::parse("AB_123"), Err(PlateError::BadCharacter));
        assert_eq!(Plate::parse("A-B-C-1-2-3-4-5-6"), Err(PlateError::TooLong));
        assert!(Plate::parse("A-B-C-1-2-3-4-56").is_ok());
    }

    #[test]
    fn keys_are_unique_per_plate() {
        let a = Plate::parse("AB").unwrap().key();
        let b = Plate::parse("AB0").unwrap().key();
        let c = Plate::parse("0AB").unwrap().key();
        let d = Plate::parse("ab").unwrap().key();
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_eq!(a, d);
        assert!(Plate::parse("ZZZZZZZZZZ").unwrap().key() < (1u64 << 53));
    }
}
