//! JSON-lines access logs: one JSON object per line, with the time and the
//! client address in fields named by dotted paths (`request.remote_ip` is
//! the `remote_ip` field of the `request` object).
//!
//! Without `--ts-field` / `--ip-field`, the first record chooses: the first
//! of [`TIMESTAMP_FIELDS`] and of [`ADDRESS_FIELDS`] that it holds. These
//! cover Caddy (`ts`, `request.remote_ip`), Traefik (`StartUTC` or `time`,
//! `ClientHost`), nginx with a JSON `log_format` of its variables
//! (`time_iso8601`, `msec` or `time_local`, and `remote_addr`) and Envoy
//! (`start_time`, `downstream_remote_address`).
//!
//! A time is a JSON number of seconds since the epoch (`1700000000`,
//! `1700000000.123456789`), read from the number's text (which
//! [`find_fields`] returns as written)
//! exactly to the nanosecond and never through `f64`, or a string holding such a number,
//! an RFC 3339 date-time or a common log format time. An address is a
//! string: an IP address, or one with a port (`192.0.2.7:443`,
//! `[2001:db8::1]:443`), whose port is dropped. Each line is one request of
//! cost 1; blank lines and lines starting with `#` are skipped.

use crate::access_log;
use crate::address::split_port;
use crate::json_scan::find_fields;
use crate::timestamp::{self, TimestampError};
use crate::trace::{Field, KeyField, LineError, Record, TraceErrorKind, trim};

/// The timestamp fields looked for in a first record, in this order.
pub const TIMESTAMP_FIELDS: &[&str] = &[
    "ts",
    "StartUTC",
    "time",
    "time_iso8601",
    "msec",
    "time_local",
    "start_time",
    "timestamp",
    "@timestamp",
];

/// The client address fields looked for in a first record, in this order.
pub const ADDRESS_FIELDS: &[&str] = &[
    "request.remote_ip",
    "request.client_ip",
    "ClientHost",
    "remote_addr",
    "downstream_remote_address",
    "client_ip",
    "remote_ip",
];

/// The two fields a record is read from, as dotted paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFields {
    ts: &'static str,
    ip: &'static str,
    ts_path: Vec<&'static str>,
    ip_path: Vec<&'static str>,
}

impl JsonFields {
    /// Reads the time from the field at the dotted path `ts` and the address
    /// from the one at `ip`.
    pub fn new(ts: &'static str, ip: &'static str) -> JsonFields {
        JsonFields { ts, ip, ts_path: ts.split('.').collect(), ip_path: ip.split('.').collect() }
    }

    /// The fields to read a log by: `ts` and `ip` where given, else the first
    /// known field that the first record `line` holds (not as `null`).
    ///
    /// # Errors
    ///
    /// A `line` that is not a JSON object, or that holds none of the known
    /// fields for one that is not given.
    pub fn detect<'a>(
        line: &'a [u8],
        ts: Option<&'static str>,
        ip: Option<&'static str>,
    ) -> Result<JsonFields, LineError<'a>> {
        let line = trim(line);
        let record = |kind| LineError { field: Field::Record, value: line, kind };
        let value: serde_json::Value =
            serde_json::from_slice(line).map_err(|_| record(TraceErrorKind::NotJsonObject))?;
        if !value.is_object() {
            return Err(record(TraceErrorKind::NotJsonObject));
        }
        let holds = |path: &&&str| {
            path.split('.')
                .try_fold(&value, |v, segment| v.get(segment))
                .is_some_and(|v| !v.is_null())
        };
        let ts = match ts {
            Some(ts) => ts,
            None => TIMESTAMP_FIELDS
                .iter()
                .find(holds)
                .ok_or(record(TraceErrorKind::NoTimestampField))?,
        };
        let ip = match ip {
            Some(ip) => ip,
            None => {
                ADDRESS_FIELDS.iter().find(holds).ok_or(record(TraceErrorKind::NoAddressField))?
            }
        };
        Ok(JsonFields::new(ts, ip))
    }

    /// The timestamp field's dotted path.
    pub fn timestamp_field(&self) -> &'static str {
        self.ts
    }

    /// The address field's dotted path.
    pub fn address_field(&self) -> &'static str {
        self.ip
    }

    /// Reads one line: `Ok(None)` for a blank or `#` line.
    pub fn parse_line<'a, K: KeyField>(
        &self,
        line: &'a [u8],
    ) -> Result<Option<Record<'a, K>>, LineError<'a>> {
        let line = trim(line);
        if line.is_empty() || line[0] == b'#' {
            return Ok(None);
        }
        let record = |kind| LineError { field: Field::Record, value: line, kind };
        let [ts, ip] = find_fields(line, [&self.ts_path, &self.ip_path])
            .ok_or(record(TraceErrorKind::NotJsonObject))?;
        let ts = ts.ok_or(record(TraceErrorKind::NoJsonField(self.ts)))?;
        let ip = ip.ok_or(record(TraceErrorKind::NoJsonField(self.ip)))?;
        let (timestamp, nanos) = read_time(ts).map_err(|(value, kind)| LineError {
            field: Field::Json(self.ts),
            value,
            kind,
        })?;
        let (key_text, key) = read_key::<K>(ip).map_err(|(value, kind)| LineError {
            field: Field::Json(self.ip),
            value,
            kind,
        })?;
        Ok(Some(Record { timestamp, key_text, nanos, key, cost: 1 }))
    }
}

