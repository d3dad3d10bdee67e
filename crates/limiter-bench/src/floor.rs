//! The floor: the least work a keyed rate limiter can do per check.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::quota::Quota;

/// A keyed GCRA over a fixed-size lock-free table: per check, one keyed-hash
/// lookup (limiter-core's folded multiply) plus one atomic update, with no
/// lock, no growth and no eviction.
///
/// This is the floor the suite compares against, not a limiter to use: it
/// holds only as many keys as it was sized for (a request for a key beyond
/// that is denied), its rate is rounded to whole nanoseconds per token, as
/// governor's is, and it keeps no more than the one `u64` per key that its
/// decision needs. Each key
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
    /// Each family's table, made on its first key.
    v4: OnceLock<FloorMap<V4Slot>>,
    v6: OnceLock<FloorMap<V6Slot>>,
    /// Keys each table is sized for.
    keys: usize,
    /// Nanoseconds per token, rounded to the nearest and at least 1.
    interval: u64,
    /// How far ahead of now a TAT may run: `capacity · interval`.
    window: u64,
    start: Instant,
}

impl Floor {
    /// A floor for `quota` with room for 65 536 keys of each family.
    pub fn new(quota: Quota) -> Floor {
        Floor::with_keys(quota, 1 << 16)
    }

    /// A floor for `quota` with room for `keys` keys of each family, in
    /// tables at most half full.
    pub fn with_keys(quota: Quota, keys: usize) -> Floor {
        let per_second = u64::from(quota.per_second.max(1));
        let interval = ((1_000_000_000 + per_second / 2) / per_second).max(1);
        Floor {
            v4: OnceLock::new(),
            v6: OnceLock::new(),
            keys,
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
        let tat = match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.get_or_init(|| FloorMap::new(self.keys)).find(v4.to_bits()),
            IpAddr::V6(v6) => self.v6.get_or_init(|| FloorMap::new(self.keys)).find(v6.to_bits()),
        };
        tat.is_some_and(|tat| take(tat, step, now, self.window))
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
        self.v4.get().map_or(0, FloorMap::len) + self.v6.get().map_or(0, FloorMap::len)
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A linear-probing table of slots that are claimed once and never freed.
#[derive(Debug)]
struct FloorMap<S> {
    slots: Box<[S]>,
    seed: [u64; 2],
}

/// A slot of a [`FloorMap`]: a key, claimed with one compare-exchange, and
/// its TAT (0, a full bucket, until the first request).
trait Slot: Default {
    type Key: Copy;

    /// The key's hash under `seed`: limiter-core's folded multiply.
    fn hash(key: Self::Key, seed: [u64; 2]) -> u64;

    /// The TAT if the slot holds `key`, claiming the slot for it if empty;
    /// `None` if it holds another key.
    fn claim(&self, key: Self::Key) -> Option<&AtomicU64>;

    fn is_claimed(&self) -> bool;
}

/// An IPv4 slot: the key plus one in one word, 0 while empty.
#[derive(Debug, Default)]
struct V4Slot {
    key: AtomicU64,
    tat: AtomicU64,
}

/// An IPv6 slot: the key in two words, published by a state word.
#[derive(Debug, Default)]
struct V6Slot {
    /// 0 empty, 1 being written, 2 holding `high` and `low`.
    state: AtomicU64,
    high: AtomicU64,
    low: AtomicU64,
    tat: AtomicU64,
}

fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ (product >> 64) as u64
}

impl Slot for V4Slot {
    type Key = u32;

    #[inline]
    fn hash(key: u32, seed: [u64; 2]) -> u64 {
        fold(u64::from(key) ^ seed[0], seed[1])
    }

    #[inline]
    fn claim(&self, key: u32) -> Option<&AtomicU64> {
        let word = u64::from(key) + 1;
        match self.key.load(Ordering::Acquire) {
            held if held == word => Some(&self.tat),
            0 => match self.key.compare_exchange(0, word, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Some(&self.tat),
                Err(held) => (held == word).then_some(&self.tat),
            },
            _ => None,
        }
    }

    fn is_claimed(&self) -> bool {
        self.key.load(Ordering::Relaxed) != 0
    }
}

impl Slot for V6Slot {
    type Key = u128;

    #[inline]
    fn hash(key: u128, seed: [u64; 2]) -> u64 {
        fold((key >> 64) as u64 ^ seed[0], key as u64 ^ seed[1])
    }

    #[inline]
    fn claim(&self, key: u128) -> Option<&AtomicU64> {
        let (high, low) = ((key >> 64) as u64, key as u64);
        if self.state.load(Ordering::Acquire) == 0
            && self.state.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            self.high.store(high, Ordering::Relaxed);
            self.low.store(low, Ordering::Relaxed);
            self.state.store(2, Ordering::Release);
            return Some(&self.tat);
        }
        while self.state.load(Ordering::Acquire) != 2 {
            std::hint::spin_loop();
        }
        let held = (self.high.load(Ordering::Relaxed), self.low.load(Ordering::Relaxed));
        (held == (high, low)).then_some(&self.tat)
    }

    fn is_claimed(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }
}

impl<S: Slot> FloorMap<S> {
    fn new(keys: usize) -> FloorMap<S> {
        let slots = (keys.max(8) * 2).next_power_of_two();
        let state = RandomState::new();
        FloorMap {
            slots: (0..slots).map(|_| S::default()).collect(),
            seed: [state.hash_one(0u8), state.hash_one(1u8) | 1],
        }
    }

    /// The TAT of `key`, claiming a slot for it if it has none; `None` if
    /// the table is full.
    #[inline]
    fn find(&self, key: S::Key) -> Option<&AtomicU64> {
        let mask = self.slots.len() - 1;
        let mut index = S::hash(key, self.seed) as usize;
        for _ in 0..self.slots.len() {
            index &= mask;
            if let Some(tat) = self.slots[index].claim(key) {
                return Some(tat);
            }
            index += 1;
        }
        None
    }

    fn len(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_claimed()).count()
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
    fn a_full_table_denies_new_keys_and_keeps_its_own() {
        // Room for 8 keys is 16 slots.
        let floor = Floor::with_keys(Quota { capacity: 1, per_second: 1 }, 8);
        let v4 = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from_bits(i));
        assert!((0..16).all(|i| floor.check_n_at(v4(i), 1, 0)));
        assert!(!floor.check_n_at(v4(16), 1, 0), "no slot left");
        assert!(floor.check_n_at(v4(3), 1, 2_000_000_000), "old keys still refill");
        assert_eq!(floor.len(), 16);
        let v6 = |i: u128| IpAddr::V6(std::net::Ipv6Addr::from_bits(i << 64 | 1));
        let claimed: usize = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| (0..20).filter(|&i| floor.check_n_at(v6(i), 1, 0)).count()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).sum()
        });
        assert_eq!(claimed, 16, "each of 16 IPv6 keys allowed once, by one thread");
    }

    #[test]
    fn the_default_clock_reads_real_time_from_zero() {
        let floor = Floor::new(Quota { capacity: 1, per_second: 1 });
        assert!(floor.check_n(ip("10.0.0.1"), 1));
        assert!(!floor.check_n(ip("10.0.0.1"), 1));
        assert!(floor.now() < 60_000_000_000);
    }
}
