//! One trait over every limiter the harness drives, as parking_lot's benchmark
//! has one trait over every mutex.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota as GovernorQuota};
use limiter_core::{Clock, RateLimiter};

use crate::check::Quota;

/// A per-IP limiter, shared by reference across the worker threads.
pub(crate) trait Limiter: Sync {
    /// The name shown in reports.
    fn name(&self) -> &'static str;
    /// Decides one request of cost 1 from `ip` now; `true` if allowed.
    fn check(&self, ip: IpAddr) -> bool;
}

/// Ours: limiter-core, with its default `MonotonicClock` in runs.
impl<C: Clock> Limiter for RateLimiter<C> {
    fn name(&self) -> &'static str {
        "limiter"
    }

    #[inline]
    fn check(&self, ip: IpAddr) -> bool {
        self.allow_ip(ip)
    }
}

/// governor's keyed limiter with its default store (`DashMap`) and clock (quanta).
///
/// governor does not canonicalise IPv4-mapped IPv6 addresses; the workloads
/// never send one address in both forms, so both limiters see the same keys.
impl Limiter for DefaultKeyedRateLimiter<IpAddr> {
    fn name(&self) -> &'static str {
        "governor"
    }

    #[inline]
    fn check(&self, ip: IpAddr) -> bool {
        self.check_key(&ip).is_ok()
    }
}

/// Ours, built for `quota`.
pub(crate) fn ours(quota: Quota) -> RateLimiter {
    RateLimiter::with_rate(quota.capacity, quota.rate).expect("the arguments validated the quota")
}

/// governor's keyed limiter for `quota`, and whether its rate is exactly `quota`'s.
///
/// governor replenishes one token per whole-nanosecond period and bursts up to
/// a `u32`. The period is `1/R` rounded up, so governor never gets a higher
/// rate than ours; it is exact when `1/R` is a whole number of nanoseconds, as
/// for both standard quotas (1 ns and 200 ms).
pub(crate) fn governor(quota: Quota) -> (DefaultKeyedRateLimiter<IpAddr>, bool) {
    let (period, exact) = governor_period(quota);
    let burst = u32::try_from(quota.capacity)
        .ok()
        .and_then(NonZeroU32::new)
        .expect("capacities are 1..=10^9, as limiter-core checked, so fit governor's u32");
    let quota =
        GovernorQuota::with_period(period).expect("the period is at least 1 ns").allow_burst(burst);
    (DefaultKeyedRateLimiter::keyed(quota), exact)
}

/// `1/R` in whole nanoseconds, rounded up, and whether that is exact.
fn governor_period(quota: Quota) -> (Duration, bool) {
    let (num, den) = (u128::from(quota.rate.numer()), u128::from(quota.rate.denom()));
    let nanos = den * 1_000_000_000;
    // At most 10^9 · 10^9 = 10^18 ns, within u64.
    let period = u64::try_from(nanos.div_ceil(num)).expect("1/R is at most 10^18 ns");
    (Duration::from_nanos(period), nanos % num == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(capacity: u64, rate: &str) -> Quota {
        Quota { capacity, rate: rate.parse().unwrap() }
    }

    #[test]
    fn governor_periods_round_up() {
        assert_eq!(governor_period(quota(10, "5")), (Duration::from_millis(200), true));
        assert_eq!(governor_period(quota(10, "1000000000")), (Duration::from_nanos(1), true));
        assert_eq!(governor_period(quota(10, "3")), (Duration::from_nanos(333_333_334), false));
        assert_eq!(governor_period(quota(10, "1/h")), (Duration::from_secs(3600), true));
        assert_eq!(
            governor_period(quota(10, "0.000000001")),
            (Duration::from_secs(1_000_000_000), true)
        );
    }

    #[test]
    fn both_limiters_allow_the_burst_then_deny() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let q = quota(3, "1/h");
        let ours = ours(q);
        let (theirs, exact) = governor(q);
        assert!(exact);
        for limiter in [&ours as &dyn Limiter, &theirs] {
            let decisions: Vec<bool> = (0..5).map(|_| limiter.check(ip)).collect();
            assert_eq!(decisions, [true, true, true, false, false], "{}", limiter.name());
        }
    }
}
