//! Model-checked concurrency: every interleaving loom can find of a few
//! threads on one bucket, on its creation, and on its eviction.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p limiter-core --test loom --release`
//! (`cargo xtask loom` does). Built without `--cfg loom`, this file is empty.

#![cfg(loom)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use limiter_core::{Decision, Eviction, Nanos, Rate, RateLimiter};
use loom::thread;

const SEC: u64 = 1_000_000_000;
const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// A limiter with one shard (a key cap of 64), so the model stays small.
fn limiter(capacity: u64, rate: Rate, eviction: Eviction) -> RateLimiter {
    RateLimiter::builder(capacity, rate).max_keys(64).eviction(eviction).build().unwrap()
}

/// Checks `f` under every interleaving with up to `preemptions` forced
/// switches between threads. Two threads get three; three get one, which
/// still tries every thread at every step but keeps the model in seconds
/// (a key's first request takes the table's slow path, whose many steps
/// make two preemptions among three threads run for many minutes).
fn model_with(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    // A reader waiting out a writer spins (yielding); allow for it.
    builder.max_branches = 20_000;
    builder.check(f);
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_with(3, f);
}

/// Runs `requests` (time, cost), one thread each, on a limiter set up by
/// `setup`, and returns each thread's decision.
fn race(
    make: fn() -> RateLimiter,
    requests: &'static [(u64, u64)],
) -> (Vec<Decision>, Arc<RateLimiter>) {
    let limiter = Arc::new(make());
    let handles: Vec<_> = requests
        .iter()
        .map(|&(t, cost)| {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.check_n_at(IP, cost, Nanos::new(t)))
        })
        .collect();
    (handles.into_iter().map(|h| h.join().unwrap()).collect(), limiter)
}

/// The decisions of every one-at-a-time order of `requests`.
fn sequential_outcomes(make: fn() -> RateLimiter, requests: &[(u64, u64)]) -> Vec<Vec<Decision>> {
    let n = requests.len();
    let mut orders: Vec<Vec<usize>> = vec![vec![]];
    for _ in 0..n {
        let mut longer = Vec::new();
        for order in &orders {
            for i in (0..n).filter(|i| !order.contains(i)) {
                longer.push(order.iter().copied().chain([i]).collect());
            }
        }
        orders = longer;
    }
    orders
        .into_iter()
        .map(|order| {
            let limiter = make();
            let mut decisions = vec![None; n];
            for i in order {
                let (t, cost) = requests[i];
                decisions[i] = Some(limiter.check_n_at(IP, cost, Nanos::new(t)));
            }
            decisions.into_iter().map(Option::unwrap).collect()
        })
        .collect()
}

/// Checks that every interleaving gives the decisions of some sequential order.
fn linearizable(make: fn() -> RateLimiter, requests: &'static [(u64, u64)]) {
    let preemptions = if requests.len() > 2 { 1 } else { 3 };
    model_with(preemptions, move || {
        // Computed inside the model: the limiter's primitives are loom's.
        let expected = sequential_outcomes(make, requests);
        let (got, _) = race(make, requests);
        assert!(expected.contains(&got), "{got:?} is no sequential outcome of {requests:?}");
    });
}

fn narrow() -> RateLimiter {
    limiter(1, Rate::per_second(1).unwrap(), Eviction::Never)
}

fn wide() -> RateLimiter {
    limiter(1_000_000_000, Rate::MIN, Eviction::Never)
}

#[test]
fn two_threads_creating_one_key_make_one_bucket_and_one_allow() {
    model(|| {
        let (got, limiter) = race(narrow, &[(0, 1), (0, 1)]);
        assert_eq!(got.iter().filter(|d| d.is_allowed()).count(), 1, "{got:?}");
        assert_eq!(limiter.len(), 1);
    });
}

#[test]
fn three_threads_on_a_new_key_with_moving_time_are_linearizable() {
    linearizable(narrow, &[(0, 1), (SEC / 2, 1), (SEC, 1)]);
}

#[test]
fn threads_on_a_known_key_with_moving_time_are_linearizable() {
    fn warm() -> RateLimiter {
        let limiter = limiter(2, Rate::per_second(1).unwrap(), Eviction::Never);
        assert!(limiter.check_n_at(IP, 2, Nanos::ZERO).is_allowed());
        limiter
    }
    linearizable(warm, &[(2 * SEC, 2), (SEC / 2, 1)]);
}

#[test]
fn wide_buckets_are_linearizable() {
    linearizable(wide, &[(0, 999_999_999), (SEC, 1), (0, 2)]);
}

#[test]
fn clock_driven_denials_never_lose_an_allow() {
    // With time frozen, read-only denials and racing writers still pass
    // exactly the capacity.
    model_with(1, || {
        let limiter = Arc::new(
            RateLimiter::builder(2, Rate::MIN)
                .max_keys(64)
                .build_with_clock(limiter_core::ManualClock::default())
                .unwrap(),
        );
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                thread::spawn(move || limiter.allow_ip(IP))
            })
            .collect();
        let allowed = handles.into_iter().map(|h| h.join().unwrap()).filter(|&a| a);
        assert_eq!(allowed.count(), 2);
    });
}

#[test]
fn pruning_racing_with_use_never_changes_a_decision() {
    // The bucket is idle at 2 s: evicting it or not must not matter to a
    // request at 2 s, whichever runs first.
    model(|| {
        let limiter = Arc::new(limiter(
            2,
            Rate::per_second(1).unwrap(),
            Eviction::Idle { window: Duration::ZERO },
        ));
        assert!(limiter.check_n_at(IP, 2, Nanos::ZERO).is_allowed());
        let pruner = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.prune_at(Nanos::from_secs(2)))
        };
        let user = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.check_n_at(IP, 2, Nanos::from_secs(2)))
        };
        let pruned = pruner.join().unwrap();
        assert_eq!(user.join().unwrap(), Decision::Allowed { remaining: 0 });
        // Either the prune came first (and the request made a new bucket) or
        // the request emptied the bucket first (and the prune left it).
        assert_eq!(limiter.len(), 1, "pruned {pruned}");
        assert_eq!(limiter.tokens_at(IP, Nanos::from_secs(2)), 0);
    });
}
