//! The `decisions` target: random configurations and requests, checked
//! against SPEC's exact model and an over-admission bound.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use limiter_core::{Decision, MAX_CAPACITY, Nanos, Rate, RateLimiter, canonical_ip};

use limiter_testkit::{MAX_TIME, Model, within_bound};

/// The most requests one input runs, to keep each execution fast.
const MAX_OPS: usize = 4096;

/// Rates written as text, covering every form and both ends of the range.
const RATES: &[&str] = &[
    "1/h",
    "7/h",
    "1/m",
    "7/m",
    "0.5",
    "3",
    "5",
    "0.001",
    "0.333333333",
    "0.000000001",
    "1000000000",
    "999999999.999999999",
];

/// Decodes a limiter configuration and a sequence of requests from `data`
/// and runs them through [`RateLimiter::check_n_at`].
///
/// The first bytes choose the capacity (1 to 10⁹), the rate (from text, whole
/// tokens per second, minute or hour, or an `f64`) and the start time (0 to
/// beyond 2⁶³ ns). Each following request picks one of five addresses (two
/// spellings share a bucket), a step in time forwards or backwards, and a
/// cost from 0 to past the capacity. Missing bytes read as zeros.
///
/// Asserts that every decision equals SPEC's model computed exactly, and,
/// independently of that model, that each key's allowed cost never exceeds
/// `C + R · (latest time − earliest time)` over the times its requests carried.
///
/// # Panics
///
/// Only on a bug in the limiter's decisions (or in these checks).
pub fn decisions(data: &[u8]) {
    let mut bytes = Bytes(data);
    let capacity = match bytes.u8() % 5 {
        0 => 1,
        1 => 1 + u64::from(bytes.u8() % 16),
        2 => 1 + u64::from(bytes.u16()),
        3 => MAX_CAPACITY,
        _ => 1 + u64::from(bytes.u32()) % MAX_CAPACITY,
    };
    let rate = match bytes.u8() % 5 {
        0 => Ok(RATES[usize::from(bytes.u8()) % RATES.len()].parse().expect("listed rates parse")),
        1 => Rate::per_second(1 + u64::from(bytes.u32()) % 1_000_000_000),
        2 => Rate::per_minute(1 + u64::from(bytes.u32())),
        3 => Rate::per_hour(1 + bytes.u64() % 3_600_000_000_000),
        _ => Rate::from_f64(f64::from_bits(bytes.u64())).or(Ok(Rate::MIN)),
    }
    .expect("rate is in range");
    let limiter = RateLimiter::with_rate(capacity, rate).expect("capacity is in range");
    let mut model = Model::new(capacity, rate);
    let mut spans: HashMap<IpAddr, Span> = HashMap::new();

    // Nanoseconds for one token to refill, at least 1: steps scale with it so
    // that runs mix allows and denials at any rate.
    let token_ns = (u128::from(rate.denom()) * 1_000_000_000).div_ceil(u128::from(rate.numer()));
    let token_ns = u64::try_from(token_ns).unwrap_or(u64::MAX).max(1);
    let mut t = match bytes.u8() % 4 {
        0 => 0,
        1 => bytes.u64() >> 1,
        2 => MAX_TIME - u64::from(bytes.u16()),
        _ => bytes.u64(),
    };
    for _ in 0..MAX_OPS {
        if bytes.0.is_empty() {
            break;
        }
        let op = bytes.u8();
        let ip = address(op % 5);
        t = match (op >> 3) % 8 {
            0 => t,
            1 => t.saturating_add(u64::from(bytes.u8())),
            2 => t.saturating_add(token_ns.saturating_mul(u64::from(bytes.u8() % 4))),
            3 => t.saturating_add(token_ns.saturating_mul(u64::from(bytes.u16()))),
            4 => t.saturating_add(u64::from(bytes.u32()) * 1_000_000),
            5 => t.saturating_sub(u64::from(bytes.u16())),
            6 => t.saturating_sub(token_ns.saturating_mul(u64::from(bytes.u8()))),
            _ => bytes.u64(),
        };
        let cost = match bytes.u8() % 6 {
            0 => 1,
            1 => 0,
            2 => 1 + u64::from(bytes.u8() % 4),
            3 => capacity,
            4 => capacity + 1,
            _ => u64::from(bytes.u32()),
        };
        let decision = limiter.check_n_at(ip, cost, Nanos::new(t));
        let expected = model.decide(ip, t, cost);
        assert_eq!(decision, expected, "{ip} cost {cost} at {t} ns, capacity {capacity}, {rate}");
        let span = spans.entry(canonical_ip(ip)).or_insert_with(|| Span::new(t));
        span.record(t, cost, decision);
        span.assert_within_bound(capacity, rate);
    }
}

