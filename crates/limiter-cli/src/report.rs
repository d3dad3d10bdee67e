//! What a replay found, written as aligned text or JSON, and the decisions CSV.

use std::fmt::Write as _;
use std::io::{self, Write};

use limiter_core::Rate;
use serde::Serialize;

use crate::args::Limit;
use crate::error::CliError;
use crate::plot::TimelinePlot;
use crate::timestamp::{format_rfc3339, format_seconds};

/// Everything a replay counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The inputs' names, in replay order.
    pub(crate) inputs: Vec<String>,
    /// Records replayed, that is decided.
    pub(crate) records: u64,
    /// Malformed records skipped under `--skip-invalid`.
    pub(crate) skipped: u64,
    /// Distinct keys (bucket addresses, or opaque keys) among the replayed
    /// records.
    pub(crate) distinct_keys: u64,
    /// Whether the keys are opaque (`--key any`), not addresses.
    pub(crate) opaque_keys: bool,
    /// Records earlier than the latest timestamp seen before for their key.
    pub(crate) out_of_order: u64,
    /// The earliest and latest timestamps, in ns; `None` without records.
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
    /// One result per limit, in the order the limits were given.
    pub(crate) results: Vec<LimitResult>,
    /// With `--plot` and one limit: requests and denials over trace time.
    pub(crate) timeline: Option<TimelinePlot>,
}

/// What one limit did to the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimitResult {
    pub(crate) limit: Limit,
    pub(crate) allowed: u64,
    /// Denied records, the never-allowable ones included.
    pub(crate) denied: u64,
    /// Records whose cost exceeds the capacity.
    pub(crate) never_allowable: u64,
    /// Keys with at least one denied record.
    pub(crate) keys_denied: u64,
    /// The keys with the most denials, most first.
    pub(crate) top: Vec<KeyResult>,
}

/// One key's counts under one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyResult {
    /// The key as shown: the bucket address, with `/LEN` under a prefix
    /// shorter than the whole address, or the opaque key's text (invalid
    /// UTF-8 replaced).
    pub(crate) key: String,
    pub(crate) allowed: u64,
    pub(crate) denied: u64,
}

impl Summary {
    /// The time from the earliest to the latest timestamp, in ns.
    pub(crate) fn span(&self) -> Option<u64> {
        Some(self.last? - self.first?)
    }
}

/// Writes the summary as aligned tables.
pub(crate) fn write_text(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render_text(summary).as_bytes())
}

/// Writes the summary as one JSON object and a newline, in the shape the
/// README documents.
pub(crate) fn write_json(summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &JsonSummary::from(summary))?;
    out.write_all(b"\n")
}

fn render_text(summary: &Summary) -> String {
    let records = summary.records;
    let mut rows = vec![
        ("input", Value::Text(summary.inputs.join(", "))),
        ("records", Value::Count(records, None)),
    ];
    let single = match summary.results.as_slice() {
        [single] => Some(single),
        _ => None,
    };
    if let Some(result) = single {
        rows.insert(0, ("limit", Value::Text(limit_text(&result.limit))));
        rows.push(("allowed", Value::Count(result.allowed, Some(records))));
        rows.push(("denied", Value::Count(result.denied, Some(records))));
        rows.push(("never allowable", Value::Count(result.never_allowable, Some(records))));
        rows.push(("keys denied", Value::Count(result.keys_denied, None)));
    }
    rows.push(("skipped", Value::Count(summary.skipped, None)));
    rows.push(("distinct keys", Value::Count(summary.distinct_keys, None)));
    rows.push(("out of order", Value::Count(summary.out_of_order, None)));
    let none = || Value::Text("-".to_owned());
    rows.push(("first", summary.first.map_or_else(none, |t| Value::Text(format_rfc3339(t)))));
    rows.push(("last", summary.last.map_or_else(none, |t| Value::Text(format_rfc3339(t)))));
    rows.push(("span", summary.span().map_or_else(none, |t| Value::Text(span_text(t)))));
    let mut out = overview(&rows);
    if let Some(result) = single {
        top_table(&mut out, result, summary.opaque_keys);
    } else {
        sweep_table(&mut out, summary);
    }
    out
}

/// A value in the overview: a count, with its share of a total, or text.
enum Value {
    Count(u64, Option<u64>),
    Text(String),
}

