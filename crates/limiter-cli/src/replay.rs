//! The replay: one thread reads and parses records into batches, and one or
//! more threads decide them with the core's `RateLimiter::check_n_at`.
//!
//! ```text
//!  inputs ─▶ parser thread ─▶ Arc<Batch> ─┬▶ worker 1: limits 0, 2, 4 … ─▶ decisions CSV
//!            (split, parse, key ids,      └▶ worker 2: limits 1, 3, 5 …
//!             out-of-order count)
//! ```
//!
//! Each worker owns a subset of the limits (one limiter each) and sees every
//! batch in input order, so every limiter gets the records in input order.
//! Channels are bounded, so memory holds a few batches, not the trace.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use indicatif::ProgressBar;
use limiter_core::{Decision, ManualClock, Nanos, RateLimiter, canonical_ip};

use crate::access_log::{looks_like_access_log, parse_access_line};
use crate::args::{InputFormat, Limit, ReplayConfig};
use crate::error::CliError;
use crate::input::{Input, Line};
use crate::keys::{KeyCount, KeyId, KeyTable};
use crate::report::{self, KeyResult, LimitResult, Summary};
use crate::trace::{Field, LineError, Record, TraceError, TraceErrorKind, parse_csv_line, trim};

/// Records per batch: big enough that handing a batch over costs little per
/// record, small enough that a batch stays in cache.
const BATCH: usize = 4096;
/// Batches queued per worker.
const QUEUE: usize = 16;
/// Batches a worker with several limits decides limit by limit, grouped by key.
const WINDOW: usize = 64;
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
        Some(path) => Some(DecisionSink::create(path, file_column)?),
        None => None,
    };
    let names: Vec<String> = inputs.iter().map(|input| input.name.clone()).collect();
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let workers = config.limits.len().min(cores);
    let mut groups: Vec<Vec<LimitState>> = (0..workers).map(|_| Vec::new()).collect();
    for (index, &limit) in config.limits.iter().enumerate() {
        groups[index % workers].push(LimitState::new(index, limit));
    }

    let (parsed, worked) = thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for group in groups {
            let (sender, receiver) = sync_channel(QUEUE);
            senders.push(sender);
            let sink = sink.take();
            handles.push(scope.spawn(move || work(group, receiver, sink)));
        }
        let parser = Parser::new(config, senders, progress, sink_wants_rows(config), file_column);
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
    let results = states.into_iter().map(|state| state.finish(&parsed.keys, config.top)).collect();
    Ok(Summary {
        inputs: names,
        records: parsed.records,
        skipped: parsed.skipped,
        distinct_keys: parsed.keys.len() as u64,
        out_of_order: parsed.out_of_order,
        first: parsed.first,
        last: parsed.last,
        results,
    })
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

fn sink_wants_rows(config: &ReplayConfig) -> bool {
    config.decisions.is_some()
}

/// A record as the workers need it.
#[derive(Debug, Clone, Copy)]
struct Rec {
    /// The canonical address.
    ip: IpAddr,
    id: KeyId,
    nanos: u64,
    cost: u64,
}

