//! Adversarial key sets: structured addresses, as a scanner or a flood
//! from one network sends them, against random addresses of the same count
//! and family, for new keys and for known ones.
//!
//! The table places a key by a keyed hash; if structure in the keys showed
//! through it (long probe chains, one crowded shard), these rows would be
//! slower than random keys. The target is at most 2× random keys on every
//! row, new and known keys alike.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use limiter_testkit::Subject;

use crate::error::BenchError;
use crate::keys::{self, Family};
use crate::measure;
use crate::quota::Quota;
use crate::shape::{Sizes, count};
use limiter_testkit::OursAt;

/// The most a structured key set may cost, as a multiple of random keys.
pub(crate) const TARGET: f64 = 2.0;

/// The explicit time of the first request.
const START_NS: u64 = 1_000_000_000;

/// A set of distinct addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySet {
    /// Random IPv4 addresses: the baseline of the IPv4 sets.
    RandomV4,
    /// Consecutive IPv4 addresses from 10.0.0.0, as a scan sends them.
    SequentialV4,
    /// IPv4 addresses 4099 apart (a prime just above 2¹²), in order.
    StridedV4,
    /// Random IPv6 addresses: the baseline of the IPv6 sets.
    RandomV6,
    /// One /64 with only the low bits moving: `2001:db8:f10d:1::` plus 0, 1, 2, ….
    V6LowBits,
    /// Only the high bits moving: /64s `2001:db8::`, `2001:db8:0:1::`, …, each
    /// with the same interface identifier `::1`.
    V6HighBits,
}

impl KeySet {
    /// Every set, each family's baseline first.
    pub const ALL: [KeySet; 6] = [
        KeySet::RandomV4,
        KeySet::SequentialV4,
        KeySet::StridedV4,
        KeySet::RandomV6,
        KeySet::V6LowBits,
        KeySet::V6HighBits,
    ];

    /// The set's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            KeySet::RandomV4 => "IPv4 random",
            KeySet::SequentialV4 => "IPv4 sequential",
            KeySet::StridedV4 => "IPv4 stride 4099",
            KeySet::RandomV6 => "IPv6 random",
            KeySet::V6LowBits => "IPv6 one /64, low bits",
            KeySet::V6HighBits => "IPv6 high bits only",
        }
    }

    /// The set's family.
    pub fn family(self) -> Family {
        match self {
            KeySet::RandomV4 | KeySet::SequentialV4 | KeySet::StridedV4 => Family::V4,
            _ => Family::V6,
        }
    }

    /// The random set of the same family, which this one is compared with.
    pub fn baseline(self) -> KeySet {
        match self.family() {
            Family::V4 => KeySet::RandomV4,
            Family::V6 => KeySet::RandomV6,
        }
    }

    /// `n` distinct addresses of this set, in the order a sender would use
    /// them (random sets from `seed`).
    pub fn keys(self, n: usize, seed: u64) -> Vec<IpAddr> {
        let v4 = |bits: u64| IpAddr::V4(Ipv4Addr::from_bits(bits as u32));
        let v6 = |bits: u128| IpAddr::V6(Ipv6Addr::from_bits(bits));
        let n64 = n as u64;
        match self {
            KeySet::RandomV4 => keys::distinct_v4(n, &mut keys::rng(seed, 11)),
            KeySet::SequentialV4 => (0..n64).map(|i| v4(0x0a00_0000 + i)).collect(),
            // 4099 · n stays below 2³² for n up to a million.
            KeySet::StridedV4 => (0..n64).map(|i| v4(0x0100_0000 + i * 4099)).collect(),
            KeySet::RandomV6 => keys::distinct_v6(n, &mut keys::rng(seed, 12)),
            KeySet::V6LowBits => {
                (0..n as u128).map(|i| v6(0x2001_0db8_f10d_0001 << 64 | i)).collect()
            }
            KeySet::V6HighBits => {
                (0..n as u128).map(|i| v6((0x2001_0db8 << 96 | i << 64) | 1)).collect()
            }
        }
    }
}

/// One key set's figures: nanoseconds per request, median of the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdversarialRow {
    /// The keys.
    pub set: KeySet,
    /// Every key's first request, each sample on a new limiter.
    pub new_ns: f64,
    /// Requests uniform over the keys, all known to the limiter.
    pub known_ns: f64,
}

/// The adversarial rows of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct AdversarialReport {
    /// Keys per set.
    pub keys: usize,
    /// Timed requests per known-key sample.
    pub requests: usize,
    /// One row per [`KeySet`], in [`KeySet::ALL`] order.
    pub rows: Vec<AdversarialRow>,
}

