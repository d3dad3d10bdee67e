//! Unit tests of the refill-and-decide step: the range limits, cost 0, costs
//! above the capacity and backwards time.

use super::*;

const SEC: u64 = 1_000_000_000;
const MAX_TIME: u64 = (1 << 63) - 1;

fn params(capacity: u64, rate: &str) -> Params {
    Params::new(capacity, rate.parse().unwrap())
}

fn allowed(remaining: u64) -> Decision {
    Decision::Allowed { remaining }
}

fn denied(remaining: u64, retry_after_ns: u64) -> Decision {
    Decision::Denied { remaining, retry_after: Duration::from_nanos(retry_after_ns) }
}

/// Runs `(time, cost, expected)` steps on one bucket created at `start`.
#[track_caller]
fn check(params: Params, start: u64, steps: &[(u64, u64, Decision)]) {
    let mut state = params.fresh(start);
    for (i, &(now, cost, expected)) in steps.iter().enumerate() {
        let got = params.decide(&mut state, now, cost);
        assert_eq!(got, expected, "step {i}: cost {cost} at {now}ns");
    }
}

#[test]
fn starts_full_then_refills_continuously() {
    let p = params(10, "5");
    let mut steps: Vec<_> = (0..10).map(|i| (0, 1, allowed(9 - i))).collect();
    steps.push((0, 1, denied(0, SEC / 5)));
    // 0.1 s refills half a token: still denied, and the wait shrinks.
    steps.push((SEC / 10, 1, denied(0, SEC / 10)));
    steps.push((SEC / 5 - 1, 1, denied(0, 1)));
    steps.push((SEC / 5, 1, allowed(0)));
    // A long pause refills only up to capacity.
    steps.push((1000 * SEC, 10, allowed(0)));
    steps.push((1000 * SEC, 1, denied(0, SEC / 5)));
    check(p, 0, &steps);
}

#[test]
fn cost_zero_is_allowed_and_changes_nothing() {
    let p = params(3, "1");
    let mut state = p.fresh(5 * SEC);
    assert_eq!(p.decide(&mut state, 5 * SEC, 3), allowed(0));
    let before = state;
    assert_eq!(p.decide(&mut state, 7 * SEC, 0), allowed(2));
    assert_eq!(state, before, "cost 0 must not move the bucket");
    assert_eq!(p.decide(&mut state, 0, 0), allowed(0));
    assert_eq!(state, before);
}

#[test]
fn cost_above_capacity_is_never_allowed_but_refills() {
    let p = params(3, "1");
    check(
        p,
        0,
        &[
            (0, 3, allowed(0)),
            (SEC, 4, Decision::OverCapacity { cost: 4, capacity: 3 }),
            (SEC, u64::MAX, Decision::OverCapacity { cost: u64::MAX, capacity: 3 }),
            // The refill to 1 s stands, and time cannot go back before it.
            (SEC / 2, 1, allowed(0)),
            (SEC / 2, 1, denied(0, SEC / 2 + SEC)),
        ],
    );
}

#[test]
fn denials_short_of_a_token_change_nothing_and_others_keep_their_refill() {
    let p = params(3, "1");
    let drained = State { last: SEC, tokens: 0 };
    for (now, cost) in [(SEC + SEC / 2, 1), (SEC + SEC / 2, 3), (SEC / 2, 1), (2 * SEC - 1, 9)] {
        let mut state = drained;
        assert!(!p.decide(&mut state, now, cost).is_allowed(), "cost {cost} at {now}ns");
        assert_eq!(state, drained, "cost {cost} at {now}ns");
    }
    // A token and a half at 2.5 s: a denial of 2 or of 4 records them.
    for cost in [2, 4] {
        let mut state = drained;
        assert!(!p.decide(&mut state, 2 * SEC + SEC / 2, cost).is_allowed());
        assert_eq!(state, State { last: 2 * SEC + SEC / 2, tokens: 3 * u128::from(p.unit) / 2 });
    }
    // And a request of 1 from before them is decided at 2.5 s, as SPEC
    // says, which only the recorded refill makes possible.
    check(
        p,
        0,
        &[
            (0, 3, allowed(0)),
            (SEC / 2, 1, denied(0, SEC / 2)),
            (SEC + SEC / 2, 2, denied(1, SEC / 2)),
            (SEC, 1, allowed(0)),
            // Half a token at 1.5 s: the other half is 1 s from 1 s.
            (SEC, 1, denied(0, SEC)),
        ],
    );
}