/// Records in input order, all from one input.
#[derive(Debug, Default)]
struct Batch {
    recs: Vec<Rec>,
    /// With `--decisions`: each record's row up to `allowed`, back to back.
    rows: Vec<u8>,
    /// Where each record's part of `rows` ends.
    row_ends: Vec<usize>,
    /// What follows `allowed` on every row of this batch.
    row_tail: Arc<[u8]>,
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

/// The workers have stopped, one of them with an error it reports itself.
struct Cancelled;

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
                Err(Stop::Cancelled(Cancelled)) => break,
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
        self.batch.row_tail = report::decision_row_tail(self.file_column, &input.name).into();
        let mut format = match self.config.input {
            InputFormat::Auto => None,
            InputFormat::Csv => Some(InputFormat::Csv),
            InputFormat::Combined => Some(InputFormat::Combined),
        };
        let name = input.name.clone();
        let mut lines = input.lines();
        while let Some((line_no, line)) = lines.next_line()? {
            let text = match line {
                Line::Text(text) => text,
                Line::TooLong(start) => {
                    let kind = TraceErrorKind::LineTooLong;
                    let err = LineError { field: Field::Record, value: start, kind };
                    self.invalid(err.at(&name, line_no))?;
                    continue;
                }
            };
            let format = match format {
                Some(format) => format,
                None => {
                    let trimmed = trim(text);
                    if trimmed.is_empty() || trimmed[0] == b'#' {
                        continue;
                    }
                    let detected = if looks_like_access_log(text) {
                        InputFormat::Combined
                    } else {
                        InputFormat::Csv
                    };
                    *format.insert(detected)
                }
            };
            let parsed = match format {
                InputFormat::Combined => parse_access_line(text),
                _ => parse_csv_line(line_no, text),
            };
            match parsed {
                Ok(Some(record)) => self.record(line_no, &record)?,
                Ok(None) => {}
                Err(err) => self.invalid(err.at(&name, line_no))?,
            }
        }
        self.send()
    }

    #[inline]
    fn record(&mut self, line_no: u64, record: &Record<'_>) -> Result<(), Stop> {
        let ip = canonical_ip(record.ip);
        self.records += 1;
        self.first = self.first.min(record.nanos);
        self.last = self.last.max(record.nanos);
        if self.rows {
            let batch = &mut self.batch;
            report::decision_row_start(
                &mut batch.rows,
                line_no,
                record.timestamp,
                record.ip_text,
                record.cost,
            );
            batch.row_ends.push(batch.rows.len());
        }
        // The key id is filled in by `send`.
        self.batch.recs.push(Rec { ip, id: 0, nanos: record.nanos, cost: record.cost });
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
        // Key lookups in a loop of their own, apart from parsing, so that
        // the processor overlaps the cache misses of successive records.
        for rec in &mut self.batch.recs {
            let (id, out_of_order) = self.keys.observe(rec.ip, rec.nanos);
            rec.id = id;
            self.out_of_order += u64::from(out_of_order);
        }
        let next = self.recycled();
        let batch = Arc::new(std::mem::replace(&mut self.batch, next));
        for sender in &self.senders {
            sender.send(Arc::clone(&batch)).map_err(|_| Stop::Cancelled(Cancelled))?;
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

/// Why parsing stopped early.
enum Stop {
    Error(CliError),
    Cancelled(Cancelled),
}

impl From<CliError> for Stop {
    fn from(err: CliError) -> Stop {
        Stop::Error(err)
    }
}

/// One limit's limiter and counts.
struct LimitState {
    /// The limit's position in the configuration.
    index: usize,
    limit: Limit,
    limiter: RateLimiter<ManualClock>,
    allowed: u64,
    denied: u64,
    never_allowable: u64,
    /// Denials per key id; a key's allowed count is its record count less
    /// these, so only denials touch this table.
    denied_per_key: Vec<u64>,
}

impl LimitState {
    fn new(index: usize, limit: Limit) -> LimitState {
        LimitState {
            index,
            limit,
            limiter: limit.limiter(),
            allowed: 0,
            denied: 0,
            never_allowable: 0,
            denied_per_key: Vec::new(),
        }
    }

    /// Decides one record with the core limiter and counts the outcome.
    #[inline]
    fn decide(&mut self, rec: &Rec) -> bool {
        let allowed = match self.limiter.check_n_at(rec.ip, rec.cost, Nanos::new(rec.nanos)) {
            Decision::Allowed { .. } => true,
            Decision::Denied { .. } => false,
            Decision::OverCapacity { .. } => {
                self.never_allowable += 1;
                false
            }
        };
        if allowed {
            self.allowed += 1;
        } else {
            self.denied += 1;
            let id = rec.id as usize;
            if id >= self.denied_per_key.len() {
                self.denied_per_key.resize(id + 1, 0);
            }
            self.denied_per_key[id] += 1;
        }
        allowed
    }

    fn finish(self, keys: &[KeyCount], top: usize) -> LimitResult {
        let mut denied: Vec<KeyResult> = self
            .denied_per_key
            .iter()
            .zip(keys)
            .filter(|(denied, _)| **denied > 0)
            .map(|(&denied, key)| KeyResult { ip: key.ip, allowed: key.records - denied, denied })
            .collect();
        let keys_denied = denied.len() as u64;
        denied.sort_unstable_by(|a, b| {
            b.denied.cmp(&a.denied).then(b.allowed.cmp(&a.allowed)).then(a.ip.cmp(&b.ip))
        });
        denied.truncate(top);
        LimitResult {
            limit: self.limit,
            allowed: self.allowed,
            denied: self.denied,
            never_allowable: self.never_allowable,
            keys_denied,
            top: denied,
        }
    }
}

/// Decides every batch for each of its limits, writing decision rows when it
/// has the sink (only ever with a single limit).
fn work(
    mut limits: Vec<LimitState>,
    batches: Receiver<Arc<Batch>>,
    mut sink: Option<DecisionSink>,
) -> Result<Vec<LimitState>, CliError> {
    if let [state] = limits.as_mut_slice() {
        for batch in batches {
            match sink.as_mut() {
                Some(sink) => {
                    let mut start = 0;
                    for (rec, &end) in batch.recs.iter().zip(&batch.row_ends) {
                        let allowed = state.decide(rec);
                        sink.row(&batch.rows[start..end], allowed, &batch.row_tail)?;
                        start = end;
                    }
                }
                None => batch.recs.iter().for_each(|rec| _ = state.decide(rec)),
            }
        }
    } else {
        sweep(&mut limits, batches);
    }
    if let Some(sink) = sink {
        sink.finish()?;
    }
    Ok(limits)
}

/// Decides every batch for several limits, a window at a time.
///
/// The records of a window of [`WINDOW`] batches are grouped by key, in
/// input order within each key, and each limit runs over the whole window
/// before the next. Buckets are independent, so each limiter still sees
/// every key's records in input order and decides exactly as in input order,
/// while it touches each bucket once per window rather than once per record,
/// and its table stays in cache for a quarter of a million records instead
/// of being evicted by the other limiters' every few thousand.
fn sweep(limits: &mut [LimitState], batches: Receiver<Arc<Batch>>) {
    let mut window = Vec::with_capacity(WINDOW);
    let mut grouped = Vec::new();
    let mut starts = Vec::new();
    let mut batches = batches.into_iter().peekable();
    while batches.peek().is_some() {
        window.extend(batches.by_ref().take(WINDOW));
        group_by_key(&window, &mut grouped, &mut starts);
        for state in limits.iter_mut() {
            grouped.iter().for_each(|rec| _ = state.decide(rec));
        }
        window.clear();
    }
}

/// Sets `grouped` to the window's records ordered by key id, each key's in
/// input order (a counting sort; `starts` is its scratch space).
fn group_by_key(window: &[Arc<Batch>], grouped: &mut Vec<Rec>, starts: &mut Vec<usize>) {
    let recs = || window.iter().flat_map(|batch| &batch.recs);
    let (Some(first), Some(max_id)) = (recs().next(), recs().map(|rec| rec.id).max()) else {
        grouped.clear();
        return;
    };
    starts.clear();
    starts.resize(max_id as usize + 2, 0);
    for rec in recs() {
        starts[rec.id as usize + 1] += 1;
    }
    for id in 1..starts.len() {
        starts[id] += starts[id - 1];
    }
    grouped.clear();
    grouped.resize(starts[starts.len() - 1], *first);
    for rec in recs() {
        let at = &mut starts[rec.id as usize];
        grouped[*at] = *rec;
        *at += 1;
    }
}

/// The decisions CSV being written.
struct DecisionSink {
    out: BufWriter<Box<dyn Write + Send>>,
    /// How messages name it.
    name: String,
}

impl DecisionSink {
    fn create(path: &Path, file_column: bool) -> Result<DecisionSink, CliError> {
        let (out, name): (Box<dyn Write + Send>, String) = if path.as_os_str() == "-" {
            (Box::new(io::stdout()), "standard output".to_owned())
        } else {
            let display = path.display().to_string();
            let file = File::create(path)
                .map_err(|err| CliError::CreateDecisions { path: display.clone(), err })?;
            (Box::new(file), format!("decisions file {display:?}"))
        };
        let mut sink = DecisionSink { out: BufWriter::with_capacity(1 << 16, out), name };
        sink.write(report::decisions_header(file_column))?;
        Ok(sink)
    }

    #[inline]
    fn row(&mut self, start: &[u8], allowed: bool, tail: &[u8]) -> Result<(), CliError> {
        self.write(start)?;
        self.write(if allowed { b"true" } else { b"false" })?;
        self.write(tail)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.out.write_all(bytes).map_err(|err| CliError::Write { path: self.name.clone(), err })
    }

    fn finish(mut self) -> Result<(), CliError> {
        self.out.flush().map_err(|err| CliError::Write { path: self.name.clone(), err })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches of the given sizes over 30 keys, with costs 0 to 3 and some
    /// records out of order, from a fixed seed.
    fn batches(sizes: impl Iterator<Item = usize>) -> (Vec<Arc<Batch>>, Vec<KeyCount>) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut keys = KeyTable::new();
        let mut nanos = 10_000_000_000;
        let batches = sizes
            .map(|size| {
                let recs = (0..size)
                    .map(|_| {
                        nanos += next() % 300_000_000;
                        let at = nanos - if next() % 10 == 0 { next() % 2_000_000_000 } else { 0 };
                        let ip = IpAddr::from([10, 0, 0, (next() % 30) as u8]);
                        let (id, _) = keys.observe(ip, at);
                        Rec { ip, id, nanos: at, cost: next() % 4 }
                    })
                    .collect();
                Arc::new(Batch { recs, ..Batch::default() })
            })
            .collect();
        (batches, keys.into_keys())
    }

    fn limits() -> Vec<LimitState> {
        let limit = |index, capacity, rate: &str| {
            LimitState::new(index, Limit { capacity, rate: rate.parse().unwrap() })
        };
        vec![limit(0, 2, "1"), limit(1, 5, "0.5"), limit(2, 3, "7/m")]
    }

    #[test]
    fn a_sweep_over_several_windows_decides_as_input_order_does() {
        // Three and a half windows, with batches of uneven sizes at the end.
        let sizes = std::iter::repeat_n(10, WINDOW * 3 + WINDOW / 2).chain([7, 1, 3]);
        let (all, keys) = batches(sizes);
        let (sender, receiver) = sync_channel(all.len());
        all.iter().for_each(|batch| sender.send(Arc::clone(batch)).unwrap());
        drop(sender);
        let mut swept = limits();
        sweep(&mut swept, receiver);

        let mut one_by_one = limits();
        for state in &mut one_by_one {
            all.iter().flat_map(|batch| &batch.recs).for_each(|rec| _ = state.decide(rec));
        }
        let finish = |states: Vec<LimitState>| -> Vec<LimitResult> {
            states.into_iter().map(|state| state.finish(&keys, 30)).collect()
        };
        let (swept, one_by_one) = (finish(swept), finish(one_by_one));
        assert_eq!(swept, one_by_one);
        assert!(swept.iter().all(|r| r.denied > 100 && r.allowed > 100), "{swept:?}");
    }

    #[test]
    fn grouping_by_key_keeps_each_keys_input_order() {
        let (window, _) = batches([13, 13, 1, 13, 13].into_iter());
        let (mut grouped, mut starts) = (Vec::new(), Vec::new());
        group_by_key(&window, &mut grouped, &mut starts);
        let input: Vec<&Rec> = window.iter().flat_map(|batch| &batch.recs).collect();
        assert_eq!(grouped.len(), input.len());
        assert!(grouped.windows(2).all(|w| w[0].id <= w[1].id));
        for id in 0..30 {
            let of = |recs: &mut dyn Iterator<Item = &Rec>| -> Vec<(u64, u64)> {
                recs.filter(|r| r.id == id).map(|r| (r.nanos, r.cost)).collect()
            };
            assert_eq!(of(&mut grouped.iter()), of(&mut input.iter().copied()), "key {id}");
        }
    }
}
