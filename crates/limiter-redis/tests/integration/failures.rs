//! A dead or paused Redis: the chosen policy, within the deadline, then
//! recovery.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use limiter_core::{Decision, Nanos, Rate};
use limiter_redis::{FailurePolicy, Key, RedisRateLimiter, Request, Source};

use crate::server::Server;

async fn with_policy(
    server: &Server,
    policy: FailurePolicy,
    deadline: Duration,
) -> RedisRateLimiter {
    RedisRateLimiter::builder(4, Rate::per_second(2).unwrap(), policy)
        .prefix("fail")
        .deadline(deadline)
        .connect(&server.url())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_killed_server_gives_the_policy_and_a_restarted_one_resumes() {
    let Some(mut server) = Server::start("a_killed_server_gives_the_policy") else {
        return;
    };
    let deadline = Duration::from_millis(500);
    let deny = with_policy(&server, FailurePolicy::Deny, deadline).await;
    let allow = with_policy(&server, FailurePolicy::Allow, deadline).await;
    let instances = NonZeroU32::new(2).unwrap();
    let local = with_policy(&server, FailurePolicy::Local { instances }, deadline).await;
    for limiter in [&deny, &allow, &local] {
        let outcome = limiter.check_n_at("k", 1, Nanos::from_secs(1)).await;
        assert_eq!(outcome.source, Source::Redis);
    }

    server.kill();
    for round in 0..3 {
        let at = Nanos::from_secs(2);
        let outcome = deny.check_n_at("k", 1, at).await;
        assert_eq!(outcome.source, Source::Fallback, "round {round}");
        assert_eq!(
            outcome.decision,
            Decision::Denied { remaining: 0, retry_after: Duration::from_millis(500) }
        );
        let outcome = allow.check_n_at("k", 1, at).await;
        assert_eq!(
            (outcome.source, outcome.decision),
            (Source::Fallback, Decision::Allowed { remaining: 0 })
        );
        let over = allow.check_n_at("k", 5, at).await;
        assert_eq!(over.decision, Decision::OverCapacity { cost: 5, capacity: 4 });
    }
    // Half the capacity and half the rate, locally: 2 tokens, then 1 a second.
    let mut local_decisions = Vec::new();
    for ms in [10, 10, 10, 10_999, 11_000] {
        let outcome = local.check_n_at("k", 1, Nanos::new(ms * 1_000_000)).await;
        assert_eq!(outcome.source, Source::Fallback);
        local_decisions.push(outcome.decision.is_allowed());
    }
    let batch = [
        Request { key: Key::from("k"), cost: 1, at: Some(Nanos::from_secs(2)) },
        Request { key: Key::from("j"), cost: 1, at: Some(Nanos::from_secs(2)) },
    ];
    let outcomes = deny.check_batch(&batch).await;
    assert!(outcomes.iter().all(|o| o.source == Source::Fallback && !o.decision.is_allowed()));
    assert!(deny.try_check_batch(&batch).await.is_err());
    let counters = deny.counters();
    // Three calls and a batch of two decided by the policy; the try_ call's
    // error is returned, not decided.
    assert_eq!((counters.errors, counters.fallbacks, counters.denied), (5, 5, 5), "{counters:?}");

    server.restart();
    // Waiting for the connection manager to reconnect to the real server.
    let mut resumed = None;
    for _ in 0..200 {
        let outcome = deny.check_n_at("k", 1, Nanos::from_secs(3)).await;
        if outcome.source == Source::Redis {
            resumed = Some(outcome);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The new server knows no script and no bucket: NOSCRIPT, a reload, and
    // a full bucket.
    let resumed = resumed.expect("decisions resume after a restart");
    assert_eq!(resumed.decision, Decision::Allowed { remaining: 3 });
    let again = deny.check_n_at("k", 4, Nanos::from_secs(3)).await;
    assert_eq!(
        again.decision,
        Decision::Denied { remaining: 3, retry_after: Duration::from_millis(500) }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_costs_each_call_its_deadline_and_no_more() {
    let Some(server) = Server::start("a_paused_server_costs_each_call_its_deadline") else {
        return;
    };
    let deadline = Duration::from_millis(100);
    let limiter = Arc::new(with_policy(&server, FailurePolicy::Allow, deadline).await);
    assert_eq!(limiter.check("k").await.source, Source::Redis);
    server.signal("STOP");
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                let start = Instant::now();
                let outcome = limiter.check_n_at("k", 1, Nanos::from_secs(i)).await;
                (outcome, start.elapsed())
            })
        })
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap());
    }
    server.signal("CONT");
    for (outcome, took) in results {
        assert_eq!(outcome.source, Source::Fallback);
        assert!(outcome.decision.is_allowed());
        // The deadline, not a hang: at least the deadline, and nowhere near
        // the minutes a stalled TCP connection can take.
        assert!(took >= deadline && took < deadline + Duration::from_secs(5), "{took:?}");
    }
    assert_eq!(limiter.counters().errors, 20);
    // Continued, the server answers again.
    let mut answered = false;
    for _ in 0..200 {
        if limiter.check("k").await.source == Source::Redis {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered);
}
