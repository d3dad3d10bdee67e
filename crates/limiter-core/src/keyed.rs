//! A limiter for keys of any type.

use std::hash::Hash;
use std::time::Duration;

use crate::bucket::Decision;
use crate::builder::{Builder, Settings};
use crate::cell::MAX_TIME;
use crate::clock::{Clock, MonotonicClock, Nanos};
use crate::rate::Rate;
use crate::store::{Counters, MapBuckets};

/// A token-bucket rate limiter with one bucket per key of any type: API keys,
/// user ids, routes.
///
/// It behaves exactly as [`RateLimiter`](crate::RateLimiter) does for
/// addresses, which is itself this limiter specialised to compact IPv4 and
/// IPv6 keys. Build one with [`Builder::build_keyed`].
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
#[derive(Debug)]
pub struct KeyedRateLimiter<K, C = MonotonicClock> {
    settings: Settings,
    clock: C,
    buckets: MapBuckets<K>,
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A limiter of `capacity` tokens refilled at `rate`, on the
    /// [`MonotonicClock`], with the [`Builder`]'s defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CapacityOutOfRange`](crate::ConfigError::CapacityOutOfRange)
    /// unless `1 <= capacity <= 10⁹`.
    pub fn with_rate(capacity: u64, rate: Rate) -> Result<KeyedRateLimiter<K>, crate::ConfigError> {
        Builder::new(capacity, rate).build_keyed()
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedRateLimiter<K, C> {
    pub(crate) fn from_parts(settings: Settings, clock: C) -> KeyedRateLimiter<K, C> {
        let buckets = MapBuckets::new(&settings.params, settings.shards);
        KeyedRateLimiter { settings, clock, buckets }
    }

    /// Takes one token from `key`'s bucket now, if it has one.
    #[inline]
    pub fn allow(&self, key: &K) -> bool {
        self.check(key).is_allowed()
    }

    /// Takes one token from `key`'s bucket at time `now`, if it has one.
    #[inline]
    pub fn allow_at(&self, key: &K, now: Nanos) -> bool {
        self.check_n_at(key, 1, now).is_allowed()
    }

    /// Decides a request of cost 1 for `key` now.
    #[inline]
    pub fn check(&self, key: &K) -> Decision {
        self.check_n(key, 1)
    }

    /// Decides a request of `cost` tokens for `key` now.
    #[inline]
    pub fn check_n(&self, key: &K, cost: u64) -> Decision {
        let now = self.clock.now().as_u64().min(MAX_TIME);
        self.buckets.decide(self.settings.ctx(true), key, now, cost)
    }

    /// Decides a request of cost 1 for `key` at time `now`.
    #[inline]
    pub fn check_at(&self, key: &K, now: Nanos) -> Decision {
        self.check_n_at(key, 1, now)
    }

    /// Decides a request of `cost` tokens for `key` at time `now`, exactly as
    /// SPEC's model does, out-of-order times included.
    #[inline]
    pub fn check_n_at(&self, key: &K, cost: u64, now: Nanos) -> Decision {
        let now = now.as_u64().min(MAX_TIME);
        self.buckets.decide(self.settings.ctx(false), key, now, cost)
    }

    /// Whole tokens in `key`'s bucket at time `now`, without taking any or
    /// creating the bucket.
    pub fn tokens_at(&self, key: &K, now: Nanos) -> u64 {
        self.buckets.peek(&self.settings.params, key, now.as_u64().min(MAX_TIME))
    }

    // limiter-tower (#20): for quota headers.
    /// How long from `now` until `key`'s bucket holds one more whole token
    /// than it does then (rounded up to the next nanosecond), without taking
    /// any, creating the bucket or counting a request; `None` if it is full.
    pub fn next_token_at(&self, key: &K, now: Nanos) -> Option<Duration> {
        let now = now.as_u64().min(MAX_TIME);
        self.settings.params.next_token(self.buckets.state(key)?, now)
    }

    /// Evicts every idle bucket now; returns how many. See [`Eviction`](crate::Eviction).
    pub fn prune(&self) -> usize {
        self.prune_at(self.clock.now())
    }

    /// Evicts every bucket idle at time `now`; returns how many.
    pub fn prune_at(&self, now: Nanos) -> usize {
        self.buckets.prune(self.settings.ctx(false), now.as_u64().min(MAX_TIME))
    }

    /// The number of keys with a bucket.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the limiter has done since it was built.
    pub fn counters(&self) -> Counters {
        self.settings.limits.tally.counters() + self.buckets.counters()
    }

    /// The capacity of every bucket, in tokens.
    pub fn capacity(&self) -> u64 {
        self.settings.params.capacity()
    }

    /// The refill rate of every bucket.
    pub fn rate(&self) -> Rate {
        self.settings.rate
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}
