//! Backends that answer later, or fail: the trait an asynchronous store
//! (Redis) implements.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::StatusCode;
use limiter_core::{ManualClock, Rate, RateLimiter};
use limiter_tower::{Backend, RateLimitLayer, Verdict};

use crate::util::{app, client, clock, get, send, serve};

/// The core limiter behind a task hop: each verdict is computed on another
/// task and arrives through a channel, as a network store's reply would.
struct Remote {
    limiter: Arc<RateLimiter<ManualClock>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Backend for Remote {
    type Key = IpAddr;
    type Error = StoreDown;
    type Future = BoxFuture<Result<Verdict, StoreDown>>;

    fn check(&self, key: &IpAddr, cost: u64, next_token: bool) -> Self::Future {
        let (limiter, key) = (Arc::clone(&self.limiter), *key);
        Box::pin(async move {
            let verdict =
                tokio::spawn(
                    async move { Backend::check(&*limiter, &key, cost, next_token).await },
                );
            verdict.await.map_err(|_| StoreDown)?.map_err(|never| match never {})
        })
    }

    fn capacity(&self) -> u64 {
        self.limiter.capacity()
    }

    fn rate(&self) -> Rate {
        self.limiter.rate()
    }
}

/// A store that is down, with a fail-closed policy left to the layer.
struct Down;

#[derive(Debug)]
struct StoreDown;

impl fmt::Display for StoreDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("store unreachable")
    }
}

impl std::error::Error for StoreDown {}

impl Backend for Down {
    type Key = IpAddr;
    type Error = StoreDown;
    type Future = std::future::Ready<Result<Verdict, StoreDown>>;

    fn check(&self, _: &IpAddr, _: u64, _: bool) -> Self::Future {
        std::future::ready(Err(StoreDown))
    }

    fn capacity(&self) -> u64 {
        1
    }

    fn rate(&self) -> Rate {
        Rate::MIN
    }
}

#[tokio::test]
async fn an_asynchronous_backend_decides_as_the_core_does() {
    let limiter =
        Arc::new(RateLimiter::with_clock(2, Rate::per_second(1).unwrap(), clock()).unwrap());
    let layer = RateLimitLayer::builder(2, Rate::per_second(1).unwrap())
        .build_with_backend(Remote { limiter: Arc::clone(&limiter) });
    let addr = serve(app().layer(layer), true).await;
    let client = client();
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "allowed, 1 left"));
    assert_eq!(reply.one("ratelimit"), Some("\"default\";r=1;t=1"));
    assert_eq!(send(&client, addr, get(&[])).await.status, StatusCode::OK);
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(
        (reply.status, reply.one("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("1"))
    );
    assert_eq!(limiter.counters().allowed, 2);
}

#[tokio::test]
async fn a_failing_backend_gives_503_naming_the_error() {
    let layer = RateLimitLayer::builder(1, Rate::MIN).build_with_backend(Down);
    let addr = serve(app().layer(layer), true).await;
    let reply = send(&client(), addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "rate limit \"default\": backend failed: store unreachable\n");
}

/// The core's `next_token_at`, which the quota headers' `t` comes from: exact,
/// and it neither creates a bucket nor counts a request.
#[test]
fn next_token_at_is_exact_and_read_only() {
    use limiter_core::{Clock, Nanos};
    use std::time::Duration;

    let clock = clock();
    let limiter = RateLimiter::with_clock(2, Rate::per_second(3).unwrap(), clock.clone()).unwrap();
    let (ip, t0) = ("192.0.2.1".parse().unwrap(), clock.now());
    assert_eq!(limiter.next_token_at(ip, t0), None, "no bucket: full");
    assert!(limiter.is_empty());
    assert!(limiter.check(ip).is_allowed());
    // A third of a second, rounded up to the next nanosecond.
    assert_eq!(limiter.next_token_at(ip, t0), Some(Duration::from_nanos(333_333_334)));
    assert_eq!(
        limiter.next_token_at(ip, t0 + Duration::from_nanos(1)),
        Some(Duration::from_nanos(333_333_333))
    );
    // Asked for a time before the bucket's, the wait counts from that time.
    let before = Nanos::new(t0.as_u64() - 1_000);
    assert_eq!(limiter.next_token_at(ip, before), Some(Duration::from_nanos(333_334_334)));
    // Two tokens used: the next one is the third of a second after the first
    // one's refill, whatever is still short of it.
    assert!(limiter.check(ip).is_allowed());
    let later = t0 + Duration::from_millis(400);
    assert_eq!(limiter.next_token_at(ip, later), Some(Duration::from_nanos(266_666_667)));
    assert_eq!(limiter.next_token_at(ip, t0 + Duration::from_secs(1)), None, "full again");
    let counters = limiter.counters();
    assert_eq!((counters.allowed, counters.denied, counters.created), (2, 0, 1));
}
