//! Linearizability per key and independence across keys, on 8+ threads.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use limiter_core::{ManualClock, Rate, RateLimiter};

const THREADS: usize = 8;

fn key(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i as u32))
}

#[test]
fn frozen_clock_one_new_key_gives_exactly_capacity_allows() {
    for capacity in [1, 7, 1000] {
        let limiter = RateLimiter::with_clock(capacity, Rate::MIN, ManualClock::default()).unwrap();
        let barrier = Barrier::new(THREADS);
        let allowed = AtomicU64::new(0);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    let mine = (0..capacity * 2).filter(|_| limiter.allow_ip(key(0))).count();
                    allowed.fetch_add(mine as u64, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(allowed.into_inner(), capacity, "capacity {capacity}");
        assert_eq!(limiter.len(), 1, "racing creators made one bucket");
    }
}

#[test]
fn frozen_clock_many_keys_in_parallel_each_get_exactly_capacity() {
    const KEYS: usize = 512;
    const CAPACITY: u64 = 5;
    let limiter = RateLimiter::with_clock(CAPACITY, Rate::MIN, ManualClock::default()).unwrap();
    let barrier = Barrier::new(THREADS);
    let per_key: Vec<AtomicU64> = (0..KEYS).map(|_| AtomicU64::new(0)).collect();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (limiter, barrier, per_key) = (&limiter, &barrier, &per_key);
            s.spawn(move || {
                barrier.wait();
                // Each thread walks the keys from a different start, so threads
                // meet on new keys and on known ones.
                for step in 0..KEYS * 2 {
                    let k = (step + t * KEYS / THREADS) % KEYS;
                    if limiter.allow_ip(key(k)) {
                        per_key[k].fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    for (k, count) in per_key.iter().enumerate() {
        assert_eq!(count.load(Ordering::Relaxed), CAPACITY, "key {}", key(k));
    }
    assert_eq!(limiter.len(), KEYS);
}

#[test]
fn advancing_clock_allowed_counts_equal_the_sequential_model() {
    const KEYS: usize = 16;
    const ROUNDS: usize = 40;
    const CAPACITY: u64 = 6;
    // 3 tokens per second; each round moves the clock by a different amount.
    let clock = ManualClock::default();
    let limiter =
        RateLimiter::with_clock(CAPACITY, Rate::per_second(3).unwrap(), clock.clone()).unwrap();
    let steps_ms: Vec<u64> = (0..ROUNDS as u64).map(|r| (r * 397) % 2100).collect();
    let barrier = Barrier::new(THREADS + 1);
    let per_key: Vec<AtomicU64> = (0..KEYS).map(|_| AtomicU64::new(0)).collect();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (limiter, barrier, per_key) = (&limiter, &barrier, &per_key);
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    barrier.wait(); // The clock is set for this round.
                    for i in 0..KEYS {
                        let k = (i + t) % KEYS;
                        if limiter.allow_ip(key(k)) {
                            per_key[k].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    barrier.wait(); // Round done.
                }
            });
        }
        for &step in &steps_ms {
            barrier.wait();
            barrier.wait();
            clock.advance(Duration::from_millis(step));
        }
    });
    // Sequential model in thousandths of a token: each round every key gets
    // THREADS requests at one instant, so min(requests, whole tokens) pass.
    let mut expected = 0;
    let mut milli_tokens = CAPACITY * 1000;
    for step in steps_ms {
        let passed = (milli_tokens / 1000).min(THREADS as u64);
        expected += passed;
        milli_tokens = (milli_tokens - passed * 1000 + 3 * step).min(CAPACITY * 1000);
    }
    for (k, count) in per_key.iter().enumerate() {
        assert_eq!(count.load(Ordering::Relaxed), expected, "key {}", key(k));
    }
}
