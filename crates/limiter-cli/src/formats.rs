//! Choosing how to read an input, from `--input` or its first record, and
//! reading each line in that format.

use limiter_cli::access_log::{looks_like_access_log, parse_access_line};
use limiter_cli::alb::{looks_like_alb_log, parse_alb_line};
use limiter_cli::haproxy::{looks_like_haproxy_log, parse_haproxy_line};
use limiter_cli::jsonl::{JsonFields, looks_like_json};
use limiter_cli::trace::{KeyField, LineError, Record, TraceError, TraceErrorKind, parse_csv_line};

use crate::args::{InputFormat, ReplayConfig};

/// How one input's lines are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reader {
    Csv,
    Combined,
    /// HAProxy logs, whose zone-less accept dates are this many seconds east
    /// of UTC.
    Haproxy {
        utc_offset: i64,
    },
    Alb,
    Jsonl(JsonFields),
}

impl Reader {
    /// The reader for an input whose first record is `line`: the format
    /// `--input` names, or under `auto` the one [`detect`] finds.
    ///
    /// # Errors
    ///
    /// A JSON-lines first record that is not an object or lacks the fields.
    pub(crate) fn choose<'a>(
        config: &ReplayConfig,
        line: &'a [u8],
    ) -> Result<Reader, LineError<'a>> {
        let format = match config.input {
            InputFormat::Auto => detect(line),
            format => format,
        };
        Ok(match format {
            InputFormat::Auto | InputFormat::Csv => Reader::Csv,
            InputFormat::Combined => Reader::Combined,
            InputFormat::Haproxy => Reader::Haproxy { utc_offset: config.utc_offset },
            InputFormat::Alb => Reader::Alb,
            InputFormat::Jsonl => {
                Reader::Jsonl(JsonFields::detect(line, config.ts_field, config.ip_field)?)
            }
        })
    }

    /// The format this reader reads.
    pub(crate) fn format(&self) -> InputFormat {
        match self {
            Reader::Csv => InputFormat::Csv,
            Reader::Combined => InputFormat::Combined,
            Reader::Haproxy { .. } => InputFormat::Haproxy,
            Reader::Alb => InputFormat::Alb,
            Reader::Jsonl(_) => InputFormat::Jsonl,
        }
    }

    /// Reads one line with keys of type `K`: `Ok(None)` for a line that
    /// holds no record.
    #[inline]
    pub(crate) fn parse<'a, K: KeyField>(
        &self,
        line_no: u64,
        text: &'a [u8],
    ) -> Result<Option<Record<'a, K>>, LineError<'a>> {
        match self {
            Reader::Csv => parse_csv_line(line_no, text),
            Reader::Combined => parse_access_line(text),
            Reader::Haproxy { utc_offset } => parse_haproxy_line(text, *utc_offset),
            Reader::Alb => parse_alb_line(text),
            Reader::Jsonl(fields) => fields.parse_line(text),
        }
    }
}

/// The format a first record is laid out in: JSON lines if it starts with
/// `{`, else HAProxy, AWS ALB or common/combined log format if it reads as
/// one, else a CSV trace.
pub(crate) fn detect(line: &[u8]) -> InputFormat {
    if looks_like_json(line) {
        InputFormat::Jsonl
    } else if looks_like_haproxy_log(line) {
        InputFormat::Haproxy
    } else if looks_like_alb_log(line) {
        InputFormat::Alb
    } else if looks_like_access_log(line) {
        InputFormat::Combined
    } else {
        InputFormat::Csv
    }
}

/// What to add to a malformed line's error when `--input auto` chose the
/// format `chosen` from line `chosen_at`: which `--input` reads the line,
/// when it is laid out in another format, or that `--input` can name the
/// format, when the line that chose is itself malformed.
pub(crate) fn auto_hint(
    err: &TraceError,
    line: &[u8],
    chosen: InputFormat,
    chosen_at: u64,
) -> Option<String> {
    let layout = matches!(
        err.kind,
        TraceErrorKind::FieldCount(_)
            | TraceErrorKind::NotAccessLog
            | TraceErrorKind::NotHaproxyLog
            | TraceErrorKind::NotAlbLog
            | TraceErrorKind::NotJsonObject
    );
    if !layout {
        return None;
    }
    let other = detect(line);
    if other != chosen && other != InputFormat::Csv {
        Some(format!(
            "this line reads as {}, but --input auto chose {} from line {chosen_at}; \
             --input {} reads it",
            describe(other),
            describe(chosen),
            name(other)
        ))
    } else if err.line == chosen_at && !matches!(err.kind, TraceErrorKind::FieldCount(2..)) {
        // A line with commas but the wrong number of fields is a CSV record
        // with a mistake; one without any may be a log auto did not know.
        Some(format!(
            "--input auto chose {} from this line; --input names the format: \
             csv, combined, haproxy, alb or jsonl",
            describe(chosen)
        ))
    } else {
        None
    }
}

fn describe(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Auto | InputFormat::Csv => "a CSV trace",
        InputFormat::Combined => "a common or combined access log",
        InputFormat::Haproxy => "an HAProxy log",
        InputFormat::Alb => "an AWS ALB access log",
        InputFormat::Jsonl => "JSON lines",
    }
}

fn name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Auto => "auto",
        InputFormat::Csv => "csv",
        InputFormat::Combined => "combined",
        InputFormat::Haproxy => "haproxy",
        InputFormat::Alb => "alb",
        InputFormat::Jsonl => "jsonl",
    }
}
