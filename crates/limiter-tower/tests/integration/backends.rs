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
