//! Workloads: key populations and per-thread key sequences, all generated from a seed
//! before the timed loop starts.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use limiter_core::canonical_ip;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

/// Keys of the `uniform` workload, all created before the timed loop.
pub(crate) const UNIFORM_KEYS: usize = 100_000;
/// Keys of the `zipf` workload.
pub(crate) const ZIPF_KEYS: usize = 1_000_000;
/// Keys of the `ipv6` workload.
pub(crate) const IPV6_KEYS: usize = 1_000_000;

/// What traffic a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WorkloadKind {
    /// Every thread on one address: maximum contention on one bucket.
    Hot,
    /// 100k addresses, created before the run, drawn uniformly.
    Uniform,
    /// 1M IPv4 addresses drawn with Zipf-distributed popularity.
    Zipf,
    /// Every request from a new address: the bucket-creation path.
    Churn,
    /// 1M addresses, half IPv4, 40% IPv6, 10% IPv4-mapped IPv6, Zipf popularity.
    Ipv6,
}

impl WorkloadKind {
    /// Every workload, in the order the suite runs them.
    pub(crate) const ALL: [WorkloadKind; 5] = [
        WorkloadKind::Hot,
        WorkloadKind::Uniform,
        WorkloadKind::Zipf,
        WorkloadKind::Churn,
        WorkloadKind::Ipv6,
    ];

    /// The name used on the command line and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WorkloadKind::Hot => "hot",
            WorkloadKind::Uniform => "uniform",
            WorkloadKind::Zipf => "zipf",
            WorkloadKind::Churn => "churn",
            WorkloadKind::Ipv6 => "ipv6",
        }
    }
}

/// A workload's keys, ready to replay.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub(crate) kind: WorkloadKind,
    /// The population: distinct even after IPv4-mapped addresses are canonicalised.
    /// Empty for churn, whose keys are computed from a counter.
    pub(crate) keys: Vec<IpAddr>,
    /// Per thread, indices into `keys`, replayed in a cycle. Empty for churn.
    pub(crate) streams: Vec<Vec<u32>>,
    /// Whether every key gets one request before the timed loop.
    pub(crate) preinsert: bool,
    /// Mixed into churn addresses so that another seed gives other addresses.
    pub(crate) churn_salt: u32,
}

impl Workload {
    /// Generates `kind`'s population and one sequence of `stream_len` keys per thread.
    ///
    /// The same arguments give the same keys: every random draw comes from a
    /// `StdRng` seeded from `seed`, the workload and the thread index.
    pub(crate) fn generate(
        kind: WorkloadKind,
        threads: usize,
        stream_len: usize,
        seed: u64,
        zipf_exponent: f64,
    ) -> Workload {
        let mut rng = StdRng::seed_from_u64(mix(seed, kind as u64, u64::MAX));
        let keys = match kind {
            WorkloadKind::Hot => random_ipv4s(&mut rng, 1),
            WorkloadKind::Uniform => random_ipv4s(&mut rng, UNIFORM_KEYS),
            WorkloadKind::Zipf => random_ipv4s(&mut rng, ZIPF_KEYS),
            WorkloadKind::Churn => Vec::new(),
            WorkloadKind::Ipv6 => mixed_population(&mut rng, IPV6_KEYS),
        };
        let zipf = matches!(kind, WorkloadKind::Zipf | WorkloadKind::Ipv6)
            .then(|| Zipf::new(keys.len(), zipf_exponent));
        let streams = match kind {
            WorkloadKind::Churn => Vec::new(),
            WorkloadKind::Hot => vec![vec![0]; threads],
            _ => (0..threads)
                .into_par_iter()
                .map(|thread| {
                    let mut rng = StdRng::seed_from_u64(mix(seed, kind as u64, thread as u64));
                    (0..stream_len)
                        .map(|_| match &zipf {
                            Some(zipf) => zipf.sample(&mut rng),
                            None => rng.random_range(0..keys.len()),
                        } as u32)
                        .collect()
                })
                .collect(),
        };
        Workload {
            kind,
            keys,
            streams,
            preinsert: kind == WorkloadKind::Uniform,
            churn_salt: rng.random(),
        }
    }
}

