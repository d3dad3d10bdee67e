//! Building limiters: every constructor of [`Limiter`], and the [`Builder`]
//! for more than a capacity and a rate.

use std::fmt;
use std::marker::PhantomData;

use crate::addresses::Addresses;
use crate::clock::{Clock, MonotonicClock};
use crate::error::{ConfigError, IpFamily};
use crate::limiter::{Keyspace, Limiter};
use crate::policy::{Eviction, WhenFull};
use crate::rate::Rate;
use crate::settings::Settings;

/// Builds a limiter with a key cap, an eviction rule or address prefixes:
/// a [`RateLimiter`](crate::RateLimiter) from [`RateLimiter::builder`](Limiter::builder)
/// or [`Builder::new`], a [`KeyedRateLimiter`](crate::KeyedRateLimiter) from
/// [`KeyedRateLimiter::builder`](Limiter::builder). Only address builders
/// have prefixes.
///
/// Setters take and return `&mut self`, so a builder can be configured in one
/// chain or step by step, and built more than once.
///
/// # Example
///
/// ```
/// use limiter_core::{Eviction, KeyedRateLimiter, Rate, RateLimiter, WhenFull};
///
/// let limiter = RateLimiter::builder(10, Rate::per_second(5)?)
///     .max_keys(100_000) // bounded memory under a flood of new addresses
///     .when_full(WhenFull::DenyNewKeys) // or EvictFullest (default), AdmitUntracked
///     .ipv6_prefix(64) // one bucket per /64, as ISPs assign them
///     .eviction(Eviction::default()) // forget idle (full) buckets: lossless
///     .build()?;
/// let keyed = KeyedRateLimiter::<String>::builder(100, "30/m".parse()?).build()?; // any key type
/// # assert!(limiter.check_n("2001:db8::1".parse()?, 10).is_allowed());
/// # assert!(!limiter.allow("2001:db8::ffff")?); // the same /64
/// # assert!(keyed.allow(&"api-key-1".to_string()));
/// # assert!(RateLimiter::builder(10, Rate::MAX).ipv4_prefix(33).build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Builder<S = Addresses> {
    capacity: u64,
    rate: Rate,
    max_keys: Option<usize>,
    when_full: WhenFull,
    eviction: Eviction,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    keys: PhantomData<fn() -> S>,
}

impl<S: Keyspace> Limiter<S> {
    /// A limiter of `capacity` tokens refilled at `rate` tokens per second, on
    /// the [`MonotonicClock`].
    ///
    /// The rate is taken as [`Rate::from_f64`] does: its shortest decimal form
    /// rounded to 9 fractional digits. Use [`with_rate`](Limiter::with_rate)
    /// for rates such as one per hour that have no exact decimal form.
    ///
    /// # Errors
    ///
    /// - [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    /// - [`ConfigError::RateOutOfRange`] if `rate` is NaN, infinite, not
    ///   positive, rounds to 0 or exceeds 10⁹.
    pub fn new(capacity: u64, rate: f64) -> Result<Limiter<S>, ConfigError> {
        Limiter::with_rate(capacity, Rate::from_f64(rate)?)
    }

    /// A limiter of `capacity` tokens refilled at an exact `rate`, on the
    /// [`MonotonicClock`], with the [`Builder`]'s defaults.
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
    pub fn with_rate(capacity: u64, rate: Rate) -> Result<Limiter<S>, ConfigError> {
        Limiter::builder(capacity, rate).build()
    }

    /// A [`Builder`] for a limiter with a key cap, an eviction rule or (for
    /// addresses) prefixes.
    pub fn builder(capacity: u64, rate: Rate) -> Builder<S> {
        Builder {
            capacity,
            rate,
            max_keys: None,
            when_full: WhenFull::default(),
            eviction: Eviction::default(),
            ipv4_prefix: IpFamily::V4.bits(),
            ipv6_prefix: IpFamily::V6.bits(),
            keys: PhantomData,
        }
    }
}

impl<S: Keyspace, C: Clock> Limiter<S, C> {
    /// A limiter that reads time from `clock`: a [`ManualClock`](crate::ManualClock)
    /// in tests, or any [`Clock`] of your own.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    pub fn with_clock(capacity: u64, rate: Rate, clock: C) -> Result<Limiter<S, C>, ConfigError> {
        Limiter::builder(capacity, rate).build_with_clock(clock)
    }
}

impl Builder {
    /// A builder for per-IP limiters of `capacity` tokens refilled at `rate`,
    /// with no key cap, [`Eviction::default`] and whole addresses as keys;
    /// the same as [`RateLimiter::builder`](Limiter::builder).
    pub fn new(capacity: u64, rate: Rate) -> Builder {
        Limiter::builder(capacity, rate)
    }

