//! Bounded memory: lossless eviction, the key cap and its policies, address
//! prefixes, keys of any type, and the counters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use limiter_core::{
    Builder, Clock, Counters, Decision, Eviction, KeyedRateLimiter, ManualClock, Nanos, Rate,
    RateLimiter, WhenFull,
};
use limiter_testkit::{RngExt, rng};

const SEC: u64 = 1_000_000_000;

fn v4(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | i))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn builder(capacity: u64, rate: &str) -> Builder {
    RateLimiter::builder(capacity, rate.parse().unwrap())
}

/// Random traffic whose times run at most `late` behind the latest so far.
fn traffic(seed: u64, ops: usize, late: u64) -> Vec<(IpAddr, u64, u64)> {
    let mut rng = rng(seed, 0);
    let mut latest = rng.random_range(0..1000 * SEC);
    (0..ops)
        .map(|_| {
            let key = v4(rng.random_range(0..64));
            latest += rng.random_range(0..SEC / 2);
            let t = latest - rng.random_range(0..=late);
            (key, t, rng.random_range(0..=4))
        })
        .collect()
}

#[test]
fn eviction_never_changes_a_decision_at_explicit_times() {
    for (seed, late) in [(1, 0), (2, SEC / 3), (3, 2 * SEC)] {
        let keep = builder(4, "2").eviction(Eviction::Never).build().unwrap();
        let window = Eviction::Idle { window: Duration::from_nanos(late) };
        let evict = builder(4, "2").eviction(window).build().unwrap();
        let mut latest = 0;
        for (i, &(key, t, cost)) in traffic(seed, 20_000, late).iter().enumerate() {
            let expected = keep.check_n_at(key, cost, Nanos::new(t));
            assert_eq!(evict.check_n_at(key, cost, Nanos::new(t)), expected, "seed {seed} op {i}");
            // As aggressive as the window allows: after every request.
            latest = latest.max(t);
            let _ = evict.prune_at(Nanos::new(latest));
        }
        let evicted = evict.counters().evicted;
        assert!(evicted > 1000, "seed {seed}: only {evicted} evictions");
        assert!(evict.len() < keep.len(), "seed {seed}");
    }
}

#[test]
fn eviction_inside_clock_calls_never_changes_a_decision() {
    let clock = ManualClock::default();
    let keep = builder(3, "1").eviction(Eviction::Never).build_with_clock(clock.clone()).unwrap();
    let evict = builder(3, "1")
        .eviction(Eviction::Idle { window: Duration::ZERO })
        .build_with_clock(clock.clone())
        .unwrap();
    let mut rng = rng(7, 0);
    for i in 0..50_000 {
        clock.advance(Duration::from_nanos(rng.random_range(0..SEC / 4)));
        let key = v4(rng.random_range(0..2000));
        assert_eq!(evict.check(key), keep.check(key), "op {i} at {:?}", clock.now());
    }
    assert!(evict.counters().evicted > 10_000, "{:?}", evict.counters());
    assert!(evict.len() < keep.len() / 2, "{} vs {}", evict.len(), keep.len());
}

#[test]
fn prune_removes_only_full_buckets_and_len_reflects_it() {
    let limiter =
        builder(2, "1").eviction(Eviction::Idle { window: Duration::ZERO }).build().unwrap();
    assert!(limiter.check_n_at(v4(1), 2, Nanos::ZERO).is_allowed());
    assert!(limiter.check_n_at(v4(2), 1, Nanos::ZERO).is_allowed());
    assert_eq!(limiter.prune_at(Nanos::new(SEC - 1)), 0);
    assert_eq!(limiter.prune_at(Nanos::new(SEC)), 1, "v4(2) is full again");
    assert_eq!(limiter.len(), 1);
    assert_eq!(limiter.prune_at(Nanos::new(2 * SEC)), 1);
    assert!(limiter.is_empty());
    let counters = limiter.counters();
    assert_eq!((counters.created, counters.evicted), (2, 2));
}

#[test]
fn a_full_cap_denies_new_keys_under_deny_new_keys() {
    let limiter = builder(2, "1")
        .max_keys(2)
        .when_full(WhenFull::DenyNewKeys)
        .eviction(Eviction::Idle { window: Duration::ZERO })
        .build()
        .unwrap();
    let t0 = Nanos::ZERO;
    assert!(limiter.check_n_at(v4(1), 2, t0).is_allowed());
    assert!(limiter.check_n_at(v4(2), 1, t0).is_allowed());
    assert_eq!(
        limiter.check_at(v4(3), t0),
        Decision::Denied { remaining: 0, retry_after: Duration::from_secs(1) }
    );
    assert_eq!(limiter.len(), 2);
    // Established keys keep their exact limits.
    assert!(limiter.check_at(v4(2), t0).is_allowed());
    assert!(!limiter.check_at(v4(1), t0).is_allowed());
    // Once buckets are idle, the sweep frees their slots for the newcomer.
    assert!(limiter.check_at(v4(3), Nanos::new(2 * SEC)).is_allowed());
    assert_eq!((limiter.len(), limiter.counters().evicted), (1, 2));
}

#[test]
fn a_full_cap_evicts_the_fullest_under_evict_fullest() {
    let limiter =
        builder(10, "0.001").max_keys(2).when_full(WhenFull::EvictFullest).build().unwrap();
    let t0 = Nanos::ZERO;
    assert!(limiter.check_at(v4(1), t0).is_allowed()); // 9 tokens left
    assert!(limiter.check_n_at(v4(2), 10, t0).is_allowed()); // 0 left
    assert!(limiter.check_at(v4(3), t0).is_allowed());
    assert_eq!(limiter.len(), 2);
    // v4(1) made room; v4(2) is still held to its empty bucket.
    assert_eq!(limiter.tokens_at(v4(2), t0), 0);
    assert!(!limiter.check_at(v4(2), t0).is_allowed());
    assert_eq!(limiter.counters().evicted, 1);
}

