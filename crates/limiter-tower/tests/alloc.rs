//! What a request costs in heap allocations: none in the in-process backend,
//! and in the layer only what its output needs.
//!
//! dhat's global allocator counts every allocation of this process, so this
//! file is its own test binary, with one test. The layer is called directly,
//! around an inner service that allocates nothing, rather than through a
//! server: hyper's own allocations would hide the layer's. Requests are made
//! before the counting starts.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Empty;
use limiter_core::{ManualClock, Nanos, Rate, RateLimiter};
use limiter_tower::{Backend, HeaderMode, RateLimitLayer};
use tower::{Layer, Service};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const REQUESTS: u64 = 200;

/// Allocations made by `f`, run `REQUESTS` times, per run.
fn per_run(mut f: impl FnMut(u64)) -> f64 {
    let before = dhat::HeapStats::get().total_blocks;
    for i in 0..REQUESTS {
        f(i);
    }
    (dhat::HeapStats::get().total_blocks - before) as f64 / REQUESTS as f64
}

/// The inner service: an empty 200 whose header map has room already, as a
/// real handler's response (with its own `content-type`) does.
async fn ok(_: Request<()>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut response = Response::new(Empty::new());
    *response.headers_mut() = HeaderMap::with_capacity(8);
    Ok(response)
}

fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-process layer answered later"),
    }
}

/// Per-request allocations of a layer in `mode` (buckets of `capacity`
/// tokens refilled at one a second, requests of `cost`), beyond its inner
/// service's, for `REQUESTS` requests from one client, a second apart if
/// `refill` (else at one time), and the statuses it gave.
fn layer_allocations(
    mode: HeaderMode,
    capacity: u64,
    cost: u64,
    refill: bool,
) -> (f64, Vec<StatusCode>) {
    let mut inner = tower::service_fn(ok);
    let inner_alone = per_run(|_| drop(ready(inner.call(request_with(PEER))).unwrap()));
    let requests_alone = per_run(|_| drop(request_with(PEER)));
    let clock = ManualClock::new(Nanos::from_secs(1000));
    let layer = RateLimitLayer::builder(capacity, Rate::per_second(1).unwrap())
        .headers(mode)
        .cost(move |_| cost)
        .build_with_clock(clock.clone())
        .unwrap();
    let mut service = layer.layer(tower::service_fn(ok));
    let mut requests: Vec<Request<()>> = (0..REQUESTS).map(|_| request_with(PEER)).collect();
    // The client's bucket exists before counting, and with one token, the
    // first refusal (which shares the prepared body) is made.
    drop(ready(service.call(request_with(PEER))));
    drop(ready(service.call(request_with(PEER))));
    let mut statuses = Vec::new();
    let mut responses = Vec::with_capacity(REQUESTS as usize);
    let allocations = per_run(|_| {
        if refill {
            clock.advance(Duration::from_secs(1));
        }
        let request = requests.pop().unwrap();
        responses.push(ready(service.call(request)).unwrap());
    });
    statuses.extend(responses.iter().map(|response| response.status()));
    let inner = if statuses[0] == StatusCode::OK { inner_alone - requests_alone } else { 0.0 };
    (allocations - inner, statuses)
}

const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)), 4000);

fn request_with(peer: SocketAddr) -> Request<()> {
    let mut request = Request::new(());
    request.extensions_mut().insert(peer);
    request
}

#[test]
fn allocations_per_request() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // The backend: nothing, with or without the wait for the next token,
    // allowed or denied.
    let limiter = RateLimiter::with_clock(
        1_000_000_000,
        Rate::per_second(1).unwrap(),
        ManualClock::new(Nanos::from_secs(1)),
    )
    .unwrap();
    let ip: IpAddr = "198.18.0.1".parse().unwrap();
    let _ = limiter.check_n(ip, 1);
    let backend = |want| {
        per_run(|_| {
            assert!(ready(Backend::check(&limiter, &ip, 1, want)).unwrap().decision.is_allowed())
        })
    };
    assert_eq!(backend(false), 0.0, "check");
    assert_eq!(backend(true), 0.0, "check with the next token");
    let drained = RateLimiter::with_clock(1, Rate::per_second(1).unwrap(), ManualClock::default());
    let drained = drained.unwrap();
    let _ = drained.check_n(ip, 1);
    let denied = per_run(|_| {
        let verdict = ready(Backend::check(&drained, &ip, 1, true)).unwrap();
        assert!(!verdict.decision.is_allowed());
    });
    assert_eq!(denied, 0.0, "denied check");

    // The layer, allowing: the decision in the request's extensions (a box
    // there), and with the draft's headers, RateLimit's value, unless it is
    // one made in advance (a bucket nearly full or nearly empty).
    let capacity = 1_000_000;
    let (none, statuses) = layer_allocations(HeaderMode::None, capacity, 1, false);
    assert!(statuses.iter().all(|status| *status == StatusCode::OK), "{statuses:?}");
    assert_eq!(none, 1.0, "allowed, no headers");
    let (draft, _) = layer_allocations(HeaderMode::Draft, capacity, 1_000, false);
    assert_eq!(draft, 2.0, "allowed, draft headers, half full");
    let (draft, _) = layer_allocations(HeaderMode::Draft, capacity, 1, true);
    assert_eq!(draft, 1.0, "allowed, draft headers, nearly full");

    // Refusing (one token, taken before counting): only the refusal's
    // header map (its two tables); its body and Retry-After are made in
    // advance and shared, and the decision does not go to a handler.
    let (refused, statuses) = layer_allocations(HeaderMode::None, 1, 1, false);
    assert!(statuses.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert_eq!(refused, 2.0, "refused, no headers");
    let (refused, _) = layer_allocations(HeaderMode::Draft, 1, 1, false);
    assert_eq!(refused, 2.0, "refused, draft headers (an empty bucket's, made in advance)");
}
