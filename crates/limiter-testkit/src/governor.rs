//! governor's keyed limiter behind [`Subject`], for side-by-side runs.
//!
//! governor replenishes one token per whole-nanosecond period and bursts up
//! to a `u32`, so [`governor_quota`] takes the period as `1/R` rounded up:
//! governor never gets a higher rate than ours, and gets exactly ours when
//! `1/R` is a whole number of nanoseconds (1 ns at 10⁹/s, 200 ms at 5/s).
//! governor does not fold IPv4-mapped IPv6 addresses into IPv4; a workload
//! that sends one address in both spellings gives it two buckets there.

use std::cell::Cell;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use limiter_core::Rate;

use crate::subject::Subject;

/// governor's quota for `capacity` tokens at `rate`, and whether its rate is
/// exactly `rate` (its period is `1/R` rounded up to a whole nanosecond).
///
/// # Panics
///
/// If `capacity` is 0 or above `u32::MAX`, which governor cannot express.
pub fn governor_quota(capacity: u64, rate: Rate) -> (governor::Quota, bool) {
    let (num, den) = (u128::from(rate.numer()), u128::from(rate.denom()));
    let nanos = den * 1_000_000_000;
    // At most 10⁹ · 10⁹ = 10¹⁸ ns for SPEC's slowest rate, within u64.
    let period = u64::try_from(nanos.div_ceil(num)).expect("1/R is at most 10^18 ns");
    let burst = u32::try_from(capacity)
        .ok()
        .and_then(NonZeroU32::new)
        .expect("a capacity of 1 to u32::MAX, as governor's burst is");
    let quota = governor::Quota::with_period(Duration::from_nanos(period))
        .expect("the period is at least 1 ns")
        .allow_burst(burst);
    (quota, nanos % num == 0)
}

thread_local! {
    static THREAD_NOW: Cell<u64> = const { Cell::new(0) };
}

/// A governor clock that returns the time its thread last set: how governor
/// is given an explicit time.
///
/// governor reads time only through its limiter's clock, so [`GovernorAt`]
/// sets this thread's time before each check. A thread-local cell, unlike
/// governor's `FakeRelativeClock` (one shared atomic), costs two uncontended
/// accesses and puts no shared write between two threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadClock;

impl ThreadClock {
    /// Sets the time this thread's reads return, in nanoseconds.
    #[inline]
    pub fn set(now: u64) {
        THREAD_NOW.set(now);
    }
}

impl governor::clock::Clock for ThreadClock {
    type Instant = governor::nanos::Nanos;

    #[inline]
    fn now(&self) -> governor::nanos::Nanos {
        governor::nanos::Nanos::new(THREAD_NOW.get())
    }
}

/// governor's default keyed store (a `DashMap` with its default hasher)
/// deciding at the time it is given, through a [`ThreadClock`].
pub struct GovernorAt(
    governor::RateLimiter<
        IpAddr,
        DashMapStateStore<IpAddr>,
        ThreadClock,
        NoOpMiddleware<governor::nanos::Nanos>,
    >,
);

/// governor's default keyed limiter, `RateLimiter::keyed` (a `DashMap`
/// store), on its default clock (quanta).
pub struct GovernorNow(governor::DefaultKeyedRateLimiter<IpAddr>);

impl GovernorAt {
    /// A fresh limiter for `quota`, whose start is time 0.
    pub fn new(quota: governor::Quota) -> GovernorAt {
        ThreadClock::set(0);
        GovernorAt(governor::RateLimiter::dashmap_with_clock(quota, ThreadClock))
    }
}

impl GovernorNow {
    /// A fresh limiter for `quota`.
    pub fn new(quota: governor::Quota) -> GovernorNow {
        GovernorNow(governor::RateLimiter::keyed(quota))
    }
}

impl fmt::Debug for GovernorAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernorAt").field("keys", &self.0.len()).finish()
    }
}

impl fmt::Debug for GovernorNow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernorNow").field("keys", &self.0.len()).finish()
    }
}