/// Whether a line starts like a JSON object: how `--input auto` recognises
/// JSON lines.
pub fn looks_like_json(line: &[u8]) -> bool {
    line.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{')
}

type FieldError<'a> = (&'a [u8], TraceErrorKind);

/// The text of a JSON string without its quotes, if it has no escapes.
fn string(raw: &[u8]) -> Option<Result<&[u8], FieldError<'_>>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    Some(if inner.contains(&b'\\') { Err((inner, TraceErrorKind::JsonEscape)) } else { Ok(inner) })
}

/// A time field's text as written (without quotes) and its nanoseconds.
fn read_time(raw: &[u8]) -> Result<(&[u8], u64), FieldError<'_>> {
    match string(raw) {
        Some(text) => {
            let text = text?;
            text_time(text)
                .map(|nanos| (text, nanos))
                .map_err(|kind| (text, TraceErrorKind::Timestamp(kind)))
        }
        None if raw.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-') => {
            timestamp::parse_decimal(raw)
                .map(|nanos| (raw, nanos))
                .map_err(|kind| (raw, TraceErrorKind::Timestamp(kind)))
        }
        None => Err((raw, TraceErrorKind::NotJsonTime)),
    }
}

/// Decimal seconds, RFC 3339, or a common log format time.
fn text_time(text: &[u8]) -> Result<u64, TimestampError> {
    if text.len() == 26 && text[2] == b'/' {
        access_log::parse_time(text)
    } else {
        timestamp::parse(text)
    }
}