fn overview(rows: &[(&str, Value)]) -> String {
    let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 2;
    let count_width = rows
        .iter()
        .filter_map(|(_, v)| match v {
            Value::Count(n, _) => Some(n.to_string().len()),
            Value::Text(_) => None,
        })
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        let line = match value {
            Value::Count(n, None) => format!("{label:label_width$}{n:>count_width$}"),
            Value::Count(n, Some(total)) => {
                format!("{label:label_width$}{n:>count_width$}  {:>7}", percent(*n, *total))
            }
            Value::Text(text) => format!("{label:label_width$}{text}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn top_table(out: &mut String, result: &LimitResult, opaque_keys: bool) {
    if result.top.is_empty() {
        out.push_str("\nno key was denied\n");
        return;
    }
    let _ = writeln!(out, "\ntop {} keys by denials", result.top.len());
    let mut rows = vec![vec![
        Cell::Left(if opaque_keys { "key" } else { "ip" }.into()),
        Cell::Right("allowed".into()),
        Cell::Right("denied".into()),
    ]];
    for key in &result.top {
        rows.push(vec![
            Cell::Left(escape_controls(&key.key)),
            Cell::Right(key.allowed.to_string()),
            Cell::Right(key.denied.to_string()),
        ]);
    }
    table(out, &rows);
}

fn sweep_table(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "\n{} limits", summary.results.len());
    let header =
        ["capacity", "rate", "allowed", "denied", "denied share", "never allowable", "keys denied"];
    let mut rows = vec![header.iter().map(|h| Cell::Right((*h).into())).collect::<Vec<_>>()];
    for result in &summary.results {
        rows.push(vec![
            Cell::Right(result.limit.capacity.to_string()),
            Cell::Right(rate_text(result.limit.rate)),
            Cell::Right(result.allowed.to_string()),
            Cell::Right(result.denied.to_string()),
            Cell::Right(percent(result.denied, summary.records)),
            Cell::Right(result.never_allowable.to_string()),
            Cell::Right(result.keys_denied.to_string()),
        ]);
    }
    table(out, &rows);
}

enum Cell {
    Left(String),
    Right(String),
}

/// Writes rows as columns two spaces apart, without trailing spaces.
fn table(out: &mut String, rows: &[Vec<Cell>]) {
    let text = |cell: &Cell| -> usize {
        match cell {
            Cell::Left(s) | Cell::Right(s) => s.chars().count(),
        }
    };
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(text).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            if !line.is_empty() {
                line.push_str("  ");
            }
            let _ = match cell {
                Cell::Left(s) => write!(line, "{s:width$}"),
                Cell::Right(s) => write!(line, "{s:>width$}"),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `text` with control characters (tabs, carriage returns, escapes) written
/// as Rust escapes, so that an opaque key cannot break the table's layout.
fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() })
        .collect()
}

/// `part` as a percentage of `total` with two decimals, `0.00%` of nothing.
pub(crate) fn percent(part: u64, total: u64) -> String {
    if total == 0 {
        return "0.00%".to_owned();
    }
    // Exact rounding, half up, in integers.
    let basis_points = (u128::from(part) * 20_000 / u128::from(total)).div_ceil(2);
    format!("{}.{:02}%", basis_points / 100, basis_points % 100)
}

pub(crate) fn limit_text(limit: &Limit) -> String {
    format!("capacity {}, rate {}", limit.capacity, rate_text(limit.rate))
}

/// A rate with its unit: `5/s`, `0.5/s`, `7/m`, `1/h`.
pub(crate) fn rate_text(rate: Rate) -> String {
    let text = rate.to_string();
    if text.contains('/') { text } else { format!("{text}/s") }
}

/// A span as exact seconds, and in days, hours, minutes and seconds when it
/// is a minute or more: `3598.5 s (59m 58.5s)`.
fn span_text(nanos: u64) -> String {
    let exact = format!("{} s", format_seconds(nanos));
    let secs = nanos / 1_000_000_000;
    if secs < 60 {
        return exact;
    }
    let seconds = format_seconds(nanos % 60_000_000_000);
    let (minutes, hours, days) = (secs / 60 % 60, secs / 3600 % 24, secs / 86_400);
    let human = match (days, hours) {
        (0, 0) => format!("{minutes}m {seconds}s"),
        (0, _) => format!("{hours}h {minutes}m {seconds}s"),
        _ => format!("{days}d {hours}h {minutes}m {seconds}s"),
    };
    format!("{exact} ({human})")
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    inputs: &'a [String],
    records: u64,
    skipped: u64,
    distinct_keys: u64,
    out_of_order: u64,
    first: Option<String>,
    last: Option<String>,
    first_ns: Option<u64>,
    last_ns: Option<u64>,
    span_ns: Option<u64>,
    results: Vec<JsonResult>,
}

