//! No key, exemptions, dry run, costs, stacked layers, custom keys and a
//! plain hyper service.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use limiter_core::{Clock, ManualClock, Rate};
use limiter_tower::{Global, MissingKey, RateLimitLayer, RequestHead, key_fn};
use tower::ServiceBuilder;

use crate::util::{app, client, clock, get, get_once, ok, send, serve, serve_limited};

fn one_per_second(capacity: u64) -> limiter_tower::Builder {
    RateLimitLayer::builder(capacity, Rate::per_second(1).unwrap())
}

#[tokio::test]
async fn no_peer_address_each_choice() {
    // Served without ConnectInfo: no request has a peer address.
    let reject = one_per_second(2).build_with_clock(clock()).unwrap();
    let addr = serve(app().layer(reject), false).await;
    let reply = get_once(addr, &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("no peer address"), "{}", reply.body);
    assert!(reply.body.contains("ConnectInfo<SocketAddr>"), "{}", reply.body);

    let allow = one_per_second(2).missing_key(MissingKey::Allow).build_with_clock(clock()).unwrap();
    let addr = serve(app().layer(allow.clone()), false).await;
    for _ in 0..5 {
        let reply = get_once(addr, &[]).await;
        assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "not limited"));
    }
    assert_eq!(allow.backend().counters().allowed, 0);

    let shared = IpAddr::from([0, 0, 0, 0]);
    let layer = one_per_second(2)
        .missing_key(MissingKey::Shared(shared))
        .build_with_clock(clock())
        .unwrap();
    let addr = serve(app().layer(layer.clone()), false).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(get_once(addr, &[]).await.status.as_u16());
    }
    assert_eq!(got, [200, 200, 429]);
    assert_eq!(layer.backend().tokens_at(shared, layer.backend().clock().now()), 0);
}

#[tokio::test]
async fn dry_run_counts_but_never_refuses() {
    let layer = one_per_second(1).dry_run(true).build_with_clock(clock()).unwrap();
    let addr = serve_limited(layer.clone()).await;
    let client = client();
    let first = send(&client, addr, get(&[])).await;
    assert_eq!((first.status, &*first.body), (StatusCode::OK, "allowed, 0 left"));
    for _ in 0..2 {
        let reply = send(&client, addr, get(&[])).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body.starts_with("not allowed: Denied"), "{}", reply.body);
        assert_eq!(reply.one("retry-after"), None);
        assert_eq!(reply.one("ratelimit"), Some("\"default\";r=0;t=1"));
    }
    let counters = layer.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (1, 2));
}

#[tokio::test]
async fn options_and_allowlisted_clients_pass_uncounted() {
    let layer = one_per_second(1).build_with_clock(clock()).unwrap();
    let addr = serve_limited(layer.clone()).await;
    let client = client();
    for _ in 0..3 {
        let options = Request::options("/").body(Full::new(Bytes::new())).unwrap();
        let reply = send(&client, addr, options).await;
        assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "not limited"));
        assert_eq!(reply.one("ratelimit"), None);
    }
    assert_eq!(send(&client, addr, get(&[])).await.status, StatusCode::OK);
    assert_eq!(send(&client, addr, get(&[])).await.status, StatusCode::TOO_MANY_REQUESTS);

    let layer = one_per_second(1)
        .allow("127.0.0.0/8".parse().unwrap())
        .exempt_methods([])
        .build_with_clock(clock())
        .unwrap();
    let addr = serve_limited(layer.clone()).await;
    for _ in 0..3 {
        assert_eq!(send(&client, addr, get(&[])).await.status, StatusCode::OK);
    }
    assert!(layer.backend().is_empty());
}

