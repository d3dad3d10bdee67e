//! The replay: one thread reads and parses records into batches, and one or
//! more threads decide them with the core's `RateLimiter::check_n_at`.
//!
//! ```text
//!  inputs ─▶ parser thread ─▶ Arc<Batch> ─┬▶ worker 1: limits 0, 2, 4 … ─▶ decisions CSV
//!            (split, parse, key ids,      └▶ worker 2: limits 1, 3, 5 …
//!             out-of-order count)
//! ```
//!
//! Each worker owns a subset of the limits (one limiter each, see
//! [`crate::decide`]) and sees every batch in input order. Channels are
//! bounded and sent batches are reused, so memory holds a few batches, not
//! the trace.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use crate::args::{ArgsError, InputFormat, KeyKind, ReplayConfig};
use crate::batch::{BATCH, Batch, Rec};
use crate::decide::{self, LimitState, work};
use crate::decisions::{self, DecisionSink};
use crate::error::CliError;
use crate::formats::{Reader, auto_hint};
use crate::input::{Input, Line, Span};
use crate::keys::{KeyCount, KeyTable};
use crate::plot::Timeline;
use crate::report::Summary;
use crate::trace::{Field, KeyField, LineError, Opaque, Record, TraceError, TraceErrorKind, trim};
use indicatif::ProgressBar;

/// Batches queued for a worker with one limit.
const QUEUE: usize = 16;
/// Malformed records shown on standard error under `--skip-invalid`.
const WARNINGS_SHOWN: u64 = 5;

/// Replays the configured traces through every configured limit.
///
/// # Errors
///
/// An input that cannot be opened or read, a malformed record without
/// `--skip-invalid`, or a decisions file that cannot be created or written.
pub(crate) fn replay(config: &ReplayConfig, progress: &ProgressBar) -> Result<Summary, CliError> {
    let inputs = config
        .traces
        .iter()
        .map(|path| Input::open(path, progress))
        .collect::<Result<Vec<_>, _>>()?;
    let file_column = inputs.len() > 1;
    let mut sink = match &config.decisions {
        Some(path) if is_an_input(path, &config.traces) => {
            let path = path.display().to_string();
            return Err(ArgsError::DecisionsOverwriteInput { path }.into());
        }
        Some(path) => Some(DecisionSink::create(path, file_column)?),
        None => None,
    };
    let names: Vec<String> = inputs.iter().map(|input| input.name.clone()).collect();
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let workers = config.limits.len().min(cores);
    let mut groups: Vec<Vec<LimitState>> = (0..workers).map(|_| Vec::new()).collect();
    for (index, &limit) in config.limits.iter().enumerate() {
        let mut state = LimitState::new(index, limit, config.prefixes, config.key);
        if config.plot.is_some() && config.limits.len() == 1 {
            state.timeline = Some(Timeline::default());
        }
        let state = match &config.redis {
            Some(target) => state.through_redis(target, config.key)?,
            None => state,
        };
        groups[index % workers].push(state);
    }

    let (parsed, worked) = thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for group in groups {
            // A worker with several limits takes a window at a time; room for
            // the next window keeps the parser busy while it decides one.
            let queue = if group.len() > 1 { 2 * decide::WINDOW } else { QUEUE };
            let (sender, receiver) = sync_channel(queue);
            senders.push(sender);
            let sink = sink.take();
            handles.push(scope.spawn(move || work(group, receiver, sink)));
        }
        let rows = config.decisions.is_some();
        let parser = Parser::new(config, senders, progress, rows, file_column);
        let parsed = parser.run(inputs);
        let worked: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (parsed, worked)
    });
    let mut states = Vec::new();
    for result in worked {
        states.extend(result?);
    }
    let parsed = parsed?;
    states.sort_by_key(|state| state.index);
    let timeline = states
        .iter_mut()
        .find_map(|state| state.timeline.take())
        .map(|timeline| timeline.finish(&parsed.keys, config.prefixes));
    let results = states.into_iter().map(|state| state.finish(&parsed.keys, config.top)).collect();
    Ok(Summary {
        inputs: names,
        records: parsed.records,
        skipped: parsed.skipped,
        distinct_keys: parsed.keys.len() as u64,
        opaque_keys: config.key == KeyKind::Any,
        out_of_order: parsed.out_of_order,
        first: parsed.first,
        last: parsed.last,
        results,
        timeline,
    })
}

