//! Seeded key generators: sets of distinct addresses, and uniform or
//! Zipf-distributed request sequences over them.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The random generator for one purpose: `seed` fixes the run, `stream`
/// tells purposes apart so that each gets its own sequence.
pub fn rng(seed: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

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

/// `count` distinct random IPv4 addresses.
pub fn distinct_v4(count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
    distinct(count, || IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())))
}

/// `count` distinct random global-unicast IPv6 addresses (in `2000::/3`, so
/// none is IPv4-mapped).
pub fn distinct_v6(count: usize, rng: &mut StdRng) -> Vec<IpAddr> {
    distinct(count, || IpAddr::V6(Ipv6Addr::from(rng.random::<u128>() >> 3 | 1 << 125)))
}

fn distinct(count: usize, mut next: impl FnMut() -> IpAddr) -> Vec<IpAddr> {
    let mut seen = HashSet::with_capacity(count);
    let mut keys = Vec::with_capacity(count);
    while keys.len() < count {
        let key = next();
        if seen.insert(key) {
            keys.push(key);
        }
    }
    keys
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

/// The Zipf law over ranks `0..n`: rank `k` is drawn with probability
/// proportional to `1 / (k + 1)^exponent`.
///
/// Sampling inverts the cumulative distribution by binary search, which is
/// exact up to `f64` rounding and fast enough for a million ranks.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// The law over `n` ranks, or `None` if `n` is 0 or `exponent` is not a
    /// positive finite number.
    pub fn new(n: usize, exponent: f64) -> Option<Zipf> {
        if n == 0 || !(exponent.is_finite() && exponent > 0.0) {
            return None;
        }
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += (rank as f64).powf(-exponent);
                total
            })
            .collect();
        Some(Zipf { cumulative })
    }

    /// The probability of rank `k`.
    pub fn probability(&self, k: usize) -> f64 {
        let below = if k == 0 { 0.0 } else { self.cumulative[k - 1] };
        (self.cumulative[k] - below) / self.total()
    }

    /// A random rank.
    pub fn sample(&self, rng: &mut StdRng) -> usize {
        let u = rng.random::<f64>() * self.total();
        self.cumulative.partition_point(|&c| c <= u).min(self.cumulative.len() - 1)
    }

    /// The number of ranks.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Always false: a law has at least one rank.
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    fn total(&self) -> f64 {
        self.cumulative[self.cumulative.len() - 1]
    }
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
    fn zipf_probabilities_follow_the_law() {
        let zipf = Zipf::new(1_000_000, 1.1).unwrap();
        assert_eq!(zipf.len(), 1_000_000);
        // The generalised harmonic number H(10⁶, 1.1) is about 8.8.
        let first = zipf.probability(0);
        assert!((0.10..0.13).contains(&first), "{first}");
        let ratio = zipf.probability(0) / zipf.probability(9);
        assert!((ratio - 10f64.powf(1.1)).abs() < 1e-6, "{ratio}");
        assert!(Zipf::new(0, 1.1).is_none());
        assert!(Zipf::new(10, 0.0).is_none());
        assert!(Zipf::new(10, f64::NAN).is_none());
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
