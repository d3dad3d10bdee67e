//! AWS Application Load Balancer access logs, in the documented field order:
//!
//! ```text
//! type time elb client:port target:port request_processing_time
//! target_processing_time response_processing_time elb_status_code
//! target_status_code received_bytes sent_bytes "request" "user_agent"
//! ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
//! "chosen_cert_arn" matched_rule_priority request_creation_time ...
//! ```
//!
//! Fields are separated by single spaces; quoted fields may hold spaces and
//! `\`-escaped quotes. The key is the client address without its port (an
//! IPv6 client is `2001:db8::1:443`, the last colon starting the port, or
//! `[2001:db8::1]:443`). The time is `request_creation_time`, when the
//! request arrived (which is when a limiter in front would decide it), or
//! `time` (when the response was sent) for entries that lack it or hold `-`
//! there. Both are RFC 3339 in UTC with microseconds, read exactly. The
//! fields after `request_creation_time` are not read. Each
//! entry is one request of cost 1.
//!
//! What is checked: fields up to `request_creation_time` are separated by
//! single spaces, and quoted ones are closed; an entry has at least the 14
//! fields up to `user_agent`; the type is one of `http`, `https`, `h2`,
//! `grpcs`, `ws`, `wss`; `time` starts with four digits and a `-`; the
//! client holds a `:`; the three processing times are numbers (`-1` too);
//! the status codes and byte counts are digits or `-`; `request` and
//! `user_agent` are quoted. A line that fails any of these is not an ALB
//! entry (one error for the whole record, and `--input auto` does not take
//! it for one). The time read and the client are then checked in full
//! (each with its own error naming the field); the other fields are only
//! found, not read. ALB ships its logs gzip-compressed; the
//! replay decompresses any gzip input.

use crate::address::split_port;
use crate::timestamp;
use crate::trace::{Field, KeyField, LineError, Record, TraceErrorKind, trim};

/// The values of the first field, the request type.
const TYPES: [&[u8]; 6] = [b"http", b"https", b"h2", b"grpcs", b"ws", b"wss"];

/// The 0-based position of `request_creation_time`.
const CREATION: usize = 21;

/// Reads one ALB log entry: `Ok(None)` for a blank or `#` line.
pub fn parse_alb_line<K: KeyField>(line: &[u8]) -> Result<Option<Record<'_, K>>, LineError<'_>> {
    let line = trim(line);
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    let fields = split(line).ok_or(LineError {
        field: Field::Record,
        value: line,
        kind: TraceErrorKind::NotAlbLog,
    })?;
    let (stamp, field) = match fields.creation {
        Some(creation) if creation != b"-" => (creation, Field::RequestCreationTime),
        _ => (fields.time, Field::Time),
    };
    let nanos = timestamp::parse_rfc3339(stamp).map_err(|kind| LineError {
        field,
        value: stamp,
        kind: TraceErrorKind::Timestamp(kind),
    })?;
    let (host, _port) = split_port(fields.client).ok_or(LineError {
        field: Field::Client,
        value: fields.client,
        kind: TraceErrorKind::NotHostPort,
    })?;
    let key =
        K::read_host(host).map_err(|kind| LineError { field: Field::Client, value: host, kind })?;
    Ok(Some(Record { timestamp: stamp, key_text: host, nanos, key, cost: 1 }))
}

/// Whether a line is laid out as an ALB log entry, whatever its client and
/// times hold: how `--input auto` recognises ALB logs.
pub fn looks_like_alb_log(line: &[u8]) -> bool {
    split(trim(line)).is_some()
}

/// The fields a replay needs from a well-formed entry.
struct Fields<'a> {
    time: &'a [u8],
    client: &'a [u8],
    creation: Option<&'a [u8]>,
}

