//! CSV trace records, `timestamp,ip[,cost]` (or `timestamp,key[,cost]` under
//! `--key any`), and the errors that name a bad one.
//!
//! [`parse_csv_line`] applies SPEC's fine print to one line whose line ending
//! (and byte-order mark, on line 1) the binary's `LineReader` has already
//! removed: blank and `#` lines are skipped, a header is recognised on line 1
//! only, fields are trimmed of spaces and tabs, and a record has exactly two
//! or three fields.

use std::fmt;
use std::net::IpAddr;

use crate::timestamp::{self, TimestampError};

/// The longest line kept whole, in bytes; a longer one is reported and skipped.
pub const MAX_LINE: usize = 1 << 20;

/// The longest part of a bad value that an error message quotes, in characters.
const QUOTED_MAX: usize = 64;

/// One replayable record, borrowing its text from the line it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a, K = IpAddr> {
    /// The timestamp field as written, trimmed.
    pub timestamp: &'a [u8],
    /// The key field (the address, or the opaque key) as written, trimmed.
    pub key_text: &'a [u8],
    /// The timestamp in nanoseconds after the Unix epoch.
    pub nanos: u64,
    /// The key as read: the address (not yet canonical), or [`Opaque`].
    pub key: K,
    /// The cost: the third field, or 1 when there is none.
    pub cost: u64,
}

/// What a trace's key field is read as.
pub trait KeyField: Sized {
    /// How errors name a CSV trace's key field.
    const FIELD: Field;
    /// Reads a CSV trace's trimmed key field.
    fn read(text: &[u8]) -> Result<Self, TraceErrorKind>;
    /// Reads an access log's host field, which is never empty.
    fn read_host(text: &[u8]) -> Result<Self, TraceErrorKind>;
}

impl KeyField for IpAddr {
    const FIELD: Field = Field::Ip;

    #[inline]
    fn read(text: &[u8]) -> Result<IpAddr, TraceErrorKind> {
        parse_ip(text).ok_or(TraceErrorKind::NotAnIp)
    }

    fn read_host(host: &[u8]) -> Result<IpAddr, TraceErrorKind> {
        parse_ip(host).ok_or_else(|| {
            let name = host.iter().any(u8::is_ascii_alphabetic)
                && host.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if name { TraceErrorKind::HostName } else { TraceErrorKind::NotAnIp }
        })
    }
}

/// An opaque key (`--key any`): the field's trimmed bytes themselves, any
/// text but empty, never parsed or canonicalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opaque;

impl KeyField for Opaque {
    const FIELD: Field = Field::Key;

    #[inline]
    fn read(text: &[u8]) -> Result<Opaque, TraceErrorKind> {
        if text.is_empty() { Err(TraceErrorKind::EmptyKey) } else { Ok(Opaque) }
    }

    fn read_host(_host: &[u8]) -> Result<Opaque, TraceErrorKind> {
        Ok(Opaque)
    }
}

