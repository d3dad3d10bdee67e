//! Error types, one per operation.

use std::fmt;

/// The longest part of a rejected input that an error message quotes.
const QUOTED_MAX: usize = 64;

/// A limiter or rate could not be built from the given settings.
///
/// Every variant names the offending value, and its message states the range
/// that is allowed.
///
/// # Example
///
/// ```
/// use limiter_core::{ConfigError, RateLimiter};
///
/// let err = RateLimiter::new(0, 5.0).unwrap_err();
/// assert_eq!(err, ConfigError::CapacityOutOfRange { capacity: 0 });
/// assert_eq!(err.to_string(), "capacity 0 is out of range: expected 1 to 1000000000 tokens");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The capacity is 0 or above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    CapacityOutOfRange {
        /// The capacity that was given.
        capacity: u64,
    },
    /// The rate is not within [`Rate::MIN`](crate::Rate::MIN)`..=`[`Rate::MAX`](crate::Rate::MAX):
    /// zero, negative, NaN, infinite, too small (or rounding to 0) or too large.
    RateOutOfRange {
        /// The rate as it was given.
        rate: String,
    },
    /// An address prefix longer than its family's addresses: above 32 bits for
    /// IPv4 or 128 bits for IPv6.
    PrefixOutOfRange {
        /// The family whose prefix it is.
        family: IpFamily,
        /// The prefix length that was given.
        len: u8,
    },
    /// A key cap of 0: a limiter must be able to track at least one key.
    MaxKeysOutOfRange {
        /// The cap that was given.
        max_keys: usize,
    },
}

/// An IP address family, as errors name it.
///
/// The two families are all there are, so the enum is exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4: 32-bit addresses.
    V4,
    /// IPv6: 128-bit addresses.
    V6,
}

impl IpFamily {
    /// The length of the family's addresses, in bits: the longest prefix.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// Text that [`Rate`](crate::Rate)'s `FromStr` could not read as a rate.
///
/// It keeps the text and the reason; the message quotes at most the first
/// 64 characters of the text.
///
/// # Example
///
/// ```
/// use limiter_core::{Rate, RateErrorKind};
///
/// let err = "5/d".parse::<Rate>().unwrap_err();
/// assert_eq!((err.input(), err.kind()), ("5/d", RateErrorKind::UnknownUnit));
/// assert_eq!(err.to_string(), r#"invalid rate "5/d": expected N/s, N/m or N/h"#);
/// let err = "0".parse::<Rate>().unwrap_err();
/// assert_eq!(err.kind(), RateErrorKind::OutOfRange);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRateError {
    input: String,
    kind: RateErrorKind,
}

/// Why a rate's text could not be read; see [`ParseRateError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateErrorKind {
    /// Not an unsigned decimal number: empty, signed, or holding other characters.
    NotANumber,
    /// A decimal with more than 9 fractional digits.
    TooManyFractionalDigits,
    /// A per-period rate whose unit is not `s`, `m` or `h`.
    UnknownUnit,
    /// A well-formed rate outside [`Rate::MIN`](crate::Rate::MIN)`..=`[`Rate::MAX`](crate::Rate::MAX),
    /// zero included.
    OutOfRange,
}

impl ParseRateError {
    pub(crate) fn new(input: &str, kind: RateErrorKind) -> ParseRateError {
        ParseRateError { input: input.to_owned(), kind }
    }

    /// The text that was given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn kind(&self) -> RateErrorKind {
        self.kind
    }
}

impl fmt::Display for ParseRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = Quoted(&self.input);
        let reason = match self.kind {
            RateErrorKind::OutOfRange => return out_of_range(f, input),
            RateErrorKind::NotANumber => {
                "expected a decimal number of tokens per second like 5 or 0.5, or N/s, N/m or N/h"
            }
            RateErrorKind::TooManyFractionalDigits => "more than 9 fractional digits",
            RateErrorKind::UnknownUnit => "expected N/s, N/m or N/h",
        };
        write!(f, "invalid rate {input:?}: {reason}")
    }
}