#[derive(Serialize)]
struct JsonResult {
    capacity: u64,
    rate: String,
    allowed: u64,
    denied: u64,
    never_allowable: u64,
    denied_share: f64,
    keys_denied: u64,
    top: Vec<JsonKey>,
}

/// A top key: `ip` for addresses, `key` for opaque keys.
#[derive(Serialize)]
struct JsonKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    allowed: u64,
    denied: u64,
}

impl<'a> From<&'a Summary> for JsonSummary<'a> {
    fn from(s: &'a Summary) -> JsonSummary<'a> {
        JsonSummary {
            inputs: &s.inputs,
            records: s.records,
            skipped: s.skipped,
            distinct_keys: s.distinct_keys,
            out_of_order: s.out_of_order,
            first: s.first.map(format_rfc3339),
            last: s.last.map(format_rfc3339),
            first_ns: s.first,
            last_ns: s.last,
            span_ns: s.span(),
            results: s
                .results
                .iter()
                .map(|r| JsonResult {
                    capacity: r.limit.capacity,
                    rate: r.limit.rate.to_string(),
                    allowed: r.allowed,
                    denied: r.denied,
                    never_allowable: r.never_allowable,
                    denied_share: if s.records == 0 {
                        0.0
                    } else {
                        r.denied as f64 / s.records as f64
                    },
                    keys_denied: r.keys_denied,
                    top: r
                        .top
                        .iter()
                        .map(|k| JsonKey {
                            ip: (!s.opaque_keys).then(|| k.key.clone()),
                            key: s.opaque_keys.then(|| k.key.clone()),
                            allowed: k.allowed,
                            denied: k.denied,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Where the summary goes: standard output, or standard error when the
/// decisions CSV has standard output.
pub(crate) fn print_summary(
    summary: &Summary,
    json: bool,
    to_stderr: bool,
) -> Result<(), CliError> {
    let write = |out: &mut dyn Write| -> io::Result<()> {
        if json {
            write_json(summary, out)?
        } else {
            write_text(summary, out)?
        }
        out.flush()
    };
    let (result, name) = if to_stderr {
        (write(&mut io::stderr().lock()), "standard error")
    } else {
        (write(&mut io::stdout().lock()), "standard output")
    };
    result.map_err(|err| CliError::Write { path: name.to_owned(), err })
}

/// Prints the count of the hidden `lines` command.
pub(crate) fn print_line_count(count: u64) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{count}")
        .and_then(|()| out.flush())
        .map_err(|err| CliError::Write { path: "standard output".to_owned(), err })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_up_exactly() {
        assert_eq!(percent(0, 0), "0.00%");
        assert_eq!(percent(1, 3), "33.33%");
        assert_eq!(percent(2, 3), "66.67%");
        assert_eq!(percent(1, 8), "12.50%");
        assert_eq!(percent(1, 80_000), "0.00%");
        assert_eq!(percent(1, 20_000), "0.01%");
        assert_eq!(percent(u64::MAX, u64::MAX), "100.00%");
    }

    #[test]
    fn spans() {
        assert_eq!(span_text(0), "0 s");
        assert_eq!(span_text(500_000_000), "0.5 s");
        assert_eq!(span_text(59_999_999_999), "59.999999999 s");
        assert_eq!(span_text(3_598_500_000_000), "3598.5 s (59m 58.5s)");
        assert_eq!(span_text(3_600_000_000_000), "3600 s (1h 0m 0s)");
        assert_eq!(span_text(90_061_000_000_001), "90061.000000001 s (1d 1h 1m 1.000000001s)");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("api key 7"), "api key 7");
        assert_eq!(escape_controls("a\tb\rc\u{1b}[0m"), "a\\tb\\rc\\u{1b}[0m");
        assert_eq!(escape_controls("ключ\\"), "ключ\\");
    }

    #[test]
    fn rates_carry_their_unit() {
        for (rate, text) in
            [("5", "5/s"), ("0.5", "0.5/s"), ("30/m", "0.5/s"), ("7/m", "7/m"), ("1/h", "1/h")]
        {
            assert_eq!(rate_text(rate.parse().unwrap()), text);
        }
    }
}
