//! The over-admission invariant, checked exactly in integer arithmetic.
//!
//! A bucket of capacity `C` refilled at `R` tokens per second can allow at most
//! `C + R·d` requests over any `d` seconds. A run measures its span `d` with
//! `Instant` before its first request and after its last, so every time the
//! limiter reads lies inside it (up to the calibration of a TSC clock against
//! the monotonic clock, parts per million), and then checks each key's allowed count
//! against that bound with no slack: `allowed·den·10⁹ ≤ C·den·10⁹ + num·d_ns`
//! in `u128`, where `R = num/den`.

use std::fmt;
use std::net::IpAddr;

use limiter_core::Rate;

/// A limiter's settings: capacity `C` and rate `R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) capacity: u64,
    pub(crate) rate: Rate,
}

impl Quota {
    /// Whether `allowed ≤ C + R·elapsed_ns`, exactly.
    pub(crate) fn permits(&self, allowed: u64, elapsed_ns: u64) -> bool {
        limiter_testkit::within_bound(self.capacity, self.rate, allowed.into(), elapsed_ns)
    }

    /// The largest count [`Quota::permits`] accepts over `elapsed_ns`: `⌊C + R·elapsed⌋`.
    pub(crate) fn max_allowed(&self, elapsed_ns: u64) -> u128 {
        limiter_testkit::max_allowed(self.capacity, self.rate, elapsed_ns)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @ {}/s", self.capacity, self.rate)
    }
}

/// A key whose allowed count breaks a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// More allowed than `C + R·span`: the limiter over-admitted.
    OverAdmitted { key: IpAddr, allowed: u64, max: u128, span_ns: u64 },
    /// Fewer allowed than the hot key's lower bound: tokens were lost.
    TokensLost { key: IpAddr, allowed: u64, min: u128, window_ns: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::OverAdmitted { key, allowed, max, span_ns } => write!(
                f,
                "over-admission: key {key} allowed {allowed}, at most {max} in {} s",
                Seconds(*span_ns)
            ),
            Violation::TokensLost { key, allowed, min, window_ns } => write!(
                f,
                "lost tokens: key {key} allowed {allowed}, at least {min} in {} s of requests",
                Seconds(*window_ns)
            ),
        }
    }
}

/// What a run's check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckReport {
    /// Distinct keys whose counts were checked.
    pub(crate) keys: u64,
    /// The upper bound every key was held to, `⌊C + R·span⌋`.
    pub(crate) max_allowed: u128,
    /// The run's span in ns.
    pub(crate) span_ns: u64,
    /// The largest count of any one key.
    pub(crate) most_allowed: u64,
    /// The lower bound of the hot key, when it was checked.
    pub(crate) min_allowed: Option<u128>,
    pub(crate) violations: Vec<Violation>,
}

impl CheckReport {
    pub(crate) fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks that no key was allowed more than `C + R·span_ns`.
///
/// `counts` yields each key once, with its allowed count summed over threads.
pub(crate) fn check_upper(
    quota: Quota,
    span_ns: u64,
    counts: impl IntoIterator<Item = (IpAddr, u64)>,
) -> CheckReport {
    let (mut keys, mut most_allowed) = (0, 0);
    let mut violations = Vec::new();
    for (key, allowed) in counts {
        keys += 1;
        most_allowed = most_allowed.max(allowed);
        if !quota.permits(allowed, span_ns) {
            violations.push(Violation::OverAdmitted {
                key,
                allowed,
                max: quota.max_allowed(span_ns),
                span_ns,
            });
        }
    }
    CheckReport {
        keys,
        max_allowed: quota.max_allowed(span_ns),
        span_ns,
        most_allowed,
        min_allowed: None,
        violations,
    }
}

/// The least a key hammered without pause must have been allowed:
/// `min(requests, C + R·window − 1)`, floored at 0.
///
/// `window_ns` must lie inside the limiter's own first-to-last request time
/// for the key. Over that time the bucket starts with `C` and gains at least
/// `R·window`. What it did not allow is (a) what it still holds after the last
/// request: under one token after a denial, and under `1 + R·gap` after an
/// allow that follows a denial `gap` earlier, with `gap` a few hundred
/// nanoseconds when threads hammer the key; plus (b) what refill wasted by
/// overflowing `C`, which needs every thread to stall for `(C − 1)/R` seconds
/// (1.8 s at `10@5/s`). Hence the one-token slack, and `floor` on the refill
/// keeps the bound an integer. A bucket never emptied allowed every request,
/// which the `requests` term covers.
pub(crate) fn min_allowed(quota: Quota, requests: u64, window_ns: u64) -> u128 {
    quota.max_allowed(window_ns).saturating_sub(1).min(u128::from(requests))
}

/// Adds the lower-bound check of one hot key to `report`.
pub(crate) fn check_lower(
    report: &mut CheckReport,
    quota: Quota,
    key: IpAddr,
    allowed: u64,
    requests: u64,
    window_ns: u64,
) {
    let min = min_allowed(quota, requests, window_ns);
    report.min_allowed = Some(min);
    if u128::from(allowed) < min {
        report.violations.push(Violation::TokensLost { key, allowed, min, window_ns });
    }
}

/// Nanoseconds shown as seconds with all 9 digits.
#[derive(Debug, Clone, Copy)]
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0 / 1_000_000_000, self.0 % 1_000_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(capacity: u64, rate: &str) -> Quota {
        Quota { capacity, rate: rate.parse().unwrap() }
    }

