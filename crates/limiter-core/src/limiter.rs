//! The limiter: one body for every kind of key.
//!
//! [`Limiter<S, C>`] holds the settings, the clock and a [`Keyspace`] `S`,
//! which turns a caller's key into a bucket in its stores. Every check is
//! written here once; [`RateLimiter`](crate::RateLimiter) (IP addresses,
//! `addresses.rs`) and [`KeyedRateLimiter`](crate::KeyedRateLimiter) (any
//! key, `keyed.rs`) are this type with their keyspace, plus the few methods
//! only their keys have.

use std::time::Duration;

use crate::bucket::{Decision, Params, State};
use crate::cell::MAX_TIME;
use crate::clock::{Clock, MonotonicClock, Nanos};
use crate::rate::Rate;
use crate::settings::Settings;
use crate::store::{Counters, Ctx, Seen};

/// A token-bucket rate limiter with one bucket per key of the [`Keyspace`]
/// `S`, reading time from the clock `C`.
///
/// Use it as [`RateLimiter`](crate::RateLimiter), for IP addresses, or as
/// [`KeyedRateLimiter<K>`](crate::KeyedRateLimiter), for keys of any type;
/// both aliases document what their keys add. Every key gets a bucket of
/// `capacity` tokens on its first request, full. The bucket refills
/// continuously at the limiter's [`Rate`], up to its capacity, and each
/// request takes its cost from it or is denied. Refills happen inside each
/// call, computed from the elapsed time in exact integer arithmetic; there
/// are no background threads or timers.
///
/// Share a limiter between threads by reference or in an `Arc`.
#[derive(Debug)]
pub struct Limiter<S, C = MonotonicClock> {
    settings: Settings,
    clock: C,
    keys: S,
}

/// The keys of a [`Limiter`] and the stores their buckets live in:
/// [`Addresses`](crate::Addresses) or [`AnyKeys<K>`](crate::AnyKeys).
///
/// Sealed: the limiter's stores are internal, so no other crate can
/// implement it.
pub trait Keyspace: sealed::Sealed + Sized {
    /// The key a check takes: an `IpAddr` for addresses, a `&K` for other
    /// keys.
    type Key<'k>: Copy
    where
        Self: 'k;

    /// The stores for `params`, with `shards` shards each and the given
    /// address prefixes (valid lengths, which only addresses use).
    #[doc(hidden)]
    fn new(params: &Params, shards: usize, ipv4_prefix: u8, ipv6_prefix: u8) -> Self;

    /// Decides a request of `cost` for `key` at `now`, at most `MAX_TIME`.
    #[doc(hidden)]
    fn decide(&self, ctx: Ctx<'_>, key: Self::Key<'_>, now: u64, cost: u64) -> Decision;

    /// [`Keyspace::decide`], projected through the pure `project` where the
    /// decision is made, so that an inlined fast path leaves out what the
    /// projection drops.
    #[doc(hidden)]
    #[inline(always)]
    fn decide_with<R>(
        &self,
        ctx: Ctx<'_>,
        key: Self::Key<'_>,
        now: u64,
        cost: u64,
        project: impl Fn(Decision) -> R + Copy,
    ) -> R {
        project(self.decide(ctx, key, now, cost))
    }

    /// `key`'s bucket as it is, creating nothing; `None` if it has none.
    #[doc(hidden)]
    fn bucket(&self, key: Self::Key<'_>) -> Option<State>;

    /// Evicts every bucket idle at `now`; returns how many.
    #[doc(hidden)]
    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize;

    /// The number of keys with a bucket.
    #[doc(hidden)]
    fn buckets(&self) -> usize;

    /// The buckets created and evicted.
    #[doc(hidden)]
    fn counters(&self) -> Counters;
}

pub(crate) mod sealed {
    /// Keeps [`Keyspace`](super::Keyspace) to this crate.
    pub trait Sealed {}
}

impl<S: Keyspace, C: Clock> Limiter<S, C> {
    pub(crate) fn from_parts(settings: Settings, keys: S, clock: C) -> Limiter<S, C> {
        Limiter { settings, clock, keys }
    }

    /// Decides a request of cost 1 for `key` now.
    #[inline]
    pub fn check(&self, key: S::Key<'_>) -> Decision {
        self.check_n(key, 1)
    }

