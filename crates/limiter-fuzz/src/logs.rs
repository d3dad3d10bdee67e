//! The `haproxy`, `alb` and `jsonl` targets: the replay CLI's log parsers.

use std::net::IpAddr;

use limiter_cli::alb::{looks_like_alb_log, parse_alb_line};
use limiter_cli::haproxy::{looks_like_haproxy_log, parse_accept_date, parse_haproxy_line};
use limiter_cli::jsonl::JsonFields;
use limiter_cli::timestamp::{self, MAX_NANOS};
use limiter_cli::trace::{Field, LineError, Record, TraceErrorKind};

use crate::trace::{check_error, lines, trim};

/// One hour east of UTC, the second offset each HAProxy line is read with.
const HOUR: i64 = 3600;

/// Splits `data` into numbered lines and parses each as an HAProxy log line,
/// as `limiter-cli replay --input haproxy` does, at UTC and at one hour east.
///
/// Asserts that a record costs 1, its address is exactly what `std` reads
/// from its text (the client field without its port) and its time lies in
/// `[0, 2⁶³)` ns, reads back from its accept date, agrees with the same
/// instant written in RFC 3339, and is exactly one hour earlier under the
/// `+01:00` offset; that `--input auto` recognises exactly the lines whose
/// error is not about their layout; and that every error names its line.
///
/// # Panics
///
/// Only on a bug in the CLI's parsers.
pub fn haproxy(data: &[u8]) {
    for (line_no, line) in lines(data) {
        let utc = parse_haproxy_line::<IpAddr>(line, 0);
        let east = parse_haproxy_line::<IpAddr>(line, HOUR);
        check_layout(&utc, line, TraceErrorKind::NotHaproxyLog, looks_like_haproxy_log(line));
        match (&utc, &east) {
            (Ok(Some(record)), _) => {
                check_record(record, line);
                assert_eq!(parse_accept_date(record.timestamp, 0), Ok(record.nanos));
                check_accept_date(record.timestamp, record.nanos);
                if let Ok(Some(east)) = &east {
                    assert_eq!(east.nanos + HOUR as u64 * 1_000_000_000, record.nanos);
                    assert_eq!((east.key, east.key_text), (record.key, record.key_text));
                }
            }
            (Ok(None), _) => assert_eq!(east, Ok(None), "line {line_no}"),
            (Err(err), _) => check_error(err, line_no, line),
        }
        if let Err(err) = &east {
            check_error(err, line_no, line);
        }
    }
}

/// Splits `data` into numbered lines and parses each as an AWS ALB log
/// entry, as `limiter-cli replay --input alb` does.
///
/// Asserts that a record costs 1, its address is exactly what `std` reads
/// from its text, its time lies in `[0, 2⁶³)` ns and reads back from its
/// text as RFC 3339; that `--input auto` recognises exactly the lines whose
/// error is not about their layout; and that every error names its line.
///
/// # Panics
///
/// Only on a bug in the CLI's parsers.
pub fn alb(data: &[u8]) {
    for (line_no, line) in lines(data) {
        let parsed = parse_alb_line::<IpAddr>(line);
        check_layout(&parsed, line, TraceErrorKind::NotAlbLog, looks_like_alb_log(line));
        match parsed {
            Ok(Some(record)) => {
                check_record(&record, line);
                assert_eq!(timestamp::parse_rfc3339(record.timestamp), Ok(record.nanos));
            }
            Ok(None) => {}
            Err(err) => check_error(&err, line_no, line),
        }
    }
}

/// Splits `data` into numbered lines and parses each as a JSON-lines
/// record, as `limiter-cli replay --input jsonl` does, with the fields the
/// first line detects (or Caddy's when it detects none).
///
/// Asserts that a record costs 1 and its address is exactly what `std` reads
/// from its text; that a line is a JSON object exactly when `serde_json`
/// reads it as one; that the time's text is the field's string or number
/// as written, its nanoseconds are what the CLI's timestamp parsers read
/// from that text, and a number agrees with `serde_json`'s `f64` to within
/// that type's precision; that the key's text is the address field's string
/// (or the address before its port); and that every error names its line.
///
/// # Panics
///
/// Only on a bug in the CLI's parsers.
pub fn jsonl(data: &[u8]) {
    let mut lines = lines(data).peekable();
    let first = lines.peek().map_or(&b""[..], |(_, line)| line);
    let fields = JsonFields::detect(first, None, None)
        .unwrap_or_else(|_| JsonFields::new("ts", "request.remote_ip"));
    for (line_no, line) in lines {
        let parsed = fields.parse_line::<IpAddr>(line);
        let text = trim(line);
        let value = serde_json::from_slice::<serde_json::Value>(text);
        // serde_json's `Value` holds no number beyond `f64`'s range, which
        // JSON allows and the replay reads (as a bad time, if it is one).
        if value.as_ref().is_err_and(|err| err.to_string().starts_with("number out of range")) {
            if let Err(err) = &parsed {
                check_error(err, line_no, line);
            }
            continue;
        }
        let value = value.ok();
        let is_object = value.as_ref().is_some_and(serde_json::Value::is_object);
        match &parsed {
            Err(LineError { kind: TraceErrorKind::NotJsonObject, .. }) => {
                assert!(!is_object, "line {line_no}: serde_json reads an object");
            }
            Ok(None) => assert!(text.is_empty() || text[0] == b'#', "line {line_no} skipped"),
            _ => assert!(is_object, "line {line_no}: serde_json reads no object"),
        }
        match parsed {
            Ok(Some(record)) => {
                check_record(&record, line);
                let value = value.expect("an object");
                let at = |path: &str| {
                    path.split('.').try_fold(&value, |v, segment| v.get(segment)).cloned()
                };
                check_json_time(&record, at(fields.timestamp_field()));
                let address = at(fields.address_field());
                let address = address.as_ref().and_then(|a| a.as_str()).expect("a string");
                assert!(
                    address.as_bytes() == record.key_text
                        || limiter_cli::address::split_port(address.as_bytes())
                            .is_some_and(|(host, _)| host == record.key_text),
                    "line {line_no}: key {:?} from {address:?}",
                    String::from_utf8_lossy(record.key_text)
                );
            }
            Ok(None) => {}
            Err(err) => check_error(&err, line_no, line),
        }
    }
}

