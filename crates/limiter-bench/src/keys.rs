//! Request sequences over key populations: uniform or Zipf-distributed.
//! The random source, the populations and the Zipf law are the test kit's.

use std::net::IpAddr;

use limiter_testkit::{RngExt, StdRng, Zipf};
pub(crate) use limiter_testkit::{distinct_v4, distinct_v6, rng};

/// An address family, for shapes and memory rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 addresses.
    V4,
    /// IPv6 addresses.
    V6,
}

impl Family {
    /// Both families, in table order.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// `IPv4` or `IPv6`.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// The family called `name` (`IPv4`/`v4` or `IPv6`/`v6`, any case).
    pub fn from_name(name: &str) -> Option<Family> {
        match name.to_ascii_lowercase().as_str() {
            "ipv4" | "v4" => Some(Family::V4),
            "ipv6" | "v6" => Some(Family::V6),
            _ => None,
        }
    }

    /// `count` distinct random addresses of this family.
    pub fn distinct(self, count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
        match self {
            Family::V4 => distinct_v4(count, rng),
            Family::V6 => distinct_v6(count, rng),
        }
    }
}

/// `count` requests drawn uniformly from `keys`; none if `keys` is empty.
pub fn uniform(keys: &[IpAddr], count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
    if keys.is_empty() {
        return Vec::new();
    }
    (0..count).map(|_| keys[rng.random_range(0..keys.len())]).collect()
}

/// `count` requests drawn from `keys` by a [`Zipf`] law over their order:
/// `keys[0]` is the most frequent. None if `keys` is empty or the exponent
/// is not positive and finite.
pub fn zipf(keys: &[IpAddr], exponent: f64, count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
    match Zipf::new(keys.len(), exponent) {
        Some(zipf) => (0..count).map(|_| keys[zipf.sample(rng)]).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn families_are_named_and_generate_their_own_addresses() {
        for family in Family::ALL {
            assert_eq!(Family::from_name(family.name()), Some(family));
            let keys = family.distinct(10, &mut rng(4, 1));
            assert!(keys.iter().all(|ip| ip.is_ipv4() == (family == Family::V4)));
        }
        assert_eq!(Family::from_name("v6"), Some(Family::V6));
        assert_eq!(Family::from_name("ipv5"), None);
    }

    #[test]
    fn uniform_requests_cover_the_keys_evenly() {
        let keys = distinct_v4(100, &mut rng(2, 1));
        let requests = uniform(&keys, 100_000, &mut rng(2, 2));
        assert_eq!(requests.len(), 100_000);
        let mut counts = std::collections::HashMap::new();
        for ip in &requests {
            *counts.entry(*ip).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 100);
        // Each key expects 1000 requests with a standard deviation near 31.
        assert!(counts.values().all(|&c| (850..=1150).contains(&c)), "{counts:?}");
        assert!(uniform(&[], 10, &mut rng(2, 2)).is_empty());
    }

    #[test]
    fn zipf_samples_are_skewed_towards_the_first_keys() {
        let keys = distinct_v4(1_000_000, &mut rng(3, 1));
        let requests = zipf(&keys, 1.1, 200_000, &mut rng(3, 2));
        assert_eq!(requests.len(), 200_000);
        let zipf_law = Zipf::new(keys.len(), 1.1).unwrap();
        let share = |k: usize| {
            requests.iter().filter(|&&ip| ip == keys[k]).count() as f64 / requests.len() as f64
        };
        // Each of the first ranks lands within 5% of its probability.
        for k in [0, 1, 9] {
            let (seen, expected) = (share(k), zipf_law.probability(k));
            assert!((seen / expected - 1.0).abs() < 0.05, "rank {k}: {seen} vs {expected}");
        }
        // A long tail: many distinct keys, but far fewer than requests.
        let distinct = requests.iter().collect::<HashSet<_>>().len();
        assert!((20_000..150_000).contains(&distinct), "{distinct}");
        assert_eq!(requests, zipf(&keys, 1.1, 200_000, &mut rng(3, 2)));
    }
}
