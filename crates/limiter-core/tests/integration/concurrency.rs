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

#[test]
fn buckets_moved_evicted_and_reused_under_load_decide_as_if_never_touched() {
    // Two threads replay their own keys at their own advancing times while a
    // third prunes whatever is idle at the slower thread's time, so shards
    // grow, rebuild, leave tombstones and reuse them under the two. Keys are
    // disjoint, so each key's requests keep their order, and pruning at a
    // time no thread will go back before is lossless: every decision must be
    // the one a limiter that never evicts makes for the same requests. (The
    // narrowest races, a request caught mid-rebuild, are loom's to find: see
    // `table.rs`.)
    const REQUESTS: usize = 60_000;
    const KEYS: usize = 3_000;
    let limiter = || {
        let eviction = limiter_core::Eviction::Idle { window: Duration::ZERO };
        RateLimiter::builder(3, Rate::per_second(1).unwrap()).eviction(eviction).build().unwrap()
    };
    // Thread `t`'s request `i`: a key of its own, a cost of 1 or 2, a time
    // 1 ms on, so keys come and go idle.
    let request = |t: usize, i: usize| {
        let mixed = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        let key = key(t * KEYS + mixed as usize % KEYS);
        (key, 1 + mixed % 2, limiter_core::Nanos::new(i as u64 * 1_000_000))
    };
    let shared = limiter();
    let progress = [AtomicU64::new(0), AtomicU64::new(0)];
    let done = AtomicU64::new(0);
    let passes = AtomicU64::new(0);
    let (got, pruned) = thread::scope(|s| {
        let pruner = s.spawn(|| {
            let mut pruned = 0;
            while done.load(Ordering::Acquire) < 2 {
                let slowest = progress.iter().map(|p| p.load(Ordering::Acquire)).min().unwrap();
                pruned += shared.prune_at(limiter_core::Nanos::new(slowest));
                passes.fetch_add(1, Ordering::Release);
            }
            pruned
        });
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (shared, progress, done, passes) = (&shared, &progress[t], &done, &passes);
                s.spawn(move || {
                    let decisions: Vec<_> = (0..REQUESTS)
                        .map(|i| {
                            if i % 5_000 == 0 {
                                // However the threads are scheduled, let the
                                // pruner finish a pass now and then.
                                let seen = passes.load(Ordering::Acquire);
                                while passes.load(Ordering::Acquire) < seen + 2 {
                                    thread::yield_now();
                                }
                            }
                            let (ip, cost, at) = request(t, i);
                            progress.store(at.as_u64(), Ordering::Release);
                            shared.check_n_at(ip, cost, at)
                        })
                        .collect();
                    done.fetch_add(1, Ordering::Release);
                    decisions
                })
            })
            .collect();
        let got: Vec<Vec<_>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (got, pruner.join().unwrap())
    });
    let reference = RateLimiter::builder(3, Rate::per_second(1).unwrap())
        .eviction(limiter_core::Eviction::Never)
        .build()
        .unwrap();
    for (t, decisions) in got.iter().enumerate() {
        for (i, decision) in decisions.iter().enumerate() {
            let (ip, cost, at) = request(t, i);
            assert_eq!(*decision, reference.check_n_at(ip, cost, at), "thread {t}, request {i}");
        }
    }
    assert!(pruned > 1_000, "only {pruned} evictions: the test exercised too little");
    assert!(shared.counters().evicted >= pruned as u64);
}
