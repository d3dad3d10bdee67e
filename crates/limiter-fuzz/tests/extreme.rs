//! Extreme configurations against the exact reference model: capacity
//! 10⁹ at rates 10⁻⁹ and 10⁹ tokens per second, costs up to 10⁹, and
//! timestamps near 0 and near 2⁶³ ns (and past it, where the limiter takes
//! 2⁶³ − 1).
//!
//! The reference is limiter-testkit's `Model`, SPEC's bucket in exact
//! `u128` fixed point, which shares nothing with the library's buckets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use limiter_core::{Decision, MAX_CAPACITY, Nanos, Rate, RateLimiter};
use limiter_testkit::{MAX_TIME, Model, RngExt, rng};

const GIGA: u64 = 1_000_000_000;

/// A limiter and the reference, fed the same requests.
struct Check {
    limiter: RateLimiter,
    reference: Model,
    tally: [usize; 3],
}

impl Check {
    fn new(capacity: u64, rate: &str) -> Check {
        let rate: Rate = rate.parse().expect("valid rate");
        let limiter = RateLimiter::with_rate(capacity, rate).expect("valid capacity");
        Check { limiter, reference: Model::new(capacity, rate), tally: [0; 3] }
    }

    /// Decides a request on both and asserts they agree, returning the decision.
    #[track_caller]
    fn request(&mut self, ip: IpAddr, t: u64, cost: u64) -> Decision {
        let got = self.limiter.check_n_at(ip, cost, Nanos::new(t));
        let expected = self.reference.decide(ip, t, cost);
        assert_eq!(got, expected, "{ip} cost {cost} at {t} ns");
        let peek = self.limiter.tokens_at(ip, Nanos::new(t));
        assert_eq!(peek, self.reference.tokens(ip, t), "tokens of {ip} at {t} ns");
        self.tally[match got {
            Decision::Allowed { .. } => 0,
            Decision::Denied { .. } => 1,
            _ => 2,
        }] += 1;
        got
    }

    /// Asserts the run saw every kind of decision, so it tested something.
    #[track_caller]
    fn assert_mixed(&self) {
        assert!(
            self.tally.iter().all(|&n| n > 0),
            "allowed/denied/over-capacity: {:?}",
            self.tally
        );
    }
}

fn ips() -> [IpAddr; 3] {
    [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    ]
}

/// Requests near `base`: the costs and steps that matter at each end of the
/// ranges, in a fixed, seeded order.
fn walk(check: &mut Check, base: u64, steps: &[u64]) {
    let costs = [1, 0, GIGA, GIGA - 1, GIGA / 2, 3, GIGA + 1, u64::MAX, 2];
    let mut rng = rng(0x9e37_79b9_7f4a_7c15, base);
    let mut t = base;
    for i in 0..2_000 {
        let step = steps[rng.random_range(0..steps.len())];
        t = if rng.random() { t.saturating_add(step) } else { t.saturating_sub(step) };
        let ip = ips()[i % 3];
        let cost = costs[rng.random_range(0..costs.len())];
        let _decision = check.request(ip, t, cost);
    }
}

#[test]
fn max_capacity_at_max_rate_refills_one_token_per_nanosecond() {
    let mut check = Check::new(MAX_CAPACITY, "1000000000");
    let ip = ips()[0];
    assert_eq!(check.request(ip, 0, GIGA), Decision::Allowed { remaining: 0 });
    assert_eq!(check.request(ip, 1, 1), Decision::Allowed { remaining: 0 });
    let retry_after = Duration::from_nanos(2);
    assert_eq!(check.request(ip, 0, 1), Decision::Denied { remaining: 0, retry_after });
    // 10⁹ − 1 ns after the last take the bucket is one token short.
    let short = check.request(ip, GIGA, GIGA);
    assert_eq!(
        short,
        Decision::Denied { remaining: GIGA - 1, retry_after: Duration::from_nanos(1) }
    );
    assert_eq!(check.request(ip, GIGA + 1, GIGA), Decision::Allowed { remaining: 0 });
    let over = check.request(ip, GIGA + 1, GIGA + 1);
    assert_eq!(over, Decision::OverCapacity { cost: GIGA + 1, capacity: GIGA });
    walk(&mut check, 0, &[0, 1, 2, 3, 1_000, GIGA / 2, GIGA, GIGA + 1]);
    check.assert_mixed();
}

#[test]
fn max_capacity_at_min_rate_refills_one_token_per_1e18_nanoseconds() {
    let mut check = Check::new(MAX_CAPACITY, "0.000000001");
    let ip = ips()[2];
    assert_eq!(check.request(ip, 0, GIGA), Decision::Allowed { remaining: 0 });
    let wait = Duration::from_secs(GIGA) - Duration::from_nanos(1);
    let almost = check.request(ip, GIGA * GIGA - 1, 1);
    assert_eq!(almost, Decision::Denied { remaining: 0, retry_after: Duration::from_nanos(1) });
    assert_eq!(check.request(ip, GIGA * GIGA, 1), Decision::Allowed { remaining: 0 });
    // Decided at 10¹⁸ ns, a request stamped 1 ns waits the refill plus the gap.
    let early = check.request(ip, 1, 1);
    assert_eq!(
        early,
        Decision::Denied { remaining: 0, retry_after: wait + Duration::from_secs(GIGA) }
    );
    // By 2⁶³ − 1 ns, 9.22 more tokens have come; later times count as 2⁶³ − 1.
    assert_eq!(check.request(ip, u64::MAX, 0), Decision::Allowed { remaining: 8 });
    assert_eq!(
        check.request(ip, 1 << 63, 9),
        Decision::Denied {
            remaining: 8,
            retry_after: Duration::from_nanos(
                GIGA * GIGA - (MAX_TIME - GIGA * GIGA) % (GIGA * GIGA)
            ),
        }
    );
    walk(&mut check, 0, &[0, 1, GIGA, GIGA * GIGA, 1 << 62]);
    check.assert_mixed();
}

#[test]
fn timestamps_near_2_pow_63_at_both_extreme_rates() {
    for rate in ["1000000000", "0.000000001", "1/h", "999999999.999999999"] {
        let mut check = Check::new(MAX_CAPACITY, rate);
        let ip = ips()[1];
        assert!(check.request(ip, MAX_TIME - 1, GIGA).is_allowed(), "{rate}: a full new bucket");
        // One nanosecond later (2⁶⁴ − 1 counts as 2⁶³ − 1) refills at most one token.
        assert!(!check.request(ip, u64::MAX, GIGA).is_allowed(), "{rate}: an empty bucket");
        walk(&mut check, MAX_TIME - 10 * GIGA, &[0, 1, 2, GIGA, 10 * GIGA, 1 << 40]);
        walk(&mut check, u64::MAX, &[0, 1, 1 << 62]);
        check.assert_mixed();
    }
}

#[test]
fn small_capacities_at_extreme_rates_and_times() {
    for (capacity, rate) in [(1, "1000000000"), (1, "0.000000001"), (2, "7/h"), (GIGA - 1, "1/m")] {
        let mut check = Check::new(capacity, rate);
        walk(&mut check, 0, &[0, 1, 7, GIGA, 3_600 * GIGA]);
        walk(&mut check, MAX_TIME, &[0, 1, GIGA, 1 << 61]);
        check.assert_mixed();
    }
}
