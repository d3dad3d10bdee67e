//! Distinct keys of a trace: a dense id per bucket address (the canonical
//! address cut to its family's prefix, see [`Prefixes`]) or per opaque key
//! (`--key any`), each key's record count, and its latest timestamp for the
//! out-of-order count.
//!
//! This table, and the per-key counters indexed by its ids, are the only
//! state of a replay that grows with its input, and they grow with the number
//! of distinct keys, never with the number of records.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use limiter_core::canonical_ip;

/// A key's index in per-key tables, in order of first appearance.
pub(crate) type KeyId = u32;

/// The address prefixes that group addresses into buckets, as the core's
/// `Builder::ipv4_prefix` and `Builder::ipv6_prefix` take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefixes {
    v4: u8,
    v6: u8,
    v4_mask: u32,
    v6_mask: u128,
}

impl Prefixes {
    /// One bucket per address: /32 and /128.
    #[cfg(test)]
    pub(crate) const WHOLE: Prefixes = Prefixes::new(32, 128);

    /// Prefixes of `v4` and `v6` bits, which must be at most 32 and 128.
    pub(crate) const fn new(v4: u8, v6: u8) -> Prefixes {
        assert!(v4 <= 32 && v6 <= 128, "prefix lengths are validated first");
        let v4_mask = if v4 == 0 { 0 } else { u32::MAX << (32 - v4) };
        let v6_mask = if v6 == 0 { 0 } else { u128::MAX << (128 - v6) };
        Prefixes { v4, v6, v4_mask, v6_mask }
    }

    pub(crate) fn v4(&self) -> u8 {
        self.v4
    }

    pub(crate) fn v6(&self) -> u8 {
        self.v6
    }

    /// The address of `ip`'s bucket, by the core's rule: the canonical
    /// address (`::ffff:a.b.c.d` is the IPv4 `a.b.c.d`, which then takes the
    /// IPv4 prefix), with the bits after its family's prefix cleared.
    #[inline]
    pub(crate) fn bucket(&self, ip: IpAddr) -> IpAddr {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & self.v4_mask)),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & self.v6_mask)),
        }
    }

    /// How a bucket address is shown: the address, with `/LEN` when its
    /// family's prefix is shorter than a whole address (`2001:db8::/64`).
    pub(crate) fn show(&self, bucket: IpAddr) -> String {
        match bucket {
            IpAddr::V4(_) if self.v4 < 32 => format!("{bucket}/{}", self.v4),
            IpAddr::V6(_) if self.v6 < 128 => format!("{bucket}/{}", self.v6),
            _ => bucket.to_string(),
        }
    }
}

/// Every distinct bucket address, or every distinct opaque key, seen so far.
#[derive(Debug)]
pub(crate) struct KeyTable {
    v4: HashMap<u32, Slot, SeededHash>,
    v6: HashMap<u128, Slot, SeededHash>,
    /// The bucket addresses, indexed by id.
    ips: Vec<IpAddr>,
    /// Opaque keys, each stored once (its one allocation), hashed with
    /// SipHash and a random key, as their bytes are chosen by the trace.
    text: HashMap<Box<[u8]>, Slot, RandomState>,
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

/// A key: a bucket address, or an opaque key's bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Ip(IpAddr),
    Text(Box<[u8]>),
}

/// A key and its record count, as [`KeyTable::into_keys`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyCount {
    pub(crate) key: Key,
    pub(crate) records: u64,
}

impl KeyTable {
    pub(crate) fn new() -> KeyTable {
        let hash = SeededHash::new();
        KeyTable {
            v4: HashMap::with_hasher(hash),
            v6: HashMap::with_hasher(hash),
            ips: Vec::new(),
            text: HashMap::default(),
            capacity: 1 << 32,
        }
    }

