//! The `trace` and `access_log` targets: the replay CLI's line parsers.

use std::net::IpAddr;

use limiter_cli::access_log::{parse_access_line, parse_time};
use limiter_cli::timestamp::{self, MAX_NANOS};
use limiter_cli::trace::{LineError, Record, parse_csv_line};

/// Splits `data` into numbered lines as SPEC's fine print says and parses
/// each as a CSV trace line, as `limiter-cli replay` does.
///
/// Asserts that a record's address is exactly what `std` reads from its
/// text, its timestamp lies in `[0, 2⁶³)` ns and reads back from both of the
/// CLI's formats, a decimal timestamp has exactly its written value, and a
/// cost is the third field's value or 1; that a skipped line is blank, a
/// comment or line 1's header; and that every error, placed in a file,
/// names that file and its line number (at least 1).
///
/// # Panics
///
/// Only on a bug in the CLI's parsers.
pub fn trace(data: &[u8]) {
    for (line_no, line) in lines(data) {
        match parse_csv_line::<IpAddr>(line_no, line) {
            Ok(Some(record)) => {
                check_record(&record, line);
                let fields: Vec<&[u8]> = trim(line).split(|&b| b == b',').map(trim).collect();
                assert_eq!(fields[0], record.timestamp, "line {line_no}: timestamp field");
                assert_eq!(fields[1], record.key_text, "line {line_no}: ip field");
                let cost = fields.get(2).map_or(Some(1), |text| digits_value(text));
                assert_eq!(cost, Some(u128::from(record.cost)), "line {line_no}: cost");
                assert_eq!(timestamp::parse(record.timestamp), Ok(record.nanos), "line {line_no}");
            }
            Ok(None) => {
                let text = trim(line);
                assert!(
                    text.is_empty() || text[0] == b'#' || (line_no == 1 && is_header(text)),
                    "line {line_no} {:?} skipped",
                    String::from_utf8_lossy(line)
                );
            }
            Err(err) => check_error(&err, line_no, line),
        }
        check_timestamp(trim(line.split(|&b| b == b',').next().unwrap_or_default()));
    }
}

/// Splits `data` into numbered lines and parses each as an access log line
/// (common or combined log format), as `limiter-cli replay` does.
///
/// Asserts that a record costs 1, its address is exactly what `std` reads
/// from its text and its time lies in `[0, 2⁶³)` ns; and that every error,
/// placed in a file, names that file and its line number (at least 1).
///
/// # Panics
///
/// Only on a bug in the CLI's parsers.
pub fn access_log(data: &[u8]) {
    for (line_no, line) in lines(data) {
        match parse_access_line::<IpAddr>(line) {
            Ok(Some(record)) => {
                check_record(&record, line);
                assert_eq!(record.cost, 1, "line {line_no}: an access log request costs 1");
                assert_eq!(parse_time(record.timestamp), Ok(record.nanos), "line {line_no}");
            }
            Ok(None) => {
                let text = trim(line);
                assert!(text.is_empty() || text[0] == b'#', "line {line_no} skipped");
            }
            Err(err) => check_error(&err, line_no, line),
        }
        if let Some(open) = line.iter().position(|&b| b == b'[') {
            let close =
                line[open..].iter().position(|&b| b == b']').map_or(line.len(), |i| open + i);
            check_log_time(&line[open + 1..close]);
        }
    }
}

/// Checks a log time `dd/Mon/yyyy:HH:MM:SS ±hhmm` against the same instant
/// written in RFC 3339: both parsers must agree on it, to the nanosecond.
fn check_log_time(text: &[u8]) {
    let parsed = parse_time(text);
    let shown = || String::from_utf8_lossy(text).into_owned();
    let Ok(text) = std::str::from_utf8(text) else {
        return assert!(parsed.is_err(), "{:?} is not ASCII but was read", shown());
    };
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let bytes = text.as_bytes();
    let shape = bytes.len() == 26
        && [2, 6].iter().all(|&i| bytes[i] == b'/')
        && [11, 14, 17].iter().all(|&i| bytes[i] == b':')
        && bytes[20] == b' '
        && matches!(bytes[21], b'+' | b'-')
        && [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25]
            .iter()
            .all(|&i| bytes[i].is_ascii_digit());
    let month = MONTHS.iter().position(|&m| text.get(3..6) == Some(m));
    let (true, Some(month)) = (shape, month) else {
        return assert!(parsed.is_err(), "{:?} is not a log time but was read", shown());
    };
    let rfc3339 = format!(
        "{}-{:02}-{}T{}{}:{}",
        &text[7..11],
        month + 1,
        &text[0..2],
        &text[12..20],
        &text[21..24],
        &text[24..26]
    );
    assert_eq!(parsed.ok(), timestamp::parse(rfc3339.as_bytes()).ok(), "{text:?} as {rfc3339:?}");
}

