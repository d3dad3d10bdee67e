//! Building a limiter with more than a capacity and a rate.

use std::hash::Hash;

use crate::bucket::Params;
use crate::clock::{Clock, MonotonicClock};
use crate::error::ConfigError;
use crate::keyed::KeyedRateLimiter;
use crate::limiter::{MAX_CAPACITY, RateLimiter};
use crate::policy::{Eviction, WhenFull};
use crate::rate::Rate;
use crate::store::{Ctx, Limits, Tally};
use crate::sync::AtomicUsize;

/// Builds a [`RateLimiter`] or [`KeyedRateLimiter`] with a key cap, an eviction
/// rule or address prefixes.
///
/// Setters take and return `&mut self`, so a builder can be configured in one
/// chain or step by step, and built more than once.
///
/// # Example
///
/// ```
/// use limiter_core::{Eviction, Rate, RateLimiter, WhenFull};
///
/// let limiter = RateLimiter::builder(10, Rate::per_second(5)?)
///     .max_keys(100_000) // bounded memory under a flood of new addresses
///     .when_full(WhenFull::DenyNewKeys) // or EvictFullest (default), AdmitUntracked
///     .ipv6_prefix(64) // one bucket per /64, as ISPs assign them
///     .eviction(Eviction::default()) // forget idle (full) buckets: lossless
///     .build()?;
/// let keyed = RateLimiter::builder(100, "30/m".parse()?).build_keyed::<String>()?; // any key type
/// # assert!(limiter.check_n("2001:db8::1".parse()?, 10).is_allowed());
/// # assert!(!limiter.allow("2001:db8::ffff")?); // the same /64
/// # assert!(keyed.allow(&"api-key-1".to_string()));
/// # assert!(RateLimiter::builder(10, Rate::MAX).ipv4_prefix(33).build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: u64,
    rate: Rate,
    max_keys: Option<usize>,
    when_full: WhenFull,
    eviction: Eviction,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl Builder {
    /// A builder for limiters of `capacity` tokens refilled at `rate`, with no
    /// key cap, [`Eviction::default`] and whole addresses as keys.
    pub fn new(capacity: u64, rate: Rate) -> Builder {
        Builder {
            capacity,
            rate,
            max_keys: None,
            when_full: WhenFull::default(),
            eviction: Eviction::default(),
            ipv4_prefix: 32,
            ipv6_prefix: 128,
        }
    }

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
    /// 52 bytes at a million keys).
    pub fn max_keys(&mut self, max_keys: usize) -> &mut Builder {
        self.max_keys = Some(max_keys);
        self
    }

    /// What to do for a new key when `max_keys` are tracked and none is idle.
    pub fn when_full(&mut self, policy: WhenFull) -> &mut Builder {
        self.when_full = policy;
        self
    }

    /// When buckets may be forgotten.
    pub fn eviction(&mut self, eviction: Eviction) -> &mut Builder {
        self.eviction = eviction;
        self
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

    /// A per-IP limiter on the [`MonotonicClock`].
    ///
    /// # Errors
    ///
    /// - [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    /// - [`ConfigError::PrefixOutOfRange`] for an IPv4 prefix above 32 or an
    ///   IPv6 prefix above 128.
    /// - [`ConfigError::MaxKeysOutOfRange`] for a key cap of 0.
    pub fn build(&self) -> Result<RateLimiter, ConfigError> {
        self.build_with_clock(MonotonicClock::new())
    }

    /// A per-IP limiter that reads time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn build_with_clock<C: Clock>(&self, clock: C) -> Result<RateLimiter<C>, ConfigError> {
        if self.ipv4_prefix > 32 {
            return Err(ConfigError::PrefixOutOfRange { family: "IPv4", len: self.ipv4_prefix });
        }
        if self.ipv6_prefix > 128 {
            return Err(ConfigError::PrefixOutOfRange { family: "IPv6", len: self.ipv6_prefix });
        }
        Ok(RateLimiter::from_parts(self.settings()?, clock, self.ipv4_prefix, self.ipv6_prefix))
    }

    /// A limiter for keys of any type, on the [`MonotonicClock`]; the address
    /// prefixes do not apply.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`], but for the prefixes.
    pub fn build_keyed<K: Hash + Eq + Clone>(&self) -> Result<KeyedRateLimiter<K>, ConfigError> {
        self.build_keyed_with_clock(MonotonicClock::new())
    }

    /// A limiter for keys of any type that reads time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build_keyed`].
    pub fn build_keyed_with_clock<K: Hash + Eq + Clone, C: Clock>(
        &self,
        clock: C,
    ) -> Result<KeyedRateLimiter<K, C>, ConfigError> {
        Ok(KeyedRateLimiter::from_parts(self.settings()?, clock))
    }

    fn settings(&self) -> Result<Settings, ConfigError> {
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(ConfigError::CapacityOutOfRange { capacity: self.capacity });
        }
        if self.max_keys == Some(0) {
            return Err(ConfigError::MaxKeysOutOfRange { max_keys: 0 });
        }
        // Enough shards that threads rarely meet on a shard's mutex (new keys)
        // and that a shard growing holds up little, but under a key cap no
        // fewer than 64 keys a shard, so that each shard has buckets to
        // reclaim when the cap is reached.
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        let mut shards = (cores * 16).next_power_of_two().clamp(64, 1024);
        if let Some(max_keys) = self.max_keys {
            shards = shards.min((max_keys / 64).max(1).next_power_of_two());
        }
        Ok(Settings {
            params: Params::new(self.capacity, self.rate),
            rate: self.rate,
            limits: Limits {
                max_keys: self.max_keys.unwrap_or(usize::MAX),
                when_full: self.when_full,
                eviction: self.eviction,
                tracked: AtomicUsize::new(0),
                tally: Tally::new(),
            },
            shards,
        })
    }
}

/// What a built limiter keeps of its builder.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) params: Params,
    pub(crate) rate: Rate,
    pub(crate) limits: Limits,
    pub(crate) shards: usize,
}

impl Settings {
    /// The context of one call; `live` when its time came from the limiter's
    /// own clock.
    #[inline]
    pub(crate) fn ctx(&self, live: bool) -> Ctx<'_> {
        Ctx { params: &self.params, limits: &self.limits, live }
    }
}
