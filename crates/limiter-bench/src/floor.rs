//! The floor: the least work a keyed rate limiter can do per check.

use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::quota::Quota;

/// A keyed GCRA over a sharded SipHash map: per check, one keyed-hash lookup
/// under a shared shard lock plus one atomic update.
///
/// This is the floor the suite compares against, not a limiter to use: its
/// rate is rounded to whole nanoseconds per token, as governor's is, and it
/// keeps no more than the one `u64` per key that its decision needs. Each key
/// holds its theoretical arrival time (TAT): the time at which its bucket
/// would be full again. A request of cost `n` at `now` moves the TAT to
/// `max(TAT, now) + n·interval` and passes if that is at most
/// `capacity·interval` ahead of `now`; a denied request writes nothing.
///
/// # Example
///
/// ```
/// use limiter_bench::{Floor, Quota};
///
/// let floor = Floor::new(Quota::SEED); // 10 tokens, 5 per second
/// let ip = "10.0.0.1".parse()?;
/// assert_eq!((0..12).filter(|_| floor.check_n_at(ip, 1, 0)).count(), 10);
/// assert!(floor.check_n_at(ip, 1, 200_000_000)); // one token 200 ms later
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Floor {
    v4: FloorMap<u32>,
    v6: FloorMap<u128>,
    /// Nanoseconds per token, rounded to the nearest and at least 1.
    interval: u64,
    /// How far ahead of now a TAT may run: `capacity · interval`.
    window: u64,
    start: Instant,
}

impl Floor {
    /// A floor for `quota`, with as many shards as limiter-core uses.
    pub fn new(quota: Quota) -> Floor {
        let per_second = u64::from(quota.per_second.max(1));
        let interval = ((1_000_000_000 + per_second / 2) / per_second).max(1);
        let shards = default_shards();
        Floor {
            v4: FloorMap::new(shards),
            v6: FloorMap::new(shards),
            interval,
            window: interval.saturating_mul(u64::from(quota.capacity)),
            start: Instant::now(),
        }
    }

    /// Takes `cost` tokens for `ip` at `now` nanoseconds, if it has them.
    ///
    /// An IPv4-mapped IPv6 address shares the key of its IPv4 address.
    #[inline]
    pub fn check_n_at(&self, ip: IpAddr, cost: u64, now: u64) -> bool {
        let step = cost.saturating_mul(self.interval);
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.take(u32::from(v4), step, now, self.window),
            IpAddr::V6(v6) => self.v6.take(u128::from(v6), step, now, self.window),
        }
    }

    /// Takes `cost` tokens for `ip` now, by [`Instant`] counted from the
    /// floor's creation.
    #[inline]
    pub fn check_n(&self, ip: IpAddr, cost: u64) -> bool {
        self.check_n_at(ip, cost, self.now())
    }

    /// Nanoseconds since this floor was made.
    #[inline]
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The number of keys it holds.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Enough shards that threads rarely meet on one: 16 per core, from 64 to
/// 4096, as limiter-core chooses.
fn default_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 16).next_power_of_two().clamp(64, 4096)
}

#[derive(Debug)]
struct FloorMap<K> {
    shards: Box<[Shard<K>]>,
    hasher: RandomState,
}

/// One shard, on its own cache lines.
#[derive(Debug)]
#[repr(align(128))]
struct Shard<K> {
    table: RwLock<HashTable<(K, AtomicU64)>>,
}

impl<K: Hash + Eq + Copy> FloorMap<K> {
    fn new(shards: usize) -> FloorMap<K> {
        let shards = (0..shards).map(|_| Shard { table: RwLock::new(HashTable::new()) }).collect();
        FloorMap { shards, hasher: RandomState::new() }
    }

