//! A bucket's state in atomics, locked by a bit in its time word.
//!
//! Each bucket keeps its time (`last`) in one `AtomicU64` whose top bit is a
//! lock, and its tokens in one or two more. Writers lock by swapping the lock
//! bit in for the time (a locked word holds nothing else: the owner keeps the
//! time it swapped out), store the tokens, and release by storing the new
//! time. Because a bucket's time never decreases, a reader that sees the same
//! unlocked time before and after reading the tokens has read a state the
//! bucket really held: every write in between kept that time, and the tokens
//! it read are one of theirs. This is a sequence lock whose sequence number
//! is the time itself; readers write nothing. (A table slot that passes to
//! another key starts a new time line; the table makes readers that raced
//! with that check its own sequence, see `store::table`.)
//!
//! Two layouts share that protocol. [`Narrow`] (16 bytes) holds the tokens in
//! one word and lets readers decide without taking the lock; it serves every
//! limiter whose full bucket fits in 62 bits of units, which is all but the
//! most extreme capacity and rate pairs. [`Wide`] (24 bytes) holds 128-bit
//! tokens and always takes the lock. Both keep a [`Tag`] in the top bits of a
//! token word, for the tables whose slots they are.

use crate::bucket::{Decision, Params, State};
use crate::store::Seen;
use crate::sync::{AtomicU64, Ordering, fence, spin_loop, yield_now};

/// The lock bit in a bucket's time word.
const LOCKED: u64 = 1 << 63;

/// The latest time a bucket can hold; later times are taken as this one.
pub(crate) const MAX_TIME: u64 = LOCKED - 1;

/// The tag bits at the top of a narrow cell's token word (a wide cell's high
/// word): whether the cell is a live bucket, a never used slot, or the
/// tombstone of an evicted bucket. Tokens never reach them (narrow buckets
/// hold fewer than 2⁶² units), and they change only under the cell's lock.
const VACANT_BIT: u64 = 1 << 63;
const TOMB_BIT: u64 = 1 << 62;
const TAG_BITS: u64 = VACANT_BIT | TOMB_BIT;

/// What a cell holds, for the open-addressing tables (`store::table`); the
/// hash-map store only ever has live cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A bucket.
    Live,
    /// A slot no bucket has used since the table was last rebuilt: a probe
    /// ends here.
    Vacant,
    /// The slot of an evicted bucket: a probe goes on past it.
    Tomb,
}

impl Tag {
    #[inline]
    fn from_word(word: u64) -> Tag {
        match word & TAG_BITS {
            0 => Tag::Live,
            TOMB_BIT => Tag::Tomb,
            _ => Tag::Vacant,
        }
    }

    #[inline]
    fn bits(self) -> u64 {
        match self {
            Tag::Live => 0,
            Tag::Vacant => VACANT_BIT,
            Tag::Tomb => TOMB_BIT,
        }
    }
}

/// A bucket's synchronised storage.
///
/// Every change to a cell, its tag included, happens under its lock. Readers
/// of [`Narrow`] cells never take it.
pub(crate) trait Cell: Send + Sync + Sized {
    /// Whether [`Cell::snapshot`] reads without locking: only narrow cells,
    /// which hold only narrow limiters' buckets (see [`Params::is_narrow`]).
    const LOCK_FREE_READS: bool;

    /// A live cell holding `state`, whose time is at most [`MAX_TIME`].
    fn new(state: State) -> Self;

    /// An unlocked vacant cell.
    fn vacant() -> Self;

    /// A state and tag the cell held during the call; waits out writers.
    fn snapshot(&self) -> (State, Tag);

    /// A state and tag the cell held during the call, without waiting:
    /// `None` if a writer held it or wrote it meanwhile, or as soon as the
    /// bucket's units at its own time fail `wanted`. Cells without lock-free
    /// reads always give `None`.
    fn try_snapshot_if(&self, wanted: impl FnOnce(u128) -> bool) -> Option<(State, Tag)>;

    /// The tag, read without waiting and without a consistent state: enough
    /// to tell whether a probe may stop here.
    fn tag_hint(&self) -> Tag;

    /// Locks the cell if its time is still `last` and unlocked.
    fn try_lock(&self, last: u64) -> bool;

    /// Locks the cell, waiting for it, and returns what it holds.
    fn lock(&self) -> (State, Tag);

    /// What a cell locked by the caller at time `last` holds.
    fn locked(&self, last: u64) -> (State, Tag);

    /// Stores `state` and `tag` into a cell the caller locked, and unlocks it.
    fn unlock(&self, state: State, tag: Tag);
}

/// How [`decide`] settled a request: its decision, or what the caller's
/// projection of it kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict<R = Decision> {
    /// Decided under the cell's lock, after the caller's ownership check.
    Locked(R),
    /// Decided from a snapshot without writing: the caller must still make
    /// sure the snapshot was of its own bucket.
    Read(R),
    /// The cell is no live bucket of the caller's any more.
    Gone,
}

/// The projection that keeps the whole decision.
#[inline(always)]
pub(crate) fn same(decision: Decision) -> Decision {
    decision
}