/// Whether `path` names an existing file that is also one of the inputs,
/// which creating the decisions file would truncate.
fn is_an_input(path: &Path, inputs: &[PathBuf]) -> bool {
    let Ok(target) = std::fs::canonicalize(path) else {
        return false;
    };
    inputs
        .iter()
        .filter(|input| input.as_os_str() != "-")
        .any(|input| std::fs::canonicalize(input).is_ok_and(|input| input == target))
}

/// Reads and splits the inputs' lines, and counts them: the floor under a
/// replay's time, for `cargo xtask bench-replay`.
pub(crate) fn count_lines(paths: &[impl AsRef<Path>]) -> Result<u64, CliError> {
    let progress = ProgressBar::hidden();
    let mut count = 0;
    for path in paths {
        let mut lines = Input::open(path.as_ref(), &progress)?.lines();
        while lines.next_line()?.is_some() {
            count += 1;
        }
    }
    Ok(count)
}

/// What the parser counted.
#[derive(Debug)]
struct Parsed {
    records: u64,
    skipped: u64,
    out_of_order: u64,
    first: Option<u64>,
    last: Option<u64>,
    /// The keys, indexed by id.
    keys: Vec<KeyCount>,
}

struct Parser<'a> {
    config: &'a ReplayConfig,
    senders: Vec<SyncSender<Arc<Batch>>>,
    progress: &'a ProgressBar,
    rows: bool,
    file_column: bool,
    keys: KeyTable,
    batch: Batch,
    /// Batches sent, oldest first, until they are recycled.
    sent: VecDeque<Arc<Batch>>,
    records: u64,
    skipped: u64,
    out_of_order: u64,
    first: u64,
    last: u64,
}

