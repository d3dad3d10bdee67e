//! The layer applied with axum's `Router::route_layer`.

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use limiter_core::Rate;
use limiter_tower::RateLimitLayer;

use crate::util::{client, clock, send, serve};

fn get_path(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn route_layer_limits_matched_routes_only() {
    let limit =
        RateLimitLayer::builder(2, Rate::per_second(1).unwrap()).build_with_clock(clock()).unwrap();
    // `route_layer` wraps the routes added before it, and only once matched.
    let app = Router::new()
        .route("/limited", get(|| async { "limited" }))
        .route_layer(limit.clone())
        .route("/open", get(|| async { "open" }));
    let addr = serve(app, true).await;
    let client = client();

    // Unmatched paths get axum's 404, uncounted and without quota headers.
    for _ in 0..5 {
        let reply = send(&client, addr, get_path("/nowhere")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.one("ratelimit"), None);
    }
    let counters = limit.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (0, 0));

    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(send(&client, addr, get_path("/limited")).await.status.as_u16());
    }
    assert_eq!(got, [200, 200, 429]);

    // With the bucket empty, an unmatched path is still a 404, and a route
    // added after `route_layer` is not limited.
    assert_eq!(send(&client, addr, get_path("/nowhere")).await.status, StatusCode::NOT_FOUND);
    let open = send(&client, addr, get_path("/open")).await;
    assert_eq!((open.status, &*open.body, open.one("ratelimit")), (StatusCode::OK, "open", None));
    let counters = limit.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (2, 1));
}
