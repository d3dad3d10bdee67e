//! The `rate` target: `Rate`'s text parser and its `f64` entry point.

use limiter_core::{Rate, RateErrorKind};

/// Nanoseconds in one second.
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses `data` as a rate, and its first 8 bytes as an `f64` rate.
///
/// Asserts that the text parser accepts exactly the inputs SPEC allows, with
/// the value an independent reading of the text gives, and calls the rest
/// malformed or out of range as that reading does; that every accepted
/// rate prints as text that parses back to it; and that [`Rate::from_f64`]
/// accepts every finite value from 10⁻⁹ to 10⁹, within half a billionth of it,
/// and nothing out of range.
///
/// # Panics
///
/// Only on a bug in `limiter_core::Rate`.
pub fn rate(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        parse_text(text);
    }
    if let Some(bytes) = data.first_chunk::<8>() {
        from_f64(f64::from_le_bytes(*bytes));
    }
}

fn parse_text(text: &str) {
    let parsed = text.parse::<Rate>();
    match (expected_value(text), &parsed) {
        (Some(Some((num, den))), Ok(rate)) => {
            assert_eq!(
                u128::from(rate.numer()) * den,
                num * u128::from(rate.denom()),
                "{text:?} parsed as {rate}, expected {num}/{den}"
            );
        }
        (Some(None), Err(err)) if err.kind() == RateErrorKind::OutOfRange => {}
        (None, Err(err)) if err.kind() != RateErrorKind::OutOfRange => {}
        (expected, parsed) => panic!("{text:?}: expected {expected:?}, parsed {parsed:?}"),
    }
    if let Ok(rate) = parsed {
        assert_in_range(rate, text);
        let shown = rate.to_string();
        assert_eq!(shown.parse::<Rate>().ok(), Some(rate), "{text:?} displays as {shown:?}");
    }
}

fn from_f64(value: f64) {
    match Rate::from_f64(value) {
        Ok(rate) => {
            assert_in_range(rate, &value.to_string());
            let exact = rate.numer() as f64 / rate.denom() as f64;
            // Rounding to 9 digits moves the value by at most 5e-10; the rest
            // allows for the error of the `f64` division above.
            let tolerance = 5e-10 + value * 1e-15;
            assert!((exact - value).abs() <= tolerance, "{value:e} became {rate}");
        }
        Err(err) => assert!(
            !(value.is_finite() && (1e-9..=1e9).contains(&value)),
            "{value:e} is in range but was rejected: {err}"
        ),
    }
}

#[track_caller]
fn assert_in_range(rate: Rate, input: &str) {
    let (num, den) = (u128::from(rate.numer()), u128::from(rate.denom()));
    let (min, max) = (Rate::MIN, Rate::MAX);
    assert!(
        num * u128::from(min.denom()) >= u128::from(min.numer()) * den
            && num * u128::from(max.denom()) <= u128::from(max.numer()) * den,
        "{input:?} gave {rate}, outside Rate::MIN..=Rate::MAX"
    );
}

/// What SPEC says `text` means, read independently of the library.
///
/// `None`: malformed. `Some(None)`: well formed but out of range.
/// `Some(Some((num, den)))`: the exact value `num / den` tokens per second.
fn expected_value(text: &str) -> Option<Option<(u128, u128)>> {
    let value = if let Some((count, unit)) = text.split_once('/') {
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return None,
        };
        digits_value(count)?.map(|count| (count, seconds))
    } else {
        let (int, frac) = match text.split_once('.') {
            Some((int, frac)) if !frac.is_empty() && frac.len() <= 9 => (int, frac),
            Some(_) => return None,
            None => (text, ""),
        };
        let frac_value = if frac.is_empty() { 0 } else { digits_value(frac)?? };
        let scale = 10_u128.pow(frac.len() as u32);
        digits_value(int)?
            .and_then(|int| int.checked_mul(scale)?.checked_add(frac_value).map(|num| (num, scale)))
    };
    let in_range =
        |(num, den): (u128, u128)| num * NANOS_PER_SEC >= den && num <= den * NANOS_PER_SEC;
    Some(value.filter(|&value| in_range(value)))
}

/// `Some(Some(v))` for ASCII digits worth `v`, `Some(None)` when they are worth
/// 10²⁰ or more (far out of any range), `None` when not all digits.
///
/// The cap keeps [`expected_value`]'s checks inside `u128`: a value below 10²⁰
/// scaled by up to 10⁹ and then by 10⁹ stays below 10³⁸.
fn digits_value(digits: &str) -> Option<Option<u128>> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 20 {
        return Some(None);
    }
    Some(Some(significant.bytes().fold(0, |v, b| v * 10 + u128::from(b - b'0'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spec_forms_independently() {
        assert_eq!(expected_value("0.5"), Some(Some((5, 10))));
        assert_eq!(expected_value("1/h"), Some(Some((1, 3600))));
        assert_eq!(expected_value("00002"), Some(Some((2, 1))));
        assert_eq!(expected_value("0"), Some(None));
        assert_eq!(expected_value("1000000000.000000001"), Some(None));
        assert_eq!(expected_value("9".repeat(40).as_str()), Some(None));
        for malformed in ["", ".5", "5.", "1.0000000000", "+1", "1e3", "5/d", "/s", "1.5/s"] {
            assert_eq!(expected_value(malformed), None, "{malformed:?}");
        }
    }

    #[test]
    fn accepts_edge_inputs() {
        for input in ["0.000000001", "1000000000", "3600000000000/h", "7/h", "x", "0/s"] {
            rate(input.as_bytes());
        }
        for value in [1e-9, 5e-10, 4.9e-10, 1e9, 1.000000001e9, f64::NAN, -0.0, 0.3333333335] {
            rate(&value.to_le_bytes());
        }
    }
}
