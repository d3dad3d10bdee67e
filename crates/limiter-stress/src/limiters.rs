//! The limiters a run compares, behind the test kit's one harness trait,
//! [`limiter_testkit::Subject`], which limiter-bench drives too (as
//! parking_lot's benchmark has one trait over every mutex).

use limiter_core::RateLimiter;
use limiter_testkit::{GovernorNow, OursNow, governor_quota};

use crate::check::Quota;

/// Ours: limiter-core on its default `MonotonicClock`, built for `quota`.
pub(crate) fn ours(quota: Quota) -> OursNow {
    let limiter = RateLimiter::with_rate(quota.capacity, quota.rate);
    OursNow(limiter.expect("the arguments validated the quota"))
}

/// governor's keyed limiter for `quota` with its default store (`DashMap`)
/// and clock (quanta), and whether its rate is exactly `quota`'s (see
/// [`governor_quota`]). The workloads never send one address in both of its
/// spellings, so both limiters see the same keys.
pub(crate) fn governor(quota: Quota) -> (GovernorNow, bool) {
    // Capacities are 1..=10^9, as limiter-core checked, so fit governor's u32.
    let (quota, exact) = governor_quota(quota.capacity, quota.rate);
    (GovernorNow::new(quota), exact)
}