impl<'a> Parser<'a> {
    fn new(
        config: &'a ReplayConfig,
        senders: Vec<SyncSender<Arc<Batch>>>,
        progress: &'a ProgressBar,
        rows: bool,
        file_column: bool,
    ) -> Parser<'a> {
        Parser {
            config,
            senders,
            progress,
            rows,
            file_column,
            keys: KeyTable::new(),
            batch: Batch::default(),
            sent: VecDeque::new(),
            records: 0,
            skipped: 0,
            out_of_order: 0,
            first: u64::MAX,
            last: 0,
        }
    }

    /// Parses every input in order, sending batches to the workers; dropping
    /// the senders at the end tells the workers there is no more.
    fn run(mut self, inputs: Vec<Input>) -> Result<Parsed, CliError> {
        for input in inputs {
            match self.input(input) {
                Ok(()) => {}
                Err(Stop::Error(err)) => {
                    // Decide what came before the error, so that the
                    // decisions file holds every record up to it.
                    let _ = self.send();
                    return Err(err);
                }
                Err(Stop::Cancelled) => break,
            }
        }
        let shown = self.skipped.min(WARNINGS_SHOWN);
        if self.skipped > shown {
            let (more, all) = (self.skipped - shown, self.skipped);
            self.progress.suspend(|| {
                eprintln!(
                    "limiter-cli: warning: skipped {more} more malformed records, {all} in all"
                );
            });
        }
        Ok(Parsed {
            records: self.records,
            skipped: self.skipped,
            out_of_order: self.out_of_order,
            first: (self.records > 0).then_some(self.first),
            last: (self.records > 0).then_some(self.last),
            keys: self.keys.into_keys(),
        })
    }

    fn input(&mut self, input: Input) -> Result<(), Stop> {
        self.batch.row_tail = decisions::row_tail(self.file_column, &input.name).into();
        let mut lines = Lines { name: input.name.clone(), reader: None, chosen_at: None };
        let mut reader = input.lines();
        let mut spans = Vec::new();
        // Once a reader is chosen, a thread of its own parses the second half
        // of each buffer's lines while this one takes the first half; this
        // one then takes the helper's results, in order, as if it had parsed
        // those lines itself.
        let mut helper: Option<Helper> = None;
        while reader.next_spans(&mut spans)? {
            let split = match &lines.reader {
                Some(chosen) if spans.len() >= PARALLEL_LINES => {
                    let split = spans.len() / 2;
                    let helper =
                        helper.get_or_insert_with(|| Helper::start(chosen, self.config.key));
                    helper.send(reader.shared_buffer(), spans[split..].to_vec());
                    split
                }
                _ => spans.len(),
            };
            let buffer = reader.buffer();
            for span in &spans[..split] {
                self.line(&mut lines, *span, buffer, Ahead::None)?;
            }
            if split < spans.len() {
                let helper = helper.as_ref().expect("started above");
                match helper.receive() {
                    AheadBatch::Ip(ahead) => {
                        for (span, ahead) in spans[split..].iter().zip(&ahead) {
                            self.line(&mut lines, *span, buffer, Ahead::Ip(ahead))?;
                        }
                    }
                    AheadBatch::Any(ahead) => {
                        for (span, ahead) in spans[split..].iter().zip(&ahead) {
                            self.line(&mut lines, *span, buffer, Ahead::Any(ahead))?;
                        }
                    }
                }
            }
        }
        self.send()
    }

    /// Takes one line: its record, or its error, from `ahead` where the
    /// helper parsed it, else parsing it here.
    #[inline]
    fn line(
        &mut self,
        lines: &mut Lines,
        span: Span,
        buffer: &[u8],
        ahead: Ahead<'_>,
    ) -> Result<(), Stop> {
        let line_no = span.line;
        let text = match span.line_in(buffer) {
            Line::Text(text) => text,
            Line::TooLong(start) => {
                let kind = TraceErrorKind::LineTooLong;
                let err = LineError { field: Field::Record, value: start, kind };
                return self.invalid(err.at(&lines.name, line_no));
            }
        };
        let reader = match &lines.reader {
            Some(reader) => reader,
            None => {
                let trimmed = trim(text);
                if trimmed.is_empty() || trimmed[0] == b'#' {
                    return Ok(());
                }
                match Reader::choose(self.config, text) {
                    Ok(chosen) => {
                        if self.config.input == InputFormat::Auto {
                            lines.chosen_at = Some(line_no);
                        }
                        lines.reader.insert(chosen)
                    }
                    Err(err) => return self.invalid(err.at(&lines.name, line_no)),
                }
            }
        };
        let result = match (self.config.key, ahead) {
            (KeyKind::Ip, Ahead::Ip(Early::Record(parsed))) => {
                Ok(Some(self.record(line_no, &parsed.record(text))))
            }
            (KeyKind::Any, Ahead::Any(Early::Record(parsed))) => {
                Ok(Some(self.record_opaque(line_no, &parsed.record(text))))
            }
            (_, Ahead::Ip(Early::Nothing) | Ahead::Any(Early::Nothing)) => Ok(None),
            (KeyKind::Ip, _) => reader
                .parse::<IpAddr>(line_no, text)
                .map(|record| record.map(|record| self.record(line_no, &record))),
            (KeyKind::Any, _) => reader
                .parse::<Opaque>(line_no, text)
                .map(|record| record.map(|record| self.record_opaque(line_no, &record))),
        };
        match result {
            Ok(Some(recorded)) => recorded,
            Ok(None) => Ok(()),
            Err(err) => {
                let mut err = err.at(&lines.name, line_no);
                if let Some(at) = lines.chosen_at {
                    err.hint = auto_hint(&err, text, reader.format(), at);
                }
                self.invalid(err)
            }
        }
    }

    /// Batches a record keyed by address; its key id is filled in by `send`.
    #[inline]
    fn record(&mut self, line_no: u64, record: &Record<'_>) -> Result<(), Stop> {
        let ip = self.config.prefixes.bucket(record.key);
        self.push(line_no, record, Rec { ip, id: 0, nanos: record.nanos, cost: record.cost })
    }

    /// Batches a record with an opaque key, looking its id up at once, as
    /// the key's text lives only as long as its line.
    #[inline]
    fn record_opaque(&mut self, line_no: u64, record: &Record<'_, Opaque>) -> Result<(), Stop> {
        let (id, out_of_order) = self
            .keys
            .observe_text(record.key_text, record.nanos)
            .ok_or(Stop::Error(CliError::TooManyKeys))?;
        self.out_of_order += u64::from(out_of_order);
        let ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        self.push(line_no, record, Rec { ip, id, nanos: record.nanos, cost: record.cost })
    }

    #[inline]
    fn push<K>(&mut self, line_no: u64, record: &Record<'_, K>, rec: Rec) -> Result<(), Stop> {
        self.records += 1;
        self.first = self.first.min(record.nanos);
        self.last = self.last.max(record.nanos);
        if self.rows {
            let batch = &mut self.batch;
            decisions::row_start(
                &mut batch.rows,
                line_no,
                record.timestamp,
                record.key_text,
                record.cost,
            );
            batch.row_ends.push(batch.rows.len());
        }
        self.batch.recs.push(rec);
        if self.batch.recs.len() == BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn invalid(&mut self, err: TraceError) -> Result<(), Stop> {
        if !self.config.skip_invalid {
            return Err(Stop::Error(err.into()));
        }
        self.skipped += 1;
        if self.skipped <= WARNINGS_SHOWN {
            self.progress.suspend(|| eprintln!("limiter-cli: warning: skipped {err}"));
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), Stop> {
        if self.batch.recs.is_empty() {
            return Ok(());
        }
        // Address lookups in a loop of their own, apart from parsing, so
        // that the processor overlaps the cache misses of successive records.
        // Opaque keys were looked up as they were read.
        if self.config.key == KeyKind::Ip {
            for rec in &mut self.batch.recs {
                let (id, out_of_order) = self
                    .keys
                    .observe(rec.ip, rec.nanos)
                    .ok_or(Stop::Error(CliError::TooManyKeys))?;
                rec.id = id;
                self.out_of_order += u64::from(out_of_order);
            }
        }
        let next = self.recycled();
        let batch = Arc::new(std::mem::replace(&mut self.batch, next));
        for sender in &self.senders {
            sender.send(Arc::clone(&batch)).map_err(|_| Stop::Cancelled)?;
        }
        self.sent.push_back(batch);
        Ok(())
    }

    /// An empty batch, reusing the oldest sent one if every worker is done
    /// with it, so that a replay allocates a bounded number of batches.
    fn recycled(&mut self) -> Batch {
        let tail = Arc::clone(&self.batch.row_tail);
        if let Some(mut oldest) = self.sent.pop_front() {
            if let Some(batch) = Arc::get_mut(&mut oldest) {
                batch.recs.clear();
                batch.rows.clear();
                batch.row_ends.clear();
                batch.row_tail = tail;
                return std::mem::take(batch);
            }
            self.sent.push_front(oldest);
        }
        Batch {
            recs: Vec::with_capacity(BATCH),
            rows: Vec::with_capacity(if self.rows { BATCH * 64 } else { 0 }),
            row_ends: Vec::with_capacity(if self.rows { BATCH } else { 0 }),
            row_tail: tail,
        }
    }
}

/// What [`Parser::line`] keeps from line to line of one input.
struct Lines {
    name: String,
    /// The reader, once the first record has chosen it.
    reader: Option<Reader>,
    /// Under `--input auto`, the line that chose the reader.
    chosen_at: Option<u64>,
}

/// Fewer lines than this in a buffer are all parsed by the parser thread.
const PARALLEL_LINES: usize = 256;

/// A line as the helper parsed it, without borrowing the line.
#[derive(Debug, Clone, Copy)]
enum Early<K> {
    /// A record, whose texts are at these places in its line.
    Record(Owned<K>),
    /// A line that holds no record.
    Nothing,
    /// An error (or a record the helper cannot describe by places), which
    /// the parser thread reads again to report.
    Again,
}

/// A [`Record`] whose texts are ranges of its line.
#[derive(Debug, Clone, Copy)]
struct Owned<K> {
    timestamp: (usize, usize),
    key_text: (usize, usize),
    nanos: u64,
    key: K,
    cost: u64,
}

impl<K: Copy> Owned<K> {
    /// `record`'s places in `line`, if its texts lie in the line.
    fn of(line: &[u8], record: &Record<'_, K>) -> Option<Owned<K>> {
        let place = |part: &[u8]| {
            let from = part.as_ptr().addr().checked_sub(line.as_ptr().addr())?;
            (from + part.len() <= line.len()).then_some((from, from + part.len()))
        };
        Some(Owned {
            timestamp: place(record.timestamp)?,
            key_text: place(record.key_text)?,
            nanos: record.nanos,
            key: record.key,
            cost: record.cost,
        })
    }

    /// The record in `line`, the line it was parsed from.
    fn record(self, line: &[u8]) -> Record<'_, K> {
        Record {
            timestamp: &line[self.timestamp.0..self.timestamp.1],
            key_text: &line[self.key_text.0..self.key_text.1],
            nanos: self.nanos,
            key: self.key,
            cost: self.cost,
        }
    }
}

