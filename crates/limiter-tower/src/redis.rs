//! The Redis backend (feature `redis`): one exact limit shared by every
//! instance of a service, through limiter-redis.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use limiter_core::Rate;
use limiter_redis::{Key, RedisRateLimiter};

use crate::backend::{Backend, Verdict};

/// A key limiter-redis can name a bucket by: a client address (grouped by the
/// limiter's prefixes, as the core groups it) or bytes of the caller's own.
pub trait RedisKey: Clone + fmt::Debug + Send + Sync + 'static {
    /// The key as limiter-redis takes it.
    fn redis_key(&self) -> Key<'_>;
}

impl RedisKey for IpAddr {
    fn redis_key(&self) -> Key<'_> {
        Key::Ip(*self)
    }
}

impl RedisKey for String {
    fn redis_key(&self) -> Key<'_> {
        Key::Bytes(self.as_bytes())
    }
}

impl RedisKey for Vec<u8> {
    fn redis_key(&self) -> Key<'_> {
        Key::Bytes(self)
    }
}

impl RedisKey for &'static str {
    fn redis_key(&self) -> Key<'_> {
        Key::Bytes(self.as_bytes())
    }
}

/// A [`RedisRateLimiter`] as the layer's [`Backend`]: every instance that
/// uses the same Redis and key prefix draws from one bucket per client,
/// decided exactly as the core decides.
///
/// Each check is one script call on the limiter's multiplexed connection (or
/// an answer from its deny cache). A failed or late call is decided by the
/// limiter's own `FailurePolicy` within its deadline, so the backend never
/// fails and the layer never answers 503 for it. Each check boxes its
/// future, as an asynchronous backend must.
///
/// # Example
///
/// ```no_run
/// use std::sync::Arc;
/// use limiter_core::Rate;
/// use limiter_redis::{FailurePolicy, RedisRateLimiter};
/// use limiter_tower::{RateLimitLayer, RedisBackend};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let rate = Rate::per_second(5)?;
/// let shared = RedisRateLimiter::builder(10, rate, FailurePolicy::Deny)
///     .prefix("api")
///     .connect("redis://127.0.0.1:6379/")
///     .await?;
/// let layer = RateLimitLayer::builder(10, rate)
///     .build_with_backend(RedisBackend::new(Arc::new(shared)));
/// # drop(layer);
/// # Ok(())
/// # }
/// ```
pub struct RedisBackend<K = IpAddr> {
    limiter: Arc<RedisRateLimiter>,
    keys: PhantomData<fn() -> K>,
}

impl<K> RedisBackend<K> {
    /// A backend deciding through `limiter`.
    pub fn new(limiter: Arc<RedisRateLimiter>) -> RedisBackend<K> {
        RedisBackend { limiter, keys: PhantomData }
    }

    /// The limiter, for its counters.
    pub fn limiter(&self) -> &RedisRateLimiter {
        &self.limiter
    }
}

impl<K> Clone for RedisBackend<K> {
    fn clone(&self) -> RedisBackend<K> {
        RedisBackend::new(Arc::clone(&self.limiter))
    }
}

impl<K> fmt::Debug for RedisBackend<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend").field("limiter", &self.limiter).finish()
    }
}

/// A boxed check, as an asynchronous backend answers.
type Check = Pin<Box<dyn Future<Output = Result<Verdict, Infallible>> + Send>>;

impl<K: RedisKey> Backend for RedisBackend<K> {
    type Key = K;
    type Error = Infallible;
    type Future = Check;

    /// Every outcome carries the wait for the next token, so `next_token`
    /// costs nothing extra and is always filled in.
    fn check(&self, key: &K, cost: u64, _next_token: bool) -> Check {
        let (limiter, key) = (Arc::clone(&self.limiter), key.clone());
        Box::pin(async move {
            let outcome = limiter.check_n(key.redis_key(), cost).await;
            Ok(Verdict { decision: outcome.decision, next_token: outcome.next_token })
        })
    }

    fn capacity(&self) -> u64 {
        self.limiter.capacity()
    }

    fn rate(&self) -> Rate {
        self.limiter.rate()
    }
}
