//! Opening inputs (files, standard input, gzip) and splitting them into lines.
//!
//! [`LineReader`] hands out each line as a slice of a big block, so reading
//! allocates nothing per line. A thread of its own reads (and decompresses)
//! the blocks ahead of the parser, so copying a long log out of the page
//! cache, or inflating gzip, overlaps the parsing. At most [`BLOCKS`] blocks
//! are in flight, so memory stays bounded by a few chunks plus [`MAX_LINE`],
//! however long the input.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::CliError;

pub(crate) use crate::trace::MAX_LINE;

/// How much [`LineReader`]'s thread reads into a block.
const CHUNK: usize = 1 << 20;
/// The room before a block's bytes, where the end of the previous block (a
/// line it did not finish) is put in front of them.
const HEAD: usize = 64 << 10;
/// Blocks read ahead of the parser.
const BLOCKS: usize = 3;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An opened input: its name for messages and a reader of its (decompressed)
/// bytes.
pub(crate) struct Input {
    /// The path as given, or `<stdin>` for `-`.
    pub(crate) name: String,
    reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Input {
    /// Opens `path` (`-` for standard input), decompressing it if it starts
    /// with the gzip magic bytes. Bytes read from the underlying file or
    /// stream advance `progress`.
    ///
    /// Opening reads the first two bytes, so a missing, unreadable or
    /// directory path fails here, before any record is replayed.
    pub(crate) fn open(path: &Path, progress: &ProgressBar) -> Result<Input, CliError> {
        let (name, raw): (String, Box<dyn Read + Send>) = if path == Path::new("-") {
            ("<stdin>".to_owned(), Box::new(io::stdin()))
        } else {
            let name = path.display().to_string();
            let file =
                File::open(path).map_err(|err| CliError::Open { path: name.clone(), err })?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(CliError::IsDirectory { path: name });
            }
            (name, Box::new(file))
        };
        let mut counted = Counted { inner: raw, progress: progress.clone() };
        let mut head = [0; 2];
        let mut filled = 0;
        while filled < head.len() {
            match counted.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(CliError::Read { path: name, err }),
            }
        }
        let whole = io::Cursor::new(head[..filled].to_vec()).chain(counted);
        let reader: Box<dyn Read + Send> = if head[..filled] == GZIP_MAGIC {
            Box::new(MultiGzDecoder::new(whole))
        } else {
            Box::new(whole)
        };
        Ok(Input { name, reader })
    }

    /// An input over bytes already in memory, for tests.
    #[cfg(test)]
    pub(crate) fn from_bytes(name: &str, bytes: Vec<u8>) -> Input {
        Input { name: name.to_owned(), reader: Box::new(io::Cursor::new(bytes)) }
    }

    /// Splits this input into lines, read ahead by a thread of their own.
    pub(crate) fn lines(self) -> LineReader {
        let (full, blocks) = sync_channel(BLOCKS);
        let (spare, spares) = sync_channel(BLOCKS + 1);
        let reader = self.reader;
        std::thread::spawn(move || read_ahead(reader, &full, &spares));
        LineReader {
            name: self.name,
            blocks,
            spare,
            buf: Arc::default(),
            start: 0,
            end: 0,
            line: 0,
            eof: false,
            discarding: false,
        }
    }
}

/// A block: `HEAD` bytes of room, then the bytes read.
type Block = Vec<u8>;

/// Reads `reader` into blocks and sends them in order until the end (when it
/// drops `full`), an error (sent last), or the [`LineReader`] is dropped.
/// Blocks come back through `spares` to be filled again.
fn read_ahead(
    mut reader: Box<dyn Read + Send>,
    full: &SyncSender<io::Result<Block>>,
    spares: &Receiver<Block>,
) {
    loop {
        let mut block = spares.try_recv().unwrap_or_default();
        block.resize(HEAD + CHUNK, 0);
        let mut filled = HEAD;
        while filled < block.len() {
            match reader.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    if filled > HEAD {
                        block.truncate(filled);
                        let _ = full.send(Ok(block));
                    }
                    let _ = full.send(Err(err));
                    return;
                }
            }
        }
        if filled == HEAD {
            return;
        }
        block.truncate(filled);
        if full.send(Ok(block)).is_err() {
            return;
        }
    }
}

/// A progress bar on standard error, measuring input bytes read, for inputs
/// of at least [`PROGRESS_MIN_BYTES`] or of unknown size; hidden unless
/// standard error is a terminal, so that nothing but warnings and errors
/// reaches a redirected standard error.
pub(crate) fn progress_bar(paths: &[PathBuf]) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total_size(paths) {
        Some(size) if size < PROGRESS_MIN_BYTES => return ProgressBar::hidden(),
        Some(size) => (
            ProgressBar::new(size),
            "{elapsed_precise} {wide_bar} {binary_bytes}/{binary_total_bytes} \
             {binary_bytes_per_sec} eta {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {elapsed_precise} {binary_bytes} {binary_bytes_per_sec}",
        ),
    };
    bar.with_style(ProgressStyle::with_template(template).expect("the templates are valid"))
}

