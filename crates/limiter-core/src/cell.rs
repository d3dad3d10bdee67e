//! A bucket's state in atomics, locked by a bit in its time word.
//!
//! Each bucket keeps its time (`last`) in one `AtomicU64` whose top bit is a
//! lock, and its tokens in one or two more. Writers set the lock bit, store the
//! tokens, and release by storing the new time. Because a bucket's time never
//! decreases, a reader that sees the same unlocked time before and after
//! reading the tokens has read a state the bucket really held: every write in
//! between kept that time, and the tokens it read are one of theirs. This is a
//! sequence lock whose sequence number is the time itself; readers write
//! nothing.
//!
//! Two layouts share that protocol. [`Narrow`] (16 bytes) holds the tokens in
//! one word and lets readers decide without taking the lock; it serves every
//! limiter whose full bucket fits in 64 bits of units, which is all but the
//! most extreme capacity and rate pairs. [`Wide`] (24 bytes) holds 128-bit
//! tokens and always takes the lock.

use crate::bucket::{Decision, Params, State};
use crate::sync::{AtomicU64, Ordering, fence, spin_loop, yield_now};

/// The lock bit in a bucket's time word.
const LOCKED: u64 = 1 << 63;

/// The latest time a bucket can hold; later times are taken as this one.
pub(crate) const MAX_TIME: u64 = LOCKED - 1;

/// A bucket's synchronised storage.
pub(crate) trait Cell: Send + Sync + Sized {
    /// A cell holding `state`, whose time is at most [`MAX_TIME`].
    fn new(state: State) -> Self;

    /// Decides a request of `cost` at `now` (at most [`MAX_TIME`]) and stores
    /// the bucket's new state.
    ///
    /// With `live`, `now` came from the limiter's monotonic clock, so every
    /// later call will bring a time at least as late. A denial then need not
    /// record its time (its refill is implied by any later time), and the
    /// decision is made without writing anything shared.
    fn decide(&self, params: &Params, now: u64, cost: u64, live: bool) -> Decision;

    /// A state the bucket held during the call.
    fn load(&self) -> State;
}

/// A bucket whose units fit in a `u64`; readers never lock.
#[derive(Debug)]
pub(crate) struct Narrow {
    last: AtomicU64,
    tokens: AtomicU64,
}

/// A bucket with 128-bit units; every access locks.
#[derive(Debug)]
pub(crate) struct Wide {
    last: AtomicU64,
    low: AtomicU64,
    high: AtomicU64,
}

impl Narrow {
    /// Reads `(last, tokens)` consistently, waiting out a writer.
    #[inline]
    fn read(&self) -> (u64, u64) {
        let mut backoff = Backoff::default();
        loop {
            let before = self.last.load(Ordering::Acquire);
            if before & LOCKED == 0 {
                let tokens = self.tokens.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.last.load(Ordering::Relaxed) == before {
                    return (before, tokens);
                }
            }
            backoff.snooze();
        }
    }
}

impl Cell for Narrow {
    fn new(state: State) -> Narrow {
        debug_assert!(state.last() <= MAX_TIME);
        let tokens = u64::try_from(state.tokens()).expect("narrow cells hold 64-bit units");
        Narrow { last: AtomicU64::new(state.last()), tokens: AtomicU64::new(tokens) }
    }

    #[inline]
    fn decide(&self, params: &Params, now: u64, cost: u64, live: bool) -> Decision {
        let mut backoff = Backoff::default();
        loop {
            let (last, tokens) = self.read();
            let seen = State::new(last, u128::from(tokens));
            let mut next = seen;
            let decision = params.decide(&mut next, now, cost);
            if next == seen || (live && !decision.is_allowed()) {
                return decision;
            }
            // Lock only if the time is still the one read; the tokens may have
            // changed under the same time, so decide again under the lock.
            if self
                .last
                .compare_exchange(last, last | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                let mut state = State::new(last, u128::from(self.tokens.load(Ordering::Relaxed)));
                let decision = if state == seen {
                    state = next;
                    decision
                } else {
                    params.decide(&mut state, now, cost)
                };
                // Orders the lock before the tokens for readers (see `read`).
                fence(Ordering::Release);
                // Narrow params keep units within `u64`.
                self.tokens.store(state.tokens() as u64, Ordering::Relaxed);
                self.last.store(state.last(), Ordering::Release);
                return decision;
            }
            backoff.snooze();
        }
    }

    fn load(&self) -> State {
        let (last, tokens) = self.read();
        State::new(last, u128::from(tokens))
    }
}

