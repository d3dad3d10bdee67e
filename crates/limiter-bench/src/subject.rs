//! The implementations under test, each behind one small trait.

use std::cell::Cell;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use limiter_core::{ConfigError, Nanos, RateLimiter};

use crate::floor::Floor;
use crate::quota::Quota;

/// One rate limiter under test, called the same way by every shape.
///
/// `now` is the request's time in nanoseconds. Subjects measured with an
/// explicit time decide at `now`; subjects on their library's default clock
/// ignore it and read their clock, so the suite's loop is the same for both.
pub trait Subject: Sync {
    /// Decides a request of cost 1 for `ip`.
    fn check(&self, ip: IpAddr, now: u64) -> bool;

    /// Decides a request of cost `cost` for `ip`; used to create and drain
    /// keys before a measurement.
    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool;

    /// Parses `ip` as [`IpAddr`] does and decides a request of cost 1; an
    /// address that does not parse is denied.
    fn check_str(&self, ip: &str, now: u64) -> bool;
}

/// The three implementations, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// limiter-core's `RateLimiter`.
    Ours,
    /// governor's default keyed limiter: `RateLimiter::keyed` over `IpAddr`.
    Governor,
    /// The [`Floor`]: one keyed-hash lookup plus one atomic update.
    Floor,
}

impl Implementation {
    /// All three, in table order.
    pub const ALL: [Implementation; 3] =
        [Implementation::Ours, Implementation::Governor, Implementation::Floor];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Ours => "ours",
            Implementation::Governor => "governor",
            Implementation::Floor => "floor",
        }
    }

    /// The implementation called `name`, if any.
    pub fn from_name(name: &str) -> Option<Implementation> {
        Implementation::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// Whether a measurement passes time in or lets each library read its own
/// default clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// The time is an argument: the data structures alone, no clock read.
    Explicit,
    /// Each library's default clock: limiter-core's `MonotonicClock`,
    /// governor's `DefaultClock` (quanta) and `Instant` for the floor.
    Default,
}

impl ClockMode {
    /// Both modes, in table order.
    pub const ALL: [ClockMode; 2] = [ClockMode::Explicit, ClockMode::Default];

    /// The name used in the table.
    pub fn name(self) -> &'static str {
        match self {
            ClockMode::Explicit => "explicit",
            ClockMode::Default => "default",
        }
    }
}

/// limiter-core deciding at the time it is given, through `check_n_at`.
#[derive(Debug)]
pub struct OursAt(pub RateLimiter);

/// limiter-core on its default clock, through `check` and `allow`.
#[derive(Debug)]
pub struct OursNow(pub RateLimiter);

impl OursAt {
    /// A fresh limiter for `quota`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if limiter-core rejects the quota.
    pub fn new(quota: Quota) -> Result<OursAt, ConfigError> {
        quota.ours().map(OursAt)
    }
}

impl OursNow {
    /// A fresh limiter for `quota`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if limiter-core rejects the quota.
    pub fn new(quota: Quota) -> Result<OursNow, ConfigError> {
        quota.ours().map(OursNow)
    }
}

impl Subject for OursAt {
    #[inline]
    fn check(&self, ip: IpAddr, now: u64) -> bool {
        self.0.check_n_at(ip, 1, Nanos::new(now)).is_allowed()
    }

    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool {
        self.0.check_n_at(ip, u64::from(cost), Nanos::new(now)).is_allowed()
    }

    #[inline]
    fn check_str(&self, ip: &str, now: u64) -> bool {
        self.0.allow_at(ip, Nanos::new(now)).unwrap_or(false)
    }
}

impl Subject for OursNow {
    #[inline]
    fn check(&self, ip: IpAddr, _now: u64) -> bool {
        self.0.check(ip).is_allowed()
    }

    fn check_n(&self, ip: IpAddr, cost: u32, _now: u64) -> bool {
        self.0.check_n(ip, u64::from(cost)).is_allowed()
    }

    #[inline]
    fn check_str(&self, ip: &str, _now: u64) -> bool {
        self.0.allow(ip).unwrap_or(false)
    }
}

thread_local! {
    static THREAD_NOW: Cell<u64> = const { Cell::new(0) };
}

/// A governor clock that returns the time its thread last set: how governor
/// is given an explicit time.
///
/// governor reads time only through its limiter's clock, so the suite sets
/// this thread's time before each check. A thread-local cell, unlike
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

/// governor's default keyed limiter, `RateLimiter::keyed`, on its default
/// clock.
pub struct GovernorNow(governor::DefaultKeyedRateLimiter<IpAddr>);

impl GovernorAt {
    /// A fresh limiter for `quota`, whose start is time 0.
    pub fn new(quota: Quota) -> GovernorAt {
        ThreadClock::set(0);
        GovernorAt(governor::RateLimiter::dashmap_with_clock(quota.governor(), ThreadClock))
    }
}

