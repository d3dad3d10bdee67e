//! Small bounded runs through the whole harness: workers, merging, the check and the reports.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use limiter_core::{ManualClock, Rate, RateLimiter};
use limiter_testkit::{OursNow, Subject};
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::args::Stop;
use crate::check::{Quota, Violation};
use crate::limiters;
use crate::report::{self, Header};
use crate::run::{self, RunResult, TimerCost, latency_histogram};
use crate::workload::{Workload, WorkloadKind};

/// Lets one extra request per key through: the first one the real limiter denies.
struct OverAdmitting {
    inner: RateLimiter<ManualClock>,
    extra: Mutex<HashSet<IpAddr>>,
}

impl OverAdmitting {
    fn new(quota: Quota) -> OverAdmitting {
        let inner =
            RateLimiter::with_clock(quota.capacity, quota.rate, ManualClock::default()).unwrap();
        OverAdmitting { inner, extra: Mutex::new(HashSet::new()) }
    }
}

impl Subject for OverAdmitting {
    fn name(&self) -> &'static str {
        "over-admitting"
    }

    fn check(&self, ip: IpAddr, now: u64) -> bool {
        self.check_n(ip, 1, now)
    }

    fn check_n(&self, ip: IpAddr, cost: u32, _now: u64) -> bool {
        self.inner.check_n(ip, cost.into()).is_allowed() || self.extra.lock().unwrap().insert(ip)
    }
}

fn pool(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Capacity 10, one token an hour: no refill within a test.
fn slow_quota(capacity: u64) -> Quota {
    Quota { capacity, rate: Rate::per_hour(1).unwrap() }
}

fn frozen(quota: Quota) -> OursNow<ManualClock> {
    OursNow(RateLimiter::with_clock(quota.capacity, quota.rate, ManualClock::default()).unwrap())
}

#[test]
fn hot_key_checker_catches_one_extra_allow_and_passes_the_real_limiter() {
    let quota = slow_quota(10);
    let workload = Workload::generate(WorkloadKind::Hot, 2, 1, 1, 1.1);
    let pool = pool(2);

    let real = run::run(&frozen(quota), &workload, quota, &pool, Stop::Ops(1000), 16);
    assert_eq!((real.ops, real.allowed, real.denied()), (1000, 10, 990));
    assert!(real.check.passed(), "{:?}", real.check.violations);
    assert_eq!((real.check.keys, real.check.most_allowed, real.check.max_allowed), (1, 10, 10));
    assert_eq!(real.check.min_allowed, Some(9), "C − 1 when no time passes");

    // The same on the monotonic clock, as `cargo xtask stress` runs it.
    let real = run::run(&limiters::ours(quota), &workload, quota, &pool, Stop::Ops(1000), 16);
    assert_eq!(real.allowed, 10);
    assert!(real.check.passed(), "{:?}", real.check.violations);

    let broken = run::run(&OverAdmitting::new(quota), &workload, quota, &pool, Stop::Ops(1000), 16);
    assert_eq!(broken.allowed, 11);
    let key = workload.keys[0];
    assert!(
        matches!(broken.check.violations.as_slice(),
            [Violation::OverAdmitted { key: k, allowed: 11, max: 10, .. }] if *k == key),
        "{:?}",
        broken.check.violations
    );
}

#[test]
fn hot_key_checker_catches_lost_tokens() {
    /// Allows only the first half of the burst: tokens go missing.
    struct Stingy(OursNow<ManualClock>, Mutex<u64>);
    impl Subject for Stingy {
        fn name(&self) -> &'static str {
            "stingy"
        }
        fn check(&self, ip: IpAddr, now: u64) -> bool {
            self.check_n(ip, 1, now)
        }
        fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool {
            let mut allowed = self.1.lock().unwrap();
            let ok = *allowed < 5 && self.0.check_n(ip, cost, now);
            *allowed += u64::from(ok);
            ok
        }
    }
    let quota = slow_quota(10);
    let workload = Workload::generate(WorkloadKind::Hot, 2, 1, 1, 1.1);
    let stingy = Stingy(frozen(quota), Mutex::new(0));
    let result = run::run(&stingy, &workload, quota, &pool(2), Stop::Ops(100), 4);
    assert_eq!(result.allowed, 5);
    assert!(
        matches!(
            result.check.violations.as_slice(),
            [Violation::TokensLost { allowed: 5, min: 9, .. }]
        ),
        "{:?}",
        result.check.violations
    );
}

