//! Web server access logs in common or combined log format.
//!
//! nginx's default `combined` format and Apache's `%h %l %u %t \"%r\" %>s %b`
//! (plus `\"%{Referer}i\" \"%{User-agent}i\"`) both write
//!
//! ```text
//! 203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://x/" "Mozilla/5.0"
//! ```
//!
//! The client address is the first field and the time is in brackets. Each
//! line is one request of cost 1. Quoted fields may hold spaces and escaped
//! quotes (`\"`); anything after the byte count, such as the referer, the user
//! agent or extra fields a server appends, is checked only for unterminated
//! quotes.

use crate::timestamp::{self, TimestampError};
use crate::trace::{Field, KeyField, LineError, Record, TraceErrorKind, trim};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Reads one access log line: `Ok(None)` for a blank or `#` line. The host
/// is the key: an address, or under `--key any` opaque text.
pub fn parse_access_line<K: KeyField>(line: &[u8]) -> Result<Option<Record<'_, K>>, LineError<'_>> {
    let line = trim(line);
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    let (host, time) = split(line).ok_or(LineError {
        field: Field::Record,
        value: line,
        kind: TraceErrorKind::NotAccessLog,
    })?;
    let nanos = parse_time(time).map_err(|kind| LineError {
        field: Field::Time,
        value: time,
        kind: TraceErrorKind::Timestamp(kind),
    })?;
    let key =
        K::read_host(host).map_err(|kind| LineError { field: Field::Host, value: host, kind })?;
    Ok(Some(Record { timestamp: time, key_text: host, nanos, key, cost: 1 }))
}

/// Whether a line is laid out as an access log line, whatever its host and
/// time hold: how `--input auto` recognises access logs.
pub fn looks_like_access_log(line: &[u8]) -> bool {
    split(trim(line)).is_some()
}

/// The host and the text between the brackets of a well-formed line.
fn split(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = memchr::memchr(b' ', line)?;
    let (host, rest) = (&line[..space], &line[space + 1..]);
    let open = memchr::memchr(b'[', rest)?;
    // `ident user `: two non-empty tokens, each followed by one space.
    let ident_user = rest[..open].strip_suffix(b" ")?;
    let split_at = memchr::memchr(b' ', ident_user)?;
    if host.is_empty() || split_at == 0 || split_at + 1 == ident_user.len() {
        return None;
    }
    let close = memchr::memchr(b']', &rest[open..])? + open;
    let time = &rest[open + 1..close];
    let mut tail = rest[close + 1..].strip_prefix(b" ")?;
    tail = skip_quoted(tail)?;
    let status = token(&mut tail)?;
    let bytes = token(&mut tail)?;
    if !is_count(status) || !is_count(bytes) {
        return None;
    }
    while !tail.is_empty() {
        tail = if tail[0] == b'"' { skip_quoted(tail)? } else { token(&mut tail).map(|_| tail)? };
    }
    Some((host, time))
}

/// Skips a `"…"` field with `\`-escapes and the space after it, if any.
fn skip_quoted(text: &[u8]) -> Option<&[u8]> {
    let mut i = 1;
    if text.first() != Some(&b'"') {
        return None;
    }
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => {
                let rest = &text[i + 1..];
                return if rest.is_empty() { Some(rest) } else { rest.strip_prefix(b" ") };
            }
            _ => i += 1,
        }
    }
    None
}

/// Takes a non-empty space-free token and the space after it, if any.
fn token<'a>(text: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = memchr::memchr(b' ', text).unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let token = &text[..end];
    *text = text.get(end + 1..).unwrap_or_default();
    Some(token)
}

/// A status or byte count: digits, or `-` when there is none.
fn is_count(token: &[u8]) -> bool {
    token == b"-" || token.iter().all(u8::is_ascii_digit)
}