fn split(line: &[u8]) -> Option<Fields<'_>> {
    let mut rest = line;
    let kind = token(&mut rest)?;
    let time = token(&mut rest)?;
    let _elb = token(&mut rest)?;
    let client = token(&mut rest)?;
    let _target = token(&mut rest)?;
    let shaped = TYPES.contains(&kind)
        && time.len() > 4
        && time[..4].iter().all(u8::is_ascii_digit)
        && time[4] == b'-'
        && memchr::memchr(b':', client).is_some();
    if !shaped {
        return None;
    }
    // The three processing times, then the two status codes and the two
    // byte counts.
    for _ in 0..3 {
        number(&mut rest, true)?;
    }
    for _ in 0..4 {
        number(&mut rest, false)?;
    }
    // `"request" "user_agent"`, the last fields every entry has.
    for _ in 0..2 {
        if rest.first() != Some(&b'"') {
            return None;
        }
        let field = token(&mut rest)?;
        if field.len() < 2 {
            return None;
        }
    }
    // The fields after `request_creation_time` are not read (AWS adds
    // fields at the end from time to time).
    let mut creation = None;
    let mut count = 14;
    while !rest.is_empty() && count <= CREATION {
        let field = token(&mut rest)?;
        if count == CREATION {
            creation = Some(field);
        }
        count += 1;
    }
    Some(Fields { time, client, creation })
}

/// Takes one numeric field and the single space after it, checking it as
/// it goes: with `decimal`, an optional `-` then digits and dots (at least
/// one); else `-` or digits.
#[inline(always)]
fn number(text: &mut &[u8], decimal: bool) -> Option<()> {
    let end = if text.first() == Some(&b'-') && !decimal {
        1
    } else {
        let start = usize::from(text.first() == Some(&b'-'));
        let run = text[start..]
            .iter()
            .position(|&b| !(b.is_ascii_digit() || decimal && b == b'.'))
            .unwrap_or(text.len() - start);
        if run == 0 {
            return None;
        }
        start + run
    };
    *text = match &text[end..] {
        [] => &[],
        [b' ', rest @ ..] if !rest.is_empty() => rest,
        _ => return None,
    };
    Some(())
}