/// One key's requests: the span of their times and the cost it was allowed.
#[derive(Debug)]
struct Span {
    earliest: u64,
    latest: u64,
    allowed: u128,
}

impl Span {
    fn new(t: u64) -> Span {
        let t = t.min(MAX_TIME);
        Span { earliest: t, latest: t, allowed: 0 }
    }

    fn record(&mut self, t: u64, cost: u64, decision: Decision) {
        let t = t.min(MAX_TIME);
        (self.earliest, self.latest) = (self.earliest.min(t), self.latest.max(t));
        if decision.is_allowed() {
            self.allowed += u128::from(cost);
        }
    }

    /// A bucket starts with `C` tokens at the time of some request for its
    /// key (not necessarily the first one: a cost-0 request creates nothing,
    /// and a later request may carry an earlier time), and its time only
    /// moves forwards to times that requests carried. So it gains at most
    /// `R · (latest − earliest)`, and no key can ever be allowed more than
    /// `C + R · (latest − earliest)`. Compared as
    /// `allowed · d · 10⁹ <= C · d · 10⁹ + n · (latest − earliest)` for
    /// `R = n/d` tokens per second: at most about 10³⁷, well inside `u128`.
    #[track_caller]
    fn assert_within_bound(&self, capacity: u64, rate: Rate) {
        assert!(
            within_bound(capacity, rate, self.allowed, self.latest - self.earliest),
            "over-admission: {} tokens allowed over {} ns, capacity {capacity}, {rate}",
            self.allowed,
            self.latest - self.earliest,
        );
    }
}

/// Five addresses in four buckets: 10.0.0.1 is also written IPv4-mapped.
fn address(index: u8) -> IpAddr {
    match index {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        1 => IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
        2 => IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
        3 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    }
}

/// Reads little-endian integers off the front of the input, zeros past its end.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_rejects_over_admission() {
        let rate = Rate::per_second(1).unwrap();
        let mut span = Span::new(0);
        span.record(1_000_000_000, 3, Decision::Allowed { remaining: 0 });
        span.assert_within_bound(2, rate);
        span.record(1_000_000_000, 1, Decision::Allowed { remaining: 0 });
        let over = std::panic::catch_unwind(|| span.assert_within_bound(2, rate));
        assert!(over.is_err(), "4 tokens in 1 s with capacity 2 at 1/s must fail the bound");
    }

    #[test]
    fn bound_spans_requests_stamped_before_the_first() {
        // A cost-0 request at 5 s creates no bucket; one stamped 0 s creates
        // it full, and by 5 s it has refilled 5 more tokens: 7 in all.
        let rate = Rate::per_second(1).unwrap();
        let mut span = Span::new(5_000_000_000);
        span.record(5_000_000_000, 0, Decision::Allowed { remaining: 2 });
        span.record(0, 2, Decision::Allowed { remaining: 0 });
        span.record(5_000_000_000, 5, Decision::Allowed { remaining: 0 });
        span.assert_within_bound(2, rate);
    }

    #[test]
    fn model_matches_hand_worked_cases() {
        let rate = Rate::per_second(2).unwrap();
        let mut model = Model::new(2, rate);
        let ip = address(0);
        assert_eq!(model.decide(ip, 0, 2), Decision::Allowed { remaining: 0 });
        let denied = model.decide(address(1), 250_000_000, 1);
        let wait = std::time::Duration::from_millis(250);
        assert_eq!(denied, Decision::Denied { remaining: 0, retry_after: wait });
        assert_eq!(model.decide(ip, 500_000_000, 1), Decision::Allowed { remaining: 0 });
        assert_eq!(model.decide(ip, 0, 0), Decision::Allowed { remaining: 0 });
        assert_eq!(model.decide(ip, 0, 3), Decision::OverCapacity { cost: 3, capacity: 2 });
        assert_eq!(model.decide(address(3), 0, 0), Decision::Allowed { remaining: 2 });
    }
}