/// Decides a request of `cost` at `now` (at most [`MAX_TIME`]) on `cell`, and
/// stores the bucket's new state.
///
/// `owned` is asked, with the cell locked, whether the cell still holds the
/// caller's key. With `live`, `now` came from the limiter's monotonic clock,
/// so every later call will bring a time at least as late: a denial then
/// need not record its time (any later time implies its refill), and is
/// decided without writing anything shared. At an explicit time, so is a
/// denial that leaves the bucket short of a whole token (which
/// [`Params::decide`] does not record): the usual denial of a busy key.
///
/// `kept`, if given, gets the state the decision left the bucket in (or one
/// equal to it from `now` on) whenever it returns a decision.
///
/// The verdict holds `project` of the decision, taken where the decision
/// is made, so that an inlined caller that keeps less of it (whether it
/// was allowed) has the rest left out.
#[inline(always)]
#[expect(
    clippy::too_many_arguments,
    reason = "each caller passes its context apart, so the inlined fast path keeps them in registers"
)]
pub(crate) fn decide<B: Cell, R>(
    cell: &B,
    params: &Params,
    now: u64,
    cost: u64,
    live: bool,
    owned: impl Fn() -> bool,
    kept: Option<&Seen>,
    project: impl Fn(Decision) -> R,
) -> Verdict<R> {
    let keep = |state: State| {
        if let Some(kept) = kept {
            kept.set(Some(state));
        }
    };
    if !B::LOCK_FREE_READS || (!live && cost > 0) {
        // At an explicit time a request writes unless it is denied with less
        // than a token in the bucket (see [`Params::decide`]), so lock at
        // once rather than read, decide, and read again; but first, if the
        // bucket held less than a token at its own time, as a drained one
        // does, try to settle the request from a snapshot.
        if B::LOCK_FREE_READS
            && let Some((seen, Tag::Live)) = cell.try_snapshot_if(|units| params.is_short(units))
            && let Some(decision) = params.decide_short(seen, now, cost)
        {
            keep(seen);
            return Verdict::Read(project(decision));
        }
        let (seen, tag) = cell.lock();
        if tag != Tag::Live || !owned() {
            cell.unlock(seen, tag);
            return Verdict::Gone;
        }
        let mut state = seen;
        let decision = step::<B>(params, &mut state, now, cost);
        cell.unlock(if live && !decision.is_allowed() { seen } else { state }, Tag::Live);
        keep(state);
        return Verdict::Locked(project(decision));
    }
    let mut backoff = Backoff::default();
    loop {
        let (seen, tag) = cell.snapshot();
        if tag != Tag::Live {
            return Verdict::Gone;
        }
        let mut next = seen;
        let decision = step::<B>(params, &mut next, now, cost);
        if (live && !decision.is_allowed()) || next == seen {
            keep(next);
            return Verdict::Read(project(decision));
        }
        // Lock only if the time is still the one read; the tokens may have
        // changed under the same time, so decide again under the lock.
        if cell.try_lock(seen.last()) {
            let (mut state, tag) = cell.locked(seen.last());
            if tag != Tag::Live || !owned() {
                cell.unlock(state, tag);
                return Verdict::Gone;
            }
            let decision = if state == seen {
                state = next;
                decision
            } else {
                step::<B>(params, &mut state, now, cost)
            };
            cell.unlock(state, Tag::Live);
            keep(state);
            return Verdict::Locked(project(decision));
        }
        backoff.snooze();
    }
}

/// [`Params::decide`] on a bucket of cells `B`: in 64 bits for narrow cells,
/// which only narrow limiters use.
#[inline(always)]
fn step<B: Cell>(params: &Params, state: &mut State, now: u64, cost: u64) -> Decision {
    if B::LOCK_FREE_READS {
        params.decide_narrow(state, now, cost)
    } else {
        params.decide(state, now, cost)
    }
}

/// A bucket whose units fit in 62 bits; readers never lock.
#[derive(Debug)]
pub(crate) struct Narrow {
    last: AtomicU64,
    /// The tokens, with the tag in the top two bits.
    tokens: AtomicU64,
}

/// A bucket with 128-bit units; every access locks.
#[derive(Debug)]
pub(crate) struct Wide {
    last: AtomicU64,
    low: AtomicU64,
    /// The tokens' high half, with the tag in the top two bits.
    high: AtomicU64,
}

impl Cell for Narrow {
    const LOCK_FREE_READS: bool = true;

    fn new(state: State) -> Narrow {
        debug_assert!(state.last() <= MAX_TIME);
        let tokens = u64::try_from(state.tokens()).expect("narrow cells hold 62-bit units");
        debug_assert_eq!(tokens & TAG_BITS, 0);
        Narrow { last: AtomicU64::new(state.last()), tokens: AtomicU64::new(tokens) }
    }

    fn vacant() -> Narrow {
        Narrow { last: AtomicU64::new(0), tokens: AtomicU64::new(VACANT_BIT) }
    }

