//! A burst past the capacity, the exact Retry-After and headers, and refill.

use std::time::Duration;

use http::StatusCode;
use limiter_core::Rate;
use limiter_tower::{BodyFormat, HeaderMode, RateLimitLayer};

use crate::util::{client, clock, get, send, serve_limited};

#[tokio::test]
async fn burst_then_exact_refill() {
    let clock = clock();
    // 3 at once, one token every 2 s: an empty bucket fills in 6 s.
    let layer = RateLimitLayer::builder(3, "0.5".parse::<Rate>().unwrap())
        .build_with_clock(clock.clone())
        .unwrap();
    let limiter = layer.clone();
    let addr = serve_limited(layer).await;
    let client = client();

    let (capacity, extra) = (3, 4);
    for i in 0..capacity + extra {
        let reply = send(&client, addr, get(&[])).await;
        assert_eq!(reply.one("ratelimit-policy"), Some("\"default\";q=3;w=6"), "request {i}");
        if i < capacity {
            let left = capacity - 1 - i;
            assert_eq!(reply.status, StatusCode::OK, "request {i}: {reply:?}");
            assert_eq!(reply.body, format!("allowed, {left} left"));
            assert_eq!(reply.one("ratelimit"), Some(&*format!("\"default\";r={left};t=2")));
            assert_eq!(reply.one("retry-after"), None);
        } else {
            assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "request {i}: {reply:?}");
            assert_eq!(reply.one("retry-after"), Some("2"));
            assert_eq!(reply.one("ratelimit"), Some("\"default\";r=0;t=2"));
            assert_eq!(reply.body, "too many requests: retry after 2 s\n");
        }
    }

    // 1.5 s on, half a second is left: Retry-After rounds it up to 1, and t too.
    clock.advance(Duration::from_millis(1500));
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(
        (reply.status, reply.one("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("1"))
    );
    assert_eq!(reply.one("ratelimit"), Some("\"default\";r=0;t=1"));
    // One nanosecond short of the token, still refused.
    clock.advance(Duration::from_millis(500) - Duration::from_nanos(1));
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(
        (reply.status, reply.one("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("1"))
    );
    // Exactly 2 s after the burst: one token, one request.
    clock.advance(Duration::from_nanos(1));
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.one("ratelimit"), Some("\"default\";r=0;t=2"));
    assert_eq!(send(&client, addr, get(&[])).await.status, StatusCode::TOO_MANY_REQUESTS);
    // A long wait refills to the capacity and no further.
    clock.advance(Duration::from_secs(3600));
    let statuses: Vec<u16> =
        futures_statuses(&client, addr, 4).await.into_iter().map(|s| s.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);

    let counters = limiter.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (3 + 1 + 3, 4 + 2 + 1 + 1));
    assert_eq!(limiter.backend().len(), 1);
}

async fn futures_statuses(
    client: &crate::util::HttpClient,
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(send(client, addr, get(&[])).await.status);
    }
    statuses
}

#[tokio::test]
async fn legacy_headers_problem_json_and_status() {
    let clock = clock();
    let layer = RateLimitLayer::builder(1, Rate::per_second(4).unwrap())
        .headers(HeaderMode::Both)
        .body(BodyFormat::ProblemJson)
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .name("per-ip")
        .build_with_clock(clock.clone())
        .unwrap();
    let addr = serve_limited(layer).await;
    let client = client();
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.one("x-ratelimit-limit"), Some("1"));
    assert_eq!(reply.one("x-ratelimit-remaining"), Some("0"));
    assert_eq!(reply.one("x-ratelimit-reset"), Some("1"));
    assert_eq!(reply.one("ratelimit"), Some("\"per-ip\";r=0;t=1"));
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.one("content-type"), Some("application/problem+json"));
    assert_eq!(reply.one("retry-after"), Some("1"));
    assert!(
        reply.body.contains(
            "\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\""
        )
    );
    assert!(reply.body.contains("\"status\":503"), "{}", reply.body);
    assert!(reply.body.contains("\"violated-policies\":[\"per-ip\"]"), "{}", reply.body);
    assert_eq!(reply.one("ratelimit-policy"), Some("\"per-ip\";q=1;w=1"));
}