/// One line's result from the helper, if it parsed the line.
#[derive(Clone, Copy)]
enum Ahead<'a> {
    None,
    Ip(&'a Early<IpAddr>),
    Any(&'a Early<Opaque>),
}

/// The helper's results for one buffer's lines.
enum AheadBatch {
    Ip(Vec<Early<IpAddr>>),
    Any(Vec<Early<Opaque>>),
}

/// A thread that parses lines with a copy of the chosen reader.
struct Helper {
    jobs: SyncSender<(Arc<Vec<u8>>, Vec<Span>)>,
    results: Receiver<AheadBatch>,
}

impl Helper {
    fn start(reader: &Reader, key: KeyKind) -> Helper {
        let (jobs, job) = sync_channel::<(Arc<Vec<u8>>, Vec<Span>)>(1);
        let (result, results) = sync_channel(1);
        let reader = reader.clone();
        thread::spawn(move || {
            for (buffer, spans) in job {
                let batch = match key {
                    KeyKind::Ip => AheadBatch::Ip(parse_ahead(&reader, &buffer, &spans)),
                    KeyKind::Any => AheadBatch::Any(parse_ahead(&reader, &buffer, &spans)),
                };
                // Let go of the buffer first, so that the reader can reuse it.
                drop(buffer);
                if result.send(batch).is_err() {
                    return;
                }
            }
        });
        Helper { jobs, results }
    }

    fn send(&self, buffer: Arc<Vec<u8>>, spans: Vec<Span>) {
        // The helper stops only when this end is dropped, or on a panic,
        // which `receive` reports.
        let _ = self.jobs.send((buffer, spans));
    }

    fn receive(&self) -> AheadBatch {
        self.results.recv().expect("the line-parsing helper thread panicked")
    }
}

/// Parses the lines at `spans` in `buffer` as [`Parser::line`] would.
fn parse_ahead<K: KeyField + Copy>(
    reader: &Reader,
    buffer: &[u8],
    spans: &[Span],
) -> Vec<Early<K>> {
    spans
        .iter()
        .map(|span| match span.line_in(buffer) {
            Line::Text(text) => match reader.parse::<K>(span.line, text) {
                Ok(Some(record)) => Owned::of(text, &record).map_or(Early::Again, Early::Record),
                Ok(None) => Early::Nothing,
                Err(_) => Early::Again,
            },
            Line::TooLong(_) => Early::Again,
        })
        .collect()
}

/// Why parsing stopped early.
enum Stop {
    /// A malformed record or an input that failed.
    Error(CliError),
    /// The workers have stopped, one of them with an error it reports.
    Cancelled,
}

impl From<CliError> for Stop {
    fn from(err: CliError) -> Stop {
        Stop::Error(err)
    }
}