    #[inline]
    fn take(&self, key: K, step: u64, now: u64, window: u64) -> bool {
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[(hash >> 32) as usize & (self.shards.len() - 1)];
        if let Some((_, tat)) = shard.table.read().find(hash, |(k, _)| *k == key) {
            return take(tat, step, now, window);
        }
        let mut table = shard.table.write();
        if let Some((_, tat)) = table.find(hash, |(k, _)| *k == key) {
            return take(tat, step, now, window);
        }
        let tat = AtomicU64::new(now);
        let allowed = take(&tat, step, now, window);
        table.insert_unique(hash, (key, tat), |(k, _)| self.hasher.hash_one(*k));
        allowed
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.read().len()).sum()
    }
}

/// The GCRA step on one key's TAT: a load, then a compare-exchange only if
/// the request passes.
#[inline]
fn take(tat: &AtomicU64, step: u64, now: u64, window: u64) -> bool {
    let mut current = tat.load(Ordering::Relaxed);
    loop {
        let next = current.max(now).saturating_add(step);
        if next - now > window {
            return false;
        }
        match tat.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn allowed(floor: &Floor, key: &str, count: usize, now: u64) -> usize {
        (0..count).filter(|_| floor.check_n_at(ip(key), 1, now)).count()
    }

    #[test]
    fn a_new_key_gets_exactly_the_capacity() {
        let floor = Floor::new(Quota { capacity: 10, per_second: 5 });
        assert_eq!(allowed(&floor, "10.0.0.1", 25, 1_000), 10);
        assert_eq!(allowed(&floor, "2001:db8::1", 25, 1_000), 10);
        assert_eq!(floor.len(), 2);
    }

    #[test]
    fn tokens_come_back_one_interval_at_a_time() {
        let floor = Floor::new(Quota { capacity: 2, per_second: 4 }); // 250 ms per token
        assert_eq!(allowed(&floor, "10.0.0.1", 5, 0), 2);
        assert!(!floor.check_n_at(ip("10.0.0.1"), 1, 249_999_999));
        assert!(floor.check_n_at(ip("10.0.0.1"), 1, 250_000_000));
        assert!(!floor.check_n_at(ip("10.0.0.1"), 1, 250_000_000));
        // A long pause refills to the capacity and no further.
        assert_eq!(allowed(&floor, "10.0.0.1", 5, 10_000_000_000), 2);
    }

    #[test]
    fn a_denied_request_takes_nothing_and_costs_add_up() {
        let floor = Floor::new(Quota { capacity: 10, per_second: 1 });
        assert!(!floor.check_n_at(ip("10.0.0.1"), 11, 0));
        assert!(floor.check_n_at(ip("10.0.0.1"), 7, 0));
        assert!(!floor.check_n_at(ip("10.0.0.1"), 4, 0));
        assert!(floor.check_n_at(ip("10.0.0.1"), 3, 0));
        assert!(!floor.check_n_at(ip("10.0.0.1"), 1, 0));
    }

    #[test]
    fn keys_are_independent_and_mapped_addresses_are_canonical() {
        let floor = Floor::new(Quota { capacity: 3, per_second: 1 });
        assert_eq!(allowed(&floor, "10.0.0.1", 5, 0), 3);
        assert_eq!(allowed(&floor, "::ffff:10.0.0.1", 5, 0), 0);
        assert_eq!(allowed(&floor, "10.0.0.2", 5, 0), 3);
        assert_eq!(floor.len(), 2);
    }

    #[test]
    fn the_allow_all_quota_allows_a_million_at_one_instant() {
        let floor = Floor::new(Quota::ALLOW_ALL);
        assert_eq!(allowed(&floor, "10.0.0.1", 1_000_000, 5), 1_000_000);
    }

    #[test]
    fn threads_on_one_key_share_exactly_the_capacity() {
        let floor = Floor::new(Quota { capacity: 1000, per_second: 1 });
        let total: usize = std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..4).map(|_| scope.spawn(|| allowed(&floor, "10.0.0.1", 600, 0))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(total, 1000);
    }

    #[test]
    fn the_default_clock_reads_real_time_from_zero() {
        let floor = Floor::new(Quota { capacity: 1, per_second: 1 });
        assert!(floor.check_n(ip("10.0.0.1"), 1));
        assert!(!floor.check_n(ip("10.0.0.1"), 1));
        assert!(floor.now() < 60_000_000_000);
    }
}