#[tokio::test]
async fn cost_closure_and_over_capacity() {
    let cost = |head: &RequestHead<'_>| {
        head.headers().get("x-cost").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1)
    };
    let layer = one_per_second(10).cost(cost).build_with_clock(clock()).unwrap();
    let addr = serve_limited(layer).await;
    let client = client();
    let reply = send(&client, addr, get(&[("x-cost", "4")])).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "allowed, 6 left"));
    let reply = send(&client, addr, get(&[("x-cost", "7")])).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.one("retry-after"), Some("1"));
    assert_eq!(reply.one("ratelimit"), Some("\"default\";r=6;t=1"));
    let reply = send(&client, addr, get(&[("x-cost", "11")])).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.one("retry-after"), None, "waiting cannot help");
    assert!(reply.body.contains("more than the limit's capacity of 10"), "{}", reply.body);
    assert_eq!(reply.one("ratelimit-policy"), Some("\"default\";q=10;w=10"));
    let reply = send(&client, addr, get(&[("x-cost", "0")])).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "allowed, 6 left"));
}

#[tokio::test]
async fn stacked_layers_both_apply() {
    let clock = clock();
    let burst = RateLimitLayer::builder(2, Rate::per_second(1).unwrap())
        .name("burst")
        .build_with_clock(clock.clone())
        .unwrap();
    let hourly = RateLimitLayer::builder(3, Rate::per_hour(3).unwrap())
        .name("hourly")
        .build_with_clock(clock.clone())
        .unwrap();
    // The hourly layer is outside: it sees every request first.
    let addr = serve(app().layer(burst).layer(hourly), true).await;
    let client = client();

    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.all("ratelimit-policy"), ["\"burst\";q=2;w=2", "\"hourly\";q=3;w=3600"]);
    assert_eq!(reply.all("ratelimit"), ["\"burst\";r=1;t=1", "\"hourly\";r=2;t=1200"]);
    assert_eq!(send(&client, addr, get(&[])).await.status, StatusCode::OK);
    // The burst is spent: refused inside, though counted outside.
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(
        (reply.status, reply.one("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("1"))
    );
    assert_eq!(reply.all("ratelimit"), ["\"burst\";r=0;t=1", "\"hourly\";r=0;t=1200"]);
    // A second on, the burst has a token but the hour has none.
    clock.advance(Duration::from_secs(1));
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(
        (reply.status, reply.one("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("1199"))
    );
    assert_eq!(reply.all("ratelimit"), ["\"hourly\";r=0;t=1199"]);
}

#[tokio::test]
async fn custom_and_global_keys() {
    let clock = clock();
    let api_key = key_fn(|head: &RequestHead<'_>| {
        head.headers().get("x-api-key").map(|v| v.as_bytes().to_vec())
    });
    let layer = one_per_second(1).key(api_key).build_keyed_with_clock(clock.clone()).unwrap();
    let addr = serve_limited_keyed(layer.clone()).await;
    let client = client();
    assert_eq!(send(&client, addr, get(&[("x-api-key", "a")])).await.status, StatusCode::OK);
    assert_eq!(
        send(&client, addr, get(&[("x-api-key", "a")])).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(send(&client, addr, get(&[("x-api-key", "b")])).await.status, StatusCode::OK);
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("the key extractor found no key"), "{}", reply.body);
    assert_eq!(layer.backend().len(), 2);

    let global = one_per_second(2).key(Global).build_keyed_with_clock(clock.clone()).unwrap();
    let addr = serve(app().layer(global), false).await;
    let statuses = [
        get_once(addr, &[]).await.status,
        get_once(addr, &[("x-forwarded-for", "192.0.2.1")]).await.status,
        get_once(addr, &[]).await.status,
    ];
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
}

async fn serve_limited_keyed<B, X>(layer: RateLimitLayer<B, X>) -> SocketAddr
where
    B: limiter_tower::Backend,
    X: limiter_tower::KeyExtractor<Key = B::Key>,
{
    serve(app().layer(layer), true).await
}

/// A plain hyper service, with the peer address as a `SocketAddr` extension.
#[tokio::test]
async fn plain_hyper_service_with_a_socket_addr_extension() {
    let clock: ManualClock = clock();
    let layer = one_per_second(1).build_with_clock(clock).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .map_request(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer);
                    req
                })
                .layer(layer.clone())
                .service_fn(|req: Request<hyper::body::Incoming>| async move {
                    assert_eq!(req.method(), Method::GET);
                    ok(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
                });
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    let client = client();
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "hello"));
    assert_eq!(reply.one("ratelimit"), Some("\"default\";r=0;t=1"));
    let reply = send(&client, addr, get(&[])).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}
