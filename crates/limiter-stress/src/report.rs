//! The results as a table, as JSON, and as HdrHistogram percentile-distribution files.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::check::Quota;
use crate::flood::{self, FloodResult};
use crate::run::{RunResult, TimerCost};

/// The percentiles every report shows, with their column names.
pub(crate) const PERCENTILES: [(&str, f64); 5] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("p99.99", 0.9999)];

/// The name of our limiter in reports; comparisons divide its figures by the others'.
pub(crate) const OURS: &str = "limiter";

/// The settings a report states at its top.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) threads: usize,
    pub(crate) seed: u64,
    pub(crate) batch: u32,
    pub(crate) timer: TimerCost,
    /// The 1-, 5- and 15-minute load averages before the runs, where the system tells them.
    pub(crate) load: Option<String>,
}

/// Our figures over another limiter's for one workload and quota.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Comparison {
    pub(crate) workload: &'static str,
    pub(crate) quota: Quota,
    pub(crate) against: &'static str,
    /// Our ops/s over theirs: above 1 means ours is faster.
    pub(crate) throughput: f64,
    /// Our p99 latency over theirs: below 1 means ours is faster.
    pub(crate) p99: f64,
}

/// Pairs each of our runs with every other limiter's run of the same workload and quota.
pub(crate) fn comparisons(runs: &[RunResult]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for ours in runs.iter().filter(|r| r.limiter == OURS) {
        for theirs in runs
            .iter()
            .filter(|r| r.limiter != OURS && r.workload == ours.workload && r.quota == ours.quota)
        {
            out.push(Comparison {
                workload: ours.workload.name(),
                quota: ours.quota,
                against: theirs.limiter,
                throughput: ours.ops_per_sec() / theirs.ops_per_sec(),
                p99: ours.histogram.value_at_quantile(0.99) as f64
                    / theirs.histogram.value_at_quantile(0.99).max(1) as f64,
            });
        }
    }
    out
}

/// The table printed on stdout: settings, one row per run, the ratios and the check.
pub(crate) fn table(header: &Header, runs: &[RunResult]) -> String {
    let mut out = String::new();
    let Header { threads, seed, batch, timer, load } = header;
    let _ = writeln!(
        out,
        "{threads} threads, seed {seed}; latency is per request, timed in batches of {batch} \
         (batch time / {batch})"
    );
    let _ = writeln!(
        out,
        "timer: two back-to-back Instant::now() calls differ by {} ns (p50), smallest step {} ns; \
         each request's latency includes 1/{batch} of one timer read",
        timer.pair_p50_ns, timer.min_step_ns
    );
    if let Some(load) = load {
        let _ =
            writeln!(out, "load average before the runs: {load} (other processes share the cores)");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<8} {:<10} {:<9} {:>8} {:>8} {:>11} {:>11} {:>11} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9}  check",
        "workload",
        "quota",
        "limiter",
        "Mops/s",
        "/thread",
        "ops",
        "allowed",
        "denied",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "p99.99",
        "max ns"
    );
    for run in runs {
        let p = |q: f64| run.histogram.value_at_quantile(q);
        let _ = writeln!(
            out,
            "{:<8} {:<10} {:<9} {:>8.2} {:>8.2} {:>11} {:>11} {:>11} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9}  {}",
            run.workload.name(),
            short_quota(run.quota),
            run.limiter,
            run.ops_per_sec() / 1e6,
            run.ops_per_sec_per_thread() / 1e6,
            run.ops,
            run.allowed,
            run.denied(),
            p(0.5),
            p(0.9),
            p(0.99),
            p(0.999),
            p(0.9999),
            run.histogram.max(),
            if run.check.passed() {
                "ok".to_owned()
            } else {
                format!("FAILED ({})", run.check.violations.len())
            }
        );
    }
    let comparisons = comparisons(runs);
    if !comparisons.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<8} {:<10} {:<13} {:>10} {:>8}",
            "workload", "quota", "ours/theirs", "throughput", "p99"
        );
        for c in &comparisons {
            let _ = writeln!(
                out,
                "{:<8} {:<10} {:<13} {:>9.2}x {:>7.2}x",
                c.workload,
                short_quota(c.quota),
                format!("/{}", c.against),
                c.throughput,
                c.p99
            );
        }
    }
    let _ = writeln!(
        out,
        "\ncheck: each key allowed <= floor(C + R*span), exact, span from before the first request \
         to after the last; hot also >= min(requests, C + floor(R*window) - 1)"
    );
    for run in runs {
        let c = &run.check;
        let _ = write!(
            out,
            "{:<8} {:<10} {:<9} {:>9} keys, most allowed {} <= {} in {:.3} s",
            run.workload.name(),
            short_quota(run.quota),
            run.limiter,
            c.keys,
            c.most_allowed,
            c.max_allowed,
            c.span_ns as f64 / 1e9
        );
        if let Some(min) = c.min_allowed {
            let _ = write!(out, "; hot key {} >= {min}", run.allowed + run.preinserted);
        }
        let _ = writeln!(out, "{}", if c.passed() { "" } else { "  FAILED" });
        for violation in c.violations.iter().take(10) {
            let _ = writeln!(out, "    {violation}");
        }
        if c.violations.len() > 10 {
            let _ = writeln!(out, "    ... and {} more", c.violations.len() - 10);
        }
    }
    out
}

