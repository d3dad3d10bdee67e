//! A tonic server (tonic-health's ready-made gRPC service) behind the layer,
//! and tonic's own client.

use std::net::SocketAddr;
use std::time::Duration;

use limiter_core::{ManualClock, Rate, RateLimiter};
use limiter_tower::RateLimitLayer;
use tonic::Code;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::ServiceBuilder;

use crate::util::clock;

/// Copies the peer address tonic puts in a request's extensions (as a
/// `TcpConnectInfo`) out where the layer looks for it, as the crate docs show.
fn with_peer(mut req: http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body> {
    let peer = req.extensions().get::<TcpConnectInfo>().and_then(|c| c.remote_addr());
    if let Some(peer) = peer {
        req.extensions_mut().insert(peer);
    }
    req
}

/// Serves tonic-health's service on a free loopback port behind `limit`,
/// keyed by the peer address.
async fn serve_grpc(limit: RateLimitLayer<RateLimiter<ManualClock>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let incoming = TcpIncoming::from(listener);
    let addr = incoming.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let keyed = ServiceBuilder::new().map_request(with_peer).layer(limit);
    let server = Server::builder().layer(keyed).add_service(health);
    tokio::spawn(server.serve_with_incoming(incoming));
    addr
}

async fn health_client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    HealthClient::new(channel)
}

async fn check(client: &mut HealthClient<Channel>) -> Result<HealthCheckResponse, tonic::Status> {
    let request = HealthCheckRequest { service: String::new() };
    client.check(request).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn tonic_health_calls_are_limited_per_peer() {
    let limit =
        RateLimitLayer::builder(3, Rate::per_second(1).unwrap()).build_with_clock(clock()).unwrap();
    let addr = serve_grpc(limit.clone()).await;
    let mut client = health_client(addr).await;

    for left in (0..3).rev() {
        let request = HealthCheckRequest { service: String::new() };
        let response = client.check(request).await.unwrap();
        let quota = response.metadata().get("ratelimit").unwrap().to_str().unwrap();
        assert_eq!(quota, format!("\"default\";r={left};t=1"));
        assert_eq!(response.into_inner().status(), ServingStatus::Serving);
    }

    // The fourth call is refused as gRPC refuses: trailers-only,
    // RESOURCE_EXHAUSTED, with `Retry-After` and the quota fields as the
    // status's metadata.
    let refused = check(&mut client).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(refused.message(), "too many requests: retry after 1 s");
    let metadata = refused.metadata();
    assert_eq!(metadata.get("retry-after").unwrap(), "1");
    assert_eq!(metadata.get("ratelimit").unwrap(), "\"default\";r=0;t=1");
    assert_eq!(metadata.get("ratelimit-policy").unwrap(), "\"default\";q=3;w=3");
    let counters = limit.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (3, 1));

    // A second later the bucket holds one more token: one more call passes.
    limit.backend().clock().advance(Duration::from_secs(1));
    assert_eq!(check(&mut client).await.unwrap().status(), ServingStatus::Serving);
    assert_eq!(check(&mut client).await.unwrap_err().code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_call_above_the_capacity_is_resource_exhausted_without_retry_after() {
    let limit = RateLimitLayer::builder(1, Rate::per_second(1).unwrap())
        .cost(|_| 2)
        .build_with_clock(clock())
        .unwrap();
    let addr = serve_grpc(limit).await;
    let refused = check(&mut health_client(addr).await).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("can never be allowed"), "{refused:?}");
    assert!(refused.metadata().get("retry-after").is_none());
}
