//! SPEC's bucket model in exact `u128` fixed point: the reference that
//! limiter-core's model tests, the `decisions` fuzz target and the CLI's
//! end-to-end test compare every decision with.
//!
//! Tokens are counted in units of `1 / (den · 10⁹)` of a token, for a rate
//! of `num/den` tokens per second, so a nanosecond refills exactly `num`
//! units and nothing rounds. Everything fits in `u128` for any `u64`
//! numerator and denominator: a full bucket is at most
//! 10⁹ · 2⁶⁴ · 10⁹ < 2¹²⁵ units, and a refill at most 2⁶³ ns · 2⁶⁴ units
//! per ns = 2¹²⁷.
//!
//! It shares no code with limiter-core's buckets: it keeps its own map,
//! folds IPv4-mapped addresses with std, and reads the rate only as a
//! numerator and a denominator.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use limiter_core::{Decision, Rate};

use crate::MAX_TIME;

const NANOS_PER_SEC: u128 = crate::NANOS_PER_SEC as u128;

/// Buckets of SPEC's model, one per address (an IPv4-mapped IPv6 address
/// shares its IPv4 address's bucket).
#[derive(Debug, Clone)]
pub struct Model {
    capacity: u64,
    /// Units of token added per nanosecond: the rate's numerator.
    per_ns: u128,
    /// Units in one token: the rate's denominator times 10⁹.
    unit: u128,
    /// Each key's tokens in units, and the bucket's latest time.
    buckets: HashMap<IpAddr, (u128, u64)>,
}

impl Model {
    /// Empty buckets of `capacity` tokens refilled at `rate`.
    pub fn new(capacity: u64, rate: Rate) -> Model {
        Model::with_ratio(capacity, rate.numer(), rate.denom())
    }

    /// Empty buckets of `capacity` tokens refilled at `num / den` tokens per
    /// second, a value a test builds without limiter-core's parser (the
    /// fraction need not be reduced). `num` and `den` must not be 0.
    pub fn with_ratio(capacity: u64, num: u64, den: u64) -> Model {
        assert!(num > 0 && den > 0, "a rate of {num}/{den} tokens per second");
        let unit = u128::from(den) * NANOS_PER_SEC;
        Model { capacity, per_ns: u128::from(num), unit, buckets: HashMap::new() }
    }

    /// Decides a request of `cost` tokens from `ip` at `t` ns as SPEC says,
    /// and returns the [`Decision`] limiter-core must give. Times past
    /// [`MAX_TIME`] are taken as it.
    pub fn decide(&mut self, ip: IpAddr, t: u64, cost: u64) -> Decision {
        let (key, t) = (key(ip), t.min(MAX_TIME));
        let full = self.full();
        let (tokens, now) = match self.refilled(key, t) {
            Some(bucket) => bucket,
            // A cost of 0 creates no bucket.
            None if cost == 0 => return Decision::Allowed { remaining: self.capacity },
            None => (full, t),
        };
        if cost == 0 {
            return Decision::Allowed { remaining: self.whole(tokens) };
        }
        let need = u128::from(cost) * self.unit;
        let decision = if cost > self.capacity {
            Decision::OverCapacity { cost, capacity: self.capacity }
        } else if tokens >= need {
            self.buckets.insert(key, (tokens - need, now));
            return Decision::Allowed { remaining: self.whole(tokens - need) };
        } else {
            // The wait runs from the request's own time, which may be
            // earlier than the bucket's.
            let wait = (need - tokens).div_ceil(self.per_ns) + u128::from(now - t);
            let secs = u64::try_from(wait / NANOS_PER_SEC).expect("under 2⁶⁴ seconds");
            let retry_after = Duration::new(secs, (wait % NANOS_PER_SEC) as u32);
            Decision::Denied { remaining: self.whole(tokens), retry_after }
        };
        self.buckets.insert(key, (tokens, now));
        decision
    }

    /// The whole tokens `ip`'s bucket holds at `t` ns, changing nothing: the
    /// capacity for a key never seen.
    pub fn tokens(&self, ip: IpAddr, t: u64) -> u64 {
        let units = self.refilled(key(ip), t.min(MAX_TIME)).map_or(self.full(), |(units, _)| units);
        self.whole(units)
    }

    /// Whether `ip` (or another spelling of it) has a bucket.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.buckets.contains_key(&key(ip))
    }

    /// The bucket of `key` refilled to `t`: its units and its time, which
    /// never moves backwards.
    fn refilled(&self, key: IpAddr, t: u64) -> Option<(u128, u64)> {
        let &(units, last) = self.buckets.get(&key)?;
        let now = t.max(last);
        Some((self.full().min(units + u128::from(now - last) * self.per_ns), now))
    }

    fn full(&self) -> u128 {
        u128::from(self.capacity) * self.unit
    }

    fn whole(&self, units: u128) -> u64 {
        u64::try_from(units / self.unit).expect("at most the capacity")
    }
}

/// One address, one bucket: an IPv4-mapped IPv6 address is its IPv4 address.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_follows_spec_by_hand() {
        // 2 tokens, one every 30 s.
        let mut model = Model::with_ratio(2, 2, 60);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(model.decide(ip, 100, 0), Decision::Allowed { remaining: 2 });
        assert!(!model.contains(ip), "a cost of 0 creates nothing");
        assert_eq!(model.decide(ip, 100, 2), Decision::Allowed { remaining: 0 });
        let retry_after = Duration::from_secs(30) + Duration::from_nanos(100);
        assert_eq!(model.decide(mapped, 0, 1), Decision::Denied { remaining: 0, retry_after });
        assert_eq!(model.tokens(ip, 30_000_000_100), 1);
        assert_eq!(model.decide(ip, 3, 3), Decision::OverCapacity { cost: 3, capacity: 2 });
        assert_eq!(model.decide(ip, u64::MAX, 1), Decision::Allowed { remaining: 1 });
        assert_eq!(model.tokens("10.0.0.2".parse().unwrap(), 0), 2);
    }
}
