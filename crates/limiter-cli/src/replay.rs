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
use std::sync::mpsc::{SyncSender, sync_channel};
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
        // The reader, once the first record has chosen it, and under
        // `--input auto` the line that chose it.
        let mut reader: Option<Reader> = None;
        let mut chosen_at = None;
        let name = input.name.clone();
        let mut lines = input.lines();
        let mut spans = Vec::new();
        while lines.next_spans(&mut spans)? {
            let buffer = lines.buffer();
            // Once a reader is chosen, the lines are parsed two threads at
            // a time ahead of the loop below, which takes each line's result
            // in order as if it had parsed the line itself.
            let parsed = match (&reader, self.config.key) {
                (Some(reader), KeyKind::Ip) => Ahead::Ip(parse_all(reader, buffer, &spans)),
                (Some(reader), KeyKind::Any) => Ahead::Any(parse_all(reader, buffer, &spans)),
                (None, _) => Ahead::None,
            };
            for (index, span) in spans.iter().enumerate() {
                let line_no = span.line;
                let text = match span.line_in(buffer) {
                    Line::Text(text) => text,
                    Line::TooLong(start) => {
                        let kind = TraceErrorKind::LineTooLong;
                        let err = LineError { field: Field::Record, value: start, kind };
                        self.invalid(err.at(&name, line_no))?;
                        continue;
                    }
                };
                let reader = match &reader {
                    Some(reader) => reader,
                    None => {
                        let trimmed = trim(text);
                        if trimmed.is_empty() || trimmed[0] == b'#' {
                            continue;
                        }
                        match Reader::choose(self.config, text) {
                            Ok(chosen) => {
                                if self.config.input == InputFormat::Auto {
                                    chosen_at = Some(line_no);
                                }
                                reader.insert(chosen)
                            }
                            Err(err) => {
                                self.invalid(err.at(&name, line_no))?;
                                continue;
                            }
                        }
                    }
                };
                let result = match (self.config.key, &parsed) {
                    (KeyKind::Ip, Ahead::Ip(parsed)) => parsed[index]
                        .map(|record| record.map(|record| self.record(line_no, &record))),
                    (KeyKind::Ip, _) => reader
                        .parse::<IpAddr>(line_no, text)
                        .map(|record| record.map(|record| self.record(line_no, &record))),
                    (KeyKind::Any, Ahead::Any(parsed)) => parsed[index]
                        .map(|record| record.map(|record| self.record_opaque(line_no, &record))),
                    (KeyKind::Any, _) => reader
                        .parse::<Opaque>(line_no, text)
                        .map(|record| record.map(|record| self.record_opaque(line_no, &record))),
                };
                match result {
                    Ok(Some(recorded)) => recorded?,
                    Ok(None) => {}
                    Err(err) => {
                        let mut err = err.at(&name, line_no);
                        if let Some(at) = chosen_at {
                            err.hint = auto_hint(&err, text, reader.format(), at);
                        }
                        self.invalid(err)?
                    }
                }
            }
        }
        self.send()
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

/// Lines parsed ahead of the loop that takes their records, one result a line.
enum Ahead<'a> {
    None,
    Ip(Vec<ParseResult<'a, IpAddr>>),
    Any(Vec<ParseResult<'a, Opaque>>),
}

type ParseResult<'a, K> = Result<Option<Record<'a, K>>, LineError<'a>>;

/// Fewer lines than this are parsed on one thread: a thread's start would
/// cost more than it saves.
const PARALLEL_LINES: usize = 256;

/// Parses the lines at `spans` in `buffer` with `reader`, what the loop in
/// [`Parser::input`] would get line by line (an over-long line gives
/// `Ok(None)`, which that loop never takes): the second half on a thread of
/// its own while this thread parses the first.
fn parse_all<'a, K: KeyField + Send>(
    reader: &Reader,
    buffer: &'a [u8],
    spans: &[Span],
) -> Vec<ParseResult<'a, K>> {
    let parse = |spans: &[Span]| -> Vec<ParseResult<'a, K>> {
        spans
            .iter()
            .map(|span| match span.line_in(buffer) {
                Line::Text(text) => reader.parse::<K>(span.line, text),
                Line::TooLong(_) => Ok(None),
            })
            .collect()
    };
    if spans.len() < PARALLEL_LINES {
        return parse(spans);
    }
    let (first, second) = spans.split_at(spans.len() / 2);
    thread::scope(|scope| {
        let second = scope.spawn(|| parse(second));
        let mut results = parse(first);
        results.extend(second.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        results
    })
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