/// The part of a line that an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The whole line.
    Record,
    /// A CSV trace's first field.
    Timestamp,
    /// A CSV trace's second field, an address.
    Ip,
    /// A CSV trace's second field, an opaque key (`--key any`).
    Key,
    /// A CSV trace's third field.
    Cost,
    /// An access log's client address, its first field.
    Host,
    /// An access log's `[time]`, or an AWS ALB log's `time`.
    Time,
    /// An HAProxy or AWS ALB log's `client:port`.
    Client,
    /// An HAProxy log's `[accept date]`.
    AcceptDate,
    /// An AWS ALB log's `request_creation_time`.
    RequestCreationTime,
    /// A JSON-lines record's field, by its dotted path.
    Json(&'static str),
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceErrorKind {
    /// A CSV record without 2 or 3 fields; carries how many it had.
    FieldCount(usize),
    /// A timestamp that cannot be read.
    Timestamp(TimestampError),
    /// Text that `std::net::IpAddr` does not read as an address.
    NotAnIp,
    /// An access log host that is a name, not an address.
    HostName,
    /// An empty opaque key.
    EmptyKey,
    /// An empty cost field, which is not the same as no cost field.
    EmptyCost,
    /// A cost that is not unsigned decimal digits.
    CostNotANumber,
    /// A cost above `u64::MAX`.
    CostTooLarge,
    /// A line that is not in common or combined log format.
    NotAccessLog,
    /// A line longer than [`MAX_LINE`] bytes.
    LineTooLong,
    /// A line that is not an HAProxy HTTP or TCP log line.
    NotHaproxyLog,
    /// An HAProxy accept date that is not `dd/Mon/yyyy:HH:MM:SS.mmm`.
    NotAcceptDate,
    /// A client field that is not `address:port` or `[address]:port`.
    NotHostPort,
    /// A line that is not an AWS ALB access log entry.
    NotAlbLog,
    /// A JSON-lines record that is not one JSON object.
    NotJsonObject,
    /// A JSON-lines record without the named field.
    NoJsonField(&'static str),
    /// A first JSON-lines record without any of the known timestamp fields.
    NoTimestampField,
    /// A first JSON-lines record without any of the known address fields.
    NoAddressField,
    /// A JSON timestamp that is neither a string nor a number.
    NotJsonTime,
    /// A JSON address field that is not a string.
    NotJsonString,
    /// A JSON string with a `\` escape, which a key or time never needs.
    JsonEscape,
}

/// A malformed record: where it is, which field, its text and what is wrong.
///
/// Displays as `trace.csv:17: timestamp "12x": not a decimal number of seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The input's name as the user gave it, `<stdin>` for `-`.
    pub path: String,
    /// The 1-based physical line number.
    pub line: u64,
    /// The field at fault.
    pub field: Field,
    /// The field's text, shortened to 64 characters and lossily decoded.
    pub value: String,
    /// What is wrong with it.
    pub kind: TraceErrorKind,
    /// What might help, such as naming the input format: shown in
    /// parentheses after the rest.
    pub hint: Option<String>,
}

/// A [`TraceError`] before it knows its file and line, borrowing the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineError<'a> {
    /// The field at fault.
    pub field: Field,
    /// The field's text, as it is in the line.
    pub value: &'a [u8],
    /// What is wrong with it.
    pub kind: TraceErrorKind,
}

impl LineError<'_> {
    /// Places this error at `line` of the input called `path`.
    pub fn at(&self, path: &str, line: u64) -> TraceError {
        let text = String::from_utf8_lossy(self.value);
        let end = text.char_indices().nth(QUOTED_MAX).map_or(text.len(), |(i, _)| i);
        let mut value = text[..end].to_owned();
        if end < text.len() {
            value.push('…');
        }
        TraceError {
            path: path.to_owned(),
            line,
            field: self.field,
            value,
            kind: self.kind,
            hint: None,
        }
    }
}

/// Reads one line of a CSV trace: `Ok(None)` for a blank line, a comment or
/// the header.
#[inline]
pub fn parse_csv_line<K: KeyField>(
    line_no: u64,
    line: &[u8],
) -> Result<Option<Record<'_, K>>, LineError<'_>> {
    let line = trim(line);
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    let Some(first) = find_comma(line, 0) else {
        return Err(field_count(line, 1));
    };
    let second = find_comma(line, first + 1);
    if let Some(third) = second.and_then(|second| find_comma(line, second + 1)) {
        let more = line[third + 1..].iter().filter(|&&b| b == b',').count();
        return Err(field_count(line, 4 + more));
    }
    let timestamp = trim(&line[..first]);
    let (key_text, cost_text) = match second {
        Some(second) => (trim(&line[first + 1..second]), Some(trim(&line[second + 1..]))),
        None => (trim(&line[first + 1..]), None),
    };
    if line_no == 1 && is_header(timestamp, key_text, cost_text) {
        return Ok(None);
    }
    let nanos = timestamp::parse(timestamp).map_err(|kind| LineError {
        field: Field::Timestamp,
        value: timestamp,
        kind: TraceErrorKind::Timestamp(kind),
    })?;
    let key =
        K::read(key_text).map_err(|kind| LineError { field: K::FIELD, value: key_text, kind })?;
    let cost = match cost_text {
        None => 1,
        Some(text) => {
            parse_cost(text).map_err(|kind| LineError { field: Field::Cost, value: text, kind })?
        }
    };
    Ok(Some(Record { timestamp, key_text, nanos, key, cost }))
}