/// The churn workload's address number `index`: distinct for distinct indices.
///
/// Below 2³² the address is IPv4: `index + salt` put through a bijection of
/// `u32` (odd multiplications and xor-shifts), so consecutive indices land far
/// apart. Above, it is an IPv6 address holding the index. This is a few
/// arithmetic instructions, not a random-number generator, so it may run in
/// the timed loop.
pub(crate) fn churn_ip(salt: u32, index: u64) -> IpAddr {
    match u32::try_from(index) {
        Ok(index) => {
            let mut x = index.wrapping_add(salt);
            x = x.wrapping_mul(0x9E37_79B1);
            x ^= x >> 16;
            x = x.wrapping_mul(0x85EB_CA6B);
            x ^= x >> 13;
            IpAddr::V4(Ipv4Addr::from(x))
        }
        Err(_) => IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(index))),
    }
}

/// Draws ranks `0..n` with weight `1/(rank + 1)^s`, by binary search of the cumulative weights.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// A sampler over `n >= 1` ranks with exponent `s > 0`.
    pub(crate) fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += (rank as f64).powf(-s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// One rank, 0 being the most popular.
    pub(crate) fn sample(&self, rng: &mut StdRng) -> usize {
        let total = *self.cumulative.last().expect("at least one rank");
        let target = rng.random::<f64>() * total;
        self.cumulative.partition_point(|&c| c <= target).min(self.cumulative.len() - 1)
    }
}

/// `n` distinct IPv4 addresses.
fn random_ipv4s(rng: &mut StdRng, n: usize) -> Vec<IpAddr> {
    let mut seen = HashSet::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let ip = IpAddr::V4(Ipv4Addr::from(rng.random::<u32>()));
        if seen.insert(ip) {
            keys.push(ip);
        }
    }
    keys
}

/// `n` addresses distinct after canonicalisation: half IPv4, 40% IPv6 in
/// 2001:db8::/32, and 10% IPv4-mapped IPv6 (`::ffff:a.b.c.d`), whose IPv4
/// form appears nowhere else.
fn mixed_population(rng: &mut StdRng, n: usize) -> Vec<IpAddr> {
    let mut seen = HashSet::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let ip = match rng.random_range(0..10) {
            0..5 => IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())),
            5..9 => IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | rng.random::<u128>() >> 32)),
            _ => IpAddr::V6(Ipv4Addr::from(rng.random::<u32>()).to_ipv6_mapped()),
        };
        if seen.insert(canonical_ip(ip)) {
            keys.push(ip);
        }
    }
    keys
}