/// Inputs smaller than this replay too fast to need a progress bar.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// The total size of the named files, when every input is a regular file.
fn total_size(paths: &[PathBuf]) -> Option<u64> {
    paths
        .iter()
        .map(
            |p| {
                if p == Path::new("-") { None } else { std::fs::metadata(p).ok().map(|m| m.len()) }
            },
        )
        .sum()
}

/// One physical line of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// The line's bytes without its `\n` and one trailing `\r` (and without
    /// a byte-order mark on line 1).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE`] bytes, with its first bytes; the
    /// rest is skipped.
    TooLong(&'a [u8]),
}

/// Splits an input into numbered lines as SPEC's fine print says: a UTF-8
/// byte-order mark at the start is dropped, lines end at `\n`, one `\r` before
/// it is dropped, and every physical line counts.
pub(crate) struct LineReader {
    name: String,
    /// Blocks from the reading thread, in order.
    blocks: Receiver<io::Result<Block>>,
    /// Blocks handed back to be filled again.
    spare: SyncSender<Block>,
    /// Shared with the thread that parses lines ahead (see `crate::replay`).
    buf: Arc<Vec<u8>>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The number of the last line returned.
    line: u64,
    eof: bool,
    /// Whether the rest of an over-long line is being skipped.
    discarding: bool,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader").field("name", &self.name).field("line", &self.line).finish()
    }
}

/// Where one line of a [`LineReader`]'s buffer lies, and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// The line's 1-based number.
    pub(crate) line: u64,
    too_long: bool,
    from: usize,
    to: usize,
}

impl Span {
    /// The line in `buffer`, the [`LineReader::buffer`] it was found in.
    #[inline]
    pub(crate) fn line_in(self, buffer: &[u8]) -> Line<'_> {
        let bytes = &buffer[self.from..self.to];
        if self.too_long { Line::TooLong(bytes) } else { Line::Text(bytes) }
    }
}

impl LineReader {
    /// The next line and its 1-based number, or `None` at the end.
    ///
    /// # Errors
    ///
    /// [`CliError::Read`] when the source fails, a gzip stream included.
    #[inline]
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, Line<'_>)>, CliError> {
        Ok(self.next_span(true)?.map(|span| (span.line, span.line_in(&self.buf))))
    }

    /// Replaces `spans` with the next lines, as many as the buffer holds
    /// (reading more only for the first): `false` at the end of the input.
    /// The spans stay valid in [`LineReader::buffer`] until the next call.
    ///
    /// # Errors
    ///
    /// [`CliError::Read`] when the source fails, a gzip stream included.
    pub(crate) fn next_spans(&mut self, spans: &mut Vec<Span>) -> Result<bool, CliError> {
        spans.clear();
        let Some(first) = self.next_span(true)? else {
            return Ok(false);
        };
        spans.push(first);
        while let Some(span) = self.next_span(false)? {
            spans.push(span);
        }
        Ok(true)
    }

    /// The bytes that [`Span`]s from [`LineReader::next_spans`] lie in.
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer, to share with another thread until the next call to
    /// [`LineReader::next_spans`].
    pub(crate) fn shared_buffer(&self) -> Arc<Vec<u8>> {
        Arc::clone(&self.buf)
    }

    /// The next line, reading more of the input if it is not all in the
    /// buffer and `fill` allows (else `None`).
    #[inline]
    fn next_span(&mut self, fill: bool) -> Result<Option<Span>, CliError> {
        let (from, to) = loop {
            let unread = &self.buf[self.start..self.end];
            if let Some(pos) = memchr::memchr(b'\n', unread) {
                let from = self.start;
                self.start += pos + 1;
                if std::mem::take(&mut self.discarding) {
                    continue;
                }
                break (from, from + pos);
            }
            if self.eof {
                if self.start == self.end || std::mem::take(&mut self.discarding) {
                    return Ok(None);
                }
                let from = self.start;
                self.start = self.end;
                break (from, self.end);
            }
            if unread.len() >= MAX_LINE && !self.discarding {
                let from = self.start;
                self.start = self.end;
                self.discarding = true;
                self.line += 1;
                return Ok(Some(Span { line: self.line, too_long: true, from, to: from + 256 }));
            }
            if !fill {
                return Ok(None);
            }
            if self.discarding {
                self.start = self.end;
            }
            self.fill()?;
        };
        self.line += 1;
        let mut to = to;
        if self.buf[from..to].ends_with(b"\r") {
            to -= 1;
        }
        let mut from = from;
        if self.line == 1 && self.buf[from..to].starts_with(UTF8_BOM) {
            from += UTF8_BOM.len();
        }
        Ok(Some(Span { line: self.line, too_long: false, from, to }))
    }

    /// Takes the next block, with the unread bytes put in front of its own.
    fn fill(&mut self) -> Result<(), CliError> {
        let block = match self.blocks.recv() {
            Ok(Ok(block)) => block,
            Ok(Err(err)) => return Err(CliError::Read { path: self.name.clone(), err }),
            Err(_) => {
                self.eof = true;
                return Ok(());
            }
        };
        let unread = self.end - self.start;
        if unread <= HEAD {
            let mut block = block;
            block[HEAD - unread..HEAD].copy_from_slice(&self.buf[self.start..self.end]);
            self.start = HEAD - unread;
            self.end = block.len();
            let used = std::mem::replace(&mut self.buf, Arc::new(block));
            if let Ok(used) = Arc::try_unwrap(used) {
                let _ = self.spare.try_send(used);
            }
        } else {
            // A line longer than the room in front of a block: the unread
            // bytes stay, and the block's bytes join them.
            let buf = Arc::make_mut(&mut self.buf);
            buf.copy_within(self.start..self.end, 0);
            buf.truncate(unread);
            buf.extend_from_slice(&block[HEAD..]);
            self.start = 0;
            self.end = buf.len();
            let _ = self.spare.try_send(block);
        }
        Ok(())
    }
}