/// The position of the first comma in `line` at or after `from`.
///
/// Lines are short, so this looks at eight bytes at a time in a register
/// rather than paying a vectorised search's set-up on every field.
#[inline]
fn find_comma(line: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const COMMAS: u64 = u64::from_ne_bytes([b','; 8]);
    let mut at = from;
    while let Some(chunk) = line.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ COMMAS;
        // The lowest byte flagged here is the first zero byte of `word`.
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(at + zeros.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    line.get(at..)?.iter().position(|&b| b == b',').map(|i| at + i)
}

/// Reads an address exactly as `std::net::IpAddr` does, with the core's
/// parser (several times faster than std's for IPv6, and proven to agree).
#[inline]
pub fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    limiter_core::parse_ip(std::str::from_utf8(text).ok()?).ok()
}

/// Strips spaces and tabs from both ends.
#[inline]
pub fn trim(text: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = text.iter().position(|b| !blank(b)).unwrap_or(text.len());
    let end = text.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    &text[start..end]
}

/// Whether the fields are `timestamp,ip` or `timestamp,ip,cost` in any case.
fn is_header(timestamp: &[u8], ip: &[u8], cost: Option<&[u8]>) -> bool {
    timestamp.eq_ignore_ascii_case(b"timestamp")
        && ip.eq_ignore_ascii_case(b"ip")
        && cost.is_none_or(|cost| cost.eq_ignore_ascii_case(b"cost"))
}

/// Reads unsigned decimal digits, leading zeros allowed, into a `u64`.
fn parse_cost(text: &[u8]) -> Result<u64, TraceErrorKind> {
    if text.is_empty() {
        return Err(TraceErrorKind::EmptyCost);
    }
    if !text.iter().all(u8::is_ascii_digit) {
        return Err(TraceErrorKind::CostNotANumber);
    }
    text.iter()
        .try_fold(0u64, |v, &d| v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))))
        .ok_or(TraceErrorKind::CostTooLarge)
}

fn field_count(line: &[u8], count: usize) -> LineError<'_> {
    LineError { field: Field::Record, value: line, kind: TraceErrorKind::FieldCount(count) }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Record => "record",
            Field::Timestamp => "timestamp",
            Field::Ip => "ip",
            Field::Key => "key",
            Field::Cost => "cost",
            Field::Host => "host",
            Field::Time => "time",
            Field::Client => "client",
            Field::AcceptDate => "accept_date",
            Field::RequestCreationTime => "request_creation_time",
            Field::Json(path) => path,
        })
    }
}

