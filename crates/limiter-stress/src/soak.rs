//! `--soak MINUTES`: every chosen workload, round after round, each run on a
//! fresh limiter and checked, with one line per round and a summary.
//!
//! Workloads are generated once and replayed every round; each run builds its
//! own limiter and drops it before the next, so the buckets churn creates are
//! freed every run and a long soak's memory stays flat. Rounds start until the
//! time is up; the last one finishes.

use std::time::{Duration, Instant};

use rayon::ThreadPool;

use crate::args::Config;
use crate::flood::{self, FloodResult};
use crate::limiters;
use crate::run::{self, RunResult};
use crate::workload::Workload;

/// Soaks `config`'s workloads for `duration`; false if any run failed its check.
pub(crate) fn soak(config: &Config, pool: &ThreadPool, duration: Duration) -> bool {
    let started = Instant::now();
    let load_before = crate::load_average();
    let workloads: Vec<Workload> = config
        .workloads
        .iter()
        .map(|&kind| {
            Workload::generate(
                kind,
                config.threads,
                config.stream_len,
                config.seed,
                config.zipf_exponent,
            )
        })
        .collect();
    eprintln!(
        "soak: {} workloads generated in {:.2} s; rounds start for {:.1} min",
        workloads.len() + usize::from(config.flood.is_some()),
        started.elapsed().as_secs_f64(),
        duration.as_secs_f64() / 60.0
    );
    let mut totals = Totals::default();
    // The flood rotates through every policy and thread count, one per round.
    let flood_cases: Vec<_> =
        [1, 2].into_iter().flat_map(|t| flood::POLICIES.map(|p| (p, t))).collect();
    while started.elapsed() < duration {
        let round_started = Instant::now();
        let mut round = Totals::default();
        for workload in &workloads {
            for &quota in &config.quotas {
                let limiter = limiters::ours(quota);
                let result = run::run(&limiter, workload, quota, pool, config.stop, config.batch);
                drop(limiter);
                round.add_run(&result);
            }
        }
        if let Some(size) = config.flood {
            let (policy, threads) = flood_cases[totals.rounds as usize % flood_cases.len()];
            round.add_flood(&flood::run(size, policy, threads));
        }
        let rss = crate::flood::resident_memory();
        totals.rounds += 1;
        totals.merge(&round);
        totals.rss_first.get_or_insert(rss.unwrap_or(0));
        totals.rss_max = totals.rss_max.max(rss.unwrap_or(0));
        println!(
            "round {:>4}: {:>3} runs, {:>11} ops, {}, RSS {}, {:>6.1} s (total {:>7.1} s)",
            totals.rounds,
            round.runs,
            round.ops,
            if round.failed.is_empty() {
                "all ok".to_owned()
            } else {
                format!("{} FAILED", round.failed.len())
            },
            mib(rss),
            round_started.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        for failure in &round.failed {
            println!("    {failure}");
        }
    }
    let rss_last = crate::flood::resident_memory();
    println!(
        "soak: {} rounds, {} runs, {} ops in {:.1} s; {} runs FAILED; RSS after round 1 {}, max {}, \
         last {}; load average {} before, {} after",
        totals.rounds,
        totals.runs,
        totals.ops,
        started.elapsed().as_secs_f64(),
        totals.failed.len(),
        mib(totals.rss_first),
        mib(Some(totals.rss_max)),
        mib(rss_last),
        load_before.as_deref().unwrap_or("n/a"),
        crate::load_average().as_deref().unwrap_or("n/a"),
    );
    totals.failed.is_empty()
}

/// Counts over one round or the whole soak.
#[derive(Debug, Default)]
struct Totals {
    rounds: u64,
    runs: u64,
    ops: u64,
    /// One line per failed run, naming its first violation.
    failed: Vec<String>,
    rss_first: Option<u64>,
    rss_max: u64,
}

impl Totals {
    fn add_run(&mut self, result: &RunResult) {
        self.runs += 1;
        self.ops += result.ops + result.preinserted;
        if let Some(violation) = result.check.violations.first() {
            self.failed.push(format!(
                "{} {}: {} violations, first: {violation}",
                result.workload.name(),
                crate::report::short_quota(result.quota),
                result.check.violations.len()
            ));
        }
    }

    fn add_flood(&mut self, result: &FloodResult) {
        self.runs += 1;
        self.ops += result.requests;
        if let Some(violation) = result.violations.first() {
            self.failed.push(format!(
                "flood {:?} on {} threads: {} violations, first: {violation}",
                result.policy,
                result.threads,
                result.violations.len()
            ));
        }
    }

    fn merge(&mut self, round: &Totals) {
        self.runs += round.runs;
        self.ops += round.ops;
        self.failed.extend(round.failed.iter().cloned());
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}
