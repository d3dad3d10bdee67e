//! Many connections from many tasks on one key, the clock frozen.

use http::StatusCode;
use limiter_core::Rate;
use limiter_tower::RateLimitLayer;

use crate::util::{client, clock, get, send, serve_limited};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_the_capacity_in_total() {
    let capacity = 50;
    let layer = RateLimitLayer::builder(capacity, Rate::per_second(1).unwrap())
        .build_with_clock(clock())
        .unwrap();
    let addr = serve_limited(layer.clone()).await;
    let (tasks, per_task) = (8, 20);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        handles.push(tokio::spawn(async move {
            // Each task has its own client, so its own connections; four
            // requests at a time per task keep several connections busy.
            let client = client();
            let mut allowed = 0;
            for _ in 0..per_task / 4 {
                let replies = futures_join4(
                    send(&client, addr, get(&[])),
                    send(&client, addr, get(&[])),
                    send(&client, addr, get(&[])),
                    send(&client, addr, get(&[])),
                )
                .await;
                for reply in replies {
                    assert!(matches!(reply.status, StatusCode::OK | StatusCode::TOO_MANY_REQUESTS));
                    allowed += u64::from(reply.status == StatusCode::OK);
                }
            }
            allowed
        }));
    }
    let mut allowed = 0;
    for handle in handles {
        allowed += handle.await.unwrap();
    }
    assert_eq!(allowed, capacity);
    let counters = layer.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (capacity, tasks * per_task - capacity));
}

async fn futures_join4<T>(
    a: impl Future<Output = T>,
    b: impl Future<Output = T>,
    c: impl Future<Output = T>,
    d: impl Future<Output = T>,
) -> [T; 4] {
    let (a, b, c, d) = tokio::join!(a, b, c, d);
    [a, b, c, d]
}
