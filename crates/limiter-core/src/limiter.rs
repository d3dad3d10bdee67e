//! The per-IP rate limiter.

use std::net::IpAddr;
use std::time::Duration;

use crate::bucket::Decision;
use crate::builder::{Builder, Settings};
use crate::cell::MAX_TIME;
use crate::clock::{Clock, MonotonicClock, Nanos};
use crate::error::{ConfigError, InvalidIp};
use crate::key::{IpKey, V6Bits};
use crate::parse::parse_ip;
use crate::rate::Rate;
use crate::store::Counters;
use crate::table::AddressBuckets;

/// The largest supported capacity, in tokens.
pub const MAX_CAPACITY: u64 = 1_000_000_000;

/// A token-bucket rate limiter with one bucket per client IP address.
///
/// Each address gets a bucket of `capacity` tokens on its first request, full.
/// The bucket refills continuously at the limiter's [`Rate`], up to its
/// capacity, and each request takes its cost from it or is denied. Refills
/// happen inside each call, computed from the elapsed time in exact integer
/// arithmetic; there are no background threads or timers.
///
/// Share a limiter between threads by reference or in an `Arc`.
///
/// # Example
///
/// ```
/// use limiter_core::RateLimiter;
///
/// let limiter = RateLimiter::new(10, 5.0)?; // 10 tokens, 5 tokens per second
/// for _ in 0..10 {
///     assert!(limiter.allow("192.168.1.10")?);
/// }
/// assert!(!limiter.allow("192.168.1.10")?); // rate limited
/// assert!(limiter.allow("192.168.1.11")?); // another client has its own bucket
/// assert!(limiter.allow("not an ip").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Differences from governor
///
/// - Decisions are exact: the rate is a rational number and time is integer
///   nanoseconds, where `governor` rounds its emission interval to whole
///   nanoseconds (so `7/h` drifts there and not here).
/// - A request whose cost exceeds the capacity is a distinct
///   [`Decision::OverCapacity`], like governor's `InsufficientCapacity`, but a
///   denial also tells the whole tokens left.
/// - Addresses are canonical keys: `::ffff:10.0.0.1` and `10.0.0.1` share a
///   bucket, and the keys are stored compactly by address family.
/// - Explicit time: every check has an `_at` form, for replaying recorded
///   traffic in its own time.
#[derive(Debug)]
pub struct RateLimiter<C = MonotonicClock> {
    settings: Settings,
    clock: C,
    v4: AddressBuckets<u32>,
    v6: AddressBuckets<V6Bits>,
    v4_mask: u32,
    v6_mask: u128,
}

impl RateLimiter {
    /// A limiter of `capacity` tokens refilled at `rate` tokens per second, on
    /// the [`MonotonicClock`].
    ///
    /// The rate is taken as [`Rate::from_f64`] does: its shortest decimal form
    /// rounded to 9 fractional digits. Use [`RateLimiter::with_rate`] for rates
    /// such as one per hour that have no exact decimal form.
    ///
    /// # Errors
    ///
    /// - [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    /// - [`ConfigError::RateOutOfRange`] if `rate` is NaN, infinite, not
    ///   positive, rounds to 0 or exceeds 10⁹.
    pub fn new(capacity: u64, rate: f64) -> Result<RateLimiter, ConfigError> {
        RateLimiter::with_rate(capacity, Rate::from_f64(rate)?)
    }

    /// A limiter of `capacity` tokens refilled at an exact `rate`, on the
    /// [`MonotonicClock`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::{ConfigError, Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::with_rate(100, "30/m".parse()?)?;
    /// assert_eq!(limiter.rate(), Rate::from_f64(0.5)?);
    /// assert_eq!(
    ///     RateLimiter::with_rate(2_000_000_000, Rate::MAX).unwrap_err(),
    ///     ConfigError::CapacityOutOfRange { capacity: 2_000_000_000 },
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_rate(capacity: u64, rate: Rate) -> Result<RateLimiter, ConfigError> {
        Builder::new(capacity, rate).build()
    }

