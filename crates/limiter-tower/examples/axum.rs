//! An axum server answering `GET /` with `hello`, limited per client address
//! with the IETF draft's quota headers; with `--redis URL`, every server
//! started with the same URL shares one bucket per client there.
//!
//! ```text
//! cargo run --release -p limiter-tower --example axum -- \
//!     --listen 127.0.0.1:3000 --capacity 10 --rate 5 [--trusted-proxy CIDR]... [--redis URL]
//! ```

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use limiter_core::Rate;
use std::sync::Arc;

use limiter_redis::{FailurePolicy, RedisRateLimiter};
use limiter_tower::{Cidr, HeaderMode, RateLimitLayer, RedisBackend};

const USAGE: &str = "usage: axum --listen ADDR:PORT --capacity N --rate R [--trusted-proxy CIDR]... \
                     [--redis URL]";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (mut listen, mut capacity, mut rate, mut proxies) =
        ("127.0.0.1:3000".to_owned(), 10, Rate::per_second(5)?, Vec::<Cidr>::new());
    let mut redis = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--capacity" => {
                capacity = value.parse().map_err(|e| format!("--capacity {value:?}: {e}"))?
            }
            "--rate" => rate = value.parse().map_err(|e| format!("--rate {value:?}: {e}"))?,
            "--trusted-proxy" => proxies.push(value.parse()?),
            "--redis" => redis = Some(value),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}").into()),
        }
    }
    let mut limit = RateLimitLayer::builder(capacity, rate).headers(HeaderMode::Draft);
    for range in proxies {
        limit = limit.trusted_proxy(range);
    }
    let app = Router::new().route("/", get(|| async { "hello\n" }));
    let app = match &redis {
        // Shared by every server on this Redis; refused if Redis fails.
        Some(url) => {
            let shared = RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny)
                .prefix("limiter-tower-example")
                .connect(url)
                .await?;
            app.layer(limit.build_with_backend(RedisBackend::new(Arc::new(shared))))
        }
        None => app.layer(limit.build()?),
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "listening on http://{}/ ({capacity} requests at once, {rate} a second{})",
        listener.local_addr()?,
        redis.map_or(String::new(), |url| format!(", shared on {url}"))
    );
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
