//! A tonic server (tonic-health's ready-made gRPC service) behind the layer,
//! and tonic's own client.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::RETRY_AFTER;
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

/// Answers a refusal (429) as gRPC does, trailers-only: HTTP 200,
/// `grpc-status: 8` (RESOURCE_EXHAUSTED), no body, keeping the quota headers
/// and `Retry-After` as metadata. The recipe of the crate docs.
fn grpc_refusal<B>(response: http::Response<B>) -> http::Response<tonic::body::Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return response.map(tonic::body::Body::new);
    }
    let mut grpc = tonic::Status::resource_exhausted("rate limited").into_http();
    for (name, value) in response.headers() {
        if name == RETRY_AFTER || name.as_str().contains("ratelimit") {
            grpc.headers_mut().append(name, value.clone());
        }
    }
    grpc
}

/// Serves tonic-health's service on a free loopback port behind `limit`
/// keyed by the peer address, with refusals as gRPC statuses if `as_grpc`.
async fn serve_grpc(limit: RateLimitLayer<RateLimiter<ManualClock>>, as_grpc: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let incoming = TcpIncoming::from(listener);
    let addr = incoming.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let keyed = ServiceBuilder::new().map_request(with_peer).layer(limit);
    if as_grpc {
        let layers = ServiceBuilder::new().map_response(grpc_refusal).layer(keyed);
        let server = Server::builder().layer(layers).add_service(health);
        tokio::spawn(server.serve_with_incoming(incoming));
    } else {
        let server = Server::builder().layer(keyed).add_service(health);
        tokio::spawn(server.serve_with_incoming(incoming));
    }
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
    let addr = serve_grpc(limit.clone(), false).await;
    let mut client = health_client(addr).await;

    for left in (0..3).rev() {
        let request = HealthCheckRequest { service: String::new() };
        let response = client.check(request).await.unwrap();
        let quota = response.metadata().get("ratelimit").unwrap().to_str().unwrap();
        assert_eq!(quota, format!("\"default\";r={left};t=1"));
        assert_eq!(response.into_inner().status(), ServingStatus::Serving);
    }

    // The fourth call is refused with HTTP 429 and a text body. tonic reads
    // the body as gRPC frames: `Internal`, "invalid compression flag: 116
    // ('t') ... with status: 429 Too Many Requests". The response headers
    // are the status's metadata, `Retry-After` among them.
    let refused = check(&mut client).await.unwrap_err();
    assert_eq!(refused.code(), Code::Internal, "{refused:?}");
    assert!(refused.message().contains("invalid compression flag: 116"), "{refused:?}");
    assert!(refused.message().contains("429 Too Many Requests"), "{refused:?}");
    let metadata = refused.metadata();
    assert_eq!(metadata.get("retry-after").unwrap(), "1");
    assert_eq!(metadata.get("ratelimit").unwrap(), "\"default\";r=0;t=1");
    let counters = limit.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (3, 1));

    // A second later the bucket holds one more token: one more call passes.
    limit.backend().clock().advance(Duration::from_secs(1));
    assert_eq!(check(&mut client).await.unwrap().status(), ServingStatus::Serving);
    assert_eq!(check(&mut client).await.unwrap_err().code(), Code::Internal);
}

#[tokio::test]
async fn refusals_rewritten_as_resource_exhausted() {
    let limit =
        RateLimitLayer::builder(1, Rate::per_second(1).unwrap()).build_with_clock(clock()).unwrap();
    let addr = serve_grpc(limit.clone(), true).await;
    let mut client = health_client(addr).await;

    assert_eq!(check(&mut client).await.unwrap().status(), ServingStatus::Serving);
    let refused = check(&mut client).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(refused.message(), "rate limited");
    let metadata = refused.metadata();
    assert_eq!(metadata.get("retry-after").unwrap(), "1");
    assert_eq!(metadata.get("ratelimit").unwrap(), "\"default\";r=0;t=1");
    assert_eq!(metadata.get("ratelimit-policy").unwrap(), "\"default\";q=1;w=1");
    let counters = limit.backend().counters();
    assert_eq!((counters.allowed, counters.denied), (1, 1));
}
