//! Redis decides exactly as limiter-core, request for request.

use std::net::IpAddr;
use std::time::Duration;

use limiter_core::{Decision, ManualClock, Nanos, RateLimiter};
use limiter_redis::{Key, Outcome, RedisRateLimiter, Request, Source};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::server::Server;

const MAX_TIME: u64 = (1 << 63) - 1;

/// Capacities and rates, the extremes of SPEC's range among them, on both of
/// the script's paths: the fast one (a full bucket of at most 4·10¹⁵ units,
/// such as 10 tokens at 5/s, 2·10⁹), up to its very edge, and the general one.
const CONFIGS: &[(u64, &str)] = &[
    (4_000_000, "1"),
    (2_000_000, "0.5"),
    (4_000_001, "1"),
    (1_000_000, "999999999"),
    (1, "1"),
    (10, "5"),
    (3, "0.5"),
    (7, "7/h"),
    (100, "30/m"),
    (1, "1/m"),
    (5, "0.123456789"),
    (1000, "123456.789012345"),
    (2, "999999999.999999999"),
    (13, "12345678.987654321"),
    (1_000_000_000, "0.000000001"),
    (1_000_000_000, "1000000000"),
    (1_000_000_000, "0.000000007"),
    (999_999_937, "999999937.000000001"),
    (1, "0.000000001"),
];

/// The addresses of a run: some spelled differently for one bucket.
const ADDRESSES: &[&str] =
    &["192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "2001:db8:0:0:0:0:0:1", "10.0.0.7"];

#[tokio::test]
async fn random_sequences_decide_as_limiter_core_does() {
    let Some(server) = Server::start("random_sequences_decide_as_limiter_core_does") else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(0x5eed_2101);
    let mut compared = 0;
    for (index, &(capacity, rate)) in CONFIGS.iter().enumerate() {
        let redis = crate::limiter(&server.url(), &format!("diff{index}"), capacity, rate).await;
        let core = RateLimiter::with_clock(capacity, rate.parse().unwrap(), ManualClock::default())
            .unwrap();
        let interval = token_interval(rate);
        let mut now: u64 = rng.random_range(0..1 << 40);
        let mut pending: Vec<(IpAddr, u64, u64)> = Vec::new();
        for step in 0..360 {
            let ip: IpAddr = ADDRESSES[rng.random_range(0..ADDRESSES.len())].parse().unwrap();
            now = next_time(&mut rng, now, interval);
            let cost = match rng.random_range(0..20) {
                0 => 0,
                1 => capacity,
                2 => capacity + 1,
                3 => u64::MAX,
                4..=6 => rng.random_range(1..=capacity),
                _ => 1,
            };
            pending.push((ip, cost, now));
            // Every other stretch goes as one batch, the rest one by one.
            let flush = if (step / 40) % 2 == 0 { true } else { rng.random_range(0..8) == 0 };
            if flush || step == 359 {
                let outcomes = decide(&redis, &pending).await;
                for (&(ip, cost, at), outcome) in pending.iter().zip(&outcomes) {
                    let case = format!("{capacity} at {rate}: {ip} cost {cost} at {at} ns");
                    assert_eq!(outcome.source, Source::Redis, "{case}");
                    let expected = core.check_n_at(ip, cost, Nanos::new(at));
                    assert_eq!(outcome.decision, expected, "{case}");
                    check_next_token(&core, ip, at, capacity, outcome, &case);
                    compared += 1;
                }
                pending.clear();
            }
        }
    }
    assert_eq!(compared, CONFIGS.len() * 360);
}

/// Decides `requests` in one batch, or one by one when there is just one.
async fn decide(redis: &RedisRateLimiter, requests: &[(IpAddr, u64, u64)]) -> Vec<Outcome> {
    if let [(ip, cost, at)] = requests {
        return vec![redis.try_check_n_at(*ip, *cost, Nanos::new(*at)).await.unwrap()];
    }
    let batch: Vec<Request<'_>> = requests
        .iter()
        .map(|&(ip, cost, at)| Request { key: Key::Ip(ip), cost, at: Some(Nanos::new(at)) })
        .collect();
    redis.try_check_batch(&batch).await.unwrap()
}

/// The next token arrives exactly when limiter-core's bucket gains one.
#[track_caller]
fn check_next_token(
    core: &RateLimiter<ManualClock>,
    ip: IpAddr,
    at: u64,
    capacity: u64,
    outcome: &Outcome,
    case: &str,
) {
    let whole = core.tokens_at(ip, Nanos::new(at));
    let Some(next) = outcome.next_token else {
        assert_eq!(whole, capacity, "{case}: no next token, so full");
        return;
    };
    assert!(whole < capacity, "{case}: a next token, so not full");
    let next = u64::try_from(next.as_nanos()).unwrap_or(u64::MAX);
    assert!(next > 0, "{case}");
    if let Some(when) = at.checked_add(next).filter(|&t| t <= MAX_TIME) {
        assert_eq!(core.tokens_at(ip, Nanos::new(when - 1)), whole, "{case}: next {next} ns");
        assert_eq!(core.tokens_at(ip, Nanos::new(when)), whole + 1, "{case}: next {next} ns");
    }
    if let Decision::Denied { retry_after, .. } = outcome.decision {
        assert!(retry_after >= Duration::from_nanos(next), "{case}: never before the next token");
    }
}

/// Mostly forward by up to a few token intervals; sometimes backwards, still,
/// or a leap (to the end of time among them).
fn next_time(rng: &mut StdRng, now: u64, interval: u64) -> u64 {
    let step = interval.saturating_mul(3).max(2);
    match rng.random_range(0..150) {
        0 => now.saturating_sub(rng.random_range(0..step)),
        1 => MAX_TIME - rng.random_range(0..step.min(1 << 30)),
        2 => now.saturating_add(rng.random_range(0..1 << 62)),
        3..=5 => now.saturating_add(rng.random_range(0..1 << 44)),
        6..=25 => now,
        _ => now.saturating_add(rng.random_range(0..step)),
    }
}

/// Nanoseconds per token, at most 2⁴⁰.
fn token_interval(rate: &str) -> u64 {
    let rate: limiter_core::Rate = rate.parse().unwrap();
    let nanos = u128::from(rate.denom()) * 1_000_000_000 / u128::from(rate.numer());
    nanos.clamp(1, 1 << 40) as u64
}