#[test]
fn a_full_cap_admits_untracked_under_admit_untracked() {
    let limiter =
        builder(2, "0.001").max_keys(1).when_full(WhenFull::AdmitUntracked).build().unwrap();
    let t0 = Nanos::ZERO;
    assert!(limiter.check_n_at(v4(1), 2, t0).is_allowed());
    // The newcomer is decided on a full bucket that is never kept: fail open.
    for _ in 0..5 {
        assert_eq!(limiter.check_n_at(v4(2), 2, t0), Decision::Allowed { remaining: 0 });
    }
    assert_eq!(limiter.check_n_at(v4(2), 3, t0), Decision::OverCapacity { cost: 3, capacity: 2 });
    assert_eq!(limiter.len(), 1);
    assert!(!limiter.check_at(v4(1), t0).is_allowed());
}

#[test]
fn the_cap_holds_under_a_two_thread_flood() {
    const CAP: usize = 1000;
    for policy in [WhenFull::EvictFullest, WhenFull::DenyNewKeys, WhenFull::AdmitUntracked] {
        let limiter = builder(5, "1").max_keys(CAP).when_full(policy).build().unwrap();
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            for t in 0..2u32 {
                let (limiter, barrier) = (&limiter, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..50_000 {
                        let _ = limiter.check(v4(t << 20 | i));
                        let _ = limiter.check(ip(&format!("2001:db8:{t}::{:x}", i)));
                    }
                });
            }
        });
        let counters = limiter.counters();
        assert!(limiter.len() <= CAP, "{policy:?}: {} keys", limiter.len());
        assert_eq!(counters.created - counters.evicted, limiter.len() as u64, "{policy:?}");
        assert_eq!(counters.allowed + counters.denied, 200_000, "{policy:?}");
    }
}

#[test]
fn prefixes_group_addresses() {
    #[track_caller]
    fn shared(v4_len: u8, v6_len: u8, a: &str, b: &str, expected: bool) {
        let limiter = builder(1, "0.001").ipv4_prefix(v4_len).ipv6_prefix(v6_len).build().unwrap();
        assert!(limiter.allow(a).unwrap());
        assert_eq!(!limiter.allow(b).unwrap(), expected, "/{v4_len} /{v6_len}: {a} and {b}");
    }
    shared(32, 128, "10.1.2.3", "10.1.2.4", false);
    shared(24, 128, "10.1.2.3", "10.1.2.254", true);
    shared(24, 128, "10.1.2.3", "10.1.3.3", false);
    shared(0, 128, "1.2.3.4", "200.1.1.1", true);
    shared(32, 0, "2001:db8::1", "fe80::1", true);
    shared(0, 0, "10.0.0.1", "2001:db8::1", false);
    shared(32, 64, "2001:db8:0:1::1", "2001:db8:0:1:ffff:ffff:ffff:ffff", true);
    shared(32, 64, "2001:db8:0:1::1", "2001:db8:0:2::1", false);
    shared(32, 128, "2001:db8::1", "2001:db8::2", false);
    // IPv4-mapped addresses are IPv4 keys under the IPv4 prefix.
    shared(32, 64, "::ffff:10.1.2.3", "10.1.2.3", true);
    shared(32, 64, "::ffff:10.1.2.3", "::ffff:10.1.2.4", false);
    shared(16, 128, "::ffff:10.1.2.3", "10.1.200.200", true);
    assert!(builder(1, "1").ipv4_prefix(33).build().is_err());
    assert_eq!(
        builder(1, "1").ipv6_prefix(129).build().unwrap_err().to_string(),
        "IPv6 prefix /129 is out of range: expected /0 to /128"
    );
    assert!(builder(1, "1").max_keys(0).build().is_err());
}

#[test]
fn any_key_type_gets_the_same_buckets() {
    let clock = ManualClock::default();
    let users: KeyedRateLimiter<(u32, &str), ManualClock> =
        KeyedRateLimiter::builder(2, Rate::per_second(1).unwrap())
            .build_with_clock(clock.clone())
            .unwrap();
    let alice = (7, "/upload");
    assert!(users.allow(&alice) && users.allow(&alice));
    assert_eq!(users.check(&alice).retry_after(), Some(Duration::from_secs(1)));
    assert!(users.allow(&(7, "/download")));
    assert_eq!(users.tokens_at(&(8, "/upload"), clock.now()), 2);
    clock.advance(Duration::from_millis(1500));
    assert_eq!(users.tokens_at(&alice, clock.now()), 1);
    assert!(users.allow(&alice));
    assert_eq!(users.len(), 2);
    assert_eq!(users.counters(), limiter_counters(4, 1, 2, 0), "allowed, denied, created, evicted");
}

fn limiter_counters(allowed: u64, denied: u64, created: u64, evicted: u64) -> Counters {
    let mut counters = Counters::default();
    counters.allowed = allowed;
    counters.denied = denied;
    counters.created = created;
    counters.evicted = evicted;
    counters
}

#[test]
fn ipv6_floods_from_one_prefix_share_a_bucket() {
    let limiter = builder(10, "1").ipv6_prefix(64).build().unwrap();
    let allowed = (0..10_000u128)
        .filter(|i| {
            let addr =
                Ipv6Addr::from_bits(0x2001_0db8_0000_0001 << 64 | i.wrapping_mul(0x9e37_79b9));
            limiter.check_at(IpAddr::V6(addr), Nanos::ZERO).is_allowed()
        })
        .count();
    assert_eq!(allowed, 10);
    assert_eq!(limiter.len(), 1);
}