/// The name governor goes by in reports.
const GOVERNOR: &str = "governor";

impl Subject for GovernorAt {
    fn name(&self) -> &'static str {
        GOVERNOR
    }

    #[inline]
    fn check(&self, ip: IpAddr, now: u64) -> bool {
        ThreadClock::set(now);
        self.0.check_key(&ip).is_ok()
    }

    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool {
        ThreadClock::set(now);
        NonZeroU32::new(cost).is_none_or(|n| matches!(self.0.check_key_n(&ip, n), Ok(Ok(_))))
    }
}

impl Subject for GovernorNow {
    fn name(&self) -> &'static str {
        GOVERNOR
    }

    #[inline]
    fn check(&self, ip: IpAddr, _now: u64) -> bool {
        self.0.check_key(&ip).is_ok()
    }

    fn check_n(&self, ip: IpAddr, cost: u32, _now: u64) -> bool {
        NonZeroU32::new(cost).is_none_or(|n| matches!(self.0.check_key_n(&ip, n), Ok(Ok(_))))
    }
}

/// The type name of governor's default clock, for a report's header.
pub fn governor_default_clock_name() -> &'static str {
    std::any::type_name::<governor::clock::DefaultClock>()
}

#[cfg(test)]
mod tests {
    use limiter_core::RateLimiter;

    use super::*;
    use crate::{OursAt, OursNow};

    fn quota(capacity: u64, rate: &str) -> (governor::Quota, bool) {
        governor_quota(capacity, rate.parse().unwrap())
    }

    #[test]
    fn governor_periods_round_up() {
        let period = |rate| {
            let (quota, exact) = quota(10, rate);
            (quota.replenish_interval(), exact)
        };
        assert_eq!(period("5"), (Duration::from_millis(200), true));
        assert_eq!(period("1000000000"), (Duration::from_nanos(1), true));
        assert_eq!(period("3"), (Duration::from_nanos(333_333_334), false));
        assert_eq!(period("1/h"), (Duration::from_secs(3600), true));
        assert_eq!(period("0.000000001"), (Duration::from_secs(1_000_000_000), true));
        assert_eq!(quota(10, "5").0.burst_size().get(), 10);
    }

    #[test]
    fn explicit_time_subjects_agree_with_ours() {
        let rate = Rate::per_second(5).unwrap();
        let ours = OursAt(RateLimiter::with_rate(10, rate).unwrap());
        let theirs = GovernorAt::new(governor_quota(10, rate).0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for subject in [&ours as &dyn Subject, &theirs] {
            let burst: Vec<bool> = (0..12).map(|i| subject.check(ip, 1_000 + i)).collect();
            assert_eq!(burst, [vec![true; 10], vec![false; 2]].concat(), "{}", subject.name());
            assert!(subject.check_str("10.0.0.1", 200_001_000), "{}", subject.name());
            assert!(!subject.check_str("10.0.0.300", 400_001_000), "{}", subject.name());
            assert!(subject.check_n(ip, 0, 400_001_000), "{}", subject.name());
        }
        assert_eq!((ours.name(), theirs.name()), ("limiter", "governor"));
    }

    #[test]
    fn default_clock_subjects_allow_the_burst_then_deny() {
        let rate = "1/h".parse().unwrap();
        let ours = OursNow(RateLimiter::with_rate(3, rate).unwrap());
        let (quota, exact) = governor_quota(3, rate);
        let theirs = GovernorNow::new(quota);
        assert!(exact);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for subject in [&ours as &dyn Subject, &theirs] {
            let decisions: Vec<bool> = (0..5).map(|_| subject.check(ip, 0)).collect();
            assert_eq!(decisions, [true, true, true, false, false], "{}", subject.name());
        }
    }

    #[test]
    fn governor_default_clock_is_quanta() {
        let name = governor_default_clock_name();
        assert!(name.contains("Quanta"), "{name}");
    }
}
