//! Trace timestamps, decimal seconds or RFC 3339, read exactly to nanoseconds.
//!
//! Everything is integer arithmetic on the text's digits: `0.1` is exactly
//! 100 000 000 ns, and no value passes through `f64`. Every timestamp must lie
//! in `[0, 2⁶³)` ns after the Unix epoch, that is from
//! `1970-01-01T00:00:00Z` to `2262-04-11T23:47:16.854775807Z`.
//!
//! The calendar (which dates exist, days since the epoch, formatting) is
//! jiff's. The RFC 3339 grammar is read here, not by jiff's parser, for two
//! reasons measured against jiff 0.2.46 on a million RFC 3339 stamps in a
//! release build: jiff's `Timestamp::from_str` accepts five forms SPEC's fine
//! print calls malformed (a space for `T`, offsets `+0100` and `+01`, a
//! decimal comma, and second 60, which it reads as 59), so a strict check
//! would have to scan the text before it anyway; and it takes 72 ns a stamp
//! where this scan plus jiff's calendar takes 28 to 30 ns, on the replay's
//! hot path. The decimal form has no crate to hand it to: it is seconds since
//! the epoch with up to 9 exact fractional digits.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::Offset;

/// The largest valid timestamp, `2⁶³ − 1` ns after the Unix epoch.
pub const MAX_NANOS: u64 = i64::MAX as u64;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Why a timestamp could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    /// The field is empty.
    Empty,
    /// Not digits with an optional `.` and fractional digits, and not a date.
    NotANumber,
    /// A decimal or RFC 3339 fraction with more than 9 digits.
    TooManyFractionalDigits,
    /// Starts like a date but is not `YYYY-MM-DDTHH:MM:SS[.f](Z|±hh:mm)`.
    NotRfc3339,
    /// Not a common log format time, `dd/Mon/yyyy:HH:MM:SS ±hhmm`.
    NotLogTime,
    /// A month above 12, or a day the month does not have.
    NoSuchDate,
    /// An hour above 23, or a minute or second above 59 (but not 60).
    NoSuchTime,
    /// Second 60: leap seconds have no place on this time line.
    LeapSecond,
    /// A time-zone offset with hours above 23 or minutes above 59.
    BadOffset,
    /// Before the Unix epoch, or at or after 2⁶³ ns past it.
    OutOfRange,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampError::Empty => "empty",
            TimestampError::NotANumber => "not a decimal number of seconds",
            TimestampError::TooManyFractionalDigits => "more than 9 fractional digits",
            TimestampError::NotRfc3339 => {
                "not an RFC 3339 date-time like 2023-11-14T22:13:20.5Z or 2023-11-14T23:13:20+01:00"
            }
            TimestampError::NotLogTime => {
                "not a common log format time like 10/Oct/2000:13:55:36 -0700"
            }
            TimestampError::NoSuchDate => "no such calendar date",
            TimestampError::NoSuchTime => "no such time of day",
            TimestampError::LeapSecond => "leap seconds (second 60) are not supported",
            TimestampError::BadOffset => {
                "time-zone offset out of range (at most 23 hours and 59 minutes)"
            }
            TimestampError::OutOfRange => {
                "out of range: expected 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z \
                 (0 to 2^63-1 ns)"
            }
        })
    }
}

/// Reads a trace timestamp: decimal seconds, or an RFC 3339 date-time when
/// the text starts with four digits and a `-`.
#[inline]
pub fn parse(text: &[u8]) -> Result<u64, TimestampError> {
    if text.len() > 4 && text[4] == b'-' && text[..4].iter().all(u8::is_ascii_digit) {
        parse_rfc3339(text)
    } else {
        parse_decimal(text)
    }
}

