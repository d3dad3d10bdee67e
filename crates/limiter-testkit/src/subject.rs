//! The one harness trait: how limiter-bench and limiter-stress drive every
//! limiter, as parking_lot's benchmark has one trait over every mutex.

use std::net::IpAddr;

use limiter_core::{Clock, MonotonicClock, Nanos, RateLimiter};

/// One per-IP rate limiter under test, shared by reference across threads.
///
/// `now` is the request's time in nanoseconds. Subjects driven at explicit
/// times decide at `now`; subjects on their library's default clock ignore
/// it and read their clock, so a harness's loop is the same for both.
pub trait Subject: Sync {
    /// The name reports show: `limiter` for limiter-core, `governor`, …
    fn name(&self) -> &'static str;

    /// Decides a request of cost 1 for `ip`; true if allowed.
    fn check(&self, ip: IpAddr, now: u64) -> bool;

    /// Decides a request of cost `cost` for `ip`; true if allowed.
    fn check_n(&self, ip: IpAddr, cost: u32, now: u64) -> bool;

    /// Parses `ip` as [`IpAddr`] does and decides a request of cost 1; an
    /// address that does not parse is denied.
    #[inline]
    fn check_str(&self, ip: &str, now: u64) -> bool {
        ip.parse().is_ok_and(|ip| self.check(ip, now))
    }
}

/// limiter-core deciding at the time it is given, through `check_n_at`.
#[derive(Debug)]
pub struct OursAt(pub RateLimiter);

/// limiter-core on its clock (by default its `MonotonicClock`), through
/// `check` and `allow`.
#[derive(Debug)]
pub struct OursNow<C: Clock = MonotonicClock>(pub RateLimiter<C>);

/// The name limiter-core goes by in reports.
const OURS: &str = "limiter";

impl Subject for OursAt {
    fn name(&self) -> &'static str {
        OURS
    }

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

impl<C: Clock> Subject for OursNow<C> {
    fn name(&self) -> &'static str {
        OURS
    }

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
