//! The Zipf law over ranks, for skewed key popularity.

use rand::RngExt;
use rand::rngs::StdRng;

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

    /// A random rank, 0 being the most frequent.
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
    use crate::rng;

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
    fn zipf_rank_frequencies_follow_the_exponent() {
        let s = 1.1;
        let n = 1_000_000;
        let zipf = Zipf::new(n, s).unwrap();
        let mut rng = rng(3, 0);
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
        let harmonic: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        let share = f64::from(counts[0]) / 400_000.0;
        assert!((share * harmonic - 1.0).abs() < 0.03, "rank 1 share {share}");
    }

    #[test]
    fn zipf_with_one_rank_always_draws_it() {
        let zipf = Zipf::new(1, 1.1).unwrap();
        let mut rng = rng(0, 0);
        assert!((0..1000).all(|_| zipf.sample(&mut rng) == 0));
    }
}
