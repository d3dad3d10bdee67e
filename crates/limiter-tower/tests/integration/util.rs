//! A server and a client for the tests.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::Extension;
use axum::routing::any;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use limiter_core::{Decision, ManualClock, Nanos, RateLimiter};
use limiter_tower::{RateLimitInfo, RateLimitLayer};

/// A frozen clock at 1000 s.
pub(crate) fn clock() -> ManualClock {
    ManualClock::new(Nanos::from_secs(1000))
}

/// What the handler answers: what the layer told it.
async fn handler(info: Option<Extension<RateLimitInfo>>) -> String {
    match info {
        Some(Extension(RateLimitInfo { decision: Decision::Allowed { remaining }, .. })) => {
            format!("allowed, {remaining} left")
        }
        Some(Extension(info)) => format!("not allowed: {:?}", info.decision),
        None => "not limited".to_owned(),
    }
}

/// The app the tests limit: every method on every path.
pub(crate) fn app() -> Router {
    Router::new().route("/", any(handler)).route("/{*rest}", any(handler))
}

/// Serves `app` on a free loopback port, with or without the peer address.
pub(crate) async fn serve(app: Router, connect_info: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if connect_info {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
        } else {
            axum::serve(listener, app).await
        }
    });
    addr
}

/// Serves the test app behind `layer`, with the peer address.
pub(crate) async fn serve_limited(layer: RateLimitLayer<RateLimiter<ManualClock>>) -> SocketAddr {
    serve(app().layer(layer), true).await
}

/// A response as the tests look at it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// Every value of header `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
    }

    /// The one value of header `name`, if there is one.
    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name}: {all:?}");
        all.first().copied()
    }
}

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `req` (its URI a path) to `addr`.
pub(crate) async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Reply {
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://{addr}{}", parts.uri).parse().unwrap();
    let response = client.request(Request::from_parts(parts, body)).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// A GET of `/` with these headers.
pub(crate) fn get(headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::get("/");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

/// GETs `/` once with these headers.
pub(crate) async fn get_once(addr: SocketAddr, headers: &[(&str, &str)]) -> Reply {
    send(&client(), addr, get(headers)).await
}

/// Makes `Infallible` the error of a closure's future, for hyper services.
pub(crate) fn ok<T>(value: T) -> Result<T, Infallible> {
    Ok(value)
}