/// `10@5/s` or `10@1/h`, with round powers of ten as `1e9`.
pub(crate) fn short_quota(quota: Quota) -> String {
    let rate = quota.rate.to_string();
    let rate = match rate.parse::<u64>() {
        Ok(whole) => format!("{}/s", power_of_ten(whole)),
        Err(_) if rate.contains('/') => rate,
        Err(_) => format!("{rate}/s"),
    };
    format!("{}@{rate}", power_of_ten(quota.capacity))
}

fn power_of_ten(n: u64) -> String {
    match (4..20).find(|&e| 10u64.checked_pow(e) == Some(n)) {
        Some(e) => format!("1e{e}"),
        None => n.to_string(),
    }
}

/// Every run's figures as one JSON document.
pub(crate) fn json(header: &Header, runs: &[RunResult], floods: &[FloodResult]) -> Value {
    let saturate = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
    let rows: Vec<Value> = runs
        .iter()
        .map(|run| {
            let mut latency: serde_json::Map<String, Value> = PERCENTILES
                .iter()
                .map(|&(name, q)| (name.to_owned(), json!(run.histogram.value_at_quantile(q))))
                .collect();
            latency.insert("max".to_owned(), json!(run.histogram.max()));
            latency.insert("mean".to_owned(), json!(run.histogram.mean()));
            json!({
                "workload": run.workload.name(),
                "limiter": run.limiter,
                "capacity": run.quota.capacity,
                "rate": run.quota.rate.to_string(),
                "threads": run.threads,
                "batch": run.batch,
                "ops": run.ops,
                "allowed": run.allowed,
                "denied": run.denied(),
                "preinserted": run.preinserted,
                "elapsed_ns": u64::try_from(run.elapsed.as_nanos()).unwrap_or(u64::MAX),
                "ops_per_sec": run.ops_per_sec(),
                "ops_per_sec_per_thread": run.ops_per_sec_per_thread(),
                "latency_ns": latency,
                "check": {
                    "passed": run.check.passed(),
                    "keys": run.check.keys,
                    "span_ns": run.check.span_ns,
                    "max_allowed": saturate(run.check.max_allowed),
                    "most_allowed": run.check.most_allowed,
                    "min_allowed": run.check.min_allowed.map(saturate),
                    "violations": run.check.violations.iter().map(ToString::to_string).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let comparisons: Vec<Value> = comparisons(runs)
        .into_iter()
        .map(|c| {
            json!({
                "workload": c.workload,
                "capacity": c.quota.capacity,
                "rate": c.quota.rate.to_string(),
                "ours": OURS,
                "against": c.against,
                "throughput_ratio": c.throughput,
                "p99_ratio": c.p99,
            })
        })
        .collect();
    json!({
        "threads": header.threads,
        "seed": header.seed,
        "batch": header.batch,
        "timer": { "pair_p50_ns": header.timer.pair_p50_ns, "min_step_ns": header.timer.min_step_ns },
        "load_average": header.load,
        "runs": rows,
        "comparisons": comparisons,
        "floods": floods.iter().map(FloodResult::to_json).collect::<Vec<_>>(),
    })
}

/// A histogram in the text format of HdrHistogram's `outputPercentileDistribution`,
/// which HdrHistogram's plotter reads: values in ns, 5 ticks per half distance.
pub(crate) fn hgrm(histogram: &Histogram<u64>) -> String {
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0;
    for v in histogram.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let (value, q) = (v.value_iterated_to() as f64, v.quantile_iterated_to());
        if q < 1.0 {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
        } else {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        histogram.mean(),
        histogram.stdev()
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.max() as f64,
        histogram.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.buckets(),
        sub_buckets(histogram.sigfig())
    );
    out
}

/// Sub-buckets per bucket: `2·10^sigfig` rounded up to a power of two, as HdrHistogram sizes them.
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// The file name of a run's `.hgrm` file: `hot-c10-r5-limiter.hgrm`.
pub(crate) fn hgrm_file_name(run: &RunResult) -> String {
    let rate = run.quota.rate.to_string().replace('/', "per");
    format!("{}-c{}-r{rate}-{}.hgrm", run.workload.name(), run.quota.capacity, run.limiter)
}

/// The flood runs as a table, then each failed run's violations.
pub(crate) fn flood_table(runs: &[FloodResult]) -> String {
    let mut out = String::new();
    let Some(first) = runs.first() else { return out };
    let size = first.size;
    let _ = writeln!(
        out,
        "\nflood: {} new IPv4 + {} new IPv6 addresses (one /64) at {} requests per simulated second, \
         cap {} keys, quota {}@{}/s; {} established clients at 4/s and {} greedy ones at {}/s, \
         created before the flood",
        size.per_family,
        size.per_family,
        1_000_000_000 / flood::SPACING_NS,
        size.max_keys,
        flood::CAPACITY,
        flood::RATE_PER_SEC,
        size.established,
        size.greedy,
        flood::greedy_rate(size)
    );
    let _ = writeln!(
        out,
        "{:<14} {:>3} {:>10} {:>10} {:>8} {:>10} {:>15} {:>17} {:>19} {:>9} {:>6} {:>6} {:>7}  check",
        "policy",
        "thr",
        "requests",
        "flood keys",
        "max kept",
        "evicted",
        "est. allow/deny",
        "greedy al/exact",
        "new allow/deny",
        "peak RSS+",
        "B/slot",
        "wall s",
        "Mrec/s"
    );
    for run in runs {
        let delta = run
            .rss_delta()
            .map_or_else(|| "n/a".to_owned(), |d| format!("{:.1} MiB", d as f64 / 1048576.0));
        let per_slot = run.bytes_per_slot().map_or_else(|| "n/a".to_owned(), |b| format!("{b:.1}"));
        let _ = writeln!(
            out,
            "{:<14} {:>3} {:>10} {:>10} {:>8} {:>10} {:>15} {:>17} {:>19} {:>9} {:>6} {:>6.2} {:>7.2}  {}",
            format!("{:?}", run.policy),
            run.threads,
            run.requests,
            run.flood_keys,
            run.max_tracked(),
            run.last().counters.evicted,
            format!("{}/{}", run.established.allowed, run.established.denied),
            format!("{}/{}", run.greedy.allowed, run.greedy_exact),
            format!("{}/{}", run.newcomers.allowed, run.newcomers.denied),
            delta,
            per_slot,
            run.elapsed.as_secs_f64(),
            run.records_per_sec() / 1e6,
            if run.passed() {
                "ok".to_owned()
            } else {
                format!("FAILED ({})", run.violations.len())
            }
        );
    }
    let _ = writeln!(
        out,
        "check: len() and created-evicted <= cap at every sample ({} requests apart) and at the end; \
         established clients never denied; greedy clients \
         allowed no more than an uncapped bucket allows (exactly that under DenyNewKeys, AdmitUntracked); \
         newcomers all allowed (AdmitUntracked), more than the cap held (EvictFullest) or \
         denied while the cap is full (DenyNewKeys); peak RSS - RSS before <= {} bytes per cap slot",
        size.sample_every,
        flood::MAX_BYTES_PER_SLOT
    );
    if runs.iter().any(|r| r.rss_peak.is_some_and(|(_, s)| s == flood::PeakSource::Sampled)) {
        let _ = writeln!(out, "note: peak RSS is the highest sample (VmHWM could not be reset)");
    }
    for run in runs.iter().filter(|r| !r.passed()) {
        let _ = writeln!(out, "{:?} on {} threads FAILED", run.policy, run.threads);
        for violation in run.violations.iter().take(10) {
            let _ = writeln!(out, "    {violation}");
        }
        if run.violations.len() > 10 {
            let _ = writeln!(out, "    ... and {} more", run.violations.len() - 10);
        }
    }
    out
}
