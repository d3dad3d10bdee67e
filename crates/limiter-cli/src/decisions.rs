//! The decisions CSV: `line,timestamp,ip,cost,allowed[,file]`, one row per
//! replayed record, in input order.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::CliError;

/// The decisions CSV's header, with a `file` column when several inputs
/// are replayed.
pub(crate) fn header(file_column: bool) -> &'static [u8] {
    if file_column {
        b"line,timestamp,ip,cost,allowed,file\n"
    } else {
        b"line,timestamp,ip,cost,allowed\n"
    }
}

/// Appends a decisions row's first four fields and the comma before
/// `allowed`. The timestamp and address were validated, so they hold no
/// comma, quote or line break and need no quoting.
#[inline]
pub(crate) fn row_start(row: &mut Vec<u8>, line: u64, timestamp: &[u8], ip: &[u8], cost: u64) {
    let _ = write!(row, "{line},");
    row.extend_from_slice(timestamp);
    row.push(b',');
    row.extend_from_slice(ip);
    let _ = write!(row, ",{cost},");
}

/// What follows `allowed` on each row of an input: the line end, after the
/// input's name when there is a `file` column.
pub(crate) fn row_tail(file_column: bool, name: &str) -> Vec<u8> {
    if !file_column {
        return b"\n".to_vec();
    }
    let mut tail = b",".to_vec();
    if name.contains([',', '"', '\n', '\r']) {
        tail.push(b'"');
        tail.extend_from_slice(name.replace('"', "\"\"").as_bytes());
        tail.push(b'"');
    } else {
        tail.extend_from_slice(name.as_bytes());
    }
    tail.push(b'\n');
    tail
}

/// The decisions CSV being written.
pub(crate) struct DecisionSink {
    out: BufWriter<Box<dyn Write + Send>>,
    /// How messages name it.
    name: String,
}

impl DecisionSink {
    /// Creates `path` (`-`: standard output) and writes the header.
    pub(crate) fn create(path: &Path, file_column: bool) -> Result<DecisionSink, CliError> {
        let (out, name): (Box<dyn Write + Send>, String) = if path.as_os_str() == "-" {
            (Box::new(io::stdout()), "standard output".to_owned())
        } else {
            let display = path.display().to_string();
            let file = File::create(path)
                .map_err(|err| CliError::CreateDecisions { path: display.clone(), err })?;
            (Box::new(file), format!("decisions file {display:?}"))
        };
        let mut sink = DecisionSink { out: BufWriter::with_capacity(1 << 16, out), name };
        sink.write(header(file_column))?;
        Ok(sink)
    }

    /// Writes one row: its start, `allowed`, and the tail.
    #[inline]
    pub(crate) fn row(&mut self, start: &[u8], allowed: bool, tail: &[u8]) -> Result<(), CliError> {
        self.write(start)?;
        self.write(if allowed { b"true" } else { b"false" })?;
        self.write(tail)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.out.write_all(bytes).map_err(|err| CliError::Write { path: self.name.clone(), err })
    }

    /// Flushes what is buffered.
    pub(crate) fn finish(mut self) -> Result<(), CliError> {
        self.out.flush().map_err(|err| CliError::Write { path: self.name.clone(), err })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_quoted_when_they_need_it() {
        assert_eq!(row_tail(false, "a,b"), b"\n");
        assert_eq!(row_tail(true, "a.csv"), b",a.csv\n");
        assert_eq!(row_tail(true, "a,\"b\".csv"), b",\"a,\"\"b\"\".csv\"\n");
    }

    #[test]
    fn decision_rows_keep_the_text_as_written() {
        let mut row = Vec::new();
        row_start(&mut row, 17, b"2023-11-14T22:13:20+01:00", b"::FFFF:10.0.0.1", 0);
        assert_eq!(row, b"17,2023-11-14T22:13:20+01:00,::FFFF:10.0.0.1,0,");
    }
}