/// An address field's key text (without quotes, and without a port) and key.
fn read_key<K: KeyField>(raw: &[u8]) -> Result<(&[u8], K), FieldError<'_>> {
    let text = string(raw).ok_or((raw, TraceErrorKind::NotJsonString))??;
    if text.is_empty() {
        return K::read(text).map(|key| (text, key)).map_err(|kind| (text, kind));
    }
    match K::read_host(text) {
        Ok(key) => Ok((text, key)),
        Err(kind) => match split_port(text) {
            Some((host, _)) => K::read_host(host).map(|key| (host, key)).map_err(|_| (text, kind)),
            None => Err((text, kind)),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    const CADDY: &str = r#"{"level":"info","ts":1700000000.1234567,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.9","remote_port":"51234","client_ip":"203.0.113.9","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/","headers":{"User-Agent":["curl/8.4.0"]}},"bytes_read":0,"user_id":"","duration":0.000412,"size":612,"status":200,"resp_headers":{"Server":["Caddy"]}}"#;
    const TRAEFIK: &str = r#"{"ClientAddr":"[2001:db8::7]:40000","ClientHost":"2001:db8::7","ClientPort":"40000","DownstreamStatus":200,"Duration":1200000,"RequestMethod":"GET","RequestPath":"/","StartLocal":"2023-11-14T23:13:20.000000001+01:00","StartUTC":"2023-11-14T22:13:20.000000001Z","level":"info","msg":"","time":"2023-11-14T22:13:21Z"}"#;
    const NGINX: &str = r#"{"time_local":"14/Nov/2023:22:13:20 +0000","remote_addr":"192.0.2.1","request":"GET / HTTP/1.1","status":"200","body_bytes_sent":"612","http_user_agent":"curl/8.4.0"}"#;
    const ENVOY: &str = r#"{"start_time":"2023-11-14T22:13:20.250Z","method":"GET","downstream_remote_address":"192.0.2.1:5000","response_code":200}"#;

    const S: u64 = 1_000_000_000;
    const NOV_14: u64 = 1_700_000_000 * S;

    #[track_caller]
    fn check(line: &str, fields: (&str, &str), ip: &str, nanos: u64, timestamp: &str) {
        let detected = JsonFields::detect(line.as_bytes(), None, None).unwrap();
        assert_eq!((detected.timestamp_field(), detected.address_field()), fields, "{line}");
        let record = detected.parse_line::<IpAddr>(line.as_bytes()).unwrap().unwrap();
        let got = (record.key, record.key_text, record.nanos, record.timestamp, record.cost);
        let ip_addr: IpAddr = ip.parse().unwrap();
        assert_eq!(got, (ip_addr, ip.as_bytes(), nanos, timestamp.as_bytes(), 1), "{line}");
    }

    #[test]
    fn known_servers_are_detected_and_read_exactly() {
        check(
            CADDY,
            ("ts", "request.remote_ip"),
            "203.0.113.9",
            NOV_14 + 123_456_700,
            "1700000000.1234567",
        );
        check(
            TRAEFIK,
            ("StartUTC", "ClientHost"),
            "2001:db8::7",
            NOV_14 + 1,
            "2023-11-14T22:13:20.000000001Z",
        );
        check(
            NGINX,
            ("time_local", "remote_addr"),
            "192.0.2.1",
            NOV_14,
            "14/Nov/2023:22:13:20 +0000",
        );
        check(
            ENVOY,
            ("start_time", "downstream_remote_address"),
            "192.0.2.1",
            NOV_14 + S / 4,
            "2023-11-14T22:13:20.250Z",
        );
    }

    #[track_caller]
    fn read(ts: &'static str, ip: &'static str, line: &str) -> Result<(u64, String), String> {
        let fields = JsonFields::new(ts, ip);
        fields
            .parse_line::<IpAddr>(line.as_bytes())
            .map(|r| {
                let r = r.expect("a record");
                (r.nanos, String::from_utf8(r.key_text.to_vec()).unwrap())
            })
            .map_err(|e| e.at("app.jsonl", 5).to_string())
    }

    #[test]
    fn numbers_are_read_from_their_text() {
        let ok = |t: u64| Ok((t, "10.0.0.1".to_owned()));
        assert_eq!(
            read("t", "a", r#"{"t":1700000000.123456789,"a":"10.0.0.1"}"#),
            ok(NOV_14 + 123_456_789)
        );
        assert_eq!(
            read("t", "a", r#"{"t":9223372036.854775807,"a":"10.0.0.1"}"#),
            ok(i64::MAX as u64)
        );
        assert_eq!(read("t", "a", r#"{"t":"1700000000.5","a":"10.0.0.1"}"#), ok(NOV_14 + S / 2));
        assert_eq!(read("t", "a", r#"{ "a" : "10.0.0.1" , "t" : 0 }"#), ok(0));
        assert_eq!(
            read("t", "a", r#"{"t":9223372036.854775808,"a":"10.0.0.1"}"#),
            Err(r#"app.jsonl:5: t "9223372036.854775808": out of range: expected 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z (0 to 2^63-1 ns)"#.to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":1.7e9,"a":"10.0.0.1"}"#),
            Err(r#"app.jsonl:5: t "1.7e9": not a decimal number of seconds"#.to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":-1,"a":"10.0.0.1"}"#),
            Err(r#"app.jsonl:5: t "-1": not a decimal number of seconds"#.to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":true,"a":"10.0.0.1"}"#),
            Err(r#"app.jsonl:5: t "true": not a timestamp: expected an RFC 3339 string or a number of seconds since the epoch"#.to_owned())
        );
    }

    #[test]
    fn paths_reach_into_nested_objects() {
        let line = r#"{"x":[{"t":1}],"req":{"t":5,"peer":{"addr":"[::1]:80"}},"t":7}"#;
        assert_eq!(read("req.t", "req.peer.addr", line), Ok((5 * S, "::1".to_owned())));
        assert_eq!(read("t", "req.peer.addr", line), Ok((7 * S, "::1".to_owned())));
        let line = r#"{"req":{"t":5,"a":"10.0.0.2"}}"#;
        assert_eq!(
            read("req", "req.a", line).unwrap_err(),
            r#"app.jsonl:5: req "{\"t\":5,\"a\":\"10.0.0.2\"}": not a timestamp: expected an RFC 3339 string or a number of seconds since the epoch"#
        );
        assert_eq!(
            read("req.t", "req.a.b", line),
            Err(r#"app.jsonl:5: record "{\"req\":{\"t\":5,\"a\":\"10.0.0.2\"}}": no field "req.a.b""#.to_owned())
        );
    }

    #[test]
    fn bad_records_are_named() {
        assert_eq!(
            read("t", "a", r#"{"t":1,"a":"10.0.0.1""#),
            Err(r#"app.jsonl:5: record "{\"t\":1,\"a\":\"10.0.0.1\"": not one JSON object"#
                .to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":1,"a":"10.0.0.1"} x"#),
            Err(r#"app.jsonl:5: record "{\"t\":1,\"a\":\"10.0.0.1\"} x": not one JSON object"#
                .to_owned())
        );
        assert_eq!(
            read("t", "a", "{\"t\":1,\"a\":\"10.0.0.1\",\"x\":\"\u{fffd}\"}").map(|r| r.0),
            Ok(S)
        );
        let invalid = b"{\"t\":1,\"a\":\"10.0.0.1\",\"x\":\"\xff\"}";
        let err = JsonFields::new("t", "a").parse_line::<IpAddr>(invalid).unwrap_err();
        assert_eq!(err.kind, TraceErrorKind::NotJsonObject, "invalid UTF-8 is not JSON");
        assert_eq!(read("t", "a", "\r\r{\"t\":1,\"a\":\"::1\"}\r"), Ok((S, "::1".to_owned())));
        assert!(looks_like_json(b" \r\t{"));
        assert_eq!(
            read("t", "a", r#"[1]"#),
            Err(r#"app.jsonl:5: record "[1]": not one JSON object"#.to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":1,"a":"example.com"}"#),
            Err(r#"app.jsonl:5: a "example.com": not an IP address (host names are not addresses; --key any replays them by name)"#.to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":1,"a":"10.0.0.1\u0030"}"#),
            Err(r#"app.jsonl:5: a "10.0.0.1\\u0030": a JSON string with escapes (\), which this field cannot hold"#.to_owned())
        );
        assert_eq!(
            read("t", "a", r#"{"t":1,"a":7}"#),
            Err(r#"app.jsonl:5: a "7": not a JSON string"#.to_owned())
        );
        let line = r#"{"level":"info"}"#;
        let err = JsonFields::detect(line.as_bytes(), None, Some("a")).unwrap_err();
        assert_eq!(
            err.at("app.jsonl", 1).to_string(),
            r#"app.jsonl:1: record "{\"level\":\"info\"}": no timestamp field: expected one of ts, StartUTC, time, time_iso8601, msec, time_local, start_time, timestamp, @timestamp, or name it with --ts-field"#
        );
        let err = JsonFields::detect(b"{\"ts\":1}", None, None).unwrap_err();
        assert_eq!(err.kind, TraceErrorKind::NoAddressField);
        let fields =
            JsonFields::detect(b"{\"ts\":null,\"time\":1,\"ip\":\"x\"}", None, Some("ip")).unwrap();
        assert_eq!(fields.timestamp_field(), "time");
    }

    #[test]
    fn opaque_keys_keep_their_text() {
        let fields = JsonFields::new("t", "user");
        let record = fields
            .parse_line::<crate::trace::Opaque>(br#"{"t":1,"user":"alice@example.com:8080"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(record.key_text, b"alice@example.com:8080");
        let err = fields.parse_line::<crate::trace::Opaque>(br#"{"t":1,"user":""}"#).unwrap_err();
        assert_eq!(err.kind, TraceErrorKind::EmptyKey);
    }
}
