//! The limiter against an independent exact model, on seeded random traffic.
//!
//! The reference is limiter-testkit's `Model`, SPEC's bucket in `u128` fixed
//! point: it shares no code or representation with the library's buckets,
//! and it reads each rate as a numerator and denominator built here, not by
//! the library's parser.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use limiter_core::{Decision, Nanos, Rate, RateLimiter};
use limiter_testkit::{MAX_TIME, Model, NANOS_PER_SEC, RngExt, StdRng, rng};

/// A random value spread evenly over orders of magnitude in `1..=max`.
fn log_uniform(rng: &mut StdRng, max: u64) -> u64 {
    let bits = rng.random_range(0..=63 - max.leading_zeros());
    let value = rng.random_range(0..=(1u64 << bits).min(max)) | 1;
    value.clamp(1, max)
}

/// A random rate as text, with its value `(num, den)` tokens per second
/// built independently of the parser.
fn random_rate(rng: &mut StdRng) -> (String, (u64, u64)) {
    match rng.random_range(0..4) {
        0 => {
            let n = log_uniform(rng, 1_000_000_000);
            (format!("{n}/s"), (n, 1))
        }
        1 => {
            let n = log_uniform(rng, 60_000_000_000);
            (format!("{n}/m"), (n, 60))
        }
        2 => {
            let n = log_uniform(rng, 3_600_000_000_000);
            (format!("{n}/h"), (n, 3600))
        }
        _ => {
            let nanotokens = log_uniform(rng, NANOS_PER_SEC * NANOS_PER_SEC);
            let text = format!("{}.{:09}", nanotokens / NANOS_PER_SEC, nanotokens % NANOS_PER_SEC);
            (text, (nanotokens, NANOS_PER_SEC))
        }
    }
}

fn random_ip(rng: &mut StdRng, keys: u8) -> IpAddr {
    let k = rng.random_range(0..keys);
    match rng.random_range(0..3) {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, k)),
        // The IPv4-mapped spelling of the same address: one bucket.
        1 => IpAddr::V6(Ipv4Addr::new(10, 0, 0, k).to_ipv6_mapped()),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(k))),
    }
}

/// How many decisions of each kind a run saw: allowed, denied, over capacity.
type Tally = [usize; 3];

/// Runs one random scenario of `ops` requests and compares every decision.
fn run_scenario(seed: u64, ops: usize, tally: &mut Tally) {
    let mut rng = rng(seed, 0);
    let capacity = log_uniform(&mut rng, 1_000_000_000);
    let (rate_text, (num, den)) = random_rate(&mut rng);
    let rate: Rate = rate_text.parse().unwrap();
    let limiter = RateLimiter::with_rate(capacity, rate).unwrap();
    let mut reference = Model::with_ratio(capacity, num, den);

    // Steps are scaled to the time one token and a full bucket take to refill,
    // so that scenarios mix allows and denials whatever the rate.
    let token_ns = (u128::from(NANOS_PER_SEC) * u128::from(den)).div_ceil(u128::from(num));
    let token_ns = u64::try_from(token_ns).unwrap_or(u64::MAX).clamp(1, MAX_TIME);
    let full_ns = token_ns.saturating_mul(capacity).min(MAX_TIME);
    let mut t = rng.random_range(0..=MAX_TIME);
    let keys = rng.random_range(1..=8);
    for op in 0..ops {
        t = match rng.random_range(0..10) {
            0..=2 => t,
            3..=5 => t.saturating_add(rng.random_range(0..=token_ns.saturating_mul(2))),
            6 => t.saturating_add(rng.random_range(0..=full_ns)),
            7 => t.saturating_sub(rng.random_range(0..=token_ns.saturating_mul(2))),
            8 => t.saturating_add(rng.random_range(0..=3)),
            _ => rng.random_range(0..=MAX_TIME),
        }
        .min(MAX_TIME);
        let cost = match rng.random_range(0..20) {
            0 => 0,
            1 => capacity,
            2 => capacity + 1,
            3 => u64::MAX,
            4..=5 => rng.random_range(1..=capacity.saturating_mul(2)),
            6..=8 => rng.random_range(1..=capacity.min(10)),
            _ => 1,
        };
        let ip = random_ip(&mut rng, keys);
        let expected = reference.decide(ip, t, cost);
        let got = limiter.check_n_at(ip, cost, Nanos::new(t));
        tally[match got {
            Decision::Allowed { .. } => 0,
            Decision::Denied { .. } => 1,
            Decision::OverCapacity { .. } => 2,
        }] += 1;
        assert_eq!(
            got, expected,
            "seed {seed}, op {op}: {ip} cost {cost} at {t} ns, capacity {capacity}, rate {rate_text}"
        );
    }
}

#[test]
fn decisions_equal_the_exact_rational_model() {
    // 1000 scenarios of 100 requests: 100k decisions per run.
    let mut tally = Tally::default();
    for seed in 0..1000 {
        run_scenario(seed, 100, &mut tally);
    }
    // The traffic exercises every outcome, not just one.
    let [allowed, denied, over] = tally;
    assert!(allowed > 30_000 && denied > 10_000 && over > 5_000, "{tally:?}");
}

#[test]
fn long_runs_on_one_key_do_not_drift() {
    let mut tally = Tally::default();
    for seed in 1000..1010 {
        run_scenario(seed, 5000, &mut tally);
    }
    assert!(tally[0] > 5_000 && tally[1] > 5_000, "{tally:?}");
}
