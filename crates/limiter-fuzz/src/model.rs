//! SPEC's bucket model in exact `u128` fixed point, for the `decisions` target.
//!
//! Tokens are counted in units of `1 / (denom · 10⁹)` of a token, the rate's
//! per-nanosecond denominator, so refills are whole units and nothing rounds.
//! Every quantity fits in `u128`: a full bucket is at most 10⁹ · 10¹⁸ units,
//! and a refill at most 2⁶³ ns · 10¹⁸ units per ns, about 9.2 · 10³⁶.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use limiter_core::{Decision, Rate, canonical_ip};

/// The latest instant the limiter represents; later times are taken as it.
pub(crate) const MAX_TIME: u64 = (1 << 63) - 1;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Buckets of SPEC's model, keyed by canonical address.
#[derive(Debug)]
pub(crate) struct Model {
    capacity: u64,
    /// Units of token added per nanosecond.
    per_ns: u128,
    /// Units in one token.
    unit: u128,
    /// Each key's tokens in units, and the bucket's latest time.
    buckets: HashMap<IpAddr, (u128, u64)>,
}

impl Model {
    pub(crate) fn new(capacity: u64, rate: Rate) -> Model {
        let unit = u128::from(rate.denom()) * NANOS_PER_SEC;
        Model { capacity, per_ns: u128::from(rate.numer()), unit, buckets: HashMap::new() }
    }

    /// Decides a request of `cost` tokens from `ip` at time `t`, as SPEC says.
    pub(crate) fn decide(&mut self, ip: IpAddr, t: u64, cost: u64) -> Decision {
        let (key, t) = (canonical_ip(ip), t.min(MAX_TIME));
        let full = u128::from(self.capacity) * self.unit;
        let (tokens, last) = match self.buckets.get(&key) {
            Some(&bucket) => bucket,
            None if cost == 0 => return Decision::Allowed { remaining: self.capacity },
            None => (full, t),
        };
        let now = t.max(last);
        let tokens = full.min(tokens + u128::from(now - last) * self.per_ns);
        let whole = |units: u128| u64::try_from(units / self.unit).expect("at most the capacity");
        if cost == 0 {
            return Decision::Allowed { remaining: whole(tokens) };
        }
        let need = u128::from(cost) * self.unit;
        let decision = if cost > self.capacity {
            Decision::OverCapacity { cost, capacity: self.capacity }
        } else if tokens >= need {
            self.buckets.insert(key, (tokens - need, now));
            return Decision::Allowed { remaining: whole(tokens - need) };
        } else {
            let wait = (need - tokens).div_ceil(self.per_ns) + u128::from(now - t);
            let secs = u64::try_from(wait / NANOS_PER_SEC).expect("under 10¹⁸ seconds");
            let retry_after = Duration::new(secs, (wait % NANOS_PER_SEC) as u32);
            Decision::Denied { remaining: whole(tokens), retry_after }
        };
        self.buckets.insert(key, (tokens, now));
        decision
    }
}
