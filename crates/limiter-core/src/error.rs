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
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
        /// The prefix length that was given.
        len: u8,
    },
    /// A key cap of 0: a limiter must be able to track at least one key.
    MaxKeysOutOfRange {
        /// The cap that was given.
        max_keys: usize,
    },
    /// Rate text that is neither a decimal number nor `N/s`, `N/m` or `N/h`.
    MalformedRate {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: RateSyntax,
    },
}

/// Why a rate's text could not be read; part of [`ConfigError::MalformedRate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateSyntax {
    /// Not an unsigned decimal number: empty, signed, or holding other characters.
    NotANumber,
    /// A decimal with more than 9 fractional digits.
    TooManyFractionalDigits,
    /// A per-period rate whose unit is not `s`, `m` or `h`.
    UnknownUnit,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::CapacityOutOfRange { capacity } => write!(
                f,
                "capacity {capacity} is out of range: expected 1 to {} tokens",
                crate::MAX_CAPACITY
            ),
            ConfigError::RateOutOfRange { rate } => write!(
                f,
                "rate {:?} is out of range: expected {} to {} tokens per second",
                Quoted(rate),
                crate::Rate::MIN,
                crate::Rate::MAX
            ),
            ConfigError::PrefixOutOfRange { family, len } => {
                let bits = if *family == "IPv4" { 32 } else { 128 };
                write!(f, "{family} prefix /{len} is out of range: expected /0 to /{bits}")
            }
            ConfigError::MaxKeysOutOfRange { max_keys } => {
                write!(f, "key cap {max_keys} is out of range: expected at least 1")
            }
            ConfigError::MalformedRate { input, reason } => {
                write!(f, "invalid rate {:?}: {reason}", Quoted(input))
            }
        }
    }
}

impl fmt::Display for RateSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateSyntax::NotANumber => {
                "expected a decimal number of tokens per second like 5 or 0.5, or N/s, N/m or N/h"
            }
            RateSyntax::TooManyFractionalDigits => "more than 9 fractional digits",
            RateSyntax::UnknownUnit => "expected N/s, N/m or N/h",
        })
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
    pub fn new(input: &str) -> InvalidIp {
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
