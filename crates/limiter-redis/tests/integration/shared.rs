//! Several instances on one bucket, expiry, and the deny cache.

use std::sync::Arc;
use std::time::Duration;

use limiter_core::{Decision, Nanos, Rate};
use limiter_redis::{FailurePolicy, Key, RedisRateLimiter, Source};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use redis::AsyncCommands as _;

use crate::server::Server;

/// The server's clock, in ns.
async fn server_nanos(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    secs * 1_000_000_000 + micros * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_key_at_a_frozen_time_allow_exactly_the_capacity() {
    let Some(server) = Server::start("instances_on_one_key_at_a_frozen_time") else {
        return;
    };
    let capacity = 150;
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(Arc::new(crate::limiter(&server.url(), "frozen", capacity, "1").await));
    }
    let mut tasks = Vec::new();
    for task in 0..16 {
        let limiter = Arc::clone(&instances[task % instances.len()]);
        tasks.push(tokio::spawn(async move {
            let mut allowed = 0u64;
            for _ in 0..40 {
                let outcome = limiter.check_n_at("one-key", 1, Nanos::from_secs(1000)).await;
                assert_eq!(outcome.source, Source::Redis);
                allowed += u64::from(outcome.decision.is_allowed());
            }
            allowed
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap();
    }
    assert_eq!(allowed, capacity, "16 tasks x 40 requests on 4 instances");
    let counted: u64 = instances.iter().map(|l| l.counters().allowed).sum();
    assert_eq!(counted, capacity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_server_time_allow_the_capacity_plus_the_refill() {
    let Some(server) = Server::start("instances_on_server_time") else {
        return;
    };
    // A capacity of half a second of refill: a stall of the loaded test machine
    // shorter than that loses no tokens.
    let (capacity, per_second) = (200u64, 400u64);
    let rate = Rate::per_second(per_second).unwrap();
    let mut instances = Vec::new();
    for _ in 0..3 {
        let limiter = RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny)
            .prefix("live")
            .deadline(crate::PATIENT)
            .connect(&server.url())
            .await
            .unwrap();
        instances.push(Arc::new(limiter));
    }
    let mut conn = crate::server::conn(&server).await;
    let start = server_nanos(&mut conn).await;
    let span = Duration::from_millis(300);
    let mut tasks = Vec::new();
    for task in 0..12 {
        let limiter = Arc::clone(&instances[task % instances.len()]);
        tasks.push(tokio::spawn(async move {
            let until = tokio::time::Instant::now() + span;
            let mut allowed = 0u64;
            // Bounded: at most 20 000 calls per task.
            for _ in 0..20_000 {
                if tokio::time::Instant::now() >= until {
                    break;
                }
                let outcome = limiter.check("hot").await;
                assert_eq!(outcome.source, Source::Redis);
                allowed += u64::from(outcome.decision.is_allowed());
            }
            allowed
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap();
    }
    let end = server_nanos(&mut conn).await;
    let elapsed = u128::from(end - start);
    let bound = u128::from(capacity) + u128::from(per_second) * elapsed / 1_000_000_000;
    let allowed = u128::from(allowed);
    assert!(allowed <= bound, "{allowed} allowed in {elapsed} ns, at most {bound}");
    assert!(allowed >= bound * 9 / 10, "{allowed} allowed in {elapsed} ns: far below {bound}");
}

#[tokio::test]
async fn keys_expire_when_full_and_an_expired_key_is_a_full_bucket() {
    let Some(server) = Server::start("keys_expire_when_full") else {
        return;
    };
    let mut conn = crate::server::conn(&server).await;
    // 3 tokens a second: a token takes 333.33 ms, not a whole millisecond.
    let limiter = crate::limiter(&server.url(), "ttl", 10, "3").await;
    assert!(limiter.check_n("k", 0).await.decision.is_allowed());
    let exists: bool = conn.exists("ttl:{k}").await.unwrap();
    assert!(!exists, "cost 0 writes nothing, and a full bucket is no key");
    for (cost, to_full_ms) in [(1, 334), (2, 1000)] {
        let key = format!("k{cost}");
        let before = server_nanos(&mut conn).await;
        let outcome = limiter.check_n(key.as_str(), cost).await;
        assert_eq!(outcome.decision, Decision::Allowed { remaining: 10 - cost });
        let pttl: i64 = conn.pttl(format!("ttl:{{{key}}}")).await.unwrap();
        assert!(pttl > 0 && pttl <= to_full_ms, "PTTL {pttl} ms, full in {to_full_ms} ms");
        if cost == 1 {
            // Waiting for the real server's expiry (bounded polling).
            for _ in 0..400 {
                let exists: bool = conn.exists(format!("ttl:{{{key}}}")).await.unwrap();
                if !exists {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let gone = server_nanos(&mut conn).await;
            assert!(
                gone - before >= 333_333_334,
                "expired {} ns after, before full",
                gone - before
            );
            let outcome = limiter.check_n(key.as_str(), 10).await;
            assert_eq!(outcome.decision, Decision::Allowed { remaining: 0 }, "full again");
        }
    }
    // A bucket whose next full time is past 2^48 ms keeps its key.
    let slow = crate::limiter(&server.url(), "slow", 1_000_000_000, "0.000000001").await;
    assert!(slow.check_n("k", 1_000_000).await.decision.is_allowed());
    let pttl: i64 = conn.pttl("slow:{k}").await.unwrap();
    assert_eq!(pttl, -1, "no expiry");
    // Explicit times: a fixed lifetime, however full.
    let replay = RedisRateLimiter::builder(2, Rate::per_second(1).unwrap(), FailurePolicy::Deny)
        .prefix("replay")
        .deadline(crate::PATIENT)
        .explicit_time_lifetime(Duration::from_secs(600))
        .connect(&server.url())
        .await
        .unwrap();
    assert!(replay.check_n_at("k", 1, Nanos::from_secs(5)).await.decision.is_allowed());
    let pttl: i64 = conn.pttl("replay:{k}").await.unwrap();
    assert!((590_000..=600_000).contains(&pttl), "PTTL {pttl}");
    assert_eq!(replay.delete_all().await.unwrap(), 1);
    let exists: bool = conn.exists("replay:{k}").await.unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn the_deny_cache_changes_no_decision() {
    let Some(server) = Server::start("the_deny_cache_changes_no_decision") else {
        return;
    };
    let rate: Rate = "2".parse().unwrap();
    let build = |prefix: &'static str, cache: bool| {
        let url = server.url();
        async move {
            let mut builder = RedisRateLimiter::builder(3, rate, FailurePolicy::Allow);
            builder.prefix(prefix).deadline(crate::PATIENT);
            if cache {
                builder.deny_cache(1000);
            }
            builder.connect(&url).await.unwrap()
        }
    };
    let (plain, cached) = (build("plain", false).await, build("cached", true).await);
    let mut rng = StdRng::seed_from_u64(7);
    let mut now = 1_000_000_000_000u64;
    let keys = ["a", "b", "c"];
    for step in 0..1500 {
        now = match rng.random_range(0..100) {
            0 => now.saturating_sub(rng.random_range(0..200_000_000)),
            1..=30 => now,
            _ => now + rng.random_range(0..60_000_000),
        };
        let key = Key::from(keys[rng.random_range(0..keys.len())]);
        let cost = [0, 1, 1, 1, 2, 3, 4][rng.random_range(0..7)];
        let a = plain.check_n_at(key, cost, Nanos::new(now)).await;
        let b = cached.check_n_at(key, cost, Nanos::new(now)).await;
        assert_eq!(a.source, Source::Redis);
        assert_eq!((a.decision, a.next_token), (b.decision, b.next_token), "step {step}");
    }
    let counters = cached.counters();
    assert!(counters.cache_answers > 200, "{counters:?}");
    assert_eq!(plain.counters().cache_answers, 0);
    assert_eq!(counters.allowed, plain.counters().allowed);

    // The server's time: a drained key is answered locally from then on.
    let hourly = RedisRateLimiter::builder(1, "1/h".parse().unwrap(), FailurePolicy::Allow)
        .prefix("hourly")
        .deadline(crate::PATIENT)
        .deny_cache(10)
        .connect(&server.url())
        .await
        .unwrap();
    // The allowed request leaves no whole token: Redis says so, and the
    // cache answers the rest.
    let first = hourly.check("abuser").await;
    assert_eq!((first.decision, first.source), (Decision::Allowed { remaining: 0 }, Source::Redis));
    let hour = first.next_token.unwrap();
    assert!(hour <= Duration::from_secs(3600));
    for _ in 0..100 {
        let outcome = hourly.check("abuser").await;
        assert_eq!(outcome.source, Source::Cache);
        let Decision::Denied { remaining: 0, retry_after } = outcome.decision else {
            panic!("{outcome:?}");
        };
        assert!(retry_after < hour && retry_after > Duration::from_secs(3500), "{retry_after:?}");
        assert_eq!(outcome.next_token, Some(retry_after));
    }
    assert_eq!(hourly.counters().cache_answers, 100);
    assert_eq!(hourly.cached_keys(), 1);
}

#[tokio::test]
async fn expiry_is_the_exact_time_to_full_for_divisors_of_every_size() {
    let Some(server) = Server::start("expiry_is_the_exact_time_to_full") else {
        return;
    };
    let mut conn = crate::server::conn(&server).await;
    // Refill numerators F of 1 to 4 limbs in the script's division by F·10⁶.
    for (index, (capacity, rate)) in [
        (1_000_000_000u64, "0.999999999"),
        (1_000_000_000, "123456.789012345"),
        (999_999_937, "999999937.000000001"),
        (100, "0.000000003"),
        (5, "7/h"),
    ]
    .into_iter()
    .enumerate()
    {
        let prefix = format!("exact{index}");
        let limiter = crate::limiter(&server.url(), &prefix, capacity, rate).await;
        let outcome = limiter.check_n("k", capacity).await;
        assert_eq!(outcome.decision, Decision::Allowed { remaining: 0 });
        let pttl: i64 = conn.pttl(format!("{prefix}:{{k}}")).await.unwrap();
        // The whole bucket refills in C / R seconds: C·den·10³ / num ms.
        let rate: Rate = rate.parse().unwrap();
        let to_full_ms = (u128::from(capacity) * u128::from(rate.denom()) * 1000)
            .div_ceil(u128::from(rate.numer()));
        let pttl = pttl as u128;
        assert!(pttl <= to_full_ms, "{rate}: PTTL {pttl} ms, full in {to_full_ms} ms");
        assert!(pttl + 2000 >= to_full_ms, "{rate}: PTTL {pttl} ms, full in {to_full_ms} ms");
    }
}

#[tokio::test]
async fn server_time_denials_short_of_a_token_write_nothing() {
    let Some(server) = Server::start("server_time_denials_short_of_a_token") else {
        return;
    };
    let mut conn = crate::server::conn(&server).await;
    let limiter = crate::limiter(&server.url(), "short", 2, "1/h").await;
    for remaining in [1, 0] {
        assert_eq!(limiter.check("k").await.decision, Decision::Allowed { remaining });
    }
    let stored: Vec<u8> = conn.get("short:{k}").await.unwrap();
    let pttl: i64 = conn.pttl("short:{k}").await.unwrap();
    let hour = Duration::from_secs(3600);
    let mut waits = Vec::new();
    for cost in [1, 2, 3, 1, 0] {
        let outcome = limiter.check_n("k", cost).await;
        match (cost, outcome.decision) {
            (0, Decision::Allowed { remaining: 0 }) => {}
            (3, Decision::OverCapacity { cost: 3, capacity: 2 }) => {}
            (_, Decision::Denied { remaining: 0, retry_after }) => {
                // A whole token (or two) an hour, less the little refilled.
                let full = hour * cost as u32;
                assert!(retry_after <= full && retry_after > full - hour / 60, "{retry_after:?}");
                if cost == 1 {
                    waits.push(retry_after);
                }
            }
            _ => panic!("cost {cost}: {outcome:?}"),
        }
    }
    assert!(waits[1] <= waits[0], "time passed between the two: {waits:?}");
    // A batch of such denials, one script call: nothing written either.
    let batch: Vec<_> =
        (0..5).map(|_| limiter_redis::Request { key: Key::from("k"), cost: 1, at: None }).collect();
    let outcomes = limiter.check_batch(&batch).await;
    assert!(outcomes.iter().all(|o| o.source == Source::Redis && !o.decision.is_allowed()));
    let after: Vec<u8> = conn.get("short:{k}").await.unwrap();
    assert_eq!(after, stored, "the bucket as the last allowed request left it");
    let pttl_after: i64 = conn.pttl("short:{k}").await.unwrap();
    assert!(pttl_after > 0 && pttl_after <= pttl, "{pttl_after} ms after {pttl} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_key_share_calls_and_stay_exact() {
    let Some(server) = Server::start("concurrent_requests_share_calls") else {
        return;
    };
    let capacity = 1000;
    let limiter = Arc::new(crate::limiter(&server.url(), "share", capacity, "1/h").await);
    // More tasks than one batch takes (256): queues longer than a batch.
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                let mut remaining = Vec::new();
                for _ in 0..10 {
                    let outcome = limiter.check("hot").await;
                    assert_eq!(outcome.source, Source::Redis);
                    if let Decision::Allowed { remaining: left } = outcome.decision {
                        remaining.push(left);
                    }
                }
                remaining
            })
        })
        .collect();
    let mut remaining = Vec::new();
    for task in tasks {
        remaining.extend(task.await.unwrap());
    }
    // 3000 requests for 1000 tokens (a second's refill is far below one):
    // exactly the capacity allowed, each leaving a different count.
    remaining.sort_unstable();
    assert_eq!(remaining, (0..capacity).collect::<Vec<_>>());
    let counters = limiter.counters();
    assert_eq!((counters.allowed, counters.denied, counters.errors), (1000, 2000, 0));
    // Fewer script calls than requests: queued requests went together.
    let calls = server.script_calls();
    assert!(calls < 3000, "{calls} script calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_single_server_requests_for_many_keys_share_calls_and_stay_exact() {
    let Some(server) = Server::start("requests_for_many_keys_share_calls") else {
        return;
    };
    // A single server: shared calls across keys without being asked.
    let limiter = Arc::new(crate::limiter(&server.url(), "many", 10, "1/h").await);
    let tasks: Vec<_> = (0..64u64)
        .map(|task| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                let mut allowed = Vec::new();
                for i in 0..20 {
                    let key = format!("k{}", (task * 7 + i) % 50);
                    let outcome = limiter.check(key.as_str()).await;
                    assert_eq!(outcome.source, Source::Redis);
                    if let Decision::Allowed { remaining } = outcome.decision {
                        allowed.push((key, remaining));
                    }
                }
                allowed
            })
        })
        .collect();
    let mut allowed = Vec::new();
    for task in tasks {
        allowed.extend(task.await.unwrap());
    }
    // 1280 requests over 50 keys of 10 tokens: each key allows exactly 10,
    // leaving 9 down to 0.
    allowed.sort_unstable();
    let expected: Vec<(String, u64)> = (0..50)
        .flat_map(|k| (0..10).map(move |left| (format!("k{k}"), left)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(allowed, expected);
    let calls = server.script_calls();
    assert!(calls < 640, "{calls} script calls for 1280 requests over 50 keys");
}