/// Reads `dd/Mon/yyyy:HH:MM:SS ±hhmm`.
pub fn parse_time(text: &[u8]) -> Result<u64, TimestampError> {
    use TimestampError::NotLogTime;
    let [
        d1,
        d2,
        b'/',
        m1,
        m2,
        m3,
        b'/',
        y1,
        y2,
        y3,
        y4,
        b':',
        h1,
        h2,
        b':',
        n1,
        n2,
        b':',
        s1,
        s2,
        b' ',
        sign @ (b'+' | b'-'),
        oh1,
        oh2,
        om1,
        om2,
    ] = *text
    else {
        return Err(NotLogTime);
    };
    let number = |digits: &[u8]| timestamp::digits(digits).ok_or(NotLogTime);
    let day = number(&[d1, d2])?;
    let month = MONTHS.iter().position(|m| **m == [m1, m2, m3]).ok_or(NotLogTime)? as u32 + 1;
    let year = number(&[y1, y2, y3, y4])?;
    let (hour, minute, second) = (number(&[h1, h2])?, number(&[n1, n2])?, number(&[s1, s2])?);
    let offset = timestamp::signed_offset(sign, number(&[oh1, oh2])?, number(&[om1, om2])?)?;
    let secs = timestamp::civil_seconds(year, month, day, hour, minute, second)?;
    timestamp::to_nanos(secs - offset, 0)
}

#[cfg(test)]
mod tests {
    use super::TimestampError::*;
    use super::*;

    const S: u64 = 1_000_000_000;
    /// `10/Oct/2000:13:55:36 -0700`, the Apache documentation's example.
    const OCT_10: u64 = 971_211_336 * S;

    #[track_caller]
    fn check(line: &str, expected: Option<(&str, u64, &str, &str)>) {
        let got = parse_access_line::<std::net::IpAddr>(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line:?}: {}", e.at("log", 1)));
        let got = got.map(|r| (r.key, r.nanos, r.key_text, r.timestamp));
        let expected = expected
            .map(|(ip, t, host, time)| (ip.parse().unwrap(), t, host.as_bytes(), time.as_bytes()));
        assert_eq!(got, expected, "{line:?}");
        assert_eq!(looks_like_access_log(line.as_bytes()), expected.is_some(), "{line:?}");
    }

    #[track_caller]
    fn check_err(line: &str, message: &str) {
        let err = parse_access_line::<std::net::IpAddr>(line.as_bytes()).expect_err(line);
        assert_eq!(err.at("access.log", 4).to_string(), message, "{line:?}");
    }

    #[test]
    fn opaque_hosts_are_taken_as_written() {
        for host in ["www.example.com", "localhost", "[::1]", "10.0.0.1:443", "::FFFF:10.0.0.1"] {
            let line = format!(r#"{host} - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#);
            let record = parse_access_line::<crate::trace::Opaque>(line.as_bytes()).unwrap();
            assert_eq!(record.map(|r| (r.key_text, r.nanos)), Some((host.as_bytes(), OCT_10)));
        }
    }

    #[test]
    fn common_and_combined_lines() {
        let time = "10/Oct/2000:13:55:36 -0700";
        check(
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
            Some(("127.0.0.1", OCT_10, "127.0.0.1", time)),
        );
        check(
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
            Some(("127.0.0.1", OCT_10, "127.0.0.1", time)),
        );
        check(
            r#"2001:db8::7 - - [10/Oct/2000:20:55:36 +0000] "POST /login HTTP/2.0" 401 - "-" "curl/8.0""#,
            Some(("2001:db8::7", OCT_10, "2001:db8::7", "10/Oct/2000:20:55:36 +0000")),
        );
        check(
            r#"::ffff:192.0.2.1 - - [11/Oct/2000:06:25:36 +0930] "GET / HTTP/1.1" 304 0"#,
            Some(("::ffff:192.0.2.1", OCT_10, "::ffff:192.0.2.1", "11/Oct/2000:06:25:36 +0930")),
        );
    }

    #[test]
    fn quoted_fields_may_hold_spaces_escaped_quotes_and_brackets() {
        let time = "10/Oct/2000:13:55:36 -0700";
        check(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /search?q=\"a b\" HTTP/1.1" 200 12 "-" "Agent \"X\" [1]""#,
            Some(("10.0.0.1", OCT_10, "10.0.0.1", time)),
        );
        check(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /x\\ HTTP/1.1" 200 12"#,
            Some(("10.0.0.1", OCT_10, "10.0.0.1", time)),
        );
        check(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "" 400 0 "-" "-" 0.003 "x y""#,
            Some(("10.0.0.1", OCT_10, "10.0.0.1", time)),
        );
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        assert_eq!(parse_access_line::<std::net::IpAddr>(b"  \t"), Ok(None));
        assert_eq!(parse_access_line::<std::net::IpAddr>(b"# nginx log"), Ok(None));
    }

    #[test]
    fn malformed_lines() {
        let layout = r#"not in common or combined log format (host ident user [time] "request" status bytes)"#;
        for line in [
            "1700000000,10.0.0.1",
            "timestamp,ip",
            r#"10.0.0.1 - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#,
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 200 1"#,
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200"#,
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 1"#,
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] GET 200 1"#,
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.1" 200 1"#,
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET" 200 1 "x"#,
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET" 200 1  "x""#,
        ] {
            check_err(line, &format!("access.log:4: record {line:?}: {layout}"));
        }
    }

