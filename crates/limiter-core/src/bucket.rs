//! One token bucket: its state and the pure refill-and-decide step.
//!
//! Nothing here locks or reads a clock; the caller brings both the state and
//! the time. All arithmetic is on integers: with the rate reduced to `a / b`
//! tokens per nanosecond, a bucket counts tokens in units of `1 / b` token, so
//! `e` nanoseconds refill exactly `e · a` units and a token is `b` units.

use std::time::Duration;

use crate::Rate;

/// The outcome of one request.
///
/// The three outcomes are all there is to a token bucket, so the enum is
/// exhaustive: a `match` on it needs no wildcard arm.
///
/// # Example
///
/// ```
/// use limiter_core::{Decision, ManualClock, Nanos, Rate, RateLimiter};
/// use std::time::Duration;
///
/// let limiter = RateLimiter::with_clock(2, Rate::per_second(1)?, ManualClock::default())?;
/// let ip = "2001:db8::7".parse()?;
/// assert_eq!(limiter.check_n(ip, 2), Decision::Allowed { remaining: 0 });
/// assert_eq!(
///     limiter.check(ip),
///     Decision::Denied { remaining: 0, retry_after: Duration::from_secs(1) }
/// );
/// assert_eq!(limiter.check_n(ip, 3), Decision::OverCapacity { cost: 3, capacity: 2 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a decision does nothing unless the caller acts on it"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// An explicit tag byte: left to the compiler, the tag hides in the spare
// values of `retry_after`'s nanoseconds, and telling an allowed request from
// a denied one (which the limiter does on every request, to count it) then
// waits for the whole retry time to be computed.
#[repr(u8)]
pub enum Decision {
    /// The request passes; its cost has been taken from the bucket.
    Allowed {
        /// Whole tokens left in the bucket after this request.
        remaining: u64,
    },
    /// The request must wait; the bucket is unchanged but for its refill.
    Denied {
        /// Whole tokens in the bucket, fewer than the request's cost.
        remaining: u64,
        /// How long until this request would pass if nothing else used the
        /// bucket, rounded up to the next nanosecond.
        retry_after: Duration,
    },
    /// The request costs more than the bucket can ever hold, so it can never
    /// pass; the bucket is unchanged but for its refill.
    OverCapacity {
        /// The cost that was asked for.
        cost: u64,
        /// The limiter's capacity.
        capacity: u64,
    },
}

impl Decision {
    /// Whether the request passes.
    #[inline]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// How long until a denied request would pass: `None` when it was allowed
    /// or can never pass.
    pub fn retry_after(&self) -> Option<Duration> {
        match *self {
            Decision::Denied { retry_after, .. } => Some(retry_after),
            Decision::Allowed { .. } | Decision::OverCapacity { .. } => None,
        }
    }
}

/// A limiter's capacity and rate in the integer units of the arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    capacity: u64,
    /// Units in one token: the rate's denominator in tokens per ns, at most 10¹⁸.
    /// (Both are kept in 64 bits, so that multiplying by them is one
    /// 64×64-bit multiplication.)
    unit: u64,
    /// Units refilled per nanosecond: the rate's numerator, at most `unit`.
    refill: u64,
    /// A full bucket: `capacity · unit`, at most 10²⁷ (< 2⁹⁰).
    full: u128,
}

/// One bucket's state: its time and the tokens it held then, in units.
///
/// Packed to 8-byte alignment so that it takes 24 bytes, not 32. Fields are
/// only ever read and written by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(8))]
pub(crate) struct State {
    last: u64,
    tokens: u128,
}

impl State {
    #[inline]
    pub(crate) fn new(last: u64, tokens: u128) -> State {
        State { last, tokens }
    }

    /// The latest time the bucket has seen.
    #[inline]
    pub(crate) fn last(self) -> u64 {
        self.last
    }

    /// The bucket's tokens at `last`, in units.
    #[inline]
    pub(crate) fn tokens(self) -> u128 {
        self.tokens
    }
}

impl Params {
    /// `capacity` must already be validated to `1..=MAX_CAPACITY`.
    pub(crate) fn new(capacity: u64, rate: Rate) -> Params {
        let (refill, unit) = rate.per_nanosecond();
        Params { capacity, unit, refill, full: u128::from(capacity) * u128::from(unit) }
    }

    /// The capacity in whole tokens.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether a bucket's units always fit in 62 bits, leaving a `u64` two
    /// bits for its slot's tag (see `cell`).
    pub(crate) fn is_narrow(&self) -> bool {
        self.full < 1 << 62
    }

    /// How long one token takes to refill, rounded up to the next nanosecond.
    pub(crate) fn token_interval(&self) -> Duration {
        nanos_to_duration(div_ceil(u128::from(self.unit), u128::from(self.refill)))
    }

