//! HAProxy logs, in its HTTP and TCP formats, with or without a syslog
//! prefix.
//!
//! ```text
//! Dec  9 12:00:03 lb1 haproxy[12345]: 127.0.0.1:38037 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
//! 10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0
//! ```
//!
//! The key is the client address (`%ci`) without its port (`%cp`); IPv6
//! clients are written `2001:db8::1:38037` (the last colon starts the port)
//! or `[2001:db8::1]:38037`. The time is the accept date (`%tr`), with its
//! milliseconds. HAProxy writes it in the host's local time without a zone:
//! it is read as UTC plus the `--utc-offset` given (`+00:00` by default), so
//! `12:00:03.206` with `--utc-offset +01:00` is 11:00:03.206 UTC, exactly.
//! Whatever the syslog prefix holds, including its own time, is ignored.
//! Each line is one request of cost 1.

use crate::address::split_port;
use crate::timestamp;
use crate::trace::{Field, KeyField, LineError, Record, TraceErrorKind, trim};

/// The longest accept date: `dd/Mon/yyyy:HH:MM:SS.` and 9 digits.
const DATE_MAX: usize = 30;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Reads one HAProxy log line: `Ok(None)` for a blank or `#` line. The accept
/// date is read as local time `utc_offset` seconds east of UTC.
pub fn parse_haproxy_line<K: KeyField>(
    line: &[u8],
    utc_offset: i64,
) -> Result<Option<Record<'_, K>>, LineError<'_>> {
    let line = trim(line);
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    let (client, date) = split(line).ok_or(LineError {
        field: Field::Record,
        value: line,
        kind: TraceErrorKind::NotHaproxyLog,
    })?;
    let nanos = parse_accept_date(date, utc_offset).map_err(|kind| LineError {
        field: Field::AcceptDate,
        value: date,
        kind,
    })?;
    let (host, _port) = split_port(client).ok_or(LineError {
        field: Field::Client,
        value: client,
        kind: TraceErrorKind::NotHostPort,
    })?;
    let key =
        K::read_host(host).map_err(|kind| LineError { field: Field::Client, value: host, kind })?;
    Ok(Some(Record { timestamp: date, key_text: host, nanos, key, cost: 1 }))
}

/// Whether a line is laid out as an HAProxy HTTP or TCP log line, whatever
/// its client and date hold: how `--input auto` recognises HAProxy logs.
pub fn looks_like_haproxy_log(line: &[u8]) -> bool {
    split(trim(line)).is_some()
}

/// Reads an accept date, `dd/Mon/yyyy:HH:MM:SS` with an optional fraction of
/// 1 to 9 digits (HAProxy writes 3), as local time `utc_offset` seconds east
/// of UTC, exactly to the nanosecond.
pub fn parse_accept_date(text: &[u8], utc_offset: i64) -> Result<u64, TraceErrorKind> {
    use TraceErrorKind::NotAcceptDate;
    let Some(
        &[d1, d2, b'/', m1, m2, m3, b'/', y1, y2, y3, y4, b':', h1, h2, b':', n1, n2, b':', s1, s2],
    ) = text.get(..20)
    else {
        return Err(NotAcceptDate);
    };
    let frac_nanos = match &text[20..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            let value = timestamp::digits(frac).ok_or(NotAcceptDate)?;
            u64::from(value) * 10u64.pow(9 - frac.len() as u32)
        }
        _ => return Err(NotAcceptDate),
    };
    let number = |digits: &[u8]| timestamp::digits(digits).ok_or(NotAcceptDate);
    let day = number(&[d1, d2])?;
    let month = MONTHS.iter().position(|m| **m == [m1, m2, m3]).ok_or(NotAcceptDate)? as u32 + 1;
    let year = number(&[y1, y2, y3, y4])?;
    let (hour, minute, second) = (number(&[h1, h2])?, number(&[n1, n2])?, number(&[s1, s2])?);
    let secs = timestamp::civil_seconds(year, month, day, hour, minute, second)
        .map_err(TraceErrorKind::Timestamp)?;
    timestamp::to_nanos(secs - utc_offset, frac_nanos).map_err(TraceErrorKind::Timestamp)
}

/// The client token and the accept date of a well-formed line: the first
/// ` [date] ` preceded by a `host:port` token and followed by a frontend, a
/// `backend/server`, slash-separated timers and a status or byte count.
fn split(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut from = 0;
    loop {
        let open = crate::swar::find(line, from, b'[', b'[', false);
        if open == line.len() {
            return None;
        }
        if let Some(found) = layout_at(line, open) {
            return Some(found);
        }
        from = open + 1;
    }
}