    /// IPv4 addresses sharing their first `len` bits share a bucket (0 to 32;
    /// 32, one bucket per address, by default).
    pub fn ipv4_prefix(&mut self, len: u8) -> &mut Builder {
        self.ipv4_prefix = len;
        self
    }

    /// IPv6 addresses sharing their first `len` bits share a bucket (0 to 128;
    /// 128 by default).
    ///
    /// Internet-facing services should use 64: a /64 is the smallest network
    /// an ISP assigns to one subscriber, and the host holds all 2⁶⁴ addresses
    /// in it, so per-address limits let one client rotate through fresh
    /// addresses without end. IPv4-mapped addresses are IPv4 keys and take the
    /// IPv4 prefix.
    pub fn ipv6_prefix(&mut self, len: u8) -> &mut Builder {
        self.ipv6_prefix = len;
        self
    }
}

impl<S: Keyspace> Builder<S> {
    /// Tracks at most `max_keys` keys; see [`WhenFull`] for what happens then.
    ///
    /// This is what bounds a limiter's memory. Evicting a bucket frees its
    /// slot for the next new key, but an address table never gives back the
    /// slots it has grown to while the limiter lives: requests read them
    /// without locks, so nothing they may be reading is ever freed. Without
    /// a cap, that high-water mark is set by the largest burst of distinct
    /// addresses seen within an eviction window; with one, it is at most
    /// about 44 bytes per IPv4 and 59 per IPv6 key of the cap (slots of 24 and
    /// 32 bytes, at least 13/24 of them in use once a table has grown; 39 and
    /// 52 bytes at a million keys). Under [`WhenFull::EvictFullest`], the
    /// traces of evicted buckets add a fixed 8 bytes per key of the cap in
    /// each address family, once the cap has been reached.
    pub fn max_keys(&mut self, max_keys: usize) -> &mut Builder<S> {
        self.max_keys = Some(max_keys);
        self
    }

    /// What to do for a new key when `max_keys` are tracked and none is idle.
    pub fn when_full(&mut self, policy: WhenFull) -> &mut Builder<S> {
        self.when_full = policy;
        self
    }

    /// When buckets may be forgotten.
    pub fn eviction(&mut self, eviction: Eviction) -> &mut Builder<S> {
        self.eviction = eviction;
        self
    }

    /// A builder with these settings for another kind of key: the same
    /// capacity, rate, key cap, policy and eviction. Prefixes carry over but
    /// apply only to address keys.
    ///
    /// # Example
    ///
    /// ```
    /// use limiter_core::{AnyKeys, Rate, RateLimiter};
    ///
    /// let mut addresses = RateLimiter::builder(10, Rate::per_second(5)?);
    /// addresses.max_keys(1_000);
    /// let by_user = addresses.for_keys::<AnyKeys<u64>>().build()?;
    /// assert_eq!(by_user.capacity(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_keys<T: Keyspace>(&self) -> Builder<T> {
        Builder {
            capacity: self.capacity,
            rate: self.rate,
            max_keys: self.max_keys,
            when_full: self.when_full,
            eviction: self.eviction,
            ipv4_prefix: self.ipv4_prefix,
            ipv6_prefix: self.ipv6_prefix,
            keys: PhantomData,
        }
    }

    /// A limiter on the [`MonotonicClock`].
    ///
    /// # Errors
    ///
    /// - [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    /// - [`ConfigError::PrefixOutOfRange`] for an IPv4 prefix above 32 or an
    ///   IPv6 prefix above 128.
    /// - [`ConfigError::MaxKeysOutOfRange`] for a key cap of 0.
    pub fn build(&self) -> Result<Limiter<S>, ConfigError> {
        self.build_with_clock(MonotonicClock::new())
    }

    /// A limiter that reads time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn build_with_clock<C: Clock>(&self, clock: C) -> Result<Limiter<S, C>, ConfigError> {
        for (family, len) in [(IpFamily::V4, self.ipv4_prefix), (IpFamily::V6, self.ipv6_prefix)] {
            if len > family.bits() {
                return Err(ConfigError::PrefixOutOfRange { family, len });
            }
        }
        let settings =
            Settings::new(self.capacity, self.rate, self.max_keys, self.when_full, self.eviction)?;
        let keys = S::new(&settings.params, settings.shards, self.ipv4_prefix, self.ipv6_prefix);
        Ok(Limiter::from_parts(settings, keys, clock))
    }
}

// By hand: derived, they would require `S: Clone` and `S: Debug`, which
// the keyspaces, holding the stores, need not be.

impl<S> Clone for Builder<S> {
    fn clone(&self) -> Builder<S> {
        Builder { keys: PhantomData, ..*self }
    }
}

impl<S> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.capacity)
            .field("rate", &self.rate)
            .field("max_keys", &self.max_keys)
            .field("when_full", &self.when_full)
            .field("eviction", &self.eviction)
            .field("ipv4_prefix", &self.ipv4_prefix)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .finish()
    }
}