    #[track_caller]
    fn bound(q: Quota, span_ns: u64, max: u64) {
        assert!(q.permits(max, span_ns), "{q} over {span_ns} ns should permit {max}");
        assert!(
            !q.permits(max + 1, span_ns),
            "{q} over {span_ns} ns should not permit {}",
            max + 1
        );
        assert_eq!(q.max_allowed(span_ns), u128::from(max), "{q} over {span_ns} ns");
    }

    #[test]
    fn upper_bound_is_exact_at_the_boundary() {
        bound(quota(10, "5"), 0, 10);
        bound(quota(10, "5"), 199_999_999, 10);
        bound(quota(10, "5"), 200_000_000, 11);
        bound(quota(1, "1/h"), 3_599_999_999_999, 1);
        bound(quota(1, "1/h"), 3_600_000_000_000, 2);
        bound(quota(3, "0.000000001"), 999_999_999_999_999_999, 3);
        bound(quota(3, "0.000000001"), 1_000_000_000_000_000_000, 4);
        bound(quota(1_000_000_000, "1000000000"), 7, 1_000_000_007);
        bound(quota(1_000_000_000, "1000000000"), 10u64.pow(18), 10u64.pow(18) + 1_000_000_000);
        // 7/m refills one token every 60/7 s = 8.571428571... s.
        bound(quota(2, "7/m"), 8_571_428_571, 2);
        bound(quota(2, "7/m"), 8_571_428_572, 3);
    }

    #[test]
    fn check_upper_reports_each_offending_key() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let report = check_upper(quota(10, "5"), 400_000_000, [(a, 12), (b, 13)]);
        assert_eq!(report.keys, 2);
        assert_eq!((report.max_allowed, report.most_allowed), (12, 13));
        assert_eq!(
            report.violations,
            [Violation::OverAdmitted { key: b, allowed: 13, max: 12, span_ns: 400_000_000 }]
        );
        assert_eq!(
            report.violations[0].to_string(),
            "over-admission: key 2001:db8::1 allowed 13, at most 12 in 0.400000000 s"
        );
        assert!(!report.passed());
        assert!(check_upper(quota(10, "5"), 400_000_000, [(a, 12)]).passed());
    }

    #[test]
    fn lower_bound_allows_one_token_of_slack() {
        let q = quota(10, "5");
        // 1.3 s of window refills 6.5 tokens: 16.5 minus the token still held.
        assert_eq!(min_allowed(q, 1_000_000, 1_300_000_000), 15);
        assert_eq!(min_allowed(q, 12, 1_300_000_000), 12, "few requests cap the bound");
        assert_eq!(min_allowed(q, 1_000_000, 0), 9);
        assert_eq!(min_allowed(quota(1, "1/h"), 5, 0), 0);

        let key: IpAddr = "192.0.2.1".parse().unwrap();
        let mut report = check_upper(q, 1_400_000_000, [(key, 14)]);
        check_lower(&mut report, q, key, 14, 1_000_000, 1_300_000_000);
        assert_eq!(report.min_allowed, Some(15));
        assert_eq!(
            report.violations,
            [Violation::TokensLost { key, allowed: 14, min: 15, window_ns: 1_300_000_000 }]
        );
        assert_eq!(
            report.violations[0].to_string(),
            "lost tokens: key 192.0.2.1 allowed 14, at least 15 in 1.300000000 s of requests"
        );
        let mut report = check_upper(q, 1_400_000_000, [(key, 15)]);
        check_lower(&mut report, q, key, 15, 1_000_000, 1_300_000_000);
        assert!(report.passed());
    }
}
