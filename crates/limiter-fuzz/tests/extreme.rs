//! Extreme configurations against an exact big-rational reference: capacity
//! 10⁹ at rates 10⁻⁹ and 10⁹ tokens per second, costs up to 10⁹, and
//! timestamps near 0 and near 2⁶³ ns (and past it, where the limiter takes
//! 2⁶³ − 1).
//!
//! The reference is SPEC's bucket written in `BigRational` with no shortcut:
//! it shares nothing with the library's fixed point or with the `u128` model
//! the `decisions` fuzz target uses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use limiter_core::{Decision, MAX_CAPACITY, Nanos, Rate, RateLimiter, canonical_ip};
use num_bigint::BigInt;
use num_rational::BigRational;

const MAX_TIME: u64 = (1 << 63) - 1;
const GIGA: u64 = 1_000_000_000;

fn ratio(n: u64, d: u64) -> BigRational {
    BigRational::new(BigInt::from(n), BigInt::from(d))
}

/// SPEC's model: per key, exact tokens and the bucket's latest time.
struct Reference {
    capacity: BigRational,
    /// Tokens per nanosecond.
    rate: BigRational,
    buckets: HashMap<IpAddr, (BigRational, u64)>,
}

impl Reference {
    fn new(capacity: u64, rate: Rate) -> Reference {
        let rate = ratio(rate.numer(), rate.denom()) / ratio(GIGA, 1);
        Reference { capacity: ratio(capacity, 1), rate, buckets: HashMap::new() }
    }

    /// The bucket of `ip` refilled to `t`: its tokens and its new latest time.
    fn refilled(&self, ip: IpAddr, t: u64) -> Option<(BigRational, u64)> {
        let t = t.min(MAX_TIME);
        let (tokens, last) = self.buckets.get(&canonical_ip(ip))?;
        let now = t.max(*last);
        let tokens = tokens + ratio(now - last, 1) * &self.rate;
        Some((tokens.min(self.capacity.clone()), now))
    }

    fn tokens(&self, ip: IpAddr, t: u64) -> u64 {
        let tokens = self.refilled(ip, t).map_or(self.capacity.clone(), |(tokens, _)| tokens);
        whole(&tokens)
    }

    fn decide(&mut self, ip: IpAddr, t: u64, cost: u64) -> Decision {
        let t = t.min(MAX_TIME);
        let (tokens, now) = match self.refilled(ip, t) {
            Some(bucket) => bucket,
            None if cost == 0 => return Decision::Allowed { remaining: whole(&self.capacity) },
            None => (self.capacity.clone(), t),
        };
        let need = ratio(cost, 1);
        if cost == 0 {
            return Decision::Allowed { remaining: whole(&tokens) };
        }
        let (left, decision) = if need > self.capacity {
            let capacity = whole(&self.capacity);
            (tokens, Decision::OverCapacity { cost, capacity })
        } else if tokens >= need {
            let left = &tokens - &need;
            let remaining = whole(&left);
            (left, Decision::Allowed { remaining })
        } else {
            let wait = ((&need - &tokens) / &self.rate).ceil() + ratio(now - t, 1);
            let wait = u128::try_from(wait.to_integer()).expect("a wait fits in u128");
            let secs = u64::try_from(wait / u128::from(GIGA)).expect("a wait fits in u64 seconds");
            let retry_after = Duration::new(secs, (wait % u128::from(GIGA)) as u32);
            let remaining = whole(&tokens);
            (tokens, Decision::Denied { remaining, retry_after })
        };
        self.buckets.insert(canonical_ip(ip), (left, now));
        decision
    }
}

fn whole(tokens: &BigRational) -> u64 {
    u64::try_from(tokens.floor().to_integer()).expect("tokens fit in u64")
}

/// A limiter and the reference, fed the same requests.
struct Check {
    limiter: RateLimiter,
    reference: Reference,
    tally: [usize; 3],
}

impl Check {
    fn new(capacity: u64, rate: &str) -> Check {
        let rate: Rate = rate.parse().expect("valid rate");
        let limiter = RateLimiter::with_rate(capacity, rate).expect("valid capacity");
        Check { limiter, reference: Reference::new(capacity, rate), tally: [0; 3] }
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
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut t = base;
    for i in 0..2_000 {
        // xorshift64: a fixed, dependency-free sequence of choices.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let step = steps[(seed % steps.len() as u64) as usize];
        t = if seed & (1 << 20) == 0 { t.saturating_add(step) } else { t.saturating_sub(step) };
        let ip = ips()[i % 3];
        let cost = costs[((seed >> 32) % costs.len() as u64) as usize];
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
