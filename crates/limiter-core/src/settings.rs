//! What every limiter keeps of how it was built.

use crate::bucket::{MAX_CAPACITY, Params};
use crate::error::ConfigError;
use crate::policy::{Eviction, WhenFull};
use crate::rate::Rate;
use crate::store::{Ctx, Limits, Tally};

/// Under a key cap, the fewest keys a shard is sized for, so that each shard
/// has buckets to reclaim when the cap is reached.
const MIN_KEYS_PER_SHARD: usize = 64;

/// What a built limiter keeps of its builder, whatever its keys.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) params: Params,
    pub(crate) rate: Rate,
    pub(crate) limits: Limits,
    /// The requests allowed and denied.
    pub(crate) tally: Tally,
    /// Shards per store, a power of two.
    pub(crate) shards: usize,
}

impl Settings {
    /// The settings of a limiter of `capacity` tokens refilled at `rate`,
    /// tracking at most `max_keys` keys if given.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`;
    /// [`ConfigError::MaxKeysOutOfRange`] for a key cap of 0.
    pub(crate) fn new(
        capacity: u64,
        rate: Rate,
        max_keys: Option<usize>,
        when_full: WhenFull,
        eviction: Eviction,
    ) -> Result<Settings, ConfigError> {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(ConfigError::CapacityOutOfRange { capacity });
        }
        if max_keys == Some(0) {
            return Err(ConfigError::MaxKeysOutOfRange { max_keys: 0 });
        }
        // Enough shards that threads rarely meet on a shard's mutex (new keys)
        // and that a shard growing holds up little, but under a key cap no
        // fewer than `MIN_KEYS_PER_SHARD` keys a shard.
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        let mut shards = (cores * 16).next_power_of_two().clamp(64, 1024);
        if let Some(max_keys) = max_keys {
            shards = shards.min((max_keys / MIN_KEYS_PER_SHARD).max(1).next_power_of_two());
        }
        Ok(Settings {
            params: Params::new(capacity, rate),
            rate,
            limits: Limits::new(max_keys.unwrap_or(usize::MAX), when_full, eviction, shards),
            tally: Tally::new(),
            shards,
        })
    }

    /// The context of one call; `live` when its time came from the limiter's
    /// own clock.
    #[inline]
    pub(crate) fn ctx(&self, live: bool) -> Ctx<'_> {
        Ctx { params: &self.params, limits: &self.limits, live, seen: None }
    }
}