impl GovernorNow {
    /// A fresh limiter for `quota`.
    pub fn new(quota: Quota) -> GovernorNow {
        GovernorNow(governor::RateLimiter::keyed(quota.governor()))
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

impl Subject for GovernorAt {
    #[inline]
    fn check(&self, ip: IpAddr, now: u64) -> bool {
        ThreadClock::set(now);
        self.0.check_key(&ip).is_ok()
    }

    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool {
        ThreadClock::set(now);
        NonZeroU32::new(cost).is_none_or(|n| matches!(self.0.check_key_n(&ip, n), Ok(Ok(_))))
    }

    #[inline]
    fn check_str(&self, ip: &str, now: u64) -> bool {
        ip.parse().is_ok_and(|ip| self.check(ip, now))
    }
}

impl Subject for GovernorNow {
    #[inline]
    fn check(&self, ip: IpAddr, _now: u64) -> bool {
        self.0.check_key(&ip).is_ok()
    }

    fn check_n(&self, ip: IpAddr, cost: u32, _now: u64) -> bool {
        NonZeroU32::new(cost).is_none_or(|n| matches!(self.0.check_key_n(&ip, n), Ok(Ok(_))))
    }

    #[inline]
    fn check_str(&self, ip: &str, now: u64) -> bool {
        ip.parse().is_ok_and(|ip| self.check(ip, now))
    }
}

/// The floor deciding at the time it is given.
#[derive(Debug)]
pub struct FloorAt(pub Floor);

/// The floor on `Instant`, counted from its creation.
#[derive(Debug)]
pub struct FloorNow(pub Floor);

impl Subject for FloorAt {
    #[inline]
    fn check(&self, ip: IpAddr, now: u64) -> bool {
        self.0.check_n_at(ip, 1, now)
    }

    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool {
        self.0.check_n_at(ip, u64::from(cost), now)
    }

    #[inline]
    fn check_str(&self, ip: &str, now: u64) -> bool {
        ip.parse().is_ok_and(|ip| self.check(ip, now))
    }
}

impl Subject for FloorNow {
    #[inline]
    fn check(&self, ip: IpAddr, _now: u64) -> bool {
        self.0.check_n(ip, 1)
    }

    fn check_n(&self, ip: IpAddr, cost: u32, _now: u64) -> bool {
        self.0.check_n(ip, u64::from(cost))
    }

    #[inline]
    fn check_str(&self, ip: &str, now: u64) -> bool {
        ip.parse().is_ok_and(|ip| self.check(ip, now))
    }
}

/// The type name of governor's default clock, for the table's header.
pub fn governor_default_clock_name() -> &'static str {
    std::any::type_name::<governor::clock::DefaultClock>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subject must make the same decisions for one workload at
    /// explicit times, or the suite compares different work.
    fn decisions<S: Subject>(subject: &S) -> Vec<bool> {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut out = vec![subject.check_n(ip, 0, 1_000)];
        out.extend((0..12).map(|i| subject.check(ip, 1_000 + i)));
        out.push(subject.check(ip, 1_000 + 200_000_000)); // one more token
        out.push(subject.check(ip, 1_000 + 200_000_000));
        out.push(subject.check_str("10.0.0.1", 1_000 + 400_000_000));
        out.push(subject.check_str("10.0.0.300", 1_000 + 800_000_000));
        out.push(subject.check_n(ip, 11, 1_000 + 100_000_000_000));
        out.push(subject.check_n(ip, 10, 1_000 + 100_000_000_000));
        out
    }

    #[test]
    fn explicit_time_subjects_agree_on_the_seed_quota() {
        let expected = [
            vec![true],
            vec![true; 10],
            vec![false, false],
            vec![true, false, true, false, false, true],
        ]
        .concat();
        assert_eq!(decisions(&OursAt::new(Quota::SEED).unwrap()), expected, "ours");
        assert_eq!(decisions(&GovernorAt::new(Quota::SEED)), expected, "governor");
        assert_eq!(decisions(&FloorAt(Floor::new(Quota::SEED))), expected, "floor");
    }

    #[test]
    fn default_clock_subjects_deny_after_the_burst() {
        fn burst<S: Subject>(subject: &S) -> usize {
            let ip: IpAddr = "2001:db8::7".parse().unwrap();
            (0..20).filter(|_| subject.check(ip, 0)).count()
        }
        // Twenty checks take far less than the 200 ms a token needs.
        assert_eq!(burst(&OursNow::new(Quota::SEED).unwrap()), 10);
        assert_eq!(burst(&GovernorNow::new(Quota::SEED)), 10);
        assert_eq!(burst(&FloorNow(Floor::new(Quota::SEED))), 10);
    }

    #[test]
    fn implementations_round_trip_their_names() {
        for implementation in Implementation::ALL {
            assert_eq!(Implementation::from_name(implementation.name()), Some(implementation));
        }
        assert_eq!(Implementation::from_name("dashmap"), None);
    }

    #[test]
    fn governor_default_clock_is_quanta() {
        assert!(
            governor_default_clock_name().contains("Quanta"),
            "{}",
            governor_default_clock_name()
        );
    }
}