impl fmt::Display for TraceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceErrorKind::FieldCount(count) => {
                write!(f, "expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found {count}")
            }
            TraceErrorKind::Timestamp(err) => err.fmt(f),
            TraceErrorKind::NotAnIp => f.write_str("not an IPv4 or IPv6 address"),
            TraceErrorKind::HostName => f.write_str(
                "not an IP address (host names are not addresses; --key any replays them by name)",
            ),
            TraceErrorKind::EmptyKey => f.write_str("empty (a key must have at least one character)"),
            TraceErrorKind::EmptyCost => {
                f.write_str("empty (leave out the cost column for the default cost 1)")
            }
            TraceErrorKind::CostNotANumber => f.write_str("not a whole number"),
            TraceErrorKind::CostTooLarge => f.write_str("larger than 18446744073709551615"),
            TraceErrorKind::NotAccessLog => f.write_str(
                "not in common or combined log format (host ident user [time] \"request\" status bytes)",
            ),
            TraceErrorKind::LineTooLong => {
                write!(f, "line longer than {MAX_LINE} bytes")
            }
            TraceErrorKind::NotHaproxyLog => f.write_str(
                "not an HAProxy HTTP or TCP log line (client:port [accept date] frontend backend/server timers ...)",
            ),
            TraceErrorKind::NotAcceptDate => {
                f.write_str("not an HAProxy accept date like 09/Dec/2013:12:00:03.206")
            }
            TraceErrorKind::NotHostPort => {
                f.write_str("not an address and port (a.b.c.d:port, ipv6:port or [ipv6]:port)")
            }
            TraceErrorKind::NotAlbLog => f.write_str(
                "not an AWS ALB access log entry (type time elb client:port target:port ... \"request\" ...)",
            ),
            TraceErrorKind::NotJsonObject => f.write_str("not one JSON object"),
            TraceErrorKind::NoJsonField(path) => write!(f, "no field {path:?}"),
            TraceErrorKind::NoTimestampField => write!(
                f,
                "no timestamp field: expected one of {}, or name it with --ts-field",
                crate::jsonl::TIMESTAMP_FIELDS.join(", ")
            ),
            TraceErrorKind::NoAddressField => write!(
                f,
                "no client address field: expected one of {}, or name it with --ip-field",
                crate::jsonl::ADDRESS_FIELDS.join(", ")
            ),
            TraceErrorKind::NotJsonTime => f.write_str(
                "not a timestamp: expected an RFC 3339 string or a number of seconds since the epoch",
            ),
            TraceErrorKind::NotJsonString => f.write_str("not a JSON string"),
            TraceErrorKind::JsonEscape => {
                f.write_str("a JSON string with escapes (\\), which this field cannot hold")
            }
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} {:?}: {}", self.path, self.line, self.field, self.value, self.kind)?;
        match &self.hint {
            Some(hint) => write!(f, " ({hint})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for TraceError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a line reads as: `None` when skipped, else `(nanos, ip, cost)`.
    type Outcome = Option<(u64, &'static str, u64)>;

    #[track_caller]
    fn check(line_no: u64, line: &str, expected: Outcome) {
        let record = parse_csv_line::<IpAddr>(line_no, line.as_bytes())
            .unwrap_or_else(|e| panic!("{line:?}: {}", e.at("t", line_no)));
        let got = record.map(|r| (r.nanos, r.key, r.cost));
        let expected = expected.map(|(t, ip, cost)| (t, ip.parse().unwrap(), cost));
        assert_eq!(got, expected, "{line:?}");
    }

    #[track_caller]
    fn check_err(line_no: u64, line: &str, message: &str) {
        let err = parse_csv_line::<IpAddr>(line_no, line.as_bytes()).expect_err(line);
        assert_eq!(err.at("trace.csv", line_no).to_string(), message, "{line:?}");
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn records() {
        check(2, "12,10.0.0.1", Some((12 * S, "10.0.0.1", 1)));
        check(2, "12,10.0.0.1,5", Some((12 * S, "10.0.0.1", 5)));
        check(2, "12,10.0.0.1,0", Some((12 * S, "10.0.0.1", 0)));
        check(2, "12,10.0.0.1,00002", Some((12 * S, "10.0.0.1", 2)));
        check(2, "12,10.0.0.1,18446744073709551615", Some((12 * S, "10.0.0.1", u64::MAX)));
        check(2, " \t12 ,\t10.0.0.1 , 3\t", Some((12 * S, "10.0.0.1", 3)));
        check(2, "0.5,::1", Some((S / 2, "::1", 1)));
        check(
            2,
            "2023-11-14T22:13:20.5Z,2001:db8::1",
            Some((1_700_000_000 * S + S / 2, "2001:db8::1", 1)),
        );
        check(2, "1,::ffff:10.0.0.1", Some((S, "::ffff:10.0.0.1", 1)));
    }

    #[test]
    fn skipped_lines() {
        check(2, "", None);
        check(2, " \t ", None);
        check(2, "# a comment", None);
        check(2, "  \t# indented comment, with, commas", None);
        check(1, "timestamp,ip", None);
        check(1, "timestamp,ip,cost", None);
        check(1, "TimeStamp , IP , COST", None);
        check(1, "\ttimestamp\t,\tip", None);
    }

    #[test]
    fn header_only_on_line_one() {
        check_err(
            2,
            "timestamp,ip",
            r#"trace.csv:2: timestamp "timestamp": not a decimal number of seconds"#,
        );
        check_err(
            1,
            "timestamp,ip,size",
            r#"trace.csv:1: timestamp "timestamp": not a decimal number of seconds"#,
        );
        check_err(
            1,
            "timestamp,address",
            r#"trace.csv:1: timestamp "timestamp": not a decimal number of seconds"#,
        );
    }

    #[test]
    fn field_counts() {
        let expected = "expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found";
        check_err(3, "12", &format!(r#"trace.csv:3: record "12": {expected} 1"#));
        check_err(3, "12;10.0.0.1", &format!(r#"trace.csv:3: record "12;10.0.0.1": {expected} 1"#));
        check_err(
            3,
            "1,10.0.0.1,1,x",
            &format!(r#"trace.csv:3: record "1,10.0.0.1,1,x": {expected} 4"#),
        );
        check_err(3, "1,2,3,4,5,6", &format!(r#"trace.csv:3: record "1,2,3,4,5,6": {expected} 6"#));
        check_err(3, " 1,2,3,4 ", &format!(r#"trace.csv:3: record "1,2,3,4": {expected} 4"#));
    }

    #[test]
    fn bad_fields() {
        check_err(
            7,
            "12x,10.0.0.1",
            r#"trace.csv:7: timestamp "12x": not a decimal number of seconds"#,
        );
        check_err(7, ",10.0.0.1", r#"trace.csv:7: timestamp "": empty"#);
        check_err(
            7,
            "+5,10.0.0.1",
            r#"trace.csv:7: timestamp "+5": not a decimal number of seconds"#,
        );
        check_err(7, "1,", r#"trace.csv:7: ip "": not an IPv4 or IPv6 address"#);
        check_err(
            7,
            "1,10.0.0.300",
            r#"trace.csv:7: ip "10.0.0.300": not an IPv4 or IPv6 address"#,
        );
        check_err(7, "1,[::1]", r#"trace.csv:7: ip "[::1]": not an IPv4 or IPv6 address"#);
        check_err(
            7,
            "1,10.0.0.1:80",
            r#"trace.csv:7: ip "10.0.0.1:80": not an IPv4 or IPv6 address"#,
        );
        check_err(
            7,
            "1,fe80::1%eth0",
            r#"trace.csv:7: ip "fe80::1%eth0": not an IPv4 or IPv6 address"#,
        );
        check_err(
            7,
            "1,example.com",
            r#"trace.csv:7: ip "example.com": not an IPv4 or IPv6 address"#,
        );
        check_err(
            7,
            "1,10.0.0.1\r",
            r#"trace.csv:7: ip "10.0.0.1\r": not an IPv4 or IPv6 address"#,
        );
        check_err(
            7,
            "1,10.0.0.1,",
            r#"trace.csv:7: cost "": empty (leave out the cost column for the default cost 1)"#,
        );
        check_err(
            7,
            "1,10.0.0.1, \t",
            r#"trace.csv:7: cost "": empty (leave out the cost column for the default cost 1)"#,
        );
        check_err(7, "1,10.0.0.1,+5", r#"trace.csv:7: cost "+5": not a whole number"#);
        check_err(7, "1,10.0.0.1,-1", r#"trace.csv:7: cost "-1": not a whole number"#);
        check_err(7, "1,10.0.0.1,1.5", r#"trace.csv:7: cost "1.5": not a whole number"#);
        check_err(
            7,
            "1,10.0.0.1,18446744073709551616",
            r#"trace.csv:7: cost "18446744073709551616": larger than 18446744073709551615"#,
        );
    }

    #[test]
    fn first_bad_field_wins() {
        check_err(7, "x,y,z", r#"trace.csv:7: timestamp "x": not a decimal number of seconds"#);
        check_err(7, "1,y,z", r#"trace.csv:7: ip "y": not an IPv4 or IPv6 address"#);
    }

    #[test]
    fn opaque_keys_are_the_trimmed_text() {
        let read = |line_no, line: &'static str| {
            parse_csv_line::<Opaque>(line_no, line.as_bytes())
                .map(|r| r.map(|r| (r.nanos, r.key_text, r.cost)))
                .map_err(|e| e.at("trace.csv", line_no).to_string())
        };
        let ok = |t, key: &'static str, cost| Ok(Some((t * S, key.as_bytes(), cost)));
        assert_eq!(read(2, "1,api-key-1"), ok(1, "api-key-1", 1));
        assert_eq!(read(2, " 1 ,\t user 42 \t, 3"), ok(1, "user 42", 3));
        assert_eq!(read(2, "1,0:0:0:0:0:0:0:1"), ok(1, "0:0:0:0:0:0:0:1", 1));
        assert_eq!(read(2, "1,::FFFF:10.0.0.1,0"), ok(1, "::FFFF:10.0.0.1", 0));
        assert_eq!(read(2, "1,\"quoted\" key\r"), ok(1, "\"quoted\" key\r", 1));
        assert_eq!(read(1, "timestamp,ip,cost"), Ok(None));
        assert_eq!(read(2, "# comment"), Ok(None));
        let empty = "empty (a key must have at least one character)";
        assert_eq!(read(3, "1,"), Err(format!(r#"trace.csv:3: key "": {empty}"#)));
        assert_eq!(read(3, "1, \t ,5"), Err(format!(r#"trace.csv:3: key "": {empty}"#)));
        assert_eq!(
            read(3, "x,,5"),
            Err(r#"trace.csv:3: timestamp "x": not a decimal number of seconds"#.to_owned())
        );
        assert_eq!(
            read(3, "1,k,-1"),
            Err(r#"trace.csv:3: cost "-1": not a whole number"#.to_owned())
        );
    }

    #[test]
    fn find_comma_finds_the_first_at_or_after_a_position() {
        let line = b"1700000000.123456789,2001:db8::1,,17";
        let naive = |from: usize| line[from..].iter().position(|&b| b == b',').map(|i| from + i);
        for from in 0..=line.len() {
            assert_eq!(find_comma(line, from), naive(from), "from {from}");
        }
        for len in 0..20 {
            let mut text = vec![b'x'; len];
            assert_eq!(find_comma(&text, 0), None);
            for comma in 0..len {
                text[comma] = b',';
                assert_eq!(find_comma(&text, 0), Some(comma));
                text[comma] = 0x2c ^ 0x80;
            }
        }
    }

    #[test]
    fn addresses_read_as_std_reads_them() {
        let cases = [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.1.1.1",
            "1.1.1",
            "1.1.1.1.",
            "::",
            "::1",
            "1:2:3:4:5:6:7::",
            "1:2:3:4:5:6:7:8::",
            "1::2::3",
            "FFFF:ffff::Ab",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "[::1]",
            "1.2.3.4:80",
            "",
            " 1.2.3.4",
        ];
        for text in cases {
            assert_eq!(parse_ip(text.as_bytes()), text.parse::<IpAddr>().ok(), "{text:?}");
        }
        assert_eq!(parse_ip(b"\xff::1"), None);
    }

    #[test]
    fn long_and_binary_values_are_shortened_and_escaped() {
        let long = format!("{},10.0.0.1", "9".repeat(100));
        let err = parse_csv_line::<IpAddr>(2, long.as_bytes()).unwrap_err().at("t", 2);
        assert_eq!(err.value, format!("{}…", "9".repeat(64)));
        let err = parse_csv_line::<IpAddr>(2, b"1,\xff\"\x01").unwrap_err().at("t", 2);
        assert_eq!(err.to_string(), "t:2: ip \"\u{fffd}\\\"\\u{1}\": not an IPv4 or IPv6 address");
    }
}
