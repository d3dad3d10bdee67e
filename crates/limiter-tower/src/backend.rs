//! Where the layer's decisions are made: a small trait, implemented for the
//! core's in-process limiters and open to asynchronous ones (a limiter shared
//! through Redis by several instances).

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use limiter_core::{Clock, Decision, KeyedRateLimiter, Rate, RateLimiter};

/// A backend's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// The core's decision.
    pub decision: Decision,
    /// How long after the decision until the bucket holds one more whole
    /// token (rounded up to the next nanosecond); `None` if it is full, or if
    /// the layer did not ask (it asks only when it sends quota headers).
    pub next_token: Option<Duration>,
}

/// A limiter the layer can ask, in process or over the network.
///
/// `check` decides one request, taking its cost if it is allowed, exactly as
/// the core's `check_n` does. A backend that can fail (a network store)
/// chooses its own fail policy: it may answer an allowed or a denied verdict
/// when its store is down, or return an error, which the layer turns into a
/// `503 Service Unavailable` naming it. The in-process backends cannot fail,
/// answer a [`Ready`] future, and neither allocate nor await.
///
/// The layer polls a check's future once in `call`, with a waker that does
/// nothing, and only if that finds it pending moves it into the response
/// future and polls it again there: like every future, it must wake the
/// waker of its latest poll.
pub trait Backend: Send + Sync + 'static {
    /// The key type of its buckets.
    type Key: Clone + fmt::Debug + Send + Sync + 'static;
    /// Why a check failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The future of one check (`Unpin`: an asynchronous backend boxes it).
    type Future: Future<Output = Result<Verdict, Self::Error>> + Send + Unpin + 'static;

    /// Decides a request of `cost` tokens for `key`; with `next_token`, the
    /// verdict also tells the wait for the next whole token.
    fn check(&self, key: &Self::Key, cost: u64, next_token: bool) -> Self::Future;

    /// The capacity of every bucket, in tokens.
    fn capacity(&self) -> u64;

    /// The refill rate of every bucket.
    fn rate(&self) -> Rate;
}

impl<C: Clock + 'static> Backend for RateLimiter<C> {
    type Key = IpAddr;
    type Error = Infallible;
    type Future = Ready<Result<Verdict, Infallible>>;

    #[inline]
    fn check(&self, key: &IpAddr, cost: u64, want: bool) -> Self::Future {
        // The wait comes from the state the decision left, in the same lookup.
        let (decision, next_token) = if want {
            self.check_n_with_next_token(*key, cost)
        } else {
            (self.check_n(*key, cost), None)
        };
        ready(Ok(Verdict { decision, next_token }))
    }

    fn capacity(&self) -> u64 {
        RateLimiter::capacity(self)
    }

    fn rate(&self) -> Rate {
        RateLimiter::rate(self)
    }
}

impl<K, C> Backend for KeyedRateLimiter<K, C>
where
    K: Hash + Eq + Clone + fmt::Debug + Send + Sync + 'static,
    C: Clock + 'static,
{
    type Key = K;
    type Error = Infallible;
    type Future = Ready<Result<Verdict, Infallible>>;

    #[inline]
    fn check(&self, key: &K, cost: u64, want: bool) -> Self::Future {
        let (decision, next_token) = if want {
            self.check_n_with_next_token(key, cost)
        } else {
            (self.check_n(key, cost), None)
        };
        ready(Ok(Verdict { decision, next_token }))
    }

    fn capacity(&self) -> u64 {
        KeyedRateLimiter::capacity(self)
    }

    fn rate(&self) -> Rate {
        KeyedRateLimiter::rate(self)
    }
}