#[test]
fn uniform_checker_names_every_over_admitted_key() {
    // Capacity 1: pre-insertion takes every key's only token, so the timed loop
    // allows nothing, and the broken limiter allows each key drawn once more.
    let quota = slow_quota(1);
    let workload = Workload::generate(WorkloadKind::Uniform, 2, 5_000, 9, 1.1);
    let drawn: HashSet<u32> = workload.streams.iter().flatten().copied().collect();
    let pool = pool(2);

    let real = run::run(&frozen(quota), &workload, quota, &pool, Stop::Ops(10_000), 16);
    assert_eq!((real.preinserted, real.allowed, real.ops), (100_000, 0, 10_000));
    assert!(real.check.passed(), "{:?}", &real.check.violations[..1]);
    assert_eq!(real.check.keys, 100_000);

    let broken =
        run::run(&OverAdmitting::new(quota), &workload, quota, &pool, Stop::Ops(10_000), 16);
    assert_eq!(broken.allowed, drawn.len() as u64);
    assert_eq!(broken.check.violations.len(), drawn.len());
    let named: HashSet<IpAddr> = broken
        .check
        .violations
        .iter()
        .map(|v| match v {
            Violation::OverAdmitted { key, allowed: 2, max: 1, .. } => *key,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: HashSet<IpAddr> = drawn.iter().map(|&i| workload.keys[i as usize]).collect();
    assert_eq!(named, expected);
}

#[test]
fn churn_sends_every_request_from_a_new_key() {
    let quota = slow_quota(1);
    let workload = Workload::generate(WorkloadKind::Churn, 2, 0, 4, 1.1);
    let limiter = frozen(quota);
    let result = run::run(&limiter, &workload, quota, &pool(2), Stop::Ops(5_001), 16);
    assert_eq!((result.ops, result.allowed, limiter.0.len()), (5_001, 5_001, 5_001));
    assert_eq!((result.check.keys, result.check.most_allowed), (5_001, 1));
    assert!(result.check.passed());
}

#[test]
fn worker_histograms_merge_into_one_count_per_request() {
    let quota = slow_quota(10);
    let workload = Workload::generate(WorkloadKind::Zipf, 3, 400, 2, 1.1);
    let result = run::run(&frozen(quota), &workload, quota, &pool(3), Stop::Ops(1000), 7);
    // 1000 = 333 + 333 + 334 requests; batches of 7 leave partial last batches.
    assert_eq!(result.histogram.len(), 1000);
    assert_eq!(result.ops, 1000);
    assert!(result.check.passed());
}

#[test]
fn histogram_add_and_percentiles_of_a_known_distribution() {
    let mut low = latency_histogram();
    let mut high = latency_histogram();
    for v in 1..=1000 {
        low.saturating_record(v);
        high.saturating_record(v + 1000);
    }
    let mut merged = latency_histogram();
    merged.add(&low).unwrap();
    merged.add(&high).unwrap();
    assert_eq!((merged.len(), merged.min(), merged.max()), (2000, 1, 2000));
    // Values below 2048 are exact at 3 significant digits.
    assert_eq!(merged.value_at_quantile(0.5), 1000);
    assert_eq!(merged.value_at_quantile(0.9), 1800);
    assert_eq!(merged.value_at_quantile(0.99), 1980);

    // Uniform 1..=100000: each percentile within the histogram's 0.1% precision.
    let mut uniform = latency_histogram();
    (1..=100_000).for_each(|v| uniform.saturating_record(v));
    for (q, exact) in
        [(0.5, 50_000.0), (0.9, 90_000.0), (0.99, 99_000.0), (0.999, 99_900.0), (0.9999, 99_990.0)]
    {
        let got = uniform.value_at_quantile(q) as f64;
        assert!((got / exact - 1.0).abs() <= 0.001, "p{q}: {got} vs {exact}");
    }
    // Past the highest trackable value, records saturate instead of failing.
    uniform.saturating_record(u64::MAX);
    assert_eq!(uniform.len(), 100_001);
}

fn sample_runs() -> (Header, Vec<RunResult>) {
    let quota = slow_quota(10);
    let workload = Workload::generate(WorkloadKind::Hot, 2, 1, 1, 1.1);
    let pool = pool(2);
    let ours = run::run(&frozen(quota), &workload, quota, &pool, Stop::Ops(200), 16);
    let (governor, _) = limiters::governor(quota);
    let theirs = run::run(&governor, &workload, quota, &pool, Stop::Ops(200), 16);
    let header = Header {
        threads: 2,
        seed: 1,
        batch: 16,
        timer: TimerCost { pair_p50_ns: 20, min_step_ns: 10 },
        load: Some("0.50 0.25 0.10".to_owned()),
    };
    (header, vec![ours, theirs])
}

#[test]
fn json_holds_every_run_and_the_ratios() {
    let (header, runs) = sample_runs();
    let text = serde_json::to_string(&report::json(&header, &runs, &[])).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["threads"], 2);
    assert_eq!(json["timer"]["pair_p50_ns"], 20);
    assert_eq!(json["load_average"], "0.50 0.25 0.10");
    let rows = json["runs"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, limiter) in rows.iter().zip(["limiter", "governor"]) {
        assert_eq!(row["limiter"], limiter);
        assert_eq!(
            (&row["workload"], &row["capacity"], &row["rate"]),
            (&"hot".into(), &10.into(), &"1/h".into())
        );
        assert_eq!(
            (&row["ops"], &row["allowed"], &row["denied"]),
            (&200.into(), &10.into(), &190.into())
        );
        for field in ["p50", "p90", "p99", "p99.9", "p99.99", "max"] {
            assert!(row["latency_ns"][field].is_u64(), "{limiter} {field}: {}", row["latency_ns"]);
        }
        assert!(row["ops_per_sec"].as_f64().unwrap() > 0.0);
        assert_eq!(row["check"]["passed"], true);
        assert_eq!(
            (&row["check"]["max_allowed"], &row["check"]["most_allowed"]),
            (&10.into(), &10.into())
        );
        assert_eq!(row["check"]["violations"].as_array().unwrap().len(), 0);
    }
    let comparisons = json["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 1);
    assert_eq!(
        (&comparisons[0]["ours"], &comparisons[0]["against"]),
        (&"limiter".into(), &"governor".into())
    );
    let expected = runs[0].ops_per_sec() / runs[1].ops_per_sec();
    // serde_json reads floats back to within an ulp or so.
    let ratio = comparisons[0]["throughput_ratio"].as_f64().unwrap();
    assert!((ratio / expected - 1.0).abs() < 1e-12, "{ratio} vs {expected}");
}

#[test]
fn table_shows_rows_ratios_and_the_check() {
    let (header, runs) = sample_runs();
    let table = report::table(&header, &runs);
    assert!(table.contains("timed in batches of 16"), "{table}");
    assert!(table.contains("differ by 20 ns (p50), smallest step 10 ns"), "{table}");
    assert!(table.contains("load average before the runs: 0.50 0.25 0.10"), "{table}");
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("hot ")).collect();
    assert_eq!(rows.len(), 5, "two runs, one ratio, two checks:\n{table}");
    assert!(rows[0].starts_with("hot      10@1/h     limiter "), "{table}");
    assert!(rows[0].ends_with("ok") && rows[1].ends_with("ok"), "{table}");
    assert!(rows[2].contains("/governor"), "{table}");
    assert!(
        rows[3].contains("most allowed 10 <= 10") && rows[3].contains("hot key 10 >= 9"),
        "{table}"
    );
}

#[test]
fn hgrm_is_hdrhistograms_percentile_distribution_format() {
    let mut histogram: Histogram<u64> = latency_histogram();
    (1..=1000).for_each(|v| histogram.saturating_record(v));
    let text = report::hgrm(&histogram);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert_eq!(lines.next(), Some(""));
    let rows: Vec<Vec<&str>> = lines
        .clone()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["1.000", "0.000000000000", "1", "1.00"]);
    let last = rows.last().unwrap();
    assert_eq!(last, &["1000.000", "1.000000000000", "1000"]);
    assert!(rows[..rows.len() - 1].iter().all(|r| r.len() == 4));
    let percentiles: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(percentiles.windows(2).all(|w| w[0] <= w[1]));
    let footer: Vec<&str> = lines.filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        footer,
        [
            "#[Mean    =      500.500, StdDeviation   =      288.675]",
            "#[Max     =     1000.000, Total count    =         1000]",
            &format!("#[Buckets = {:12}, SubBuckets     =         2048]", histogram.buckets()),
        ]
    );
}

#[test]
fn svg_draws_one_line_per_run_dashed_for_the_other_limiter() {
    let (_, runs) = sample_runs();
    let svg = crate::svg::plot("t <1>", &runs);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("t &lt;1&gt;"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert_eq!(svg.matches("stroke-dasharray").count(), 2, "governor's line and its legend entry");
    assert!(svg.contains("<title>hot 10@1/h governor</title>"), "{svg}");
}