    /// A [`Builder`] for a limiter with a key cap, an eviction rule or address
    /// prefixes.
    pub fn builder(capacity: u64, rate: Rate) -> Builder {
        Builder::new(capacity, rate)
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter that reads time from `clock`: a [`ManualClock`](crate::ManualClock)
    /// in tests, or any [`Clock`] of your own.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    pub fn with_clock(capacity: u64, rate: Rate, clock: C) -> Result<RateLimiter<C>, ConfigError> {
        Builder::new(capacity, rate).build_with_clock(clock)
    }

    pub(crate) fn from_parts(
        settings: Settings,
        clock: C,
        ipv4_prefix: u8,
        ipv6_prefix: u8,
    ) -> RateLimiter<C> {
        RateLimiter {
            v4: AddressBuckets::new(&settings.params, settings.shards),
            v6: AddressBuckets::new(&settings.params, settings.shards),
            v4_mask: u32::MAX.checked_shl(32 - u32::from(ipv4_prefix)).unwrap_or(0),
            v6_mask: u128::MAX.checked_shl(128 - u32::from(ipv6_prefix)).unwrap_or(0),
            settings,
            clock,
        }
    }

    /// Takes one token from `ip`'s bucket now, if it has one.
    ///
    /// `ip` is an address exactly as [`IpAddr`]'s `FromStr` reads it: no port,
    /// zone or surrounding spaces. (The limiter has its own parser, proven to
    /// agree with std's: several times faster for IPv6, about a quarter
    /// faster for IPv4.)
    ///
    /// # Errors
    ///
    /// [`InvalidIp`] naming `ip` if it is not an address; no bucket is touched.
    #[inline]
    pub fn allow(&self, ip: &str) -> Result<bool, InvalidIp> {
        let ip = parse_ip(ip)?;
        Ok(self.allow_ip(ip))
    }

    /// Takes one token from `ip`'s bucket at time `now`, if it has one.
    ///
    /// # Errors
    ///
    /// [`InvalidIp`] naming `ip` if it is not an address; no bucket is touched.
    #[inline]
    pub fn allow_at(&self, ip: &str, now: Nanos) -> Result<bool, InvalidIp> {
        let ip = parse_ip(ip)?;
        Ok(self.allow_ip_at(ip, now))
    }

    /// Takes one token from `ip`'s bucket now, if it has one.
    #[inline]
    pub fn allow_ip(&self, ip: IpAddr) -> bool {
        self.check(ip).is_allowed()
    }

    /// Takes one token from `ip`'s bucket at time `now`, if it has one.
    #[inline]
    pub fn allow_ip_at(&self, ip: IpAddr, now: Nanos) -> bool {
        self.check_n_at(ip, 1, now).is_allowed()
    }

    /// Decides a request of cost 1 from `ip` now.
    #[inline]
    pub fn check(&self, ip: IpAddr) -> Decision {
        self.check_n(ip, 1)
    }

    /// Decides a request of `cost` tokens from `ip` now.
    ///
    /// Cost 0 is always allowed and changes nothing; a cost above the capacity
    /// is [`Decision::OverCapacity`]. The time is read from the limiter's
    /// clock, which is taken to be monotonic, so a denial is decided without
    /// writing to the bucket (a later request's refill covers it). With a
    /// clock that runs backwards, decisions can only be stricter than SPEC's.
    #[inline]
    pub fn check_n(&self, ip: IpAddr, cost: u64) -> Decision {
        self.decide(ip, cost, self.clock.now(), true)
    }

    /// Decides a request of cost 1 from `ip` at time `now`.
    #[inline]
    pub fn check_at(&self, ip: IpAddr, now: Nanos) -> Decision {
        self.check_n_at(ip, 1, now)
    }

    /// Decides a request of `cost` tokens from `ip` at time `now`, exactly as
    /// SPEC's model does.
    ///
    /// A `now` earlier than the latest time `ip`'s bucket has seen is decided
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
    pub fn check_n_at(&self, ip: IpAddr, cost: u64, now: Nanos) -> Decision {
        self.decide(ip, cost, now, false)
    }

