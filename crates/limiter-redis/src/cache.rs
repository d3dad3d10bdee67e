//! The local deny cache: "this key is short of a whole token until T".
//!
//! Other instances can only take tokens from a bucket, never add any, so after
//! Redis reports a bucket at time `t` with `u` units, the bucket holds at most
//! `u + (τ − t)·F` units at any later time `τ`. While that bound is under one
//! token, every request of cost 1 or more is denied there, and (by
//! limiter-core's own argument for not storing such a denial, see
//! `Params::keep_refill` in its `bucket.rs`) answering it without touching
//! the bucket changes nothing for any later request. The cache answers exactly
//! those requests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use limiter_core::Decision;
use parking_lot::Mutex;

use crate::params::{Params, nanos_to_duration};

/// What the last answer from Redis said about one key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The bucket's time, in ns (the server's, or the caller's explicit time).
    t: u64,
    /// Its units then, fewer than one token's.
    units: u128,
    /// When the call that brought it was sent, on this instance's clock.
    sent: Instant,
}

/// Keys known to be short of a token, at most `max` of them.
#[derive(Debug)]
pub(crate) struct DenyCache {
    max: usize,
    map: Mutex<HashMap<Vec<u8>, Entry>>,
}

impl DenyCache {
    pub(crate) fn new(max: usize) -> DenyCache {
        DenyCache { max, map: Mutex::new(HashMap::new()) }
    }

    /// The decision and time to the next token for a request of `cost` (at
    /// least 1) at `now` (`None`: the server's time, estimated as the cached
    /// time plus what this instance's clock has run since), if the cache
    /// knows the bucket is short of a token then.
    pub(crate) fn answer(
        &self,
        params: &Params,
        key: &[u8],
        cost: u64,
        now: Option<u64>,
    ) -> Option<(Decision, Option<Duration>)> {
        let mut map = self.map.lock();
        let entry = *map.get(key)?;
        let tau = match now {
            // An explicit time before the bucket's is decided at the
            // bucket's time, which only Redis knows now.
            Some(now) if now < entry.t => return None,
            Some(now) => now,
            None => entry.t.saturating_add(entry.sent.elapsed().as_nanos() as u64),
        };
        let units = entry.units + u128::from(tau - entry.t) * params.refill;
        if units >= params.unit {
            map.remove(key);
            return None;
        }
        let decision = if cost > params.capacity {
            Decision::OverCapacity { cost, capacity: params.capacity }
        } else {
            let short = u128::from(cost) * params.unit - units;
            Decision::Denied {
                remaining: 0,
                retry_after: nanos_to_duration(params.refill_nanos(short)),
            }
        };
        let next = nanos_to_duration(params.refill_nanos(params.unit - units));
        Some((decision, Some(next)))
    }

    /// Records what Redis said about `key`: its bucket at `t` with `units`.
    pub(crate) fn record(&self, params: &Params, key: &[u8], t: u64, units: u128, sent: Instant) {
        let mut map = self.map.lock();
        if units >= params.unit {
            map.remove(key);
            return;
        }
        if map.len() >= self.max && !map.contains_key(key) {
            // Drop what has refilled to a token by now; if that frees
            // nothing, start over: the cache only ever saves round trips.
            map.retain(|_, e| {
                let elapsed = e.sent.elapsed().as_nanos();
                e.units + elapsed.min(u128::from(u64::MAX)) * params.refill < params.unit
            });
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(key.to_vec(), Entry { t, units, sent });
    }

    /// How many keys the cache holds.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        // One token an hour: a drained bucket stays short for the whole test.
        Params::new(2, "1/h".parse().unwrap()).unwrap()
    }

    #[test]
    fn answers_only_while_short_and_only_from_the_cached_time_on() {
        let (p, cache) = (params(), DenyCache::new(10));
        let now = Instant::now();
        cache.record(&p, b"k", 1_000, p.unit / 2, now);
        assert_eq!(cache.answer(&p, b"k", 1, Some(999)), None, "before the bucket's time");
        let half_hour = 1_800_000_000_000;
        let (decision, next) = cache.answer(&p, b"k", 1, Some(1_000)).unwrap();
        assert_eq!(decision.retry_after(), Some(Duration::from_nanos(half_hour)));
        assert_eq!(next, Some(Duration::from_nanos(half_hour)));
        let (decision, _) = cache.answer(&p, b"k", 2, Some(1_000)).unwrap();
        assert_eq!(decision.retry_after(), Some(Duration::from_nanos(3 * half_hour)));
        let (decision, _) = cache.answer(&p, b"k", 3, Some(1_000)).unwrap();
        assert_eq!(decision, Decision::OverCapacity { cost: 3, capacity: 2 });
        // A whole token by then: Redis decides, and the entry goes.
        assert_eq!(cache.answer(&p, b"k", 1, Some(1_000 + half_hour)), None);
        assert_eq!(cache.len(), 0);
        // A bucket holding a token is never cached.
        cache.record(&p, b"k", 1_000, p.unit, now);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn holds_at_most_its_size() {
        let (p, cache) = (params(), DenyCache::new(3));
        for key in 0..100u32 {
            cache.record(&p, &key.to_le_bytes(), 0, 0, Instant::now());
            assert!(cache.len() <= 3, "{} keys after {key}", cache.len());
        }
        assert!(cache.len() >= 1);
    }
}
