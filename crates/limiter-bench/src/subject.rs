//! The implementations under test, driven through the test kit's one
//! harness trait, [`Subject`]: limiter-core's and governor's adapters come
//! from limiter-testkit, the floor's are here.

use std::net::IpAddr;

use limiter_testkit::Subject;

use crate::floor::Floor;

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

/// The floor deciding at the time it is given.
#[derive(Debug)]
pub struct FloorAt(pub Floor);

/// The floor on `Instant`, counted from its creation.
#[derive(Debug)]
pub struct FloorNow(pub Floor);

impl Subject for FloorAt {
    fn name(&self) -> &'static str {
        Implementation::Floor.name()
    }

    #[inline]
    fn check(&self, ip: IpAddr, now: u64) -> bool {
        self.0.check_n_at(ip, 1, now)
    }

    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool {
        self.0.check_n_at(ip, u64::from(cost), now)
    }
}

impl Subject for FloorNow {
    fn name(&self) -> &'static str {
        Implementation::Floor.name()
    }

    #[inline]
    fn check(&self, ip: IpAddr, _now: u64) -> bool {
        self.0.check_n(ip, 1)
    }

    fn check_n(&self, ip: IpAddr, cost: u32, _now: u64) -> bool {
        self.0.check_n(ip, u64::from(cost))
    }
}

#[cfg(test)]
mod tests {
    use limiter_testkit::{GovernorAt, GovernorNow, OursAt, OursNow};

    use super::*;
    use crate::quota::Quota;

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
        assert_eq!(decisions(&OursAt(Quota::SEED.ours().unwrap())), expected, "ours");
        assert_eq!(decisions(&GovernorAt::new(Quota::SEED.governor())), expected, "governor");
        assert_eq!(decisions(&FloorAt(Floor::new(Quota::SEED))), expected, "floor");
    }

    #[test]
    fn default_clock_subjects_deny_after_the_burst() {
        fn burst<S: Subject>(subject: &S) -> usize {
            let ip: IpAddr = "2001:db8::7".parse().unwrap();
            (0..20).filter(|_| subject.check(ip, 0)).count()
        }
        // Twenty checks take far less than the 200 ms a token needs.
        assert_eq!(burst(&OursNow(Quota::SEED.ours().unwrap())), 10);
        assert_eq!(burst(&GovernorNow::new(Quota::SEED.governor())), 10);
        assert_eq!(burst(&FloorNow(Floor::new(Quota::SEED))), 10);
    }

    #[test]
    fn implementations_round_trip_their_names() {
        for implementation in Implementation::ALL {
            assert_eq!(Implementation::from_name(implementation.name()), Some(implementation));
        }
        assert_eq!(Implementation::from_name("dashmap"), None);
    }
}