    /// Decides a request of `cost` tokens for `key` now.
    ///
    /// Cost 0 is always allowed and changes nothing; a cost above the capacity
    /// is [`Decision::OverCapacity`]. The time is read from the limiter's
    /// clock, which is taken to be monotonic, so a denial is decided without
    /// writing to the bucket (a later request's refill covers it). With a
    /// clock that runs backwards, decisions can only be stricter than SPEC's.
    #[inline]
    pub fn check_n(&self, key: S::Key<'_>, cost: u64) -> Decision {
        self.decide(key, cost, self.clock.now(), true)
    }

    /// Decides a request of `cost` tokens for `key` now, as
    /// [`check_n`](Limiter::check_n) does, and tells how long from then
    /// until the bucket holds one more whole token, as
    /// [`next_token_at`](Limiter::next_token_at) would at the same time:
    /// both from the one state the decision left the bucket in.
    ///
    /// This is what HTTP quota headers report (tokens left and the wait for
    /// the next), in one lookup of the key and as free of locks as
    /// `check_n`. The wait is rounded up to the next nanosecond, and `None`
    /// when the bucket is full after the decision (a new key's bucket,
    /// for a request of cost 0, or one that was full and lost nothing).
    /// A key the limiter does not track after the decision (turned away at a
    /// full key cap, or decided on an evicted key's trace) is looked up again
    /// for the wait, as `next_token_at` does.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::{Decision, ManualClock, Rate, RateLimiter};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::default();
    /// let limiter = RateLimiter::with_clock(10, Rate::per_second(4)?, clock.clone())?;
    /// let ip = "192.0.2.1".parse()?;
    /// // A full bucket gives 3 of its 10 tokens: the next one is 250 ms away.
    /// let (decision, next) = limiter.check_n_with_next_token(ip, 3);
    /// assert_eq!(decision, Decision::Allowed { remaining: 7 });
    /// assert_eq!(next, Some(Duration::from_millis(250)));
    /// clock.advance(Duration::from_millis(100));
    /// let (decision, next) = limiter.check_n_with_next_token(ip, 8);
    /// assert_eq!(decision, Decision::Denied { remaining: 7, retry_after: Duration::from_millis(150) });
    /// assert_eq!(next, Some(Duration::from_millis(150)));
    /// assert_eq!(limiter.check_n_with_next_token(ip, 0).1, next);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check_n_with_next_token(
        &self,
        key: S::Key<'_>,
        cost: u64,
    ) -> (Decision, Option<Duration>) {
        let seen = Seen::new();
        let now = clamp(self.clock.now());
        let ctx = Ctx { seen: Some(&seen), ..self.settings.ctx(true) };
        let decision = self.keys.decide(ctx, key, now, cost);
        self.settings.tally.count(decision.is_allowed());
        // Every decision on a bucket that stays keeps its state; the others
        // are rare (a full key cap, an evicted key's trace).
        let state = match seen.get() {
            Some(state) => Some(state),
            None => self.keys.bucket(key),
        };
        (decision, state.and_then(|state| self.settings.params.next_token(state, now)))
    }

    /// Decides a request of cost 1 for `key` at time `now`.
    #[inline]
    pub fn check_at(&self, key: S::Key<'_>, now: Nanos) -> Decision {
        self.check_n_at(key, 1, now)
    }