pub(crate) fn check_record(record: &Record<'_>, line: &[u8]) {
    let ip = std::str::from_utf8(record.key_text).ok().and_then(|text| text.parse::<IpAddr>().ok());
    assert_eq!(ip, Some(record.key), "{:?}: address", String::from_utf8_lossy(line));
    assert!(record.nanos <= MAX_NANOS, "{:?}: time past 2^63 ns", String::from_utf8_lossy(line));
}

pub(crate) fn check_error(err: &LineError<'_>, line_no: u64, line: &[u8]) {
    let placed = err.at("trace.csv", line_no);
    assert!(placed.line >= 1 && placed.line == line_no, "{placed:?} on line {line_no}");
    let message = placed.to_string();
    assert!(
        message.starts_with(&format!("trace.csv:{line_no}: ")),
        "{message:?} for {:?}",
        String::from_utf8_lossy(line)
    );
}

/// Checks one timestamp text against the CLI's own formatters: whatever is
/// accepted formats, as decimal seconds and as RFC 3339, to text that reads
/// back to the same instant.
fn check_timestamp(text: &[u8]) {
    let parsed = timestamp::parse(text);
    let shown = || String::from_utf8_lossy(text).into_owned();
    if let Some(value) = decimal_nanos(text) {
        let in_range = u64::try_from(value).ok().filter(|&nanos| nanos <= MAX_NANOS);
        assert_eq!(parsed.ok(), in_range, "{:?}: decimal seconds", shown());
    }
    let Ok(nanos) = parsed else { return };
    assert!(nanos <= MAX_NANOS, "{:?}: past 2^63 ns", shown());
    for formatted in [timestamp::format_seconds(nanos), timestamp::format_rfc3339(nanos)] {
        assert_eq!(
            timestamp::parse(formatted.as_bytes()),
            Ok(nanos),
            "{:?} as {formatted:?}",
            shown()
        );
    }
}

/// Whether a trimmed line is `timestamp,ip` or `timestamp,ip,cost`, in any
/// case and with blanks around the fields.
fn is_header(text: &[u8]) -> bool {
    let fields: Vec<Vec<u8>> =
        text.split(|&b| b == b',').map(|field| trim(field).to_ascii_lowercase()).collect();
    fields == [&b"timestamp"[..], b"ip"] || fields == [&b"timestamp"[..], b"ip", b"cost"]
}

/// SPEC's lines: split on `\n`, one trailing `\r` dropped, a byte-order mark
/// dropped from line 1, numbered from 1.
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|&b| b == b'\n').zip(1..).map(|(line, line_no)| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line =
            if line_no == 1 { line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line) } else { line };
        (line_no, line)
    })
}

pub(crate) fn trim(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(text.len());
    let end = text.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
    &text[start..end]
}

/// The value of `digits[.1-9 digits]` seconds in nanoseconds, read
/// independently of the CLI; `None` for any other text.
fn decimal_nanos(text: &[u8]) -> Option<u128> {
    let text = std::str::from_utf8(text).ok()?;
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if text.contains('.') && !(1..=9).contains(&frac.len()) {
        return None;
    }
    let frac_nanos = if frac.is_empty() {
        0
    } else {
        digits_value(frac.as_bytes())? * 10_u128.pow(9 - frac.len() as u32)
    };
    Some(digits_value(int.as_bytes())?.saturating_mul(1_000_000_000).saturating_add(frac_nanos))
}

/// The value of ASCII digits, saturating; `None` unless all digits.
fn digits_value(text: &[u8]) -> Option<u128> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        text.iter().fold(0_u128, |v, &d| v.saturating_mul(10).saturating_add(u128::from(d - b'0'))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_like_the_fine_print() {
        let got: Vec<(u64, &[u8])> = lines(b"\xEF\xBB\xBFa\r\n\xEF\xBB\xBFb\r\r\n\nc").collect();
        let expected: [(u64, &[u8]); 4] = [(1, b"a"), (2, b"\xEF\xBB\xBFb\r"), (3, b""), (4, b"c")];
        assert_eq!(got, expected);
    }

    #[test]
    fn reads_decimal_seconds_and_headers_independently() {
        assert_eq!(decimal_nanos(b"1.5"), Some(1_500_000_000));
        assert_eq!(decimal_nanos(b"00002"), Some(2_000_000_000));
        assert_eq!(decimal_nanos(b"9223372036.854775808"), Some(1 << 63));
        for not_decimal in [&b"1."[..], b".5", b"+1", b"1.0000000001", b"", b"2023-11-14T22:13:20Z"]
        {
            assert_eq!(decimal_nanos(not_decimal), None, "{not_decimal:?}");
        }
        assert!(is_header(b"TimeStamp ,\tip, COST"));
        assert!(!is_header(b"timestamp,ip,cost,x"));
    }

    #[test]
    fn log_times_agree_with_rfc_3339() {
        // Each of these asserts inside; a disagreement would panic.
        for time in ["10/Oct/2000:13:55:36 -0700", "29/Feb/2023:00:00:00 +0000", "x"] {
            check_log_time(time.as_bytes());
        }
        assert_eq!(parse_time(b"01/Jan/1970:01:00:00 +0100"), Ok(0));
    }
}
