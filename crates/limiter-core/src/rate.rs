//! Exact refill rates.

use std::fmt;
use std::str::FromStr;

use crate::clock::NANOS_PER_SEC;
use crate::error::{ConfigError, ParseRateError, RateErrorKind};

/// A refill rate: an exact, positive, rational number of tokens per second.
///
/// A `Rate` is written either as a decimal number of tokens per second with at
/// most 9 fractional digits (`"5"`, `"0.5"`, `"0.001"`) or as whole tokens per
/// unit of time (`"100/s"`, `"30/m"`, `"1/h"`). The per-period forms are exact:
/// `1/h` is one token every 3600 seconds, not a rounded decimal.
///
/// Every rate lies in [`Rate::MIN`]`..=`[`Rate::MAX`], that is from 10⁻⁹ to
/// 10⁹ tokens per second.
///
/// # Example
///
/// ```
/// use limiter_core::Rate;
///
/// let hourly: Rate = "1/h".parse()?;
/// assert_eq!(hourly, Rate::per_hour(1)?);
/// assert_eq!((hourly.numer(), hourly.denom()), (1, 3600));
///
/// let half: Rate = "0.5".parse()?;
/// assert_eq!(half.to_string(), "0.5");
///
/// assert!("-1".parse::<Rate>().is_err());
/// assert!("0".parse::<Rate>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Tokens, in lowest terms with `den`.
    num: u64,
    /// Seconds; divides 10⁹, 60 or 3600.
    den: u64,
}

impl Rate {
    /// The smallest supported rate: one token per 10⁹ seconds.
    pub const MIN: Rate = Rate { num: 1, den: NANOS_PER_SEC };
    /// The largest supported rate: 10⁹ tokens per second, one per nanosecond.
    pub const MAX: Rate = Rate { num: NANOS_PER_SEC, den: 1 };

    /// `tokens` whole tokens per second.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::RateOutOfRange`] unless `1 <= tokens <= 10⁹`.
    pub fn per_second(tokens: u64) -> Result<Rate, ConfigError> {
        Rate::per_period(tokens, 1, "s")
    }

    /// `tokens` whole tokens per minute.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::RateOutOfRange`] unless `1 <= tokens <= 6·10¹⁰`.
    pub fn per_minute(tokens: u64) -> Result<Rate, ConfigError> {
        Rate::per_period(tokens, 60, "m")
    }

    /// `tokens` whole tokens per hour.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::RateOutOfRange`] unless `1 <= tokens <= 3.6·10¹²`.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::Rate;
    ///
    /// let rate = Rate::per_hour(7200)?;
    /// assert_eq!(rate, Rate::per_second(2)?);
    /// assert!(Rate::per_hour(0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn per_hour(tokens: u64) -> Result<Rate, ConfigError> {
        Rate::per_period(tokens, 3600, "h")
    }

    /// The rate closest to `tokens_per_second` with at most 9 fractional digits.
    ///
    /// The value is taken in its shortest round-trip decimal form (what `{}`
    /// prints), then rounded half away from zero to 9 fractional digits, so
    /// `from_f64(0.1)` is exactly one tenth.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::RateOutOfRange`] for NaN, infinities, zero,
    /// negative values, values that round to 0 (below 0.0000000005) and values
    /// above 10⁹.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::Rate;
    ///
    /// assert_eq!(Rate::from_f64(0.1)?, "0.1".parse()?);
    /// assert_eq!(Rate::from_f64(2.5e-9)?, "0.000000003".parse()?);
    /// assert!(Rate::from_f64(1e-10).is_err());
    /// assert!(Rate::from_f64(f64::NAN).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_f64(tokens_per_second: f64) -> Result<Rate, ConfigError> {
        let out_of_range = || ConfigError::RateOutOfRange { rate: tokens_per_second.to_string() };
        if !tokens_per_second.is_finite() || tokens_per_second <= 0.0 {
            return Err(out_of_range());
        }
        let text = tokens_per_second.to_string();
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        // Rust prints `f64` without an exponent, so `text` is plain digits.
        let int = int.parse::<u64>().map_err(|_| out_of_range())?;
        let mut nanos = digits_as_nanos(&frac[..frac.len().min(9)]);
        if frac.as_bytes().get(9).is_some_and(|&digit| digit >= b'5') {
            nanos += 1;
        }
        let scaled = int
            .checked_mul(NANOS_PER_SEC)
            .and_then(|whole| whole.checked_add(nanos))
            .ok_or_else(out_of_range)?;
        Rate::from_nanotokens(scaled).ok_or_else(out_of_range)
    }

    /// The numerator of this rate in tokens per second, in lowest terms.
    pub fn numer(&self) -> u64 {
        self.num
    }

    /// The denominator of this rate in tokens per second, in lowest terms.
    pub fn denom(&self) -> u64 {
        self.den
    }

    /// Tokens per nanosecond as a reduced fraction `(tokens, nanoseconds)`.
    ///
    /// The denominator is at most 10¹⁸ and the numerator never exceeds it.
    pub(crate) fn per_nanosecond(&self) -> (u64, u64) {
        let den = u128::from(self.den) * u128::from(NANOS_PER_SEC);
        let g = gcd(u128::from(self.num), den);
        // Both fit: num <= den * 10^9 and den * 10^9 <= 3.6 * 10^12 or 10^18.
        let num = u64::try_from(u128::from(self.num) / g).expect("numerator fits in u64");
        let den = u64::try_from(den / g).expect("denominator fits in u64");
        (num, den)
    }

    fn per_period(tokens: u64, seconds: u64, unit: &'static str) -> Result<Rate, ConfigError> {
        if tokens == 0 || tokens > NANOS_PER_SEC * seconds {
            return Err(ConfigError::RateOutOfRange { rate: format!("{tokens}/{unit}") });
        }
        Ok(Rate::reduced(tokens, seconds))
    }

    /// The rate of `nanotokens / 10⁹` tokens per second, if it is in range.
    fn from_nanotokens(nanotokens: u64) -> Option<Rate> {
        (1..=NANOS_PER_SEC * NANOS_PER_SEC)
            .contains(&nanotokens)
            .then(|| Rate::reduced(nanotokens, NANOS_PER_SEC))
    }

    fn reduced(num: u64, den: u64) -> Rate {
        let g = gcd(u128::from(num), u128::from(den)) as u64;
        Rate { num: num / g, den: den / g }
    }
}