    /// Decides a request of `cost` tokens for `key` at time `now`, exactly as
    /// SPEC's model does.
    ///
    /// A `now` earlier than the latest time `key`'s bucket has seen is decided
    /// at that latest time, so a bucket's time never moves backwards. Times
    /// from 2⁶³ ns on (292 years after the epoch) are taken as 2⁶³ − 1.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::{Decision, Nanos, Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::with_rate(1, Rate::per_second(2)?)?;
    /// let ip = "10.0.0.1".parse()?;
    /// assert!(limiter.check_n_at(ip, 1, Nanos::from_secs(100)).is_allowed());
    /// // Half a second later the bucket holds a token again ...
    /// assert!(limiter.check_n_at(ip, 1, Nanos::new(100_500_000_000)).is_allowed());
    /// // ... but a request stamped earlier is decided at 100.5 s: no refill.
    /// assert!(!limiter.check_n_at(ip, 1, Nanos::from_secs(50)).is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check_n_at(&self, key: S::Key<'_>, cost: u64, now: Nanos) -> Decision {
        self.decide(key, cost, now, false)
    }

    /// Whole tokens in `key`'s bucket at time `now`, without taking any or
    /// creating the bucket.
    pub fn tokens_at(&self, key: S::Key<'_>, now: Nanos) -> u64 {
        let params = &self.settings.params;
        self.keys.bucket(key).map_or(params.capacity(), |bucket| params.peek(bucket, clamp(now)))
    }

    /// How long from `now` until `key`'s bucket holds one more whole token
    /// than it does at `now`, rounded up to the next nanosecond, without
    /// taking any, creating the bucket or counting a request; `None` when the
    /// bucket is full (a key without a bucket has a full one).
    ///
    /// This is the figure HTTP quota headers report beside the tokens left.
    /// A `now` earlier than the bucket's latest time counts from `now`, as a
    /// denial's wait does.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::{Nanos, Rate, RateLimiter};
    /// use std::time::Duration;
    ///
    /// let limiter = RateLimiter::with_rate(10, Rate::per_second(4)?)?;
    /// let ip = "192.0.2.1".parse()?;
    /// assert_eq!(limiter.next_token_at(ip, Nanos::from_secs(1)), None); // no bucket: full
    /// assert!(limiter.check_n_at(ip, 3, Nanos::from_secs(1)).is_allowed());
    /// let later = Nanos::new(1_100_000_000);
    /// assert_eq!(limiter.next_token_at(ip, later), Some(Duration::from_millis(150)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_token_at(&self, key: S::Key<'_>, now: Nanos) -> Option<Duration> {
        self.settings.params.next_token(self.keys.bucket(key)?, clamp(now))
    }

    /// Evicts every idle bucket now; returns how many. See
    /// [`Eviction`](crate::Eviction).
    pub fn prune(&self) -> usize {
        self.prune_at(self.clock.now())
    }

    /// Evicts every bucket idle at time `now`, a shard at a time; returns how
    /// many.
    ///
    /// Their room goes to the next new keys; an address table keeps its
    /// size (see [`Builder::max_keys`](crate::Builder::max_keys)).
    pub fn prune_at(&self, now: Nanos) -> usize {
        self.keys.prune(self.settings.ctx(false), clamp(now))
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

    /// The number of keys (or address prefixes) with a bucket.
    pub fn len(&self) -> usize {
        self.keys.buckets()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the limiter has done since it was built.
    pub fn counters(&self) -> Counters {
        self.settings.tally.counters() + self.keys.counters()
    }

    /// The one path of every check: `live` when `now` came from the clock.
    #[inline(always)]
    fn decide(&self, key: S::Key<'_>, cost: u64, now: Nanos, live: bool) -> Decision {
        self.decide_with(key, cost, now, live, crate::cell::same)
    }

    /// Whether a request of cost 1 for `key` at `now` is allowed: the
    /// `allow` methods, which need no more of the decision.
    #[inline(always)]
    pub(crate) fn allows(&self, key: S::Key<'_>, now: Nanos, live: bool) -> bool {
        self.decide_with(key, 1, now, live, |decision| decision.is_allowed())
    }

    /// Decides and counts the decision; returns `project` of it, which
    /// must be pure (the fast path may project a decision it then drops).
    /// Inlined into each check, where `live` is a constant.
    #[inline(always)]
    fn decide_with<R: Outcome>(
        &self,
        key: S::Key<'_>,
        cost: u64,
        now: Nanos,
        live: bool,
        project: impl Fn(Decision) -> R + Copy,
    ) -> R {
        let outcome =
            self.keys.decide_with(self.settings.ctx(live), key, clamp(now), cost, project);
        self.settings.tally.count(outcome.is_allowed());
        outcome
    }

    /// The keyspace, for the methods only its keys have.
    #[inline]
    pub(crate) fn keys(&self) -> &S {
        &self.keys
    }
}

/// What a check returns: a whole [`Decision`], or whether it was allowed.
pub(crate) trait Outcome {
    fn is_allowed(&self) -> bool;
}

impl Outcome for Decision {
    #[inline]
    fn is_allowed(&self) -> bool {
        Decision::is_allowed(self)
    }
}

impl Outcome for bool {
    #[inline]
    fn is_allowed(&self) -> bool {
        *self
    }
}

/// A time as buckets hold it: at most `MAX_TIME`.
#[inline]
fn clamp(now: Nanos) -> u64 {
    now.as_u64().min(MAX_TIME)
}
