//! The limiter for keys of any type: [`Limiter`] over [`AnyKeys`].

use std::hash::Hash;

use crate::bucket::{Decision, Params, State};
use crate::cell::{Narrow, Wide};
use crate::clock::{Clock, MonotonicClock, Nanos};
use crate::limiter::{Keyspace, Limiter, sealed};
use crate::store::{Counters, Ctx, Layout, Map};

/// A token-bucket rate limiter with one bucket per key of any type: API keys,
/// user ids, routes.
///
/// It decides exactly as [`RateLimiter`](crate::RateLimiter) does for
/// addresses; both are one [`Limiter`] with their own keyspace. Its buckets
/// live in a sharded hash map whose readers share a lock per shard, keyed by
/// SipHash, since its keys may be arbitrary strings. Build one with
/// [`KeyedRateLimiter::builder`](Limiter::builder) or
/// [`KeyedRateLimiter::with_rate`](Limiter::with_rate).
///
/// # Example
///
/// ```
/// use limiter_core::{KeyedRateLimiter, Rate};
///
/// let limiter: KeyedRateLimiter<String> = KeyedRateLimiter::with_rate(2, Rate::per_minute(2)?)?;
/// let key = "api-key-7".to_string();
/// assert!(limiter.allow(&key) && limiter.allow(&key));
/// assert!(!limiter.allow(&key));
/// assert!(limiter.allow(&"api-key-8".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type KeyedRateLimiter<K, C = MonotonicClock> = Limiter<AnyKeys<K>, C>;

/// The keyspace of [`KeyedRateLimiter`]: keys of type `K`, in a sharded hash
/// map.
#[derive(Debug)]
pub struct AnyKeys<K> {
    map: Layout<Map<K, Narrow>, Map<K, Wide>>,
}

impl<K> sealed::Sealed for AnyKeys<K> {}

impl<K: Hash + Eq + Clone> Keyspace for AnyKeys<K> {
    type Key<'k>
        = &'k K
    where
        Self: 'k;

    fn new(params: &Params, shards: usize, _: u8, _: u8) -> AnyKeys<K> {
        AnyKeys { map: Layout::new(params, shards) }
    }

    #[inline]
    fn decide(&self, ctx: Ctx<'_>, key: &K, now: u64, cost: u64) -> Decision {
        self.map.decide_with(ctx, key, now, cost, crate::cell::same)
    }

    fn bucket(&self, key: &K) -> Option<State> {
        self.map.bucket(key)
    }

    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        self.map.prune(ctx, now)
    }

    fn buckets(&self) -> usize {
        self.map.len()
    }

    fn counters(&self) -> Counters {
        self.map.counters()
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Limiter<AnyKeys<K>, C> {
    /// Takes one token from `key`'s bucket now, if it has one.
    #[inline]
    pub fn allow(&self, key: &K) -> bool {
        self.allows(key, self.clock().now(), true)
    }

    /// Takes one token from `key`'s bucket at time `now`, if it has one.
    #[inline]
    pub fn allow_at(&self, key: &K, now: Nanos) -> bool {
        self.allows(key, now, false)
    }
}

/// Proves at compile time that keyed limiters can be shared between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KeyedRateLimiter<String>>();
};