/// Reads `digits[.1-9 digits]` seconds as nanoseconds.
#[inline]
pub fn parse_decimal(text: &[u8]) -> Result<u64, TimestampError> {
    if text.is_empty() {
        return Err(TimestampError::Empty);
    }
    let int_len = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if int_len == 0 {
        return Err(TimestampError::NotANumber);
    }
    let frac_nanos = match &text[int_len..] {
        [] => 0,
        [b'.', frac @ ..] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {
            fraction_nanos(frac)?
        }
        _ => return Err(TimestampError::NotANumber),
    };
    // Leading zeros are allowed; more than 10 significant digits is at least
    // 10¹⁰ s, past the end of the range. At most 10 digits cannot overflow.
    let int = &text[..int_len];
    let significant = &int[int.iter().take_while(|&&b| b == b'0').count()..];
    if significant.len() > 10 {
        return Err(TimestampError::OutOfRange);
    }
    let secs = significant.iter().fold(0, |v, &d| v * 10 + u64::from(d - b'0'));
    let nanos = secs * NANOS_PER_SEC + frac_nanos;
    if nanos > MAX_NANOS { Err(TimestampError::OutOfRange) } else { Ok(nanos) }
}

/// Reads `YYYY-MM-DD(T|t)HH:MM:SS[.1-9 digits](Z|z|±hh:mm)`.
pub fn parse_rfc3339(text: &[u8]) -> Result<u64, TimestampError> {
    use TimestampError::NotRfc3339;
    if text.len() < 20 {
        return Err(NotRfc3339);
    }
    // The fixed-width `YYYY-MM-DDTHH:MM:SS`, its digits checked together.
    let digit = |i: usize| u32::from(text[i].wrapping_sub(b'0'));
    let not_digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .fold(false, |bad, &i| bad | (digit(i) > 9));
    let separators = text[4] == b'-'
        && text[7] == b'-'
        && matches!(text[10], b'T' | b't')
        && text[13] == b':'
        && text[16] == b':';
    if not_digits || !separators {
        return Err(NotRfc3339);
    }
    let two = |i: usize| digit(i) * 10 + digit(i + 1);
    let year = two(0) * 100 + two(2);
    let (month, day) = (two(5), two(8));
    let (hour, minute, second) = (two(11), two(14), two(17));
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let len = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return Err(NotRfc3339);
        }
        nanos = fraction_nanos(&after_dot[..len])?;
        rest = &after_dot[len..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2]).ok_or(NotRfc3339)?;
            let minutes = digits(&[*m1, *m2]).ok_or(NotRfc3339)?;
            signed_offset(*sign, hours, minutes)?
        }
        _ => return Err(NotRfc3339),
    };
    let secs = civil_seconds(year, month, day, hour, minute, second)?;
    to_nanos(secs - offset, nanos)
}