impl FromStr for Rate {
    type Err = ParseRateError;

    /// Parses `"5"`, `"0.5"`, `"100/s"`, `"30/m"` or `"1/h"`, exactly.
    ///
    /// Numbers carry no sign and no surrounding spaces, and decimals have at
    /// most 9 fractional digits.
    fn from_str(input: &str) -> Result<Rate, ParseRateError> {
        let fail = |kind| ParseRateError::new(input, kind);
        if let Some((count, unit)) = input.split_once('/') {
            let count = parse_digits(count).map_err(fail)?;
            let per_period = match unit {
                "s" => Rate::per_second,
                "m" => Rate::per_minute,
                "h" => Rate::per_hour,
                _ => return Err(fail(RateErrorKind::UnknownUnit)),
            };
            return count
                .and_then(|count| per_period(count).ok())
                .ok_or_else(|| fail(RateErrorKind::OutOfRange));
        }
        let (int, frac) = input.split_once('.').unwrap_or((input, ""));
        if input.contains('.') && frac.is_empty() {
            return Err(fail(RateErrorKind::NotANumber));
        }
        if frac.len() > 9 {
            return Err(fail(RateErrorKind::TooManyFractionalDigits));
        }
        let int = parse_digits(int).map_err(fail)?;
        if parse_digits(frac).is_err() && !frac.is_empty() {
            return Err(fail(RateErrorKind::NotANumber));
        }
        int.and_then(|int| int.checked_mul(NANOS_PER_SEC))
            .and_then(|whole| whole.checked_add(digits_as_nanos(frac)))
            .and_then(Rate::from_nanotokens)
            .ok_or_else(|| fail(RateErrorKind::OutOfRange))
    }
}

impl fmt::Display for Rate {
    /// Writes the rate in a form that [`FromStr`] reads back: a decimal when it
    /// has one with at most 9 fractional digits, otherwise `N/m` or `N/h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if NANOS_PER_SEC.is_multiple_of(self.den) {
            let nanotokens = self.num * (NANOS_PER_SEC / self.den);
            let (int, frac) = (nanotokens / NANOS_PER_SEC, nanotokens % NANOS_PER_SEC);
            if frac == 0 {
                return write!(f, "{int}");
            }
            let frac = format!("{frac:09}");
            return write!(f, "{int}.{}", frac.trim_end_matches('0'));
        }
        let (seconds, unit) = if 60_u64.is_multiple_of(self.den) { (60, "m") } else { (3600, "h") };
        write!(f, "{}/{unit}", self.num * (seconds / self.den))
    }
}

/// Parses unsigned decimal digits; `Ok(None)` when the value overflows `u64`.
fn parse_digits(digits: &str) -> Result<Option<u64>, RateErrorKind> {
    if digits.is_empty() {
        return Err(RateErrorKind::NotANumber);
    }
    let mut value: Option<u64> = Some(0);
    for byte in digits.bytes() {
        if !byte.is_ascii_digit() {
            return Err(RateErrorKind::NotANumber);
        }
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u64::from(byte - b'0')));
    }
    Ok(value)
}