#[test]
fn decide_short_answers_what_decide_would_without_a_write() {
    for (capacity, rate) in [(1, "1"), (3, "0.5"), (10, "5"), (7, "1/h"), (2, "1000000000")] {
        let p = params(capacity, rate);
        let unit = u128::from(p.unit);
        for tokens in [0, 1, unit / 3, unit - 1, unit, unit + 1, p.full] {
            for last in [0, 5 * SEC] {
                let state = State { last, tokens };
                for now in [0, SEC / 3, 5 * SEC, 5 * SEC + 1, 7 * SEC, MAX_TIME] {
                    for cost in [1, 2, capacity, capacity + 1] {
                        let mut after = state;
                        let full = p.decide(&mut after, now, cost);
                        let short = p.decide_short(state, now, cost);
                        let case = format!("{capacity} at {rate}: {state:?}, cost {cost} at {now}");
                        let refilled = p.units_at(state, now);
                        assert_eq!(short.is_some(), refilled < unit, "{case}");
                        if let Some(short) = short {
                            assert_eq!(short, full, "{case}");
                            assert_eq!(after, state, "{case}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn decide_narrow_answers_and_stores_what_decide_does() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let limits = [
        (1, "1"),
        (3, "0.5"),
        (10, "5"),
        (7, "1/h"),
        (1_000_000_000, "1000000000"),
        (2, "1000000000"),
        (1000, "3/m"),
        (4, "123456789"),
    ];
    for (capacity, rate) in limits {
        let p = params(capacity, rate);
        assert!(p.is_narrow(), "{capacity} at {rate}");
        let unit = u128::from(p.unit);
        let tokens = [0, 1, unit - 1, unit, unit + 1, p.full - 1, p.full];
        let times = [0, 1, SEC, 5 * SEC, 5 * SEC + 1, 1 << 40, 1 << 62, MAX_TIME];
        let costs = [0, 1, 2, capacity, capacity + 1];
        let mut cases: Vec<(u128, u64, u64, u64)> = Vec::new();
        for &t in tokens.iter().filter(|&&t| t <= p.full) {
            for &last in &times {
                for &now in &times {
                    for &cost in &costs {
                        cases.push((t, last, now, cost));
                    }
                }
            }
        }
        for _ in 0..20_000 {
            let shift = rng.random_range(0..63);
            let last = rng.random_range(0..=MAX_TIME >> shift);
            let now = last.saturating_add_signed(rng.random_range(-(SEC as i64)..10 * SEC as i64));
            let cost = rng.random_range(0..=capacity.min(20) + 1);
            cases.push((rng.random_range(0..=p.full), last, now.min(MAX_TIME), cost));
        }
        for (tokens, last, now, cost) in cases {
            let state = State { last, tokens };
            let (mut wide, mut narrow) = (state, state);
            let expected = p.decide(&mut wide, now, cost);
            let got = p.decide_narrow(&mut narrow, now, cost);
            let case = format!("{capacity} at {rate}: {state:?}, cost {cost} at {now}");
            assert_eq!((got, narrow), (expected, wide), "{case}");
        }
    }
}

#[test]
fn backwards_time_is_decided_at_the_bucket_time() {
    let p = params(2, "1");
    check(
        p,
        10 * SEC,
        &[
            (10 * SEC, 2, allowed(0)),
            // Earlier requests see no refill and leave `last` at 10 s.
            (9 * SEC, 1, denied(0, 2 * SEC)),
            (0, 1, denied(0, 11 * SEC)),
            (11 * SEC, 1, allowed(0)),
            (10 * SEC + SEC / 2, 1, denied(0, SEC + SEC / 2)),
        ],
    );
}

#[test]
fn waits_either_side_of_a_second_are_exact() {
    // A wait under a second is built without dividing into seconds; one
    // of a second or more is split into seconds and nanoseconds.
    let p = params(1, "1");
    check(
        p,
        0,
        &[
            (0, 1, allowed(0)),
            (0, 1, denied(0, SEC)),
            (1, 1, denied(0, SEC - 1)),
            (SEC - 1, 1, denied(0, 1)),
            (SEC, 1, allowed(0)),
        ],
    );
    // A wait past 2³² ns.
    check(params(1, "1/m"), 0, &[(0, 1, allowed(0)), (1, 1, denied(0, 60 * SEC - 1))]);
}

#[test]
fn per_hour_rates_are_exact() {
    // One token per hour: 3599.999999999 s is one nanosecond short.
    let p = params(1, "1/h");
    let hour = 3600 * SEC;
    check(p, 0, &[(0, 1, allowed(0)), (hour - 1, 1, denied(0, 1)), (hour, 1, allowed(0))]);
    // 7 per hour refills to exactly 7 tokens after an hour seen in 7 steps,
    // although 3600/7 s is not a whole number of nanoseconds.
    let p = params(7, "7/h");
    let mut state = p.fresh(0);
    assert_eq!(p.decide(&mut state, 0, 7), allowed(0));
    for step in 1..7 {
        let got = p.decide(&mut state, step * hour / 7, 7);
        assert!(!got.is_allowed(), "step {step}: {got:?}");
    }
    assert!(!p.decide(&mut state, hour - 1, 7).is_allowed());
    assert_eq!(p.decide(&mut state, hour, 7), allowed(0));
}

#[test]
fn extremes_of_the_range_neither_overflow_nor_drift() {
    // Capacity 10^9 at 10^-9 tokens/s: one token per 10^9 s.
    let p = params(1_000_000_000, "0.000000001");
    check(
        p,
        0,
        &[
            (0, 1_000_000_000, allowed(0)),
            (
                MAX_TIME,
                1_000_000_000,
                Decision::Denied {
                    remaining: 9,
                    retry_after: Duration::from_secs(SEC * SEC) - Duration::from_nanos(MAX_TIME),
                },
            ),
            (MAX_TIME, 9, allowed(0)),
        ],
    );
    // Capacity 10^9 at 10^9 tokens/s: refills completely in one second.
    let p = params(1_000_000_000, "1000000000");
    check(
        p,
        MAX_TIME - SEC,
        &[
            (MAX_TIME - SEC, 1_000_000_000, allowed(0)),
            (MAX_TIME - SEC + 1, 2, denied(1, 1)),
            (MAX_TIME, 1_000_000_000, allowed(0)),
            (u64::MAX, 1_000_000_000, allowed(0)),
        ],
    );
    // The longest wait: 10^9 tokens at 10^-9 tokens/s, far past u64 nanoseconds.
    let p = params(1_000_000_000, "0.000000001");
    let mut state = p.fresh(0);
    assert_eq!(p.decide(&mut state, 0, 1_000_000_000), allowed(0));
    let wait = p.decide(&mut state, 0, 1_000_000_000).retry_after().unwrap();
    assert_eq!(wait, Duration::from_secs(1_000_000_000 * 1_000_000_000));
}

#[test]
fn tiny_refills_accumulate_exactly() {
    // 10^-9 tokens/s seen every nanosecond for a while gains no whole token,
    // but nothing is lost to rounding either: the sum arrives on time.
    let p = params(1, "0.000000001");
    let mut state = p.fresh(0);
    assert_eq!(p.decide(&mut state, 0, 1), allowed(0));
    for now in 1..1000 {
        assert_eq!(p.decide(&mut state, now, 1), denied(0, 1_000_000_000 * SEC - now));
    }
    assert_eq!(p.decide(&mut state, 1_000_000_000 * SEC, 1), allowed(0));
}

#[test]
fn state_is_24_bytes() {
    assert_eq!(size_of::<State>(), 24);
}
