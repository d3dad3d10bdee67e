//! Workloads: key populations and per-thread key sequences, all generated from a seed
//! before the timed loop starts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use limiter_core::canonical_ip;
use limiter_testkit::{RngExt, StdRng, Zipf, distinct_by, distinct_v4, rng};
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
    /// The same arguments give the same keys: every random draw comes from the
    /// test kit's `rng`, seeded from `seed` with the workload and the thread
    /// index as its stream.
    pub(crate) fn generate(
        kind: WorkloadKind,
        threads: usize,
        stream_len: usize,
        seed: u64,
        zipf_exponent: f64,
    ) -> Workload {
        let mut population = rng(seed, stream(kind, u32::MAX));
        let keys = match kind {
            WorkloadKind::Hot => distinct_v4(1, &mut population),
            WorkloadKind::Uniform => distinct_v4(UNIFORM_KEYS, &mut population),
            WorkloadKind::Zipf => distinct_v4(ZIPF_KEYS, &mut population),
            WorkloadKind::Churn => Vec::new(),
            WorkloadKind::Ipv6 => mixed_population(&mut population, IPV6_KEYS),
        };
        let zipf = matches!(kind, WorkloadKind::Zipf | WorkloadKind::Ipv6).then(|| {
            Zipf::new(keys.len(), zipf_exponent).expect("the arguments validated the exponent")
        });
        let streams = match kind {
            WorkloadKind::Churn => Vec::new(),
            WorkloadKind::Hot => vec![vec![0]; threads],
            _ => (0..threads)
                .into_par_iter()
                .map(|thread| {
                    let mut rng = rng(seed, stream(kind, thread as u32));
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
            churn_salt: population.random(),
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
        Ok(index) => IpAddr::V4(Ipv4Addr::from(scramble32(index.wrapping_add(salt)))),
        Err(_) => IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(index))),
    }
}

/// A bijection of `u32`: odd multiplications and xor-shifts, so that
/// consecutive numbers land far apart.
pub(crate) fn scramble32(mut x: u32) -> u32 {
    x = x.wrapping_mul(0x9E37_79B1);
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^ (x >> 13)
}

/// `n` addresses distinct after canonicalisation: half IPv4, 40% IPv6 in
/// 2001:db8::/32, and 10% IPv4-mapped IPv6 (`::ffff:a.b.c.d`), whose IPv4
/// form appears nowhere else.
fn mixed_population(rng: &mut StdRng, n: usize) -> Vec<IpAddr> {
    distinct_by(
        n,
        |&ip| canonical_ip(ip),
        || match rng.random_range(0..10) {
            0..5 => IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())),
            5..9 => IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | rng.random::<u128>() >> 32)),
            _ => IpAddr::V6(Ipv4Addr::from(rng.random::<u32>()).to_ipv6_mapped()),
        },
    )
}

/// The random stream of one workload's thread (`u32::MAX` for its population).
fn stream(kind: WorkloadKind, thread: u32) -> u64 {
    (kind as u64) << 32 | u64::from(thread)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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