/// Checks a JSON record's time against the field's value as `serde_json`
/// reads it.
fn check_json_time(record: &Record<'_>, value: Option<serde_json::Value>) {
    let text = String::from_utf8_lossy(record.timestamp);
    match value {
        Some(serde_json::Value::String(string)) => assert_eq!(string, text),
        Some(serde_json::Value::Number(number)) => {
            assert_eq!(timestamp::parse_decimal(record.timestamp), Ok(record.nanos), "{text}");
            let seconds = number.as_f64().expect("a finite number");
            let nanos = record.nanos as f64;
            let tolerance = seconds.abs() * 1e9 * 4.0 * f64::EPSILON + 1.0;
            assert!(
                (seconds * 1e9 - nanos).abs() <= tolerance,
                "{text}: {seconds} s vs {nanos} ns"
            );
        }
        other => panic!("{text:?} read from {other:?}"),
    }
}

/// A line's layout error (`kind` on the whole record) comes exactly when
/// `--input auto` would not recognise the line; blank and `#` lines hold
/// no record.
fn check_layout(
    parsed: &Result<Option<Record<'_>>, LineError<'_>>,
    line: &[u8],
    kind: TraceErrorKind,
    recognised: bool,
) {
    let text = trim(line);
    let layout_error =
        matches!(parsed, Err(LineError { field: Field::Record, kind: k, .. }) if *k == kind);
    if text.is_empty() || text[0] == b'#' {
        // Skipped before auto-detection ever looks at them.
        return assert!(matches!(parsed, Ok(None)), "{parsed:?}");
    }
    assert_eq!(
        recognised,
        !layout_error,
        "{:?}: recognised {recognised}, parsed {parsed:?}",
        String::from_utf8_lossy(line)
    );
}

fn check_record(record: &Record<'_>, line: &[u8]) {
    assert_eq!(record.cost, 1, "{:?}: a log request costs 1", String::from_utf8_lossy(line));
    crate::trace::check_record(record, line);
    assert!(record.nanos <= MAX_NANOS);
}

/// Checks an accept date against the same instant written in RFC 3339.
fn check_accept_date(text: &[u8], nanos: u64) {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let month = MONTHS.iter().position(|&m| m == &text[3..6]).expect("a month") + 1;
    let text = std::str::from_utf8(text).expect("an accepted date is ASCII");
    let rfc3339 = format!(
        "{}-{month:02}-{}T{}{}Z",
        &text[7..11],
        &text[0..2],
        &text[12..20],
        text.get(20..).unwrap_or_default()
    );
    assert_eq!(timestamp::parse(rfc3339.as_bytes()), Ok(nanos), "{text:?} as {rfc3339:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_dates_agree_with_rfc_3339() {
        check_accept_date(b"09/Dec/2013:12:00:03.206", 1_386_590_403_206_000_000);
        check_accept_date(b"01/Jan/1970:00:00:00", 0);
    }

    #[test]
    fn real_lines_pass_every_target() {
        haproxy(b"Dec  9 12:00:03 lb1 haproxy[1]: 127.0.0.1:38037 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"\n\nx\n");
        alb(b"http 2018-07-02T22:23:00.186641Z app/lb/1 [::1]:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 \"GET / HTTP/1.1\" \"curl\"\nhttp x\n");
        jsonl(b"{\"ts\":1700000000.123456789,\"request\":{\"remote_ip\":\"203.0.113.9\"}}\n{\"ts\":\"1\",\"request\":{\"remote_ip\":\"::1:80\"}}\n[]\n");
    }
}