    #[inline]
    fn snapshot(&self) -> (State, Tag) {
        let mut backoff = Backoff::default();
        loop {
            if let Some(seen) = self.try_snapshot_if(|_| true) {
                return seen;
            }
            backoff.snooze();
        }
    }

    #[inline]
    fn try_snapshot_if(&self, wanted: impl FnOnce(u128) -> bool) -> Option<(State, Tag)> {
        let before = self.last.load(Ordering::Acquire);
        if before & LOCKED != 0 {
            return None;
        }
        let word = self.tokens.load(Ordering::Relaxed);
        if !wanted(u128::from(word & !TAG_BITS)) {
            return None;
        }
        fence(Ordering::Acquire);
        (self.last.load(Ordering::Relaxed) == before)
            .then(|| (State::new(before, u128::from(word & !TAG_BITS)), Tag::from_word(word)))
    }

    #[inline]
    fn tag_hint(&self) -> Tag {
        Tag::from_word(self.tokens.load(Ordering::Relaxed))
    }

    #[inline]
    fn try_lock(&self, last: u64) -> bool {
        self.last.compare_exchange(last, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[inline]
    fn lock(&self) -> (State, Tag) {
        let last = lock_time(&self.last);
        self.locked(last)
    }

    #[inline]
    fn locked(&self, last: u64) -> (State, Tag) {
        let word = self.tokens.load(Ordering::Relaxed);
        (State::new(last, u128::from(word & !TAG_BITS)), Tag::from_word(word))
    }

    #[inline]
    fn unlock(&self, state: State, tag: Tag) {
        debug_assert!(state.last() <= MAX_TIME && state.tokens() < 1 << 62);
        // Orders the lock before the tokens for readers (see `snapshot`).
        fence(Ordering::Release);
        // Narrow params keep units below 2⁶².
        self.tokens.store(state.tokens() as u64 | tag.bits(), Ordering::Relaxed);
        self.last.store(state.last(), Ordering::Release);
    }
}

impl Cell for Wide {
    const LOCK_FREE_READS: bool = false;

    fn new(state: State) -> Wide {
        debug_assert!(state.last() <= MAX_TIME);
        Wide {
            last: AtomicU64::new(state.last()),
            low: AtomicU64::new(state.tokens() as u64),
            high: AtomicU64::new((state.tokens() >> 64) as u64),
        }
    }

    fn vacant() -> Wide {
        Wide { last: AtomicU64::new(0), low: AtomicU64::new(0), high: AtomicU64::new(VACANT_BIT) }
    }

    fn snapshot(&self) -> (State, Tag) {
        let held = self.lock();
        self.unlock(held.0, held.1);
        held
    }

    fn try_snapshot_if(&self, _: impl FnOnce(u128) -> bool) -> Option<(State, Tag)> {
        None
    }

    fn tag_hint(&self) -> Tag {
        Tag::from_word(self.high.load(Ordering::Relaxed))
    }

    fn try_lock(&self, last: u64) -> bool {
        self.last.compare_exchange(last, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    fn lock(&self) -> (State, Tag) {
        let last = lock_time(&self.last);
        self.locked(last)
    }

    fn locked(&self, last: u64) -> (State, Tag) {
        let high = self.high.load(Ordering::Relaxed);
        let tokens =
            u128::from(high & !TAG_BITS) << 64 | u128::from(self.low.load(Ordering::Relaxed));
        (State::new(last, tokens), Tag::from_word(high))
    }

    fn unlock(&self, state: State, tag: Tag) {
        debug_assert!(state.last() <= MAX_TIME && state.tokens() < 1 << 126);
        self.low.store(state.tokens() as u64, Ordering::Relaxed);
        self.high.store((state.tokens() >> 64) as u64 | tag.bits(), Ordering::Relaxed);
        self.last.store(state.last(), Ordering::Release);
    }
}

/// Locks the time word `last`, waiting for its owner if it is locked, and
/// returns the time it held.
#[inline]
fn lock_time(last: &AtomicU64) -> u64 {
    // A swap needs no read of the word first, which takes a round trip to
    // the cache line off an uncontended lock, on the path of every request
    // that writes. One that finds the cell locked writes the lock bit over its
    // owner's, which holds nothing else. Loom cannot model a thread spinning
    // after a blind write (its models exceed their branch limit), so under
    // loom the first attempt is a compare-exchange like the later ones: the
    // lock is taken in the same cases either way.
    if cfg!(not(loom)) {
        let time = last.swap(LOCKED, Ordering::Acquire);
        if time & LOCKED == 0 {
            return time;
        }
    }
    lock_contended(last)
}

/// Waits for the owner of the time word `last`, then locks it with a
/// compare-exchange, which writes nothing when it fails.
#[cold]
fn lock_contended(last: &AtomicU64) -> u64 {
    let mut backoff = Backoff::default();
    loop {
        let time = last.load(Ordering::Relaxed);
        if time & LOCKED == 0
            && last
                .compare_exchange_weak(time, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return time;
        }
        backoff.snooze();
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
mod tests;