    /// Whether `state` is indistinguishable from a new bucket for every
    /// request stamped at `horizon` or later: its time is not after
    /// `horizon`, and it is full by then.
    #[inline]
    pub(crate) fn is_idle(&self, state: State, horizon: u64) -> bool {
        state.last <= horizon && self.units_at(state, horizon) == self.full
    }

    /// A bucket first seen at `now`: full.
    #[inline]
    pub(crate) fn fresh(&self, now: u64) -> State {
        State { last: now, tokens: self.full }
    }

    /// Whole tokens the bucket holds at `now` (or at its own time, if later),
    /// without changing it.
    #[inline]
    pub(crate) fn peek(&self, state: State, now: u64) -> u64 {
        self.whole(self.units_at(state, now))
    }

    // limiter-tower (#20): the wait for the next whole token, for quota headers.
    /// How long from `now` until the bucket holds one more whole token than
    /// it does then, rounded up to the next nanosecond; `None` if it is full.
    /// A `now` before the bucket's time counts from `now`, as a denial's wait.
    #[inline]
    pub(crate) fn next_token(&self, state: State, now: u64) -> Option<Duration> {
        let units = self.units_at(state, now);
        if units == self.full {
            return None;
        }
        let unit = u128::from(self.unit);
        let short = unit - (units - div_floor(units, unit) * unit);
        Some(self.refill_time(short, state.last.saturating_sub(now)))
    }

    /// Refills `state` to `now`, then takes `cost` tokens if they are there.
    ///
    /// A `now` earlier than the bucket's time is decided at the bucket's time,
    /// which stays. Cost 0 is allowed and changes nothing.
    ///
    /// A request that is not allowed leaves `state` as it was if the refilled
    /// bucket holds less than one token (see [`Params::keep_refill`]), so
    /// that such a denial, the usual one under load, writes nothing.
    // Always inlined: returned through memory, a decision costs its caller a
    // stalled load (the stores that wrote it cannot forward to it).
    #[inline(always)]
    pub(crate) fn decide(&self, state: &mut State, now: u64, cost: u64) -> Decision {
        if cost == 0 {
            return Decision::Allowed { remaining: self.peek(*state, now) };
        }
        let last = state.last.max(now);
        let tokens = self.units_at(*state, now);
        if cost > self.capacity {
            if self.keep_refill(tokens) {
                *state = State { last, tokens };
            }
            return Decision::OverCapacity { cost, capacity: self.capacity };
        }
        // `cost <= capacity`, so `need <= full`.
        let need = u128::from(cost) * u128::from(self.unit);
        if let Some(left) = tokens.checked_sub(need) {
            *state = State { last, tokens: left };
            Decision::Allowed { remaining: self.whole(left) }
        } else {
            if self.keep_refill(tokens) {
                *state = State { last, tokens };
            }
            let retry_after = self.refill_time(need - tokens, last - now);
            // Fewer units than one token's when a request of one is denied:
            // no whole token, and no division to find that out.
            let remaining = if cost == 1 { 0 } else { self.whole(tokens) };
            Decision::Denied { remaining, retry_after }
        }
    }

    /// Whether a request that was not allowed must store its refill to
    /// `tokens` units at its time `t`: only if they make a whole token.
    ///
    /// SPEC's bucket moves `last` to `t` on every request, which matters only
    /// to a later request at a time `u < t`: that one is decided at `t`,
    /// with no refill. Left at its old `(last, tokens)`, the bucket instead
    /// decides `u` at `max(u, last)`, with at most the units it had at `t`.
    /// Under one token at `t`, that changes nothing: every request of cost
    /// at least 1 at `t` or before is denied either way (allowing one takes
    /// a whole token), with the same remaining tokens (none) and the same
    /// wait (the time to `t` plus the rest of the refill is the whole
    /// refill from the earlier time). Nothing is taken, so the bucket stays
    /// short of a token and `t` keeps its meaning for every later such
    /// request. Any request after `t` refills from the old state to the
    /// same units, `min(full, a + b + c) = min(full, min(full, a + b) + c)`
    /// for the non-negative refills `b` and `c`. And the bucket is not full,
    /// so eviction cannot tell either.
    #[inline]
    fn keep_refill(&self, tokens: u128) -> bool {
        tokens >= u128::from(self.unit)
    }

    /// Whether `units` make less than one token.
    #[inline]
    pub(crate) fn is_short(&self, units: u128) -> bool {
        !self.keep_refill(units)
    }