/// The value of up to 9 fractional digits in units of 10⁻⁹.
fn digits_as_nanos(frac: &str) -> u64 {
    debug_assert!(frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()));
    frac.bytes().chain(std::iter::repeat(b'0')).take(9).fold(0, |v, b| v * 10 + u64::from(b - b'0'))
}

pub(crate) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, num: u64, den: u64, display: &str) {
        let rate: Rate = input.parse().unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!((rate.numer(), rate.denom()), (num, den), "{input:?}");
        assert_eq!(rate.to_string(), display, "{input:?}");
        assert_eq!(display.parse::<Rate>().unwrap(), rate, "{display:?} round trip");
    }

    #[test]
    fn parses_exact_forms() {
        check("5", 5, 1, "5");
        check("0.5", 1, 2, "0.5");
        check("3", 3, 1, "3");
        check("0.001", 1, 1000, "0.001");
        check("1000000", 1_000_000, 1, "1000000");
        check("00002", 2, 1, "2");
        check("2.500", 5, 2, "2.5");
        check("0.000000001", 1, 1_000_000_000, "0.000000001");
        check("1000000000", 1_000_000_000, 1, "1000000000");
        check("999999999.999999999", 999_999_999_999_999_999, 1_000_000_000, "999999999.999999999");
        check("100/s", 100, 1, "100");
        check("30/m", 1, 2, "0.5");
        check("1/m", 1, 60, "1/m");
        check("7/m", 7, 60, "7/m");
        check("1/h", 1, 3600, "1/h");
        check("90/h", 1, 40, "0.025");
        check("7/h", 7, 3600, "7/h");
        check("3600000000000/h", 1_000_000_000, 1, "1000000000");
    }

    #[track_caller]
    fn check_err(input: &str, expected: &str) {
        let err = input.parse::<Rate>().expect_err(input);
        assert_eq!(err.to_string(), expected, "{input:?}");
    }

    #[test]
    fn rejects_bad_text_naming_it() {
        let range = "is out of range: expected 0.000000001 to 1000000000 tokens per second";
        check_err("0", &format!("rate \"0\" {range}"));
        check_err("0.0000000000", "invalid rate \"0.0000000000\": more than 9 fractional digits");
        check_err("1000000000.000000001", &format!("rate \"1000000000.000000001\" {range}"));
        check_err("99999999999999999999999", &format!("rate \"99999999999999999999999\" {range}"));
        check_err("0/s", &format!("rate \"0/s\" {range}"));
        check_err("1000000001/s", &format!("rate \"1000000001/s\" {range}"));
        check_err("60000000001/m", &format!("rate \"60000000001/m\" {range}"));
        for input in ["", "-1", "+1", " 5", "5 ", "1e3", ".5", "5.", "0x10", "5/", "/s", "1.5/s"] {
            assert!(
                input.parse::<Rate>().is_err_and(|err| err.kind() != RateErrorKind::OutOfRange),
                "{input:?} should be malformed"
            );
        }
        check_err("5/d", "invalid rate \"5/d\": expected N/s, N/m or N/h");
    }

    #[test]
    fn from_f64_uses_shortest_decimal_rounded_to_nine_digits() {
        let cases: &[(f64, &str)] = &[
            (5.0, "5"),
            (0.1, "0.1"),
            (1e-9, "0.000000001"),
            (5e-10, "0.000000001"),
            (1.4999e-9, "0.000000001"),
            (1e9, "1000000000"),
            (123.4567891234, "123.456789123"),
            (0.3333333335, "0.333333334"),
        ];
        for &(value, expected) in cases {
            assert_eq!(Rate::from_f64(value).unwrap(), expected.parse().unwrap(), "{value}");
        }
        for value in [0.0, -0.0, -1.0, 4.9e-10, 1e-300, 1.000000001e9, f64::NAN, f64::INFINITY] {
            let err = Rate::from_f64(value).expect_err(&value.to_string());
            assert_eq!(err, ConfigError::RateOutOfRange { rate: value.to_string() });
        }
    }

    #[test]
    fn per_nanosecond_is_reduced() {
        assert_eq!("5".parse::<Rate>().unwrap().per_nanosecond(), (1, 200_000_000));
        assert_eq!(Rate::MIN.per_nanosecond(), (1, 1_000_000_000_000_000_000));
        assert_eq!(Rate::MAX.per_nanosecond(), (1, 1));
        assert_eq!(Rate::per_hour(1).unwrap().per_nanosecond(), (1, 3_600_000_000_000));
    }
}