    /// Notes a record of the bucket address `ip` at `nanos`: returns the
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
        Some(note(slot, nanos))
    }

    /// Notes a record of the opaque key `key` at `nanos`, as
    /// [`KeyTable::observe`] does for an address. A table holds addresses or
    /// opaque keys, never both. Allocates only for a new key.
    #[inline]
    pub(crate) fn observe_text(&mut self, key: &[u8], nanos: u64) -> Option<(KeyId, bool)> {
        if let Some(slot) = self.text.get_mut(key) {
            return Some(note(slot, nanos));
        }
        if self.text.len() >= self.capacity {
            return None;
        }
        let id = KeyId::try_from(self.text.len()).expect("below the capacity of 2³² ids");
        let slot = self.text.entry(key.into()).or_insert(Slot { id, latest: nanos, records: 0 });
        Some(note(slot, nanos))
    }

    /// Every key with its record count, indexed by id.
    pub(crate) fn into_keys(self) -> Vec<KeyCount> {
        let mut keys: Vec<KeyCount> =
            self.ips.iter().map(|&ip| KeyCount { key: Key::Ip(ip), records: 0 }).collect();
        for slot in self.v4.values().chain(self.v6.values()) {
            keys[slot.id as usize].records = slot.records;
        }
        let mut text: Vec<(KeyId, KeyCount)> = self
            .text
            .into_iter()
            .map(|(key, slot)| (slot.id, KeyCount { key: Key::Text(key), records: slot.records }))
            .collect();
        text.sort_unstable_by_key(|(id, _)| *id);
        keys.extend(text.into_iter().map(|(_, count)| count));
        keys
    }
}