impl Wide {
    /// Sets the lock bit and returns the time it guarded.
    fn lock(&self) -> u64 {
        let mut backoff = Backoff::default();
        loop {
            let last = self.last.load(Ordering::Relaxed);
            if last & LOCKED == 0
                && self
                    .last
                    .compare_exchange_weak(
                        last,
                        last | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return last;
            }
            backoff.snooze();
        }
    }

    fn tokens(&self) -> u128 {
        u128::from(self.high.load(Ordering::Relaxed)) << 64
            | u128::from(self.low.load(Ordering::Relaxed))
    }

    fn unlock(&self, state: State) {
        self.low.store(state.tokens() as u64, Ordering::Relaxed);
        self.high.store((state.tokens() >> 64) as u64, Ordering::Relaxed);
        self.last.store(state.last(), Ordering::Release);
    }
}

impl Cell for Wide {
    fn new(state: State) -> Wide {
        debug_assert!(state.last() <= MAX_TIME);
        Wide {
            last: AtomicU64::new(state.last()),
            low: AtomicU64::new(state.tokens() as u64),
            high: AtomicU64::new((state.tokens() >> 64) as u64),
        }
    }

    fn decide(&self, params: &Params, now: u64, cost: u64, live: bool) -> Decision {
        let last = self.lock();
        let seen = State::new(last, self.tokens());
        let mut state = seen;
        let decision = params.decide(&mut state, now, cost);
        self.unlock(if live && !decision.is_allowed() { seen } else { state });
        decision
    }

    fn load(&self) -> State {
        let last = self.lock();
        let state = State::new(last, self.tokens());
        self.unlock(state);
        state
    }
}

/// Spins briefly, then yields the core, while another thread holds a bucket.
#[derive(Default)]
struct Backoff {
    spins: u32,
}

impl Backoff {
    #[inline]
    fn snooze(&mut self) {
        // Under loom every spin is a scheduling point; yielding at once keeps
        // the explored interleavings few.
        if cfg!(not(loom)) && self.spins < 6 {
            for _ in 0..1 << self.spins {
                spin_loop();
            }
            self.spins += 1;
        } else {
            yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(capacity: u64, rate: &str) -> Params {
        Params::new(capacity, rate.parse().unwrap())
    }

    /// Runs the same requests through a cell and through the pure step.
    #[track_caller]
    fn same_as_pure<C: Cell>(params: Params, steps: &[(u64, u64)]) {
        let cell = C::new(params.fresh(steps[0].0));
        let mut state = params.fresh(steps[0].0);
        for &(now, cost) in steps {
            let expected = params.decide(&mut state, now, cost);
            assert_eq!(cell.decide(&params, now, cost, false), expected, "cost {cost} at {now}");
            assert_eq!(cell.load(), state, "cost {cost} at {now}");
        }
    }

    #[test]
    fn cells_follow_the_pure_step() {
        let steps = [(5, 2), (5, 1), (4, 1), (1_000_000_005, 1), (1_000_000_005, 9), (7, 0)];
        let narrow = params(3, "1");
        assert!(narrow.is_narrow());
        same_as_pure::<Narrow>(narrow, &steps);
        same_as_pure::<Wide>(narrow, &steps);
        let wide = params(1_000_000_000, "0.000000001");
        assert!(!wide.is_narrow());
        same_as_pure::<Wide>(wide, &[(0, 1_000_000_000), (MAX_TIME, 9), (MAX_TIME, 1)]);
    }

    #[test]
    fn live_denials_write_nothing() {
        let p = params(1, "1");
        let cell = Narrow::new(p.fresh(0));
        assert!(cell.decide(&p, 0, 1, true).is_allowed());
        let before = cell.load();
        assert!(!cell.decide(&p, 500_000_000, 1, true).is_allowed());
        assert_eq!(cell.load(), before);
        // The same denial at an explicit time records it, as SPEC says.
        assert!(!cell.decide(&p, 500_000_000, 1, false).is_allowed());
        assert_eq!(cell.load().last(), 500_000_000);
        let wide = Wide::new(p.fresh(0));
        assert!(wide.decide(&p, 0, 1, true).is_allowed());
        assert!(!wide.decide(&p, 500_000_000, 1, true).is_allowed());
        assert_eq!(wide.load().last(), 0);
    }

    #[test]
    fn narrow_cells_are_16_bytes_and_wide_24() {
        assert_eq!(size_of::<Narrow>(), 16);
        assert_eq!(size_of::<Wide>(), 24);
    }
}