fn layout_at(line: &[u8], open: usize) -> Option<(&[u8], &[u8])> {
    let before = line[..open].strip_suffix(b" ")?;
    let client = &before[memchr::memrchr(b' ', before).map_or(0, |i| i + 1)..];
    if client.is_empty() || !client.contains(&b':') {
        return None;
    }
    let rest = &line[open + 1..];
    // A date is at most 30 bytes: looking no further keeps a line of many
    // `[` linear to scan.
    let window = &rest[..rest.len().min(DATE_MAX + 1)];
    let close = crate::swar::find(window, 0, b']', b']', false);
    if close == window.len() {
        return None;
    }
    let date = &rest[..close];
    if !date_shaped(date) {
        return None;
    }
    let mut tail = rest[close + 1..].strip_prefix(b" ")?;
    let _frontend = token(&mut tail)?;
    let backend = token(&mut tail)?;
    let timers = token(&mut tail)?;
    let next = token(&mut tail)?;
    let timer_count = timers.split(|&b| b == b'/').count();
    let shaped = backend.contains(&b'/')
        && timer_count >= 3
        && timers.split(|&b| b == b'/').all(is_signed_number)
        && is_signed_number(next);
    shaped.then_some((client, date))
}

/// `dd/Mon/yyyy:HH:MM:SS`, optionally followed by `.` and digits, by shape.
fn date_shaped(date: &[u8]) -> bool {
    date.len() >= 20
        && date[2] == b'/'
        && date[6] == b'/'
        && [11, 14, 17].iter().all(|&i| date[i] == b':')
        && match &date[20..] {
            [] => true,
            [b'.', frac @ ..] => !frac.is_empty() && frac.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// Digits with an optional `+` or `-`: a timer (`-1` when unset, `+` with
/// `option logasap`), a status or a byte count.
fn is_signed_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"+").or_else(|| text.strip_prefix(b"-")).unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// Takes a non-empty space-free token and the spaces after it.
fn token<'a>(text: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = crate::swar::find(text, 0, b' ', b' ', false);
    if end == 0 {
        return None;
    }
    let token = &text[..end];
    let rest = &text[end..];
    let skip = rest.iter().take_while(|&&b| b == b' ').count();
    *text = &rest[skip..];
    Some(token)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::timestamp::TimestampError;

    /// 2013-12-09T12:00:03.206Z.
    const DEC_9: u64 = 1_386_590_403_206_000_000;

    const HTTP: &str = r#"Dec  9 12:00:03 lb1 haproxy[12345]: 127.0.0.1:38037 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 "GET /a[1] HTTP/1.1""#;

    #[track_caller]
    fn check(line: &str, offset: i64, expected: Option<(&str, u64, &str)>) {
        let got = parse_haproxy_line::<IpAddr>(line.as_bytes(), offset)
            .unwrap_or_else(|e| panic!("{line:?}: {}", e.at("haproxy.log", 1)));
        let got = got.map(|r| (r.key, r.nanos, r.key_text, r.timestamp, r.cost));
        let expected = expected
            .map(|(ip, t, date)| (ip.parse().unwrap(), t, ip.as_bytes(), date.as_bytes(), 1));
        assert_eq!(got, expected, "{line:?}");
        assert_eq!(looks_like_haproxy_log(line.as_bytes()), expected.is_some(), "{line:?}");
    }

    #[track_caller]
    fn check_err(line: &str, message: &str) {
        let err = parse_haproxy_line::<IpAddr>(line.as_bytes(), 0).expect_err(line);
        assert_eq!(err.at("haproxy.log", 3).to_string(), message, "{line:?}");
    }

    #[test]
    fn http_and_tcp_lines_with_and_without_syslog_prefixes() {
        let date = "09/Dec/2013:12:00:03.206";
        check(HTTP, 0, Some(("127.0.0.1", DEC_9, date)));
        check(&HTTP[36..], 0, Some(("127.0.0.1", DEC_9, date)));
        check(
            "<134>Dec  9 12:00:03 haproxy[1]: 10.0.1.2:33313 [09/Dec/2013:12:00:03.206] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0",
            0,
            Some(("10.0.1.2", DEC_9, date)),
        );
        check(
            "<134>1 2013-12-09T12:00:03Z lb1 haproxy 12345 - - 2001:db8::1:443 [09/Dec/2013:12:00:03.206] fe~ be/<NOSRV> -1/-1/-1/-1/+0 -1 0 - - CR-- 0/0/0/0/0 0/0",
            0,
            Some(("2001:db8::1", DEC_9, date)),
        );
        check(
            "[::ffff:192.0.2.1]:80 [09/Dec/2013:13:00:03.206] fe be/s 0/0/1 +212 -- 0/0/0/0/0 0/0",
            3600,
            Some(("::ffff:192.0.2.1", DEC_9, "09/Dec/2013:13:00:03.206")),
        );
    }

    #[test]
    fn accept_dates_are_exact_and_take_the_offset() {
        let date = |text: &str, offset| parse_accept_date(text.as_bytes(), offset);
        assert_eq!(date("09/Dec/2013:12:00:03.206", 0), Ok(DEC_9));
        assert_eq!(date("09/Dec/2013:12:00:03", 0), Ok(DEC_9 - 206_000_000));
        assert_eq!(date("09/Dec/2013:12:00:03.000000001", 0), Ok(DEC_9 - 205_999_999));
        assert_eq!(date("09/Dec/2013:06:30:03.206", -5 * 3600 - 1800), Ok(DEC_9));
        assert_eq!(date("01/Jan/1970:00:00:00.000", 0), Ok(0));
        assert_eq!(date("01/Jan/1970:01:00:00.000", 3600), Ok(0));
        let range = Err(TraceErrorKind::Timestamp(TimestampError::OutOfRange));
        assert_eq!(date("01/Jan/1970:00:00:00.000", 1), range);
        assert_eq!(date("12/Apr/2262:00:00:00.000", 0), range);
        let no_date = Err(TraceErrorKind::Timestamp(TimestampError::NoSuchDate));
        assert_eq!(date("29/Feb/2023:00:00:00.000", 0), no_date);
        let leap = Err(TraceErrorKind::Timestamp(TimestampError::LeapSecond));
        assert_eq!(date("31/Dec/2016:23:59:60.000", 0), leap);
        for bad in [
            "09/Dec/2013:12:00:03.",
            "09/Dec/2013:12:00:03.1234567891",
            "09/dec/2013:12:00:03.206",
            "09/Dec/2013:12:00:03 +0000",
            "9/Dec/2013:12:00:03.206",
            "09/Dec/2013:12:00:0x.206",
        ] {
            assert_eq!(date(bad, 0), Err(TraceErrorKind::NotAcceptDate), "{bad:?}");
        }
    }

    #[test]
    fn other_lines_are_not_haproxy_logs() {
        let layout = "not an HAProxy HTTP or TCP log line (client:port [accept date] frontend backend/server timers ...)";
        for line in [
            "Dec  9 12:00:03 lb1 haproxy[12345]: Proxy fe started.",
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#,
            "1700000000,10.0.0.1",
            "127.0.0.1:1 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/0/1/1",
            "127.0.0.1:1 [09/Dec/2013:12:00:03.206] fe besrv 0/0/1 200",
            "127.0.0.1:1 [09/Dec/2013:12:00:03.206] fe be/srv 0/0 200",
            "127.0.0.1:1 [09/Dec/2013:12:00:03.206] fe be/srv 0/x/1 200",
            "127.0.0.1:1 [09/Dec/2013:12:00:03 +0000] fe be/srv 0/0/1 200",
            "127.0.0.1 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/1 200",
        ] {
            let err = parse_haproxy_line::<IpAddr>(line.as_bytes(), 0).expect_err(line);
            assert_eq!((err.field, err.kind), (Field::Record, TraceErrorKind::NotHaproxyLog));
            assert!(!looks_like_haproxy_log(line.as_bytes()), "{line:?}");
        }
        for line in ["Proxy fe started.", "127.0.0.1:1 [09/Dec/2013:12:00:03.206] fe"] {
            check_err(line, &format!("haproxy.log:3: record {line:?}: {layout}"));
        }
    }

    #[test]
    fn a_line_of_many_brackets_is_not_a_log_line() {
        let line = " a:1 [".repeat(100_000);
        let err = parse_haproxy_line::<IpAddr>(line.as_bytes(), 0).unwrap_err();
        assert_eq!(err.kind, TraceErrorKind::NotHaproxyLog);
        let dated =
            format!("{} 1.2.3.4:5 [09/Dec/2013:12:00:03.206] f b/s 0/0/1 2", " a:1 [".repeat(1000));
        assert_eq!(
            parse_haproxy_line::<IpAddr>(dated.as_bytes(), 0).unwrap().unwrap().nanos,
            DEC_9
        );
    }

    #[test]
    fn bad_fields_are_named() {
        check_err(
            "www.example.com:80 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/1 200 1",
            r#"haproxy.log:3: client "www.example.com": not an IP address (host names are not addresses; --key any replays them by name)"#,
        );
        check_err(
            "10.0.0.1:http [09/Dec/2013:12:00:03.206] fe be/srv 0/0/1 200 1",
            r#"haproxy.log:3: client "10.0.0.1:http": not an address and port (a.b.c.d:port, ipv6:port or [ipv6]:port)"#,
        );
        check_err(
            "10.0.0.1:1 [30/Feb/2013:12:00:03.206] fe be/srv 0/0/1 200 1",
            r#"haproxy.log:3: accept_date "30/Feb/2013:12:00:03.206": no such calendar date"#,
        );
        check_err(
            "10.0.0.1:1 [09/Foo/2013:12:00:03.206] fe be/srv 0/0/1 200 1",
            r#"haproxy.log:3: accept_date "09/Foo/2013:12:00:03.206": not an HAProxy accept date like 09/Dec/2013:12:00:03.206"#,
        );
    }

    #[test]
    fn opaque_keys_are_the_client_without_its_port() {
        let line = "unix:1 [09/Dec/2013:12:00:03.206] fe be/srv 0/0/1 200 1";
        let record = parse_haproxy_line::<crate::trace::Opaque>(line.as_bytes(), 0).unwrap();
        assert_eq!(record.map(|r| (r.key_text, r.nanos)), Some((&b"unix"[..], DEC_9)));
    }
}
