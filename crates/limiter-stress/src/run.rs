//! Runs one workload on one limiter across a rayon pool and checks the outcome.
//!
//! Each worker times batches of requests with `Instant`, records each request's
//! latency (batch time / batch size) into its own histogram, and counts allowed
//! requests per key in its own array; the histograms are merged with `add` and
//! the counts summed after the run.

use std::net::IpAddr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use limiter_testkit::Subject;
use rayon::ThreadPool;

use crate::args::Stop;
use crate::check::{self, CheckReport, Quota};
use crate::workload::{Workload, WorkloadKind, churn_ip};

/// The largest latency a histogram tells apart; longer ones are recorded as this.
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Churn ops per second per thread to reserve count space for, so that the
/// timed loop rarely grows a vector.
const CHURN_RESERVE_OPS_PER_SEC: u64 = 20_000_000;

/// A histogram for latencies from 1 ns to a minute, to 3 significant digits.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// What one run measured.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) workload: WorkloadKind,
    pub(crate) limiter: &'static str,
    pub(crate) quota: Quota,
    pub(crate) threads: usize,
    pub(crate) batch: u32,
    /// Timed requests, across threads.
    pub(crate) ops: u64,
    /// Timed requests allowed.
    pub(crate) allowed: u64,
    /// Requests sent before the timed loop to create every key (uniform only).
    pub(crate) preinserted: u64,
    /// From the first worker's start to the last worker's end.
    pub(crate) elapsed: Duration,
    /// Per-request latency in ns, all threads merged.
    pub(crate) histogram: Histogram<u64>,
    pub(crate) check: CheckReport,
}

impl RunResult {
    pub(crate) fn denied(&self) -> u64 {
        self.ops - self.allowed
    }

    pub(crate) fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn ops_per_sec_per_thread(&self) -> f64 {
        self.ops_per_sec() / self.threads as f64
    }
}

/// Sends `workload` to `limiter` from every thread of `pool` until `stop`.
pub(crate) fn run<L: Subject>(
    limiter: &L,
    workload: &Workload,
    quota: Quota,
    pool: &ThreadPool,
    stop: Stop,
    batch: u32,
) -> RunResult {
    let threads = pool.current_num_threads();
    let barrier = Barrier::new(threads);
    // Every time the limiter reads lies between these two instants.
    let span_start = Instant::now();
    let mut preinserted = vec![0u64; if workload.preinsert { workload.keys.len() } else { 0 }];
    for (count, &ip) in preinserted.iter_mut().zip(&workload.keys) {
        *count += u64::from(limiter.check(ip, 0));
    }
    let workers = pool.broadcast(|ctx| {
        let thread = ctx.index();
        let ops = match stop {
            Stop::Ops(ops) => {
                ops / threads as u64 + u64::from((thread as u64) < ops % threads as u64)
            }
            Stop::After(_) => u64::MAX,
        };
        if workload.kind == WorkloadKind::Churn {
            let reserve = match stop {
                Stop::Ops(_) => ops,
                Stop::After(d) => (d.as_secs_f64() * CHURN_RESERVE_OPS_PER_SEC as f64) as u64,
            };
            let mut keys =
                ChurnKeys::new(workload.churn_salt, thread as u64, threads as u64, reserve);
            let timing = work(limiter, &mut keys, stop, ops, batch, &barrier);
            (timing, Counts::Churn(keys.bits))
        } else {
            let mut keys = IndexedKeys::new(&workload.keys, &workload.streams[thread]);
            let timing = work(limiter, &mut keys, stop, ops, batch, &barrier);
            (timing, Counts::Indexed(keys.counts))
        }
    });
    let span_ns = u64::try_from(span_start.elapsed().as_nanos()).unwrap_or(u64::MAX);

    let mut histogram = latency_histogram();
    for (timing, _) in &workers {
        histogram.add(&timing.histogram).expect("histograms share their bounds");
    }
    let ops = workers.iter().map(|(t, _)| t.ops).sum();
    let allowed = workers.iter().map(|(t, _)| t.allowed).sum();
    let first_start = workers.iter().map(|(t, _)| t.start).min().expect("at least one thread");
    let last_end = workers.iter().map(|(t, _)| t.end).max().expect("at least one thread");
    let preinserted_ops = preinserted.len() as u64;
    let mut check = check_counts(workload, quota, span_ns, preinserted, &workers);
    if workload.kind == WorkloadKind::Hot {
        // The limiter read its first time for the key before the earliest first
        // batch ended, and its last after the latest last batch began.
        let first = workers.iter().map(|(t, _)| t.first_batch_end).min().expect("a thread");
        let last = workers.iter().map(|(t, _)| t.last_batch_start).max().expect("a thread");
        let window_ns =
            u64::try_from(last.saturating_duration_since(first).as_nanos()).unwrap_or(u64::MAX);
        check::check_lower(&mut check, quota, workload.keys[0], allowed, ops, window_ns);
    }
    RunResult {
        workload: workload.kind,
        limiter: limiter.name(),
        quota,
        threads,
        batch,
        ops,
        allowed,
        preinserted: preinserted_ops,
        elapsed: last_end - first_start,
        histogram,
        check,
    }
}

