//! Distinct keys of a trace: a dense id per canonical address, each key's
//! record count, and its latest timestamp for the out-of-order count.
//!
//! This table, and the per-key counters indexed by its ids, are the only
//! state of a replay that grows with its input, and they grow with the number
//! of distinct keys, never with the number of records.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;

/// A key's index in per-key tables, in order of first appearance.
pub(crate) type KeyId = u32;

/// Every distinct canonical address seen so far.
#[derive(Debug)]
pub(crate) struct KeyTable {
    v4: HashMap<u32, Slot, SeededHash>,
    v6: HashMap<u128, Slot, SeededHash>,
    /// Indexed by id.
    ips: Vec<IpAddr>,
    /// How many keys fit: 2³², the number of ids.
    capacity: usize,
}

/// What the table keeps per key, together so that a record touches one
/// cache line.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: KeyId,
    /// The latest timestamp seen for the key.
    latest: u64,
    /// How many records the key has.
    records: u64,
}

/// A key's address and record count, as [`KeyTable::into_keys`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyCount {
    pub(crate) ip: IpAddr,
    pub(crate) records: u64,
}

impl KeyTable {
    pub(crate) fn new() -> KeyTable {
        let hash = SeededHash::new();
        KeyTable {
            v4: HashMap::with_hasher(hash),
            v6: HashMap::with_hasher(hash),
            ips: Vec::new(),
            capacity: 1 << 32,
        }
    }

    /// Notes a record of the canonical address `ip` at `nanos`: returns the
    /// key's id and whether the record is out of order, that is earlier than
    /// the latest timestamp seen before for this key; `None` for a new key
    /// when the table already holds 2³² keys and ids have run out.
    #[inline]
    pub(crate) fn observe(&mut self, ip: IpAddr, nanos: u64) -> Option<(KeyId, bool)> {
        let full = self.ips.len() >= self.capacity;
        // When full, `next` is never handed out: it is `u32::MAX`, already
        // taken, so a new key is told apart below by its slot's absence.
        let next = KeyId::try_from(self.ips.len()).unwrap_or(KeyId::MAX);
        let fresh = Slot { id: next, latest: nanos, records: 0 };
        let slot = match (ip, full) {
            (IpAddr::V4(v4), false) => self.v4.entry(v4.to_bits()).or_insert(fresh),
            (IpAddr::V6(v6), false) => self.v6.entry(v6.to_bits()).or_insert(fresh),
            (IpAddr::V4(v4), true) => self.v4.get_mut(&v4.to_bits())?,
            (IpAddr::V6(v6), true) => self.v6.get_mut(&v6.to_bits())?,
        };
        if !full && slot.id == next {
            self.ips.push(ip);
        }
        slot.records += 1;
        let out_of_order = nanos < slot.latest;
        slot.latest = slot.latest.max(nanos);
        Some((slot.id, out_of_order))
    }

    /// Every key with its record count, indexed by id.
    pub(crate) fn into_keys(self) -> Vec<KeyCount> {
        let mut keys: Vec<KeyCount> =
            self.ips.iter().map(|&ip| KeyCount { ip, records: 0 }).collect();
        for slot in self.v4.values().chain(self.v6.values()) {
            keys[slot.id as usize].records = slot.records;
        }
        keys
    }
}

/// A fast keyed hash for addresses: one folded multiply per word with a
/// random per-run seed, so that a trace cannot be built to collide.
#[derive(Debug, Clone, Copy)]
struct SeededHash {
    seed: u64,
}

impl SeededHash {
    fn new() -> SeededHash {
        SeededHash { seed: RandomState::new().hash_one(0x5eed_u64) | 1 }
    }
}

impl BuildHasher for SeededHash {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { state: self.seed }
    }
}

#[derive(Debug)]
struct FoldHasher {
    state: u64,
}

/// An odd constant with well-mixed bits (the fractional part of π).
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;

impl FoldHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(MULTIPLIER);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_in_order_of_first_appearance() {
        let mut keys = KeyTable::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "::10.0.0.1".parse().unwrap();
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(keys.observe(a, 5), Some((0, false)));
        assert_eq!(keys.observe(b, 5), Some((1, false)));
        assert_eq!(keys.observe(a, 7), Some((0, false)));
        assert_eq!(keys.observe(c, 1), Some((2, false)));
        let count = |ip, records| KeyCount { ip, records };
        assert_eq!(keys.into_keys(), vec![count(a, 2), count(b, 1), count(c, 1)]);
    }

    #[test]
    fn out_of_order_means_earlier_than_the_latest_so_far() {
        let mut keys = KeyTable::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let steps = [
            (ip, 10, false),
            (ip, 10, false),
            (ip, 9, true),
            (ip, 8, true),
            (other, 1, false),
            (ip, 9, true),
            (ip, 11, false),
            (ip, 10, true),
            (other, 0, true),
            (other, 1, false),
        ];
        for (i, &(key, t, expected)) in steps.iter().enumerate() {
            assert_eq!(keys.observe(key, t).unwrap().1, expected, "step {i}: {key} at {t}");
        }
    }

    #[test]
    fn a_full_table_still_knows_its_keys_but_takes_no_more() {
        let mut keys = KeyTable { capacity: 2, ..KeyTable::new() };
        let (a, b, c): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "::2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        assert_eq!(keys.observe(a, 5), Some((0, false)));
        assert_eq!(keys.observe(b, 5), Some((1, false)));
        assert_eq!(keys.observe(c, 5), None);
        assert_eq!(keys.observe("::3".parse().unwrap(), 5), None);
        assert_eq!(keys.observe(b, 4), Some((1, true)));
        assert_eq!(keys.observe(a, 6), Some((0, false)));
        let count = |ip, records| KeyCount { ip, records };
        assert_eq!(keys.into_keys(), vec![count(a, 2), count(b, 2)]);
    }

    #[test]
    fn many_keys_stay_distinct() {
        let mut keys = KeyTable::new();
        for i in 0..50_000u32 {
            let v4 = IpAddr::V4(i.into());
            let v6 = IpAddr::V6((u128::from(i) << 64).into());
            assert_eq!(keys.observe(v4, 0).unwrap().0, 2 * i);
            assert_eq!(keys.observe(v6, 0).unwrap().0, 2 * i + 1);
        }
        for i in (0..50_000u32).rev() {
            assert_eq!(keys.observe(IpAddr::V4(i.into()), 0).unwrap().0, 2 * i);
        }
        let keys = keys.into_keys();
        assert_eq!(keys.len(), 100_000);
        assert!(keys.iter().enumerate().all(|(i, k)| k.records == if i % 2 == 0 { 2 } else { 1 }));
    }
}
