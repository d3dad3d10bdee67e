//! Per-client rate limiting for axum, hyper and tonic services: a tower
//! [`Layer`](tower_layer::Layer) over `limiter-core`'s exact token buckets.
//!
//! Each client gets a bucket of `capacity` tokens refilled at `rate` tokens
//! per second; a request takes one token (or what a cost function says) or
//! is refused with `429 Too Many Requests`, a `Retry-After` of the exact wait
//! rounded up to whole seconds (at least 1), and the IETF draft's quota
//! headers.
//!
//! # Quick example
//!
//! ```
//! use axum::{Router, routing::get};
//! use limiter_core::Rate;
//! use limiter_tower::RateLimitLayer;
//!
//! let limit = RateLimitLayer::builder(10, Rate::per_second(5)?) // 10 at once, 5 a second
//!     .trusted_proxy("10.0.0.0/8".parse()?) // your load balancers
//!     .build()?;
//! let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(limit.clone());
//! // Serve it with `app.into_make_service_with_connect_info::<SocketAddr>()`,
//! // so that the layer sees each client's address.
//! # drop(app);
//! # assert_eq!(limit.backend().capacity(), 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Keys and proxies
//!
//! By default a request's key is its peer address, read from axum's
//! `ConnectInfo<SocketAddr>` or a plain `SocketAddr` extension (set one in a
//! hyper or tonic service). Only when the peer is a trusted proxy
//! ([`Builder::trusted_proxy`]) is `X-Forwarded-For` (or RFC 7239 `Forwarded`,
//! see [`ProxyHeader`]) read: from the right, skipping trusted addresses, the
//! first untrusted address is the client; if all are trusted, the leftmost
//! is; a malformed entry ends the walk at the last good address. The leftmost
//! entry, which any client can forge, is never taken on its own. Addresses
//! are grouped as the core groups them: `::ffff:a.b.c.d` is `a.b.c.d`, and
//! [`Builder::ipv6_prefix`] puts a whole prefix in one bucket.
//!
//! Other keys (an API key, a user id, a route, one [`Global`] bucket) come
//! from a [`KeyExtractor`] such as [`key_fn`], decided by the core's
//! `KeyedRateLimiter` ([`Builder::build_keyed`]). A request without a key is
//! refused with a 500 naming what is missing, passed, or counted in a shared
//! bucket ([`MissingKey`]).
//!
//! # Headers
//!
//! [`HeaderMode::Draft`] (the default) sends, on allowed and refused
//! responses alike, the fields of "RateLimit header fields for HTTP",
//! draft-ietf-httpapi-ratelimit-headers-11:
//! `RateLimit-Policy: "default";q=10;w=2` (capacity, and seconds to fill an
//! empty bucket) and `RateLimit: "default";r=7;t=1` (whole tokens left, and
//! seconds until the next token, rounded up as `Retry-After` is, so
//! `Retry-After` is never earlier than `t`). [`HeaderMode::Legacy`] sends
//! `X-RateLimit-Limit/-Remaining/-Reset` instead. Stacked layers (10 a second
//! and 1000 an hour, say) both apply, and each adds its own policy to the
//! fields. A request above the capacity can never pass: it is refused with no
//! `Retry-After`, and its body says so.
//!
//! # Policies and memory
//!
//! `OPTIONS` requests (CORS preflights) and an allowlist of ranges pass
//! uncounted; [`Builder::dry_run`] decides and counts but refuses nothing.
//! The decision goes into the request's extensions as [`RateLimitInfo`], and
//! each refusal emits a `tracing` event. The limiter tracks at most
//! [`DEFAULT_MAX_KEYS`] clients unless told otherwise, evicting ones idle for
//! [`DEFAULT_IDLE_WINDOW`].
//!
//! # Services and backends
//!
//! The service is generic over request and response bodies, `Clone`, and
//! adds no error of its own (its error is the inner service's, so axum needs
//! no `HandleErrorLayer`); its future is `Send` when the inner one is. The
//! limiter sits behind the [`Backend`] trait: the core's limiters answer at
//! once, with no allocation or await, and an asynchronous backend plugs in
//! through [`Builder::build_with_backend`]. With the `redis` feature,
//! `RedisBackend` is one: limiter-redis's exact buckets, shared by every
//! instance of a service.
//!
//! # tonic
//!
//! tonic puts the peer in each request's extensions as a `TcpConnectInfo`;
//! copy its `SocketAddr` out before the layer:
//!
//! ```
//! use limiter_core::Rate;
//! use limiter_tower::RateLimitLayer;
//! use tonic::transport::Server;
//! use tonic::transport::server::TcpConnectInfo;
//! use tower::ServiceBuilder;
//!
//! let limit = RateLimitLayer::builder(10, Rate::per_second(5)?).build()?;
//! let keyed = ServiceBuilder::new()
//!     .map_request(|mut req: http::Request<tonic::body::Body>| {
//!         let peer = req.extensions().get::<TcpConnectInfo>().and_then(|c| c.remote_addr());
//!         if let Some(peer) = peer {
//!             req.extensions_mut().insert(peer);
//!         }
//!         req
//!     })
//!     .layer(limit);
//! let (_, health) = tonic_health::server::health_reporter();
//! let router = Server::builder().layer(keyed).add_service(health);
//! // router.serve(addr).await?;
//! # drop(router);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A gRPC call (`content-type: application/grpc…`) is refused as gRPC
//! refuses: a trailers-only response with `grpc-status` 8
//! (`RESOURCE_EXHAUSTED`) and the refusal's text as `grpc-message`, keeping
//! `Retry-After` and the quota fields, which a tonic client reads as the
//! status's metadata. A missing key is `INTERNAL` and a failed backend
//! `UNAVAILABLE`. Other requests get the HTTP refusal.

mod backend;
mod builder;
mod cidr;
mod error;
mod grpc;
mod headers;
mod key;
mod layer;
mod proxy;
#[cfg(feature = "redis")]
mod redis;
mod response;

pub use crate::backend::{Backend, Verdict};
pub use crate::builder::{Builder, DEFAULT_IDLE_WINDOW, DEFAULT_MAX_KEYS};
pub use crate::cidr::Cidr;
pub use crate::error::InvalidCidr;
pub use crate::headers::HeaderMode;
pub use crate::key::{ClientIp, Global, KeyExtractor, KeyFn, MissingKey, RequestHead, key_fn};
pub use crate::layer::{RateLimit, RateLimitInfo, RateLimitLayer, ResponseFuture};
pub use crate::proxy::ProxyHeader;
#[cfg(feature = "redis")]
pub use crate::redis::{RedisBackend, RedisKey};
pub use crate::response::{BodyFormat, QUOTA_EXCEEDED, ResponseBody};