/// Sums the per-thread counts per key and checks each against the upper bound.
fn check_counts(
    workload: &Workload,
    quota: Quota,
    span_ns: u64,
    preinserted: Vec<u64>,
    workers: &[(Timing, Counts)],
) -> CheckReport {
    if workload.kind == WorkloadKind::Churn {
        let threads = workers.len() as u64;
        let counts = workers.iter().enumerate().flat_map(|(thread, (timing, counts))| {
            let Counts::Churn(bits) = counts else { unreachable!("churn workers count in bits") };
            (0..timing.ops).map(move |op| {
                let ip = churn_ip(workload.churn_salt, op * threads + thread as u64);
                (ip, (bits[(op / 64) as usize] >> (op % 64)) & 1)
            })
        });
        return check::check_upper(quota, span_ns, counts);
    }
    let mut totals = preinserted;
    totals.resize(workload.keys.len(), 0);
    for (_, counts) in workers {
        let Counts::Indexed(counts) = counts else { unreachable!("indexed workers count per key") };
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count;
        }
    }
    check::check_upper(quota, span_ns, workload.keys.iter().copied().zip(totals))
}

/// One worker's timing.
#[derive(Debug)]
struct Timing {
    histogram: Histogram<u64>,
    ops: u64,
    allowed: u64,
    start: Instant,
    end: Instant,
    first_batch_end: Instant,
    last_batch_start: Instant,
}

/// One worker's allowed counts.
#[derive(Debug)]
enum Counts {
    /// Per index into the workload's keys.
    Indexed(Vec<u64>),
    /// One bit per churn request, in the worker's order.
    Churn(Vec<u64>),
}

/// Where a worker's keys come from.
trait Keys {
    /// The next request's address.
    fn next(&mut self) -> IpAddr;
    /// Counts the last address returned as allowed.
    fn allowed(&mut self);
}

/// A pre-generated sequence of indices into the population, replayed in a cycle.
struct IndexedKeys<'a> {
    keys: &'a [IpAddr],
    stream: &'a [u32],
    pos: usize,
    last: usize,
    counts: Vec<u64>,
}

impl<'a> IndexedKeys<'a> {
    fn new(keys: &'a [IpAddr], stream: &'a [u32]) -> IndexedKeys<'a> {
        let mut counts = vec![0; keys.len()];
        prefault(&mut counts);
        IndexedKeys { keys, stream, pos: 0, last: 0, counts }
    }
}

impl Keys for IndexedKeys<'_> {
    #[inline]
    fn next(&mut self) -> IpAddr {
        self.last = self.stream[self.pos] as usize;
        self.pos += 1;
        if self.pos == self.stream.len() {
            self.pos = 0;
        }
        self.keys[self.last]
    }

    #[inline]
    fn allowed(&mut self) {
        self.counts[self.last] += 1;
    }
}