/// A reader that advances a progress bar by the bytes it reads.
struct Counted {
    inner: Box<dyn Read + Send>,
    progress: ProgressBar,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every line of `bytes`, writing a too-long line as `None`.
    fn lines(bytes: &[u8]) -> Vec<(u64, Option<Vec<u8>>)> {
        let mut reader = Input::from_bytes("t", bytes.to_vec()).lines();
        let mut out = Vec::new();
        while let Some((n, line)) = reader.next_line().unwrap() {
            out.push((
                n,
                match line {
                    Line::Text(text) => Some(text.to_vec()),
                    Line::TooLong(start) => {
                        assert_eq!(start.len(), 256);
                        None
                    }
                },
            ));
        }
        out
    }

    #[track_caller]
    fn check(input: &str, expected: &[&str]) {
        let got = lines(input.as_bytes());
        let expected: Vec<(u64, Option<Vec<u8>>)> = expected
            .iter()
            .enumerate()
            .map(|(i, line)| (i as u64 + 1, Some(line.as_bytes().to_vec())))
            .collect();
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn splits_lines_like_the_fine_print() {
        check("", &[]);
        check("a", &["a"]);
        check("a\n", &["a"]);
        check("a\nb", &["a", "b"]);
        check("a\r\nb\r\n", &["a", "b"]);
        check("a\r\r\n", &["a\r"]);
        check("a\rb\n", &["a\rb"]);
        check("\n\n\n", &["", "", ""]);
        check("\r\n", &[""]);
        check("\u{feff}a\n\u{feff}b\n", &["a", "\u{feff}b"]);
        check("\u{feff}\r\n", &[""]);
        check(" \u{feff}a", &[" \u{feff}a"]);
    }

    #[test]
    fn lines_longer_than_the_limit_are_reported_and_skipped() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
        input.extend(b"\nafter\n");
        input.extend(std::iter::repeat_n(b'y', MAX_LINE + 10));
        let got = lines(&input);
        assert_eq!(
            got,
            vec![(1, Some(b"short".to_vec())), (2, None), (3, Some(b"after".to_vec())), (4, None)]
        );
    }

    #[test]
    fn a_line_just_under_the_limit_is_kept() {
        let long = "z".repeat(MAX_LINE - 1);
        check(&format!("{long}\nnext"), &[&long, "next"]);
    }

    #[test]
    fn lines_longer_than_the_room_before_a_block_are_whole() {
        let lines: Vec<String> = (0..7)
            .map(|i| char::from(b'a' + i).to_string().repeat(HEAD / 2 + i as usize * CHUNK / 8))
            .collect();
        let text = lines.join("\n");
        let got = self::lines(text.as_bytes());
        assert_eq!(got.len(), lines.len());
        for ((n, got), (i, line)) in got.iter().zip(lines.iter().enumerate()) {
            assert_eq!(*n, i as u64 + 1);
            assert!(got.as_deref() == Some(line.as_bytes()), "line {n}");
        }
    }

    /// A source that gives `good` bytes, then fails.
    struct Failing {
        good: io::Cursor<Vec<u8>>,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.good.read(buf)? {
                0 => Err(io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_failing_source_is_an_error_after_the_lines_before_it() {
        let text = "1,10.0.0.1\n".repeat(CHUNK / 5);
        let good = io::Cursor::new(text.clone().into_bytes());
        let input = Input { name: "t".to_owned(), reader: Box::new(Failing { good }) };
        let mut reader = input.lines();
        let mut count = 0;
        let err = loop {
            match reader.next_line() {
                Ok(Some((n, Line::Text(b"1,10.0.0.1")))) => {
                    count += 1;
                    assert_eq!(n, count);
                }
                Ok(other) => panic!("{other:?}"),
                Err(err) => break err,
            }
        };
        assert_eq!(count, text.len() as u64 / 11);
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }

    #[test]
    fn lines_spanning_chunks_are_whole() {
        let line = "1700000000.123456789,2001:db8::1234,17";
        let text = format!("{line}\n").repeat(3 * CHUNK / line.len());
        let got = lines(text.as_bytes());
        assert_eq!(got.len(), 3 * CHUNK / line.len());
        assert!(got.iter().all(|(_, l)| l.as_deref() == Some(line.as_bytes())));
    }
}