    /// Whole tokens in `ip`'s bucket at time `now`, without taking any or
    /// creating the bucket.
    pub fn tokens_at(&self, ip: IpAddr, now: Nanos) -> u64 {
        let (params, now) = (&self.settings.params, now.as_u64().min(MAX_TIME));
        match self.key(ip) {
            IpKey::V4(key) => self.v4.peek(params, &key, now),
            IpKey::V6(key) => self.v6.peek(params, &key, now),
        }
    }

    // limiter-tower (#20): for quota headers.
    /// How long from `now` until `ip`'s bucket holds one more whole token
    /// than it does then (rounded up to the next nanosecond), without taking
    /// any, creating the bucket or counting a request; `None` if it is full.
    pub fn next_token_at(&self, ip: IpAddr, now: Nanos) -> Option<Duration> {
        let (params, now) = (&self.settings.params, now.as_u64().min(MAX_TIME));
        let state = match self.key(ip) {
            IpKey::V4(key) => self.v4.state(&key),
            IpKey::V6(key) => self.v6.state(&key),
        };
        params.next_token(state?, now)
    }

    /// The address that names `ip`'s bucket: its canonical form (see
    /// [`canonical_ip`](crate::canonical_ip)) cut to the limiter's prefix for
    /// its family. Two addresses share a bucket exactly when their bucket
    /// addresses are equal.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::{Rate, RateLimiter};
    /// use std::net::IpAddr;
    ///
    /// let limiter = RateLimiter::builder(10, Rate::per_second(1)?).ipv6_prefix(64).build()?;
    /// let bucket = limiter.bucket_address("2001:db8:0:7:1:2:3:4".parse()?);
    /// assert_eq!(bucket, "2001:db8:0:7::".parse::<IpAddr>()?);
    /// let mapped = limiter.bucket_address("::ffff:192.0.2.1".parse()?);
    /// assert_eq!(mapped, "192.0.2.1".parse::<IpAddr>()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bucket_address(&self, ip: IpAddr) -> IpAddr {
        self.key(ip).to_ip()
    }

    /// Evicts every idle bucket now; returns how many. See [`Eviction`](crate::Eviction).
    pub fn prune(&self) -> usize {
        self.prune_at(self.clock.now())
    }

    /// Evicts every bucket idle at time `now`, a shard at a time; returns how
    /// many.
    ///
    /// Their slots go to the next new keys; the tables keep their size (see
    /// [`Builder::max_keys`](crate::Builder::max_keys)).
    pub fn prune_at(&self, now: Nanos) -> usize {
        let (ctx, now) = (self.settings.ctx(false), now.as_u64().min(MAX_TIME));
        self.v4.prune(ctx, now) + self.v6.prune(ctx, now)
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

    /// The number of addresses (or prefixes) with a bucket.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether no address has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the limiter has done since it was built.
    pub fn counters(&self) -> Counters {
        self.settings.limits.tally.counters() + self.v4.counters() + self.v6.counters()
    }

    #[inline]
    fn decide(&self, ip: IpAddr, cost: u64, now: Nanos, live: bool) -> Decision {
        let (ctx, now) = (self.settings.ctx(live), now.as_u64().min(MAX_TIME));
        match self.key(ip) {
            IpKey::V4(key) => self.v4.decide(ctx, &key, now, cost),
            IpKey::V6(key) => self.v6.decide(ctx, &key, now, cost),
        }
    }

    /// The key of `ip`'s bucket: its canonical address cut to the prefix.
    #[inline]
    fn key(&self, ip: IpAddr) -> IpKey {
        IpKey::new(ip, self.v4_mask, self.v6_mask)
    }
}

/// Proves at compile time that limiters can be shared between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RateLimiter>();
    assert_send_sync::<RateLimiter<crate::ManualClock>>();
    assert_send_sync::<crate::KeyedRateLimiter<String>>();
};
