//! The per-IP rate limiter.

use std::net::IpAddr;

use crate::bucket::{Decision, Params};
use crate::clock::{Clock, MonotonicClock, Nanos};
use crate::error::{ConfigError, InvalidIp};
use crate::key::IpKey;
use crate::rate::Rate;
use crate::store::Store;

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
    params: Params,
    rate: Rate,
    clock: C,
    v4: Store<u32>,
    v6: Store<[u64; 2]>,
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
        RateLimiter::with_clock(capacity, rate, MonotonicClock::new())
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
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(ConfigError::CapacityOutOfRange { capacity });
        }
        let shards = default_shards();
        Ok(RateLimiter {
            params: Params::new(capacity, rate),
            rate,
            clock,
            v4: Store::new(shards),
            v6: Store::new(shards),
        })
    }

    /// Takes one token from `ip`'s bucket now, if it has one.
    ///
    /// `ip` is an address exactly as [`IpAddr`]'s `FromStr` reads it: no port,
    /// zone or surrounding spaces.
    ///
    /// # Errors
    ///
    /// [`InvalidIp`] naming `ip` if it is not an address; no bucket is touched.
    #[inline]
    pub fn allow(&self, ip: &str) -> Result<bool, InvalidIp> {
        self.allow_at(ip, self.clock.now())
    }

    /// Takes one token from `ip`'s bucket at time `now`, if it has one.
    ///
    /// # Errors
    ///
    /// [`InvalidIp`] naming `ip` if it is not an address; no bucket is touched.
    #[inline]
    pub fn allow_at(&self, ip: &str, now: Nanos) -> Result<bool, InvalidIp> {
        let ip: IpAddr = ip.parse().map_err(|_| InvalidIp::new(ip))?;
        Ok(self.allow_ip_at(ip, now))
    }

    /// Takes one token from `ip`'s bucket now, if it has one.
    #[inline]
    pub fn allow_ip(&self, ip: IpAddr) -> bool {
        self.allow_ip_at(ip, self.clock.now())
    }

    /// Takes one token from `ip`'s bucket at time `now`, if it has one.
    #[inline]
    pub fn allow_ip_at(&self, ip: IpAddr, now: Nanos) -> bool {
        self.check_n_at(ip, 1, now).is_allowed()
    }

    /// Decides a request of cost 1 from `ip` now.
    #[inline]
    pub fn check(&self, ip: IpAddr) -> Decision {
        self.check_n_at(ip, 1, self.clock.now())
    }

    /// Decides a request of `cost` tokens from `ip` now.
    ///
    /// Cost 0 is always allowed and changes nothing; a cost above the capacity
    /// is [`Decision::OverCapacity`].
    #[inline]
    pub fn check_n(&self, ip: IpAddr, cost: u64) -> Decision {
        self.check_n_at(ip, cost, self.clock.now())
    }

    /// Decides a request of cost 1 from `ip` at time `now`.
    #[inline]
    pub fn check_at(&self, ip: IpAddr, now: Nanos) -> Decision {
        self.check_n_at(ip, 1, now)
    }

    /// Decides a request of `cost` tokens from `ip` at time `now`.
    ///
    /// This is the call every other check makes. A `now` earlier than the
    /// latest time `ip`'s bucket has seen is decided at that latest time, so
    /// a bucket's time never moves backwards.
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
        let now = now.as_u64();
        match IpKey::new(ip) {
            IpKey::V4(key) => self.v4.decide(&self.params, key, now, cost),
            IpKey::V6(key) => self.v6.decide(&self.params, key, now, cost),
        }
    }

    /// Whole tokens in `ip`'s bucket at time `now`, without taking any or
    /// creating the bucket.
    pub fn tokens_at(&self, ip: IpAddr, now: Nanos) -> u64 {
        let now = now.as_u64();
        match IpKey::new(ip) {
            IpKey::V4(key) => self.v4.peek(&self.params, &key, now),
            IpKey::V6(key) => self.v6.peek(&self.params, &key, now),
        }
    }

    /// The capacity of every bucket, in tokens.
    pub fn capacity(&self) -> u64 {
        self.params.capacity()
    }

    /// The refill rate of every bucket.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The number of addresses with a bucket.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether no address has a bucket yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Enough shards that threads rarely meet on a shard lock: 16 per core,
/// at least 64 and at most 4096.
fn default_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 16).next_power_of_two().clamp(64, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimiter>();
        assert_send_sync::<RateLimiter<crate::ManualClock>>();
    }
}
