//! The over-admission bound, exactly in integers.
//!
//! A bucket of capacity `C` refilled at `R = num/den` tokens per second
//! allows at most `C + R·span` tokens over any `span` of time, since it
//! starts with `C` and gains `R` a second. Compared as
//! `allowed·den·10⁹ ≤ C·den·10⁹ + num·span_ns` in `u128`: each side is at
//! most about 2⁶⁴ · 10¹⁸ + 10³⁶ < 2¹²⁵ for SPEC's ranges.

use limiter_core::Rate;

const NANOS_PER_SEC: u128 = crate::NANOS_PER_SEC as u128;

/// Whether `allowed ≤ capacity + rate · span_ns`, exactly.
///
/// # Example
///
/// ```
/// use limiter_core::Rate;
/// use limiter_testkit::within_bound;
///
/// let rate = Rate::per_second(5)?; // one token per 200 ms
/// assert!(within_bound(10, rate, 11, 200_000_000));
/// assert!(!within_bound(10, rate, 11, 199_999_999));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn within_bound(capacity: u64, rate: Rate, allowed: u128, span_ns: u64) -> bool {
    let (num, den) = (u128::from(rate.numer()), u128::from(rate.denom()));
    allowed * den * NANOS_PER_SEC
        <= u128::from(capacity) * den * NANOS_PER_SEC + num * u128::from(span_ns)
}

/// The largest count [`within_bound`] accepts over `span_ns`:
/// `⌊capacity + rate · span⌋`.
pub fn max_allowed(capacity: u64, rate: Rate, span_ns: u64) -> u128 {
    let (num, den) = (u128::from(rate.numer()), u128::from(rate.denom()));
    u128::from(capacity) + num * u128::from(span_ns) / (den * NANOS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_exact_at_its_edge() {
        let rate: Rate = "7/m".parse().unwrap();
        // 7/m refills one token every 60/7 s = 8.571428571... s.
        assert_eq!(max_allowed(2, rate, 8_571_428_571), 2);
        assert_eq!(max_allowed(2, rate, 8_571_428_572), 3);
        assert!(within_bound(2, rate, 3, 8_571_428_572));
        assert!(!within_bound(2, rate, 3, 8_571_428_571));
        let fastest = Rate::per_second(1_000_000_000).unwrap();
        assert_eq!(
            max_allowed(1_000_000_000, fastest, u64::MAX),
            u128::from(u64::MAX) + 1_000_000_000
        );
    }
}