    #[test]
    fn hosts_must_be_addresses() {
        check_err(
            r#"www.example.com - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#,
            r#"access.log:4: host "www.example.com": not an IP address (host names are not addresses; --key any replays them by name)"#,
        );
        check_err(
            r#"localhost - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#,
            r#"access.log:4: host "localhost": not an IP address (host names are not addresses; --key any replays them by name)"#,
        );
        check_err(
            r#"[::1] - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#,
            r#"access.log:4: host "[::1]": not an IPv4 or IPv6 address"#,
        );
        check_err(
            r#"10.0.0.1:443 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#,
            r#"access.log:4: host "10.0.0.1:443": not an IPv4 or IPv6 address"#,
        );
    }

    #[track_caller]
    fn check_time(text: &str, expected: Result<u64, TimestampError>) {
        assert_eq!(parse_time(text.as_bytes()), expected, "{text:?}");
    }

    #[test]
    fn times() {
        check_time("10/Oct/2000:13:55:36 -0700", Ok(OCT_10));
        check_time("10/Oct/2000:20:55:36 +0000", Ok(OCT_10));
        check_time("10/Oct/2000:20:55:36 -0000", Ok(OCT_10));
        check_time("01/Jan/1970:00:00:00 +0000", Ok(0));
        check_time("29/Feb/2024:00:00:00 +0000", Ok(1_709_164_800 * S));
        check_time("11/Apr/2262:23:47:16 +0000", Ok(9_223_372_036 * S));
        check_time("31/Dec/1969:23:59:59 +0000", Err(OutOfRange));
        check_time("12/Apr/2262:00:00:00 +0000", Err(OutOfRange));
        check_time("29/Feb/2023:00:00:00 +0000", Err(NoSuchDate));
        check_time("31/Jun/2023:00:00:00 +0000", Err(NoSuchDate));
        check_time("10/Oct/2000:24:00:00 +0000", Err(NoSuchTime));
        check_time("31/Dec/2016:23:59:60 +0000", Err(LeapSecond));
        check_time("10/Oct/2000:13:55:36 +2400", Err(BadOffset));
        check_time("10/oct/2000:13:55:36 +0000", Err(NotLogTime));
        check_time("10/Okt/2000:13:55:36 +0000", Err(NotLogTime));
        check_time("10/Oct/2000:13:55:36", Err(NotLogTime));
        check_time("10/Oct/2000 13:55:36 +0000", Err(NotLogTime));
        check_time("10/Oct/2000:13:55:36 +00:00", Err(NotLogTime));
        check_time("1/Oct/2000:13:55:36 +0000", Err(NotLogTime));
        check_time("2000-10-10T13:55:36Z", Err(NotLogTime));
    }

    #[test]
    fn bad_times_name_the_field() {
        check_err(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36] "GET / HTTP/1.1" 200 1"#,
            r#"access.log:4: time "10/Oct/2000:13:55:36": not a common log format time like 10/Oct/2000:13:55:36 -0700"#,
        );
        check_err(
            r#"10.0.0.1 - - [30/Feb/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1"#,
            r#"access.log:4: time "30/Feb/2000:13:55:36 +0000": no such calendar date"#,
        );
    }
}