/// The seconds from the Unix epoch to a civil date and time in UTC, checking
/// that the date exists and the time of day is in range.
pub fn civil_seconds(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Result<i64, TimestampError> {
    let small = |n: u32| i8::try_from(n).ok();
    let date = i16::try_from(year)
        .ok()
        .zip(small(month).zip(small(day)))
        .and_then(|(year, (month, day))| Date::new(year, month, day).ok())
        .ok_or(TimestampError::NoSuchDate)?;
    if second == 60 && hour <= 23 && minute <= 59 {
        return Err(TimestampError::LeapSecond);
    }
    let time = small(hour)
        .zip(small(minute).zip(small(second)))
        .and_then(|(hour, (minute, second))| Time::new(hour, minute, second, 0).ok())
        .ok_or(TimestampError::NoSuchTime)?;
    // jiff's instants end late on 9999-12-30; anything in year 9999 is far
    // past this module's range either way.
    let instant =
        Offset::UTC.to_timestamp(date.to_datetime(time)).map_err(|_| TimestampError::OutOfRange)?;
    Ok(instant.as_second())
}

/// An offset east of UTC in seconds, checking `hours <= 23` and `minutes <= 59`.
pub fn signed_offset(sign: u8, hours: u32, minutes: u32) -> Result<i64, TimestampError> {
    if hours > 23 || minutes > 59 {
        return Err(TimestampError::BadOffset);
    }
    let offset = i64::from(hours * 3600 + minutes * 60);
    Ok(if sign == b'-' { -offset } else { offset })
}

/// `secs` seconds and `nanos` nanoseconds after the epoch, if in range.
pub fn to_nanos(secs: i64, nanos: u64) -> Result<u64, TimestampError> {
    let total = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
    u64::try_from(total).ok().filter(|&n| n <= MAX_NANOS).ok_or(TimestampError::OutOfRange)
}

/// Formats nanoseconds after the epoch as RFC 3339 in UTC, with as many
/// fractional digits as needed and none for whole seconds.
pub fn format_rfc3339(nanos: u64) -> String {
    Timestamp::from_nanosecond(i128::from(nanos))
        .expect("any u64 of nanoseconds is within jiff's range, which ends in year 9999")
        .to_string()
}

/// Formats a duration in nanoseconds as exact decimal seconds: `3600`, `0.5`.
pub fn format_seconds(nanos: u64) -> String {
    let (secs, frac) = (nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC);
    if frac == 0 {
        return secs.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{secs}.{}", digits.trim_end_matches('0'))
}

/// The value of 1 to 9 fractional digits in nanoseconds.
#[inline]
fn fraction_nanos(frac: &[u8]) -> Result<u64, TimestampError> {
    const SCALE: [u64; 10] =
        [0, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1000, 100, 10, 1];
    let scale = *SCALE.get(frac.len()).ok_or(TimestampError::TooManyFractionalDigits)?;
    Ok(frac.iter().fold(0, |v, &d| v * 10 + u64::from(d - b'0')) * scale)
}

/// The value of a short run of ASCII digits, or `None` if any byte is not one.
pub fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0, |v: u32, &d| d.is_ascii_digit().then(|| v * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::TimestampError::*;
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Result<u64, TimestampError>) {
        assert_eq!(parse(text.as_bytes()), expected, "{text:?}");
    }

    #[test]
    fn decimal_seconds() {
        check("0", Ok(0));
        check("12", Ok(12_000_000_000));
        check("0.5", Ok(500_000_000));
        check("1700000000.123456789", Ok(1_700_000_000_123_456_789));
        check("1700000000.1", Ok(1_700_000_000_100_000_000));
        check("00002", Ok(2_000_000_000));
        check("0000000000000000000000000000001.000000001", Ok(1_000_000_001));
        check("0.000000001", Ok(1));
        check("9223372036.854775807", Ok(MAX_NANOS));
        check("9223372036.854775808", Err(OutOfRange));
        check("9223372037", Err(OutOfRange));
        check("18446744073709551616", Err(OutOfRange));
        check("99999999999999999999999999", Err(OutOfRange));
    }

    #[test]
    fn malformed_decimals() {
        check("", Err(Empty));
        check("12x", Err(NotANumber));
        check("+5", Err(NotANumber));
        check("-5", Err(NotANumber));
        check(".5", Err(NotANumber));
        check("5.", Err(NotANumber));
        check("1.2.3", Err(NotANumber));
        check("1e9", Err(NotANumber));
        check("1 2", Err(NotANumber));
        check("0x10", Err(NotANumber));
        check("1.0000000001", Err(TooManyFractionalDigits));
        check("1.123456789x", Err(NotANumber));
        check("١٢", Err(NotANumber));
    }

    #[test]
    fn rfc3339() {
        check("1970-01-01T00:00:00Z", Ok(0));
        check("2023-11-14T22:13:20Z", Ok(1_700_000_000_000_000_000));
        check("2023-11-14T22:13:20.5Z", Ok(1_700_000_000_500_000_000));
        check("2023-11-14T23:13:20+01:00", Ok(1_700_000_000_000_000_000));
        check("2023-11-14t22:13:20z", Ok(1_700_000_000_000_000_000));
        check("2023-11-14T22:13:20-00:00", Ok(1_700_000_000_000_000_000));
        check("2023-11-14T17:43:20.123456789-04:30", Ok(1_700_000_000_123_456_789));
        check("2023-11-14T22:13:20.000000001Z", Ok(1_700_000_000_000_000_001));
        check("2024-02-29T00:00:00Z", Ok(1_709_164_800_000_000_000));
        check("2000-02-29T00:00:00Z", Ok(951_782_400_000_000_000));
        check("1970-01-01T01:00:00+01:00", Ok(0));
        check("1970-01-01T23:59:59+23:59", Ok(59_000_000_000));
        check("1970-01-02T00:00:00+23:59", Ok(60_000_000_000));
        check("2262-04-11T23:47:16.854775807Z", Ok(MAX_NANOS));
        check("2262-04-12T00:47:16.854775807+01:00", Ok(MAX_NANOS));
    }

    #[test]
    fn rfc3339_out_of_range() {
        check("2262-04-11T23:47:16.854775808Z", Err(OutOfRange));
        check("1969-12-31T23:59:59.999999999Z", Err(OutOfRange));
        check("1970-01-01T00:00:00+00:01", Err(OutOfRange));
        check("0000-01-01T00:00:00Z", Err(OutOfRange));
        check("9999-12-31T23:59:59Z", Err(OutOfRange));
    }

    #[test]
    fn malformed_rfc3339() {
        check("2023-11-14 22:13:20Z", Err(NotRfc3339));
        check("2023-11-14T22:13:20", Err(NotRfc3339));
        check("2023-11-14T22:13:20.Z", Err(NotRfc3339));
        check("2023-11-14T22:13:20.1234567891Z", Err(TooManyFractionalDigits));
        check("2023-11-14T22:13:20+0100", Err(NotRfc3339));
        check("2023-11-14T22:13:20+01", Err(NotRfc3339));
        check("2023-11-14T22:13:20 Z", Err(NotRfc3339));
        check("2023-11-14T22:13:20ZZ", Err(NotRfc3339));
        check("2023-11-14T22:13Z", Err(NotRfc3339));
        check("2023-1-14T22:13:20Z", Err(NotRfc3339));
        check("2023-11-14T2:13:20.5Z", Err(NotRfc3339));
        check("2023-11-14T22:13:20,5Z", Err(NotRfc3339));
        check("2023-11-14", Err(NotRfc3339));
        check("2023-11-14T22:13:2xZ", Err(NotRfc3339));
        check("2023-11-14T22:13:20+0a:00", Err(NotRfc3339));
        check("2023-11-14T22:13:20.5é", Err(NotRfc3339));
    }

    #[test]
    fn impossible_dates_and_times() {
        check("2023-02-29T00:00:00Z", Err(NoSuchDate));
        check("1900-02-29T00:00:00Z", Err(NoSuchDate));
        check("2023-04-31T00:00:00Z", Err(NoSuchDate));
        check("2023-13-01T00:00:00Z", Err(NoSuchDate));
        check("2023-00-01T00:00:00Z", Err(NoSuchDate));
        check("2023-01-00T00:00:00Z", Err(NoSuchDate));
        check("2023-01-32T00:00:00Z", Err(NoSuchDate));
        check("2023-11-14T24:00:00Z", Err(NoSuchTime));
        check("2023-11-14T23:60:00Z", Err(NoSuchTime));
        check("2023-11-14T23:59:61Z", Err(NoSuchTime));
        check("2016-12-31T23:59:60Z", Err(LeapSecond));
        check("2023-11-14T22:13:20+24:00", Err(BadOffset));
        check("2023-11-14T22:13:20-23:60", Err(BadOffset));
    }

    #[test]
    fn formats_utc_with_needed_fraction_digits() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000_500_000_000), "2023-11-14T22:13:20.5Z");
        assert_eq!(format_rfc3339(1_709_164_800_000_000_001), "2024-02-29T00:00:00.000000001Z");
        assert_eq!(format_rfc3339(MAX_NANOS), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(format_seconds(3_600_000_000_000), "3600");
        assert_eq!(format_seconds(1_500_000_000), "1.5");
        assert_eq!(format_seconds(7), "0.000000007");
    }

    #[test]
    fn formatting_round_trips_through_parsing() {
        // Every day boundary of several 400-year cycles' worth of samples.
        let mut nanos = 0;
        while nanos < MAX_NANOS - 86_400_999_999_999 {
            for t in [nanos, nanos + 86_399_999_999_999, nanos + 43_200_000_000_001] {
                assert_eq!(parse(format_rfc3339(t).as_bytes()), Ok(t), "{t}");
            }
            nanos += 86_400_000_000_000 * 37;
        }
    }
}
