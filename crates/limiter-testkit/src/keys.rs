//! The one random source, and populations of distinct addresses.

use std::collections::HashSet;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The random generator for one purpose: `seed` fixes the run, `stream`
/// tells purposes apart (a thread, a workload, a table), so that each gets
/// its own sequence and the same pair always gives the same one.
pub fn rng(seed: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `count` distinct random IPv4 addresses.
pub fn distinct_v4(count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
    distinct_by(count, |&ip| ip, || IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())))
}

/// `count` distinct random global-unicast IPv6 addresses (in `2000::/3`, so
/// none is IPv4-mapped).
pub fn distinct_v6(count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
    distinct_by(
        count,
        |&ip| ip,
        || IpAddr::V6(Ipv6Addr::from(rng.random::<u128>() >> 3 | 1 << 125)),
    )
}

/// The first `count` values of `next` whose `key`s differ, in the order
/// drawn: `key` says when two values count as the same (an address and its
/// IPv4-mapped spelling, say). `next` must be able to give `count` of them.
pub fn distinct_by<T, K: Hash + Eq>(
    count: usize,
    key: impl Fn(&T) -> K,
    mut next: impl FnMut() -> T,
) -> Vec<T> {
    let mut seen = HashSet::with_capacity(count);
    let mut values = Vec::with_capacity(count);
    while values.len() < count {
        let value = next();
        if seen.insert(key(&value)) {
            values.push(value);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_keys_and_streams_differ() {
        assert_eq!(distinct_v4(1000, &mut rng(7, 1)), distinct_v4(1000, &mut rng(7, 1)));
        assert_ne!(distinct_v4(1000, &mut rng(7, 1)), distinct_v4(1000, &mut rng(7, 2)));
        assert_ne!(distinct_v4(1000, &mut rng(7, 1)), distinct_v4(1000, &mut rng(8, 1)));
        assert_eq!(distinct_v6(100, &mut rng(7, 1)), distinct_v6(100, &mut rng(7, 1)));
    }

    #[test]
    fn distinct_keys_are_distinct_and_of_their_family() {
        let v4 = distinct_v4(100_000, &mut rng(1, 1));
        assert_eq!(v4.len(), 100_000);
        assert_eq!(v4.iter().collect::<HashSet<_>>().len(), 100_000);
        assert!(v4.iter().all(IpAddr::is_ipv4));
        let v6 = distinct_v6(100_000, &mut rng(1, 1));
        assert_eq!(v6.iter().collect::<HashSet<_>>().len(), 100_000);
        assert!(v6.iter().all(|ip| match ip {
            IpAddr::V6(v6) => v6.segments()[0] >> 13 == 0b001 && v6.to_ipv4_mapped().is_none(),
            IpAddr::V4(_) => false,
        }));
    }

    #[test]
    fn distinct_by_compares_keys_not_values() {
        let mut n = 0;
        let evens = distinct_by(
            3,
            |v: &u32| v / 2,
            || {
                n += 1;
                n
            },
        );
        assert_eq!(evens, [1, 2, 4]);
    }
}