    /// What [`Params::decide`] answers a request of `cost` (at least 1) at
    /// `now` if the bucket is still short of a token then, when it changes
    /// nothing; `None` if the bucket holds a token by then.
    #[inline(always)]
    pub(crate) fn decide_short(&self, state: State, now: u64, cost: u64) -> Option<Decision> {
        debug_assert!(cost > 0);
        let tokens = self.units_at(state, now);
        if self.keep_refill(tokens) {
            return None;
        }
        if cost > self.capacity {
            return Some(Decision::OverCapacity { cost, capacity: self.capacity });
        }
        // At least one token's units are needed, more than the bucket holds.
        let need = u128::from(cost) * u128::from(self.unit);
        let retry_after = self.refill_time(need - tokens, state.last.max(now) - now);
        Some(Decision::Denied { remaining: 0, retry_after })
    }

    /// The bucket's units after refilling to `max(now, last)`.
    #[inline]
    pub(crate) fn units_at(&self, state: State, now: u64) -> u128 {
        let elapsed = now.saturating_sub(state.last);
        // At most 2⁶⁴ · 10¹⁸ + 10²⁷ < 2¹²⁸: no overflow.
        (state.tokens + u128::from(elapsed) * u128::from(self.refill)).min(self.full)
    }

    /// How long until `short` more units have refilled, from `behind` ns
    /// before the bucket's time: rounded up to the next nanosecond.
    #[inline]
    fn refill_time(&self, short: u128, behind: u64) -> Duration {
        // In 64 bits whenever the figures fit, which for all but the most
        // extreme limiters is always: this is on the path of every denial,
        // and 128-bit arithmetic before the division into seconds made a
        // denial through the clock take a fifth longer.
        if let Ok(short) = u64::try_from(short) {
            let refill = if self.refill == 1 { short } else { short.div_ceil(self.refill) };
            if let Some(nanos) = behind.checked_add(refill) {
                return duration_from_nanos(nanos);
            }
        }
        nanos_to_duration(u128::from(behind) + div_ceil(short, u128::from(self.refill)))
    }

    #[inline]
    fn whole(&self, units: u128) -> u64 {
        // `units <= full`, so the quotient is at most `capacity`.
        div_floor(units, u128::from(self.unit)) as u64
    }
}

// 128-bit division is a library call many times slower than a 64-bit one;
// these take the 64-bit instruction whenever the operands fit, which for all
// but the most extreme limiters is always, and no instruction at all for a
// divisor of 1: the refill of every rate that divides 10⁹ per second (1, 2,
// 5, 10, 100, … per second), and the unit of every whole rate per ns.

#[inline]
fn div_floor(n: u128, d: u128) -> u128 {
    match (u64::try_from(n), u64::try_from(d)) {
        (_, Ok(1)) => n,
        (Ok(n), Ok(d)) => u128::from(n / d),
        _ => n / d,
    }
}

#[inline]
fn div_ceil(n: u128, d: u128) -> u128 {
    match (u64::try_from(n), u64::try_from(d)) {
        (_, Ok(1)) => n,
        (Ok(n), Ok(d)) => u128::from(n.div_ceil(d)),
        _ => n.div_ceil(d),
    }
}

/// Nanoseconds in a second.
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// [`Duration::from_nanos`] without its division into seconds for a wait
/// under a second, which is every wait for one token at a rate of a token a
/// second or more: on the path of every denial.
#[inline]
fn duration_from_nanos(nanos: u64) -> Duration {
    match u32::try_from(nanos) {
        Ok(nanos) if nanos < NANOS_PER_SEC => Duration::new(0, nanos),
        _ => Duration::from_nanos(nanos),
    }
}

/// At most 2⁶⁴ + 10²⁷ ns, so the seconds fit in a `u64`.
#[inline]
fn nanos_to_duration(nanos: u128) -> Duration {
    match u64::try_from(nanos) {
        Ok(nanos) => duration_from_nanos(nanos),
        Err(_) => Duration::new((nanos / 1_000_000_000) as u64, (nanos % 1_000_000_000) as u32),
    }
}

#[cfg(test)]
mod tests {
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
        for (now, cost) in [(SEC + SEC / 2, 1), (SEC + SEC / 2, 3), (SEC / 2, 1), (2 * SEC - 1, 9)]
        {
            let mut state = drained;
            assert!(!p.decide(&mut state, now, cost).is_allowed(), "cost {cost} at {now}ns");
            assert_eq!(state, drained, "cost {cost} at {now}ns");
        }
        // A token and a half at 2.5 s: a denial of 2 or of 4 records them.
        for cost in [2, 4] {
            let mut state = drained;
            assert!(!p.decide(&mut state, 2 * SEC + SEC / 2, cost).is_allowed());
            assert_eq!(
                state,
                State { last: 2 * SEC + SEC / 2, tokens: 3 * u128::from(p.unit) / 2 }
            );
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
                            let case =
                                format!("{capacity} at {rate}: {state:?}, cost {cost} at {now}");
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
                        retry_after: Duration::from_secs(SEC * SEC)
                            - Duration::from_nanos(MAX_TIME),
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
}
