//! The Redis backend: two service instances, each with its own connection,
//! share one exact bucket per client on a `redis-server` of the test's own.

use std::sync::Arc;

use http::StatusCode;
use limiter_core::Rate;
use limiter_redis::{FailurePolicy, RedisRateLimiter};
use limiter_testkit::RedisServer;
use limiter_tower::{RateLimitLayer, RedisBackend};

use crate::util::{app, client, get, send, serve};

/// One instance of the service: its own limiter and connection on `url`.
async fn instance(url: &str, capacity: u64, rate: Rate) -> std::net::SocketAddr {
    let shared = RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny)
        .prefix("tower-test")
        .deadline(std::time::Duration::from_secs(10))
        .connect(url)
        .await
        .unwrap();
    let layer = RateLimitLayer::builder(capacity, rate)
        .build_with_backend(RedisBackend::new(Arc::new(shared)));
    serve(app().layer(layer), true).await
}

#[tokio::test]
async fn instances_share_one_bucket_per_client_on_redis() {
    let Some(server) = RedisServer::start("instances_share_one_bucket_per_client_on_redis") else {
        return;
    };
    // One token an hour: nothing refills while the test runs.
    let rate = Rate::per_hour(1).unwrap();
    let (a, b) = (instance(&server.url(), 3, rate).await, instance(&server.url(), 3, rate).await);
    let client = client();
    let mut statuses = Vec::new();
    for addr in [a, b, a, b, a] {
        statuses.push(send(&client, addr, get(&[])).await.status);
    }
    let ok = StatusCode::OK;
    let limited = StatusCode::TOO_MANY_REQUESTS;
    assert_eq!(statuses, [ok, ok, ok, limited, limited], "3 in all across both instances");

    let refused = send(&client, b, get(&[])).await;
    // The exact wait for one token at 1/h, less the milliseconds the test has
    // taken, rounded up to whole seconds.
    assert_eq!(refused.one("retry-after"), Some("3600"));
    assert_eq!(refused.one("ratelimit-policy"), Some("\"default\";q=3;w=10800"));
    assert_eq!(refused.one("ratelimit"), Some("\"default\";r=0;t=3600"));
    assert_eq!(server.keys(), 1, "one bucket, for 127.0.0.1");
}