/// Takes one field and the single space after it: a `"…"` field with
/// `\`-escapes (quotes included), or a non-empty run of other bytes.
#[inline(always)]
fn token<'a>(text: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = if text.first() == Some(&b'"') {
        let mut i = 1;
        loop {
            i += crate::swar::find_byte2(&text[i..], b'"', b'\\');
            if *text.get(i)? == b'\\' {
                i += 2;
                if i > text.len() {
                    return None;
                }
            } else {
                break i + 1;
            }
        }
    } else {
        crate::swar::find_byte(text, b' ')
    };
    if end == 0 {
        return None;
    }
    let field = &text[..end];
    *text = match &text[end..] {
        [] => &[],
        [b' ', rest @ ..] if !rest.is_empty() => rest,
        _ => return None,
    };
    Some(field)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use limiter_testkit::RngExt as _;

    use super::*;
    use crate::timestamp::TimestampError;

    /// The AWS documentation's HTTP example, one entry.
    const ENTRY: &str = r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#;

    /// 2018-07-02T22:22:48.364Z and 2018-07-02T22:23:00.186641Z.
    const CREATED: u64 = 1_530_570_168_364_000_000;
    const SENT: u64 = 1_530_570_180_186_641_000;

    #[track_caller]
    fn check(line: &str, expected: Option<(&str, u64, &str)>) {
        let got = parse_alb_line::<IpAddr>(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line:?}: {}", e.at("alb.log", 1)));
        let got = got.map(|r| (r.key, r.nanos, r.key_text, r.timestamp, r.cost));
        let expected = expected
            .map(|(ip, t, time)| (ip.parse().unwrap(), t, ip.as_bytes(), time.as_bytes(), 1));
        assert_eq!(got, expected, "{line:?}");
        assert_eq!(looks_like_alb_log(line.as_bytes()), expected.is_some(), "{line:?}");
    }

    #[track_caller]
    fn check_err(line: &str, message: &str) {
        let err = parse_alb_line::<IpAddr>(line.as_bytes()).expect_err(line);
        assert_eq!(err.at("alb.log", 2).to_string(), message, "{line:?}");
    }

    #[test]
    fn entries_take_the_request_creation_time() {
        check(ENTRY, Some(("192.168.131.39", CREATED, "2018-07-02T22:22:48.364000Z")));
        let v6 = ENTRY.replace("192.168.131.39:2817", "2001:db8::7:2817");
        check(&v6, Some(("2001:db8::7", CREATED, "2018-07-02T22:22:48.364000Z")));
        let bracketed = ENTRY.replace("192.168.131.39:2817", "[2001:db8::7]:2817");
        check(&bracketed, Some(("2001:db8::7", CREATED, "2018-07-02T22:22:48.364000Z")));
        let later = ENTRY.replace(r#""forward""#, r#""forward "new field"#);
        check(&later, Some(("192.168.131.39", CREATED, "2018-07-02T22:22:48.364000Z")));
        let quoted = ENTRY.replace(r#""curl/7.46.0""#, r#""Agent \"x y\" [z]""#);
        check(&quoted, Some(("192.168.131.39", CREATED, "2018-07-02T22:22:48.364000Z")));
    }

    #[test]
    fn entries_without_a_creation_time_take_the_response_time() {
        let dash = ENTRY.replace("0 2018-07-02T22:22:48.364000Z", "0 -");
        check(&dash, Some(("192.168.131.39", SENT, "2018-07-02T22:23:00.186641Z")));
        let end = ENTRY.find(r#" - - arn"#).unwrap();
        check(&ENTRY[..end], Some(("192.168.131.39", SENT, "2018-07-02T22:23:00.186641Z")));
    }

    #[test]
    fn other_lines_are_not_alb_entries() {
        let layout = r#"not an AWS ALB access log entry (type time elb client:port target:port ... "request" ...)"#;
        for line in [
            ENTRY.replacen("http ", "ftp ", 1),
            ENTRY.replacen(" 0.000 0.001", " 0.000 x", 1),
            ENTRY.replacen("\"GET http://www.example.com:80/ HTTP/1.1\"", "GET", 1),
            ENTRY.replacen("\"curl/7.46.0\"", "\"curl/7.46.0", 1),
            ENTRY.replacen("366 ", "366  ", 1),
            "1700000000,10.0.0.1".to_owned(),
        ] {
            let err = parse_alb_line::<IpAddr>(line.as_bytes()).expect_err(&line);
            assert_eq!((err.field, err.kind), (Field::Record, TraceErrorKind::NotAlbLog), "{line}");
        }
        check_err("https x", &format!("alb.log:2: record \"https x\": {layout}"));
    }

    /// The layout check, field by field as the module's documentation
    /// states it, without the scanner's shortcuts.
    fn reference_split(line: &[u8]) -> Option<Fields<'_>> {
        let mut fields = Vec::new();
        let mut rest = line;
        while !rest.is_empty() && fields.len() <= CREATION {
            let end = if rest[0] == b'"' {
                let mut i = 1;
                loop {
                    match rest.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break i + 1,
                        _ => i += 1,
                    }
                }
            } else {
                rest.iter().position(|&b| b == b' ').unwrap_or(rest.len())
            };
            if end == 0 || end > rest.len() {
                return None;
            }
            fields.push(&rest[..end]);
            rest = match &rest[end..] {
                [] => &[],
                [b' ', more @ ..] if !more.is_empty() => more,
                _ => return None,
            };
        }
        let number = |f: &[u8]| {
            let digits = f.strip_prefix(b"-").unwrap_or(f);
            !digits.is_empty() && digits.iter().all(|&b| b.is_ascii_digit() || b == b'.')
        };
        let count = |f: &[u8]| f == b"-" || f.iter().all(u8::is_ascii_digit);
        let ok = fields.len() >= 14
            && TYPES.contains(&fields[0])
            && fields[1].len() > 4
            && fields[1][..4].iter().all(u8::is_ascii_digit)
            && fields[1][4] == b'-'
            && fields[3].contains(&b':')
            && fields[5..8].iter().all(|f| number(f))
            && fields[8..12].iter().all(|f| count(f))
            && fields[12][0] == b'"'
            && fields[13][0] == b'"';
        ok.then(|| Fields {
            time: fields[1],
            client: fields[3],
            creation: fields.get(CREATION).copied(),
        })
    }

    /// Random edits of an entry (special bytes put in, bytes taken out, the
    /// line cut short) are entries exactly when the plain check says so,
    /// with the same fields.
    #[test]
    fn the_scanner_agrees_with_the_plain_layout_check() {
        let fields: [&[u8]; 9] = [b"-", b"", b"-1", b"1.5", b"x", b"\"a b\"", b"--", b"-.", b"1-2"];
        let pieces: [&[u8]; 10] =
            [b" ", b"  ", b"\"", b"\\", b"-", b".", b"x", b"1", b":", b"\\\""];
        let mut rng = limiter_testkit::rng(0x0dd5_eed5_1234_5678, 0);
        let mut next = move |n: usize| rng.random_range(0..n);
        let (mut entries, mut others) = (0, 0);
        for _ in 0..20_000 {
            let mut line = ENTRY.as_bytes().to_vec();
            for _ in 0..=next(2) {
                let at = next(line.len() + 1);
                match next(6) {
                    0 => line.truncate(at),
                    1 if at < line.len() => drop(line.remove(at)),
                    2 => {
                        // A whole field (between spaces) becomes another.
                        let spaces: Vec<usize> =
                            (0..line.len()).filter(|&i| line[i] == b' ').collect();
                        if spaces.len() >= 2 {
                            let i = next(spaces.len() - 1);
                            let field = fields[next(fields.len())];
                            line.splice(spaces[i] + 1..spaces[i + 1], field.iter().copied());
                        }
                    }
                    _ => {
                        let piece = pieces[next(pieces.len())];
                        line.splice(at..at, piece.iter().copied());
                    }
                }
            }
            let ours = split(&line).map(|f| (f.time, f.client, f.creation));
            let plain = reference_split(&line).map(|f| (f.time, f.client, f.creation));
            assert_eq!(ours, plain, "{:?}", String::from_utf8_lossy(&line));
            if ours.is_some() { entries += 1 } else { others += 1 }
        }
        assert!(entries > 2_000 && others > 2_000, "{entries} entries, {others} others");
    }

    #[test]
    fn bad_fields_are_named() {
        check_err(
            &ENTRY.replace("2018-07-02T22:22:48.364000Z", "2018-02-30T22:22:48.364000Z"),
            r#"alb.log:2: request_creation_time "2018-02-30T22:22:48.364000Z": no such calendar date"#,
        );
        check_err(
            &ENTRY.replace("192.168.131.39:2817", "192.168.131.39:x"),
            r#"alb.log:2: client "192.168.131.39:x": not an address and port (a.b.c.d:port, ipv6:port or [ipv6]:port)"#,
        );
        check_err(
            &ENTRY.replace("192.168.131.39:2817", "lb.internal:2817"),
            r#"alb.log:2: client "lb.internal": not an IP address (host names are not addresses; --key any replays them by name)"#,
        );
        let bad_time = ENTRY
            .replace("0 2018-07-02T22:22:48.364000Z", "0 -")
            .replace("http 2018-07-02T22:23:00.186641Z", "http 2018-07-02 22:23:00.186641Z");
        assert!(!looks_like_alb_log(bad_time.as_bytes()));
        let bad_time = ENTRY
            .replace("0 2018-07-02T22:22:48.364000Z", "0 -")
            .replace("2018-07-02T22:23:00.186641Z", "2018-07-02T22:23:00.1866410001Z");
        assert_eq!(
            parse_alb_line::<IpAddr>(bad_time.as_bytes()).unwrap_err().kind,
            TraceErrorKind::Timestamp(TimestampError::TooManyFractionalDigits)
        );
    }
}