impl std::error::Error for ParseRateError {}

/// The message of a rate out of range, as given.
fn out_of_range(f: &mut fmt::Formatter<'_>, rate: Quoted<'_>) -> fmt::Result {
    write!(
        f,
        "rate {rate:?} is out of range: expected {} to {} tokens per second",
        crate::Rate::MIN,
        crate::Rate::MAX
    )
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::CapacityOutOfRange { capacity } => write!(
                f,
                "capacity {capacity} is out of range: expected 1 to {} tokens",
                crate::MAX_CAPACITY
            ),
            ConfigError::RateOutOfRange { rate } => out_of_range(f, Quoted(rate)),
            ConfigError::PrefixOutOfRange { family, len } => {
                let bits = family.bits();
                write!(f, "{family} prefix /{len} is out of range: expected /0 to /{bits}")
            }
            ConfigError::MaxKeysOutOfRange { max_keys } => {
                write!(f, "key cap {max_keys} is out of range: expected at least 1")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Text that is not an IP address as [`std::net::IpAddr`] parses it.
///
/// The error keeps at most the first 64 characters of the input, so a
/// megabyte of junk costs nothing to report; [`InvalidIp::len`] tells the
/// full length.
///
/// # Example
///
/// ```
/// use limiter_core::RateLimiter;
///
/// let limiter = RateLimiter::new(10, 5.0)?;
/// let err = limiter.allow("10.0.0.300").unwrap_err();
/// assert_eq!(err.to_string(), r#"invalid IP address "10.0.0.300""#);
/// assert!(limiter.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIp {
    input: String,
    len: usize,
}

impl InvalidIp {
    /// Records `input` as rejected, shortened to its first 64 characters.
    pub(crate) fn new(input: &str) -> InvalidIp {
        let end = input.char_indices().nth(QUOTED_MAX).map_or(input.len(), |(i, _)| i);
        InvalidIp { input: input[..end].to_owned(), len: input.len() }
    }

    /// The rejected input, or its first 64 characters when it was longer.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The length of the whole rejected input, in bytes.
    #[allow(clippy::len_without_is_empty, reason = "an input's length, not a collection's")]
    pub fn len(&self) -> usize {
        self.len
    }
}

impl fmt::Display for InvalidIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid IP address {:?}", self.input)?;
        if self.len > self.input.len() {
            write!(f, " (shortened, {} bytes in all)", self.len)?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidIp {}

/// Formats a value as a quoted string, shortened like [`InvalidIp`].
struct Quoted<'a>(&'a str);

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.0.char_indices().nth(QUOTED_MAX).map_or(self.0.len(), |(i, _)| i);
        fmt::Debug::fmt(&self.0[..end], f)?;
        if end < self.0.len() {
            write!(f, " (shortened, {} bytes in all)", self.0.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_ip_shortens_long_input_on_a_char_boundary() {
        let junk = "é".repeat(500_000);
        let err = InvalidIp::new(&junk);
        assert_eq!(err.input().chars().count(), 64);
        assert_eq!(err.len(), 1_000_000);
        assert_eq!(
            err.to_string(),
            format!("invalid IP address {:?} (shortened, 1000000 bytes in all)", "é".repeat(64))
        );
    }

    #[test]
    fn invalid_ip_escapes_control_characters() {
        assert_eq!(InvalidIp::new("1.2.3.4\n").to_string(), r#"invalid IP address "1.2.3.4\n""#);
    }

    #[test]
    fn config_errors_name_the_value_and_the_range() {
        let err = ConfigError::RateOutOfRange { rate: "NaN".into() };
        assert_eq!(
            err.to_string(),
            r#"rate "NaN" is out of range: expected 0.000000001 to 1000000000 tokens per second"#
        );
        let err = ConfigError::CapacityOutOfRange { capacity: 1_000_000_001 };
        assert_eq!(
            err.to_string(),
            "capacity 1000000001 is out of range: expected 1 to 1000000000 tokens"
        );
    }
}