/// Measures every key set on limiter-core, at explicit times under
/// [`Quota::ALLOW_ALL`]: `sizes.fresh_keys` keys per set, and
/// `sizes.requests` requests over them once known. Samples of all sets are
/// interleaved, so that a slow moment of the machine hits each alike.
///
/// # Errors
///
/// A [`BenchError`] if limiter-core rejects the quota.
pub fn run(
    sizes: &Sizes,
    seed: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<AdversarialReport, BenchError> {
    let n = sizes.fresh_keys;
    let sets: Vec<(KeySet, Vec<IpAddr>)> =
        KeySet::ALL.into_iter().map(|set| (set, set.keys(n, seed))).collect();
    let mut known = Vec::new();
    for (_, keys) in &sets {
        let subject = OursAt(Quota::ALLOW_ALL.ours()?);
        for &ip in keys {
            subject.check(ip, START_NS);
        }
        let requests = keys::uniform(keys, sizes.requests, &mut keys::rng(seed, 13));
        known.push((subject, vec![requests]));
    }
    let mut ns = vec![(Vec::new(), Vec::new()); sets.len()];
    let step = sizes.step_ns;
    for k in 0..sizes.warmups + sizes.samples {
        for (((_, keys), (subject, requests)), figures) in sets.iter().zip(&known).zip(&mut ns) {
            let fresh = OursAt(Quota::ALLOW_ALL.ours()?);
            let new = measure::run(&fresh, std::slice::from_ref(keys), START_NS, step);
            drop(fresh);
            let start = START_NS + (k as u64 + 1) * (sizes.requests as u64 + 1) * step;
            let old = measure::run(subject, requests, start, step);
            if k >= sizes.warmups {
                figures.0.push(new.ns_per_op());
                figures.1.push(old.ns_per_op());
            }
        }
    }
    let rows: Vec<AdversarialRow> = sets
        .iter()
        .zip(&ns)
        .map(|((set, _), (new, old))| AdversarialRow {
            set: *set,
            new_ns: measure::median(new),
            known_ns: measure::median(old),
        })
        .collect();
    for row in &rows {
        progress(&format!(
            "adversarial {}: new {:.1} ns, known {:.1} ns",
            row.set.label(),
            row.new_ns,
            row.known_ns
        ));
    }
    Ok(AdversarialReport { keys: n, requests: sizes.requests, rows })
}

impl AdversarialReport {
    /// The row of `set`.
    pub fn row(&self, set: KeySet) -> Option<&AdversarialRow> {
        self.rows.iter().find(|row| row.set == set)
    }

    /// Each structured set's new-key and known-key time as a multiple of
    /// its family's random set's.
    pub fn ratios(&self, set: KeySet) -> Option<(f64, f64)> {
        let (row, base) = (self.row(set)?, self.row(set.baseline())?);
        Some((row.new_ns / base.new_ns, row.known_ns / base.known_ns))
    }

    /// Whether every structured set is within 2× random keys, the target.
    pub fn met(&self) -> bool {
        self.rows
            .iter()
            .filter_map(|row| self.ratios(row.set))
            .all(|(new, known)| new <= TARGET && known <= TARGET)
    }

    /// The rows as a markdown table, with the target's verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Adversarial keys: {} distinct addresses per set, ours at explicit times, 10⁹ @ 10⁹/s; \
             new = each key's first request on a new limiter, known = {} requests uniform over \
             the set; × random = against random keys of the same family (target ≤ {TARGET}×)",
            count(self.keys),
            count(self.requests),
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "| key set | new ns/op | × random | known ns/op | × random |");
        let _ = writeln!(out, "|---|--:|--:|--:|--:|");
        for row in &self.rows {
            let (new, known) = self.ratios(row.set).unwrap_or((1.0, 1.0));
            let _ = writeln!(
                out,
                "| {} | {:.1} | {new:.2}× | {:.1} | {known:.2}× |",
                row.set.label(),
                row.new_ns,
                row.known_ns,
            );
        }
        let _ = writeln!(out);
        let worst = self
            .rows
            .iter()
            .filter(|row| row.set != row.set.baseline())
            .filter_map(|row| self.ratios(row.set))
            .map(|(new, known)| new.max(known))
            .fold(0.0, f64::max);
        let verdict = if self.met() { "met" } else { "MISSED" };
        let _ = writeln!(out, "Target ≤ {TARGET}× random keys: {verdict} (worst {worst:.2}×)");
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_set_holds_distinct_addresses_of_its_family() {
        for set in KeySet::ALL {
            let keys = set.keys(5000, 1);
            assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 5000, "{set:?}");
            assert!(keys.iter().all(|ip| ip.is_ipv4() == (set.family() == Family::V4)));
            assert_eq!(keys, set.keys(5000, 1), "{set:?}: not seeded");
            assert_eq!(set.baseline().family(), set.family());
        }
        let low = KeySet::V6LowBits.keys(3, 1);
        assert_eq!(low[2], "2001:db8:f10d:1::2".parse::<IpAddr>().unwrap());
        let high = KeySet::V6HighBits.keys(3, 1);
        assert_eq!(high[2], "2001:db8:0:2::1".parse::<IpAddr>().unwrap());
        assert_eq!(KeySet::StridedV4.keys(2, 1)[1], "1.0.16.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_report_compares_each_set_with_its_family_s_random_keys() {
        let sizes =
            Sizes { requests: 500, samples: 1, warmups: 0, fresh_keys: 2000, ..Sizes::QUICK };
        let mut lines = 0;
        let mut report = run(&sizes, 3, &mut |_| lines += 1).unwrap();
        assert_eq!(lines, KeySet::ALL.len());
        assert_eq!(report.rows.len(), KeySet::ALL.len());
        assert!(report.rows.iter().all(|r| r.new_ns > 0.0 && r.known_ns > 0.0), "{report:?}");
        assert_eq!(report.ratios(KeySet::RandomV6), Some((1.0, 1.0)));
        // Made-up figures: the target is judged on the worse of the two.
        for row in &mut report.rows {
            (row.new_ns, row.known_ns) = (10.0, 20.0);
        }
        report.rows[4].known_ns = 41.0;
        assert_eq!(report.ratios(KeySet::V6LowBits), Some((1.0, 2.05)));
        assert!(!report.met());
        assert!(
            report.render().contains("| IPv6 one /64, low bits | 10.0 | 1.00× | 41.0 | 2.05× |")
        );
        assert!(report.render().ends_with("Target ≤ 2× random keys: MISSED (worst 2.05×)\n"));
        report.rows[4].known_ns = 40.0;
        assert!(report.met());
    }
}