/// A seed for one generator, distinct per (seed, workload, stream).
fn mix(seed: u64, workload: u64, stream: u64) -> u64 {
    let mut x = seed ^ workload.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.rotate_left(32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_keys_other_seed_other_keys() {
        let a = Workload::generate(WorkloadKind::Uniform, 2, 1000, 7, 1.1);
        let b = Workload::generate(WorkloadKind::Uniform, 2, 1000, 7, 1.1);
        let c = Workload::generate(WorkloadKind::Uniform, 2, 1000, 8, 1.1);
        assert_eq!((&a.keys, &a.streams), (&b.keys, &b.streams));
        assert_ne!(a.keys, c.keys);
        assert_ne!(a.streams[0], a.streams[1], "threads draw different sequences");
    }

    #[test]
    fn populations_are_distinct_and_sized() {
        for (kind, size) in [
            (WorkloadKind::Hot, 1),
            (WorkloadKind::Uniform, UNIFORM_KEYS),
            (WorkloadKind::Zipf, ZIPF_KEYS),
        ] {
            let workload = Workload::generate(kind, 3, 100, 1, 1.1);
            let distinct: HashSet<IpAddr> =
                workload.keys.iter().map(|&ip| canonical_ip(ip)).collect();
            assert_eq!((workload.keys.len(), distinct.len()), (size, size), "{kind:?}");
            assert_eq!(workload.streams.len(), 3, "{kind:?}");
            assert!(
                workload.streams.iter().flatten().all(|&i| (i as usize) < size),
                "{kind:?} indexes past its population"
            );
        }
    }

    #[test]
    fn ipv6_mixes_families_including_mapped_addresses() {
        let workload = Workload::generate(WorkloadKind::Ipv6, 2, 10, 1, 1.1);
        let distinct: HashSet<IpAddr> = workload.keys.iter().map(|&ip| canonical_ip(ip)).collect();
        assert_eq!((workload.keys.len(), distinct.len()), (IPV6_KEYS, IPV6_KEYS));
        assert!(workload.streams.iter().flatten().all(|&i| (i as usize) < IPV6_KEYS));
        let v4 = workload.keys.iter().filter(|ip| ip.is_ipv4()).count();
        let mapped = workload
            .keys
            .iter()
            .filter(|ip| matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()))
            .count();
        let v6 = workload.keys.len() - v4 - mapped;
        // Binomial shares of 1M draws sit within 1% of 50/40/10.
        assert!((490_000..510_000).contains(&v4), "{v4} IPv4");
        assert!((390_000..410_000).contains(&v6), "{v6} IPv6");
        assert!((95_000..105_000).contains(&mapped), "{mapped} mapped");
    }

    #[test]
    fn churn_addresses_are_all_distinct() {
        let threads = 3;
        let mut seen = HashSet::new();
        for thread in 0..threads {
            for op in 0..100_000u64 {
                assert!(
                    seen.insert(churn_ip(12345, op * threads + thread)),
                    "op {op} thread {thread}"
                );
            }
        }
        let high = [u64::from(u32::MAX), 1 << 32, (1 << 32) + 1, u64::MAX];
        assert!(high.iter().all(|&index| seen.insert(churn_ip(12345, index))));
        assert_ne!(churn_ip(1, 0), churn_ip(2, 0), "the salt changes the addresses");
    }

    #[test]
    fn zipf_rank_frequencies_follow_the_exponent() {
        let s = 1.1;
        let zipf = Zipf::new(ZIPF_KEYS, s);
        let mut rng = StdRng::seed_from_u64(3);
        let mut counts = vec![0u32; 100];
        for _ in 0..400_000 {
            if let Some(count) = counts.get_mut(zipf.sample(&mut rng)) {
                *count += 1;
            }
        }
        // Rank 1 is drawn 10^1.1 ≈ 12.6 times as often as rank 10, and 2^1.1 ≈ 2.14 times rank 2.
        let ratio = |a: usize, b: usize| f64::from(counts[a]) / f64::from(counts[b]);
        let expect_1_10 = 10f64.powf(s);
        let expect_1_2 = 2f64.powf(s);
        assert!((ratio(0, 9) / expect_1_10 - 1.0).abs() < 0.1, "rank 1/10 = {}", ratio(0, 9));
        assert!((ratio(0, 1) / expect_1_2 - 1.0).abs() < 0.05, "rank 1/2 = {}", ratio(0, 1));
        // Rank 1's share is 1 / H(n, s), the generalised harmonic number.
        let harmonic: f64 = (1..=ZIPF_KEYS).map(|k| (k as f64).powf(-s)).sum();
        let share = f64::from(counts[0]) / 400_000.0;
        assert!((share * harmonic - 1.0).abs() < 0.03, "rank 1 share {share}");
    }

    #[test]
    fn zipf_with_one_rank_always_draws_it() {
        let zipf = Zipf::new(1, 1.1);
        let mut rng = StdRng::seed_from_u64(0);
        assert!((0..1000).all(|_| zipf.sample(&mut rng) == 0));
    }

    #[test]
    fn uniform_streams_cover_the_population_evenly() {
        let workload = Workload::generate(WorkloadKind::Uniform, 1, 1_000_000, 5, 1.1);
        let mut counts = vec![0u32; UNIFORM_KEYS];
        for &i in &workload.streams[0] {
            counts[i as usize] += 1;
        }
        // 10 expected per key; a Poisson(10) count above 40 has probability ~1e-10.
        assert!(counts.iter().all(|&c| c <= 40), "max {}", counts.iter().max().unwrap());
        assert!(counts.iter().filter(|&&c| c == 0).count() < 100, "most keys are drawn");
        assert!(workload.preinsert);
    }
}