/// Counts a record at `nanos` in its key's slot: the key's id, and whether
/// the record is earlier than the latest before it.
#[inline]
fn note(slot: &mut Slot, nanos: u64) -> (KeyId, bool) {
    slot.records += 1;
    let out_of_order = nanos < slot.latest;
    slot.latest = slot.latest.max(nanos);
    (slot.id, out_of_order)
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
    use limiter_testkit::{RngExt, rng};

    use super::*;

    /// Addresses around the edges of both families, their mapped and
    /// compatible forms, and pseudo-random ones from a fixed seed.
    fn addresses() -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.1.2.3",
            "192.0.2.255",
            "::",
            "::1",
            "0:0:0:0:0:0:0:1",
            "::ffff:10.1.2.3",
            "::ffff:0:0",
            "::ffff:255.255.255.255",
            "::10.1.2.3",
            "64:ff9b::10.1.2.3",
            "2001:db8::1",
            "2001:db8:0:7:1:2:3:4",
            "2001:db8:0:7:ffff:ffff:ffff:ffff",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1",
        ]
        .iter()
        .map(|text| text.parse().unwrap())
        .collect();
        let mut rng = rng(0x9e37_79b9_7f4a_7c15, 0);
        let mut next = move || rng.random::<u64>();
        for _ in 0..200 {
            let v6 = u128::from(next()) << 64 | u128::from(next());
            ips.push(IpAddr::V6(v6.into()));
            ips.push(IpAddr::V4((next() as u32).into()));
            ips.push(IpAddr::V6(Ipv4Addr::from_bits(next() as u32).to_ipv6_mapped()));
        }
        ips
    }

    #[test]
    fn buckets_are_the_cores_bucket_addresses() {
        let ips = addresses();
        let mut lengths: Vec<(u8, u8)> = vec![(0, 0), (32, 128), (32, 64), (24, 64), (0, 128)];
        lengths.extend((0..=32).map(|v4| (v4, 128 - 4 * v4)));
        lengths.extend((0..=128).step_by(7).map(|v6| (v6 as u8 / 4, v6 as u8)));
        let rate = limiter_core::Rate::per_second(1).unwrap();
        for (v4, v6) in lengths {
            let limiter = limiter_core::RateLimiter::builder(1, rate)
                .ipv4_prefix(v4)
                .ipv6_prefix(v6)
                .build_with_clock(limiter_core::ManualClock::default())
                .unwrap();
            let prefixes = Prefixes::new(v4, v6);
            for &ip in &ips {
                assert_eq!(prefixes.bucket(ip), limiter.bucket_address(ip), "{ip} /{v4} /{v6}");
            }
        }
    }

    #[test]
    fn prefixes_group_addresses() {
        let bucket = |v4, v6, ip: &str| Prefixes::new(v4, v6).bucket(ip.parse().unwrap());
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(bucket(32, 64, "2001:db8:0:7:1:2:3:4"), ip("2001:db8:0:7::"));
        assert_eq!(bucket(32, 128, "0:0:0:0:0:0:0:1"), ip("::1"));
        assert_eq!(bucket(24, 64, "::ffff:10.1.2.3"), ip("10.1.2.0"));
        assert_eq!(bucket(32, 0, "::ffff:10.1.2.3"), ip("10.1.2.3"));
        assert_eq!(bucket(0, 0, "10.1.2.3"), ip("0.0.0.0"));
        assert_eq!(bucket(0, 0, "2001:db8::1"), ip("::"));
        assert_eq!(bucket(32, 64, "::10.1.2.3"), ip("::"));
    }

    #[test]
    fn buckets_show_their_prefix_when_it_is_short() {
        let show = |v4, v6, ip: &str| {
            let prefixes = Prefixes::new(v4, v6);
            prefixes.show(prefixes.bucket(ip.parse().unwrap()))
        };
        assert_eq!(show(32, 128, "2001:db8::1"), "2001:db8::1");
        assert_eq!(show(32, 64, "2001:db8::1"), "2001:db8::/64");
        assert_eq!(show(32, 64, "10.0.0.1"), "10.0.0.1");
        assert_eq!(show(24, 128, "10.0.0.1"), "10.0.0.0/24");
        assert_eq!(show(0, 0, "::ffff:10.0.0.1"), "0.0.0.0/0");
        assert_eq!(show(0, 0, "::1"), "::/0");
    }

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
        let count = |ip, records| KeyCount { key: Key::Ip(ip), records };
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
        let count = |ip, records| KeyCount { key: Key::Ip(ip), records };
        assert_eq!(keys.into_keys(), vec![count(a, 2), count(b, 2)]);
    }

    #[test]
    fn opaque_keys_are_their_bytes() {
        let mut keys = KeyTable::new();
        let steps: [(&[u8], u64, (KeyId, bool)); 7] = [
            (b"::1", 5, (0, false)),
            (b"0:0:0:0:0:0:0:1", 5, (1, false)),
            (b"api-key-7", 9, (2, false)),
            (b"::1", 4, (0, true)),
            (b"API-KEY-7", 1, (3, false)),
            (b"api-key-7", 9, (2, false)),
            (b"\xff\x00", 0, (4, false)),
        ];
        for (i, &(key, t, expected)) in steps.iter().enumerate() {
            assert_eq!(keys.observe_text(key, t), Some(expected), "step {i}");
        }
        let count = |key: &[u8], records| KeyCount { key: Key::Text(key.into()), records };
        assert_eq!(
            keys.into_keys(),
            vec![
                count(b"::1", 2),
                count(b"0:0:0:0:0:0:0:1", 1),
                count(b"api-key-7", 2),
                count(b"API-KEY-7", 1),
                count(b"\xff\x00", 1),
            ]
        );
    }

    #[test]
    fn a_full_table_takes_no_more_opaque_keys() {
        let mut keys = KeyTable { capacity: 1, ..KeyTable::new() };
        assert_eq!(keys.observe_text(b"a", 5), Some((0, false)));
        assert_eq!(keys.observe_text(b"b", 5), None);
        assert_eq!(keys.observe_text(b"a", 4), Some((0, true)));
        assert_eq!(
            keys.into_keys(),
            vec![KeyCount { key: Key::Text(b"a"[..].into()), records: 2 }]
        );
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
