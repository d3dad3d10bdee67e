//! One token bucket: its state and the pure refill-and-decide step.
//!
//! Nothing here locks or reads a clock; the caller brings both the state and
//! the time. All arithmetic is on integers: with the rate reduced to `a / b`
//! tokens per nanosecond, a bucket counts tokens in units of `1 / b` token, so
//! `e` nanoseconds refill exactly `e · a` units and a token is `b` units.

use std::time::Duration;

use crate::clock::NANOS_PER_SEC;
use crate::rate::Rate;

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

/// The largest supported capacity, in tokens.
///
/// The bucket arithmetic's bounds rest on it: a full bucket holds at most
/// `10⁹ · 10¹⁸ = 10²⁷` units, far below 2¹²⁸ however long the refill.
pub const MAX_CAPACITY: u64 = 1_000_000_000;

/// A limiter's capacity and rate in the integer units of the arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
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
pub struct State {
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
    /// `capacity` must already be validated to `1..=`[`MAX_CAPACITY`].
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

    /// The loosest state that is no looser than `a` nor `b`: whatever the
    /// time of a request, a bucket in the result holds no more units for it
    /// than a bucket in `a` or in `b` would.
    ///
    /// A state `(last, tokens)` answers a request at `u` with
    /// `D(u) = min(full, tokens + (u − last)⁺ · refill)`: flat at `tokens`
    /// up to `last`, then the line `tokens + (u − last) · refill`, capped.
    /// The result takes the lower level, `low = min(a.tokens, b.tokens)`,
    /// and the later of the two lines moved back to start from `low`: its
    /// time is the latest of `x.last − ⌊(x.tokens − low) / refill⌋` over
    /// both. Its flat part is at most either level; its line starts no
    /// earlier than `x`'s line would reach `low` (the floor only moves it
    /// later), so it lies on or below both lines; and min and the cap keep
    /// the order. Meeting a state with itself gives it back.
    pub(crate) fn meet(&self, a: State, b: State) -> State {
        let low = a.tokens.min(b.tokens);
        let start = |x: State| {
            // At most 10²⁷ / 1 ns, so compared in 128 bits before narrowing.
            let back = (x.tokens - low) / u128::from(self.refill);
            x.last - u64::try_from(back).unwrap_or(u64::MAX).min(x.last)
        };
        State { last: start(a).max(start(b)), tokens: low }
    }

    /// Whole tokens the bucket holds at `now` (or at its own time, if later),
    /// without changing it.
    #[inline]
    pub(crate) fn peek(&self, state: State, now: u64) -> u64 {
        self.whole(self.units_at(state, now))
    }

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

    /// [`Params::decide`] for a narrow limiter (see [`Params::is_narrow`]),
    /// in 64-bit arithmetic: every figure it computes is at most `full`,
    /// under 2⁶², except the refill, which saturates to a full bucket.
    /// Answers and stores exactly what `decide` does.
    #[inline(always)]
    pub(crate) fn decide_narrow(&self, state: &mut State, now: u64, cost: u64) -> Decision {
        debug_assert!(self.is_narrow() && state.tokens <= self.full);
        if cost == 0 || cost > self.capacity {
            return self.decide(state, now, cost);
        }
        let full = self.full as u64;
        let last = state.last.max(now);
        let elapsed = now.saturating_sub(state.last);
        // A refill that overflows 64 bits is more than a full bucket.
        let tokens = elapsed
            .checked_mul(self.refill)
            .map_or(full, |refill| (state.tokens as u64).saturating_add(refill).min(full));
        // `cost <= capacity`, so `need <= full < 2⁶²`.
        let need = cost * self.unit;
        if let Some(left) = tokens.checked_sub(need) {
            *state = State { last, tokens: u128::from(left) };
            Decision::Allowed { remaining: self.whole_narrow(left) }
        } else {
            if self.keep_refill(u128::from(tokens)) {
                *state = State { last, tokens: u128::from(tokens) };
            }
            let retry_after = self.refill_time(u128::from(need - tokens), last - now);
            let remaining = if cost == 1 { 0 } else { self.whole_narrow(tokens) };
            Decision::Denied { remaining, retry_after }
        }
    }

    /// [`Params::whole`] of units that fit in 64 bits.
    #[inline]
    fn whole_narrow(&self, units: u64) -> u64 {
        if self.unit == 1 { units } else { units / self.unit }
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
        // where 128-bit arithmetic before the division into seconds is a
        // measurable share of a denial's cost.
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

/// [`Duration::from_nanos`] without its division into seconds for a wait
/// under a second, which is every wait for one token at a rate of a token a
/// second or more: on the path of every denial.
#[inline]
fn duration_from_nanos(nanos: u64) -> Duration {
    match u32::try_from(nanos) {
        Ok(nanos) if u64::from(nanos) < NANOS_PER_SEC => Duration::new(0, nanos),
        _ => Duration::from_nanos(nanos),
    }
}

/// At most 2⁶⁴ + 10²⁷ ns, so the seconds fit in a `u64`.
#[inline]
fn nanos_to_duration(nanos: u128) -> Duration {
    match u64::try_from(nanos) {
        Ok(nanos) => duration_from_nanos(nanos),
        Err(_) => {
            let per_sec = u128::from(NANOS_PER_SEC);
            Duration::new((nanos / per_sec) as u64, (nanos % per_sec) as u32)
        }
    }
}

#[cfg(test)]
mod tests;