/// A new address per request: request `op` of thread `t` of `n` is address number `op·n + t`.
struct ChurnKeys {
    salt: u32,
    thread: u64,
    threads: u64,
    op: u64,
    bits: Vec<u64>,
}

impl ChurnKeys {
    fn new(salt: u32, thread: u64, threads: u64, reserve_ops: u64) -> ChurnKeys {
        // At most 128 MiB up front; longer runs grow the bitmap as they go.
        let words = usize::try_from(reserve_ops.div_ceil(64)).unwrap_or(usize::MAX).min(1 << 24);
        let mut bits = vec![0; words];
        prefault(&mut bits);
        ChurnKeys { salt, thread, threads, op: 0, bits }
    }
}

impl Keys for ChurnKeys {
    #[inline]
    fn next(&mut self) -> IpAddr {
        let ip = churn_ip(self.salt, self.op * self.threads + self.thread);
        self.op += 1;
        ip
    }

    #[inline]
    fn allowed(&mut self) {
        let op = self.op - 1;
        let word = (op / 64) as usize;
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (op % 64);
    }
}

/// Writes every element, so that the zeroed pages a large `vec![0; n]` gets
/// lazily from the kernel are mapped before the timed loop, not in it.
fn prefault(counts: &mut [u64]) {
    // The optimiser cannot see through `black_box`, so it cannot drop the
    // fill as a store of zeros to memory it knows is already zero.
    std::hint::black_box(counts).fill(0);
}

/// The timed loop of one worker.
fn work<L: Subject, K: Keys>(
    limiter: &L,
    keys: &mut K,
    stop: Stop,
    mut remaining: u64,
    batch: u32,
    barrier: &Barrier,
) -> Timing {
    let mut histogram = latency_histogram();
    let (mut ops, mut allowed) = (0, 0);
    barrier.wait();
    let start = Instant::now();
    let deadline = match stop {
        // A duration past the end of `Instant`'s range means no deadline.
        Stop::After(duration) => start.checked_add(duration),
        Stop::Ops(_) => None,
    };
    let (mut before, mut first_batch_end, mut last_batch_start) = (start, None, start);
    while remaining > 0 {
        let n = remaining.min(u64::from(batch));
        for _ in 0..n {
            let ip = keys.next();
            if limiter.check(ip, 0) {
                keys.allowed();
                allowed += 1;
            }
        }
        let after = Instant::now();
        let batch_ns = u64::try_from((after - before).as_nanos()).unwrap_or(u64::MAX);
        histogram.saturating_record_n(batch_ns.saturating_add(n / 2) / n, n);
        ops += n;
        remaining -= n;
        first_batch_end.get_or_insert(after);
        last_batch_start = before;
        before = after;
        if deadline.is_some_and(|deadline| after >= deadline) {
            break;
        }
    }
    Timing {
        histogram,
        ops,
        allowed,
        start,
        end: before,
        first_batch_end: first_batch_end.unwrap_or(start),
        last_batch_start,
    }
}

/// What reading the clock costs, measured before the runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimerCost {
    /// Median time between two back-to-back `Instant::now()` calls.
    pub(crate) pair_p50_ns: u64,
    /// The smallest non-zero step seen between two back-to-back calls.
    pub(crate) min_step_ns: u64,
}

/// Measures `Instant::now()` back to back `pairs` times.
pub(crate) fn timer_cost(pairs: u32) -> TimerCost {
    let mut histogram = latency_histogram();
    for _ in 0..pairs {
        let a = Instant::now();
        let b = Instant::now();
        histogram.saturating_record(u64::try_from((b - a).as_nanos()).unwrap_or(u64::MAX));
    }
    let min_step_ns = histogram.iter_recorded().map(|v| v.value_iterated_to()).find(|&v| v > 0);
    TimerCost {
        pair_p50_ns: histogram.value_at_quantile(0.5),
        min_step_ns: min_step_ns.unwrap_or(0),
    }
}
