//! limiter-redis against a real `redis-server` of each test's own.

mod differential;
mod failures;
mod server;
mod settings;
mod shared;

use std::time::Duration;

use limiter_core::Rate;
use limiter_redis::{FailurePolicy, RedisRateLimiter};

/// A deadline no healthy loopback call misses, even on a loaded machine.
pub(crate) const PATIENT: Duration = Duration::from_secs(10);

/// A limiter of `capacity` at `rate` on `url` under `prefix`, denying on failure.
pub(crate) async fn limiter(
    url: &str,
    prefix: &str,
    capacity: u64,
    rate: &str,
) -> RedisRateLimiter {
    let rate: Rate = rate.parse().unwrap();
    RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny)
        .prefix(prefix)
        .deadline(PATIENT)
        .connect(url)
        .await
        .unwrap()
}
