//! `check_n_with_next_token` against `check_n` on a twin limiter (the same
//! decisions) and against `next_token_at` right after it (the same waits),
//! on seeded random traffic, with and without a key cap, in both cell
//! layouts. Under a key cap the twins may evict different keys (each table
//! hashes with its own secret seed), so only the waits are compared there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use limiter_core::{Clock, KeyedRateLimiter, ManualClock, Rate, RateLimiter, WhenFull};
use limiter_testkit::{RngExt, StdRng, rng};

/// One limiter's settings: capacity, rate, and a key cap with its policy.
#[derive(Debug, Clone, Copy)]
struct Setup {
    capacity: u64,
    rate: &'static str,
    cap: Option<(usize, WhenFull)>,
}

fn twins(setup: Setup) -> [(RateLimiter<ManualClock>, ManualClock); 2] {
    std::array::from_fn(|_| {
        let clock = ManualClock::default();
        let mut builder = RateLimiter::builder(setup.capacity, setup.rate.parse::<Rate>().unwrap());
        if let Some((max_keys, when_full)) = setup.cap {
            builder.max_keys(max_keys).when_full(when_full);
        }
        (builder.build_with_clock(clock.clone()).unwrap(), clock)
    })
}

fn random_ip(rng: &mut StdRng, keys: u16) -> IpAddr {
    let k = rng.random_range(0..keys);
    if rng.random_bool(0.5) {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | u32::from(k)))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, k))
    }
}

#[track_caller]
fn check(setup: Setup, seed: u64, keys: u16, ops: usize, max_step: u64) {
    let [(ours, our_clock), (twin, twin_clock)] = twins(setup);
    let mut rng = rng(seed, 0);
    let (mut allowed, mut waits) = (0, 0);
    for op in 0..ops {
        let step = Duration::from_nanos(rng.random_range(0..max_step));
        our_clock.advance(step);
        twin_clock.advance(step);
        let ip = random_ip(&mut rng, keys);
        let cost = match rng.random_range(0..10) {
            0 => 0,
            1 => setup.capacity + 1,
            2 => rng.random_range(1..=setup.capacity),
            _ => 1,
        };
        let (decision, next) = ours.check_n_with_next_token(ip, cost);
        let want = twin.check_n(ip, cost);
        if setup.cap.is_none() {
            assert_eq!(decision, want, "{setup:?} seed {seed}, op {op}: {ip} cost {cost}");
        }
        let want_next = ours.next_token_at(ip, our_clock.now());
        assert_eq!(next, want_next, "{setup:?} seed {seed}, op {op}: {ip} cost {cost}");
        allowed += usize::from(decision.is_allowed());
        waits += usize::from(next.is_some());
    }
    assert!(allowed > 0 && allowed < ops, "{setup:?}: {allowed} of {ops} allowed");
    assert!(waits > 0, "{setup:?}: no wait ever reported");
}

#[test]
fn equals_check_then_next_token_at() {
    let setups = [
        Setup { capacity: 10, rate: "5", cap: None },
        Setup { capacity: 3, rate: "0.7", cap: None },
        Setup { capacity: 1, rate: "30/m", cap: None },
        // Wide cells: 10⁹ tokens of 10¹⁸ units each.
        Setup { capacity: 1_000_000_000, rate: "0.000000001", cap: None },
        Setup { capacity: 1_000_000_000, rate: "1000000000", cap: None },
        // A key cap far below the keys: evictions, traces, refusals.
        Setup { capacity: 5, rate: "2", cap: Some((8, WhenFull::EvictFullest)) },
        Setup { capacity: 5, rate: "2", cap: Some((8, WhenFull::DenyNewKeys)) },
        Setup { capacity: 5, rate: "2", cap: Some((8, WhenFull::AdmitUntracked)) },
    ];
    for (seed, setup) in setups.into_iter().enumerate() {
        check(setup, seed as u64, 300, 5_000, 400_000_000);
        check(setup, seed as u64 + 100, 3, 2_000, 400_000_000);
        // Busy keys, many more than the cap: buckets evicted before they
        // refill leave traces that later requests are decided on.
        check(setup, seed as u64 + 200, 40, 5_000, 10_000_000);
    }
}

#[test]
fn keyed_limiters_report_the_same_wait() {
    let clock = ManualClock::default();
    let limiter = KeyedRateLimiter::<&str, _>::builder(4, Rate::per_second(2).unwrap())
        .build_with_clock(clock.clone())
        .unwrap();
    let (decision, next) = limiter.check_n_with_next_token(&"alice", 3);
    assert!(decision.is_allowed());
    assert_eq!(next, Some(Duration::from_millis(500)));
    assert_eq!(next, limiter.next_token_at(&"alice", clock.now()));
    clock.advance(Duration::from_millis(200));
    let (decision, next) = limiter.check_n_with_next_token(&"alice", 2);
    assert_eq!(decision.retry_after(), Some(Duration::from_millis(300)));
    assert_eq!(next, Some(Duration::from_millis(300)));
    assert_eq!(limiter.check_n_with_next_token(&"bob", 0).1, None, "no bucket: full");
}
