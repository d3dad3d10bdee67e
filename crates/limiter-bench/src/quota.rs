//! The quotas every implementation is measured under.

use std::fmt;

use limiter_core::{ConfigError, Rate, RateLimiter};

/// A bucket of `capacity` tokens refilled at `per_second` tokens per second,
/// built the same way for each implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Tokens a new key starts with, and the most it can hold.
    pub capacity: u32,
    /// Tokens added per second.
    pub per_second: u32,
}

impl Quota {
    /// 10⁹ tokens refilled at 10⁹ per second: every request passes.
    pub const ALLOW_ALL: Quota = Quota { capacity: 1_000_000_000, per_second: 1_000_000_000 };

    /// The seed's 10 tokens refilled at 5 per second: busy keys are mostly
    /// denied.
    pub const SEED: Quota = Quota { capacity: 10, per_second: 5 };

    /// Both quotas, in table order.
    pub const ALL: [Quota; 2] = [Quota::ALLOW_ALL, Quota::SEED];

    /// The cost that empties a new key's bucket before timing, so that a
    /// small quota starts out denying: the whole capacity, or 1 for a
    /// capacity above 1000, which no benchmark could empty anyway.
    pub fn drain_cost(self) -> u32 {
        if self.capacity <= 1000 { self.capacity } else { 1 }
    }

    /// limiter-core's limiter for this quota, on its default clock.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if limiter-core rejects the capacity or rate.
    pub fn ours(self) -> Result<RateLimiter, ConfigError> {
        RateLimiter::with_rate(
            u64::from(self.capacity),
            Rate::per_second(u64::from(self.per_second))?,
        )
    }

    /// governor's quota: a burst of `capacity`, replenished at `per_second`
    /// (exactly, for any whole rate that divides 10⁹, as both quotas do).
    ///
    /// A zero capacity or rate, which governor cannot express, is taken as 1.
    pub fn governor(self) -> governor::Quota {
        let rate = Rate::per_second(u64::from(self.per_second.max(1)))
            .expect("a whole rate of 1 to 2^32 - 1 tokens per second is in range");
        limiter_testkit::governor_quota(u64::from(self.capacity.max(1)), rate).0
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Quota::ALLOW_ALL {
            f.write_str("allow-all")
        } else {
            write!(f, "{}, {}/s", self.capacity, self.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_named_for_the_table() {
        assert_eq!(Quota::ALLOW_ALL.to_string(), "allow-all");
        assert_eq!(Quota::SEED.to_string(), "10, 5/s");
    }

    #[test]
    fn every_implementation_gets_the_same_bucket() {
        let ours = Quota::SEED.ours().unwrap();
        assert_eq!(ours.capacity(), 10);
        assert_eq!(ours.rate(), Rate::per_second(5).unwrap());
        let governor = Quota::SEED.governor();
        assert_eq!(governor.burst_size().get(), 10);
        assert_eq!(governor.replenish_interval(), std::time::Duration::from_millis(200));
        assert!(Quota::ALLOW_ALL.ours().is_ok());
        assert_eq!(Quota::SEED.drain_cost(), 10);
        assert_eq!(Quota::ALLOW_ALL.drain_cost(), 1);
        assert_eq!(Quota::ALLOW_ALL.governor().replenish_interval().as_nanos(), 1);
    }
}
