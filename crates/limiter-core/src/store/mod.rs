//! Where buckets live: stores that find a key's bucket, create it on the
//! key's first request, and forget it when it is idle.
//!
//! - [`Store`] is what a limiter asks of a store, and [`Ctx`] what it hands
//!   one for a call.
//! - `limits`: the key cap, and the one path by which every store takes in a
//!   new key (sweep, admit, evict, create).
//! - `tally`: the requests allowed and denied, on per-thread stripes.
//! - `map`: [`Map`], the store for keys of any type.
//! - `table`: [`Table`], the lock-free store for address keys.
//! - `traces`: what a bucket evicted before it was idle leaves behind, so
//!   that its key does not come back to a full one.
//!
//! A store is built for one cell layout, narrow or wide (see `cell`);
//! [`Layout`] holds the one a limiter's parameters need.

mod limits;
mod map;
mod table;
mod tally;
mod traces;

pub(crate) use limits::Limits;
pub(crate) use map::Map;
pub(crate) use table::Table;
pub use tally::Counters;
pub(crate) use tally::Tally;

use crate::bucket::{Decision, Params, State};
use crate::sync::{AtomicU64, Ordering};

/// The hash bits below the shard index. A table places a key by the low 32
/// bits of its hash and the map by its low bits and top 7 (hashbrown's
/// tag), so the shard comes from bits none of them use.
const SHARD_SHIFT: u32 = 40;

/// The shard of `hash` among `shards`, a power of two.
#[inline]
fn shard_index(hash: u64, shards: usize) -> usize {
    (hash >> SHARD_SHIFT) as usize & (shards - 1)
}

/// A store of buckets for keys of type [`Store::Key`], in one cell layout.
pub(crate) trait Store {
    type Key;

    /// A store with `shards` shards, a power of two.
    fn new(shards: usize) -> Self;

    /// Decides a request of `cost` for `key` at `now`, creating a full bucket
    /// for a key never seen before. Cost 0 creates nothing.
    fn decide(&self, ctx: Ctx<'_>, key: &Self::Key, now: u64, cost: u64) -> Decision;

    /// [`Store::decide`], projected through `project` (which must be pure:
    /// it may run more than once): a store whose fast path inlines into its
    /// caller can then leave out whatever the projection drops (a check
    /// that only asks whether it was allowed needs no wait worked out).
    #[inline(always)]
    fn decide_with<R>(
        &self,
        ctx: Ctx<'_>,
        key: &Self::Key,
        now: u64,
        cost: u64,
        project: impl Fn(Decision) -> R + Copy,
    ) -> R {
        project(self.decide(ctx, key, now, cost))
    }

    /// `key`'s bucket as it is, without changing or creating it: its trace
    /// if it was evicted and left one (see `traces`); `None` for a key
    /// without either (whose bucket would be full).
    fn bucket(&self, key: &Self::Key) -> Option<State>;

    /// Evicts every idle bucket; returns how many.
    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize;

    /// The number of keys with a bucket.
    fn len(&self) -> usize;

    /// The buckets created and evicted (requests are counted in [`Tally`]).
    fn counters(&self) -> Counters;
}

/// A store in the cell layout a limiter's parameters need: narrow cells
/// when every bucket's units fit in 62 bits, wide ones otherwise.
#[derive(Debug)]
pub(crate) enum Layout<N, W> {
    Narrow(N),
    Wide(W),
}

/// What a store needs from its limiter for one call.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub(crate) params: &'a Params,
    pub(crate) limits: &'a Limits,
    /// The time came from the limiter's own monotonic clock.
    pub(crate) live: bool,
    /// Where to keep the state a decision leaves its bucket in, for a call
    /// that reports it (`Limiter::check_n_with_next_token`); `None` for others.
    pub(crate) seen: Option<&'a Seen>,
}

/// The state a decision left its bucket in, if the store kept it: only the
/// decisions made on a bucket that stays (not those of a key turned away or
/// decided on an evicted key's trace) keep it.
///
/// One call owns it; it is in (relaxed) atomics only so that a [`Ctx`]
/// stays `Sync`. No bucket's time reaches `u64::MAX`, which means none.
#[derive(Debug)]
pub(crate) struct Seen {
    last: AtomicU64,
    low: AtomicU64,
    high: AtomicU64,
}

impl Seen {
    pub(crate) fn new() -> Seen {
        Seen { last: AtomicU64::new(u64::MAX), low: AtomicU64::new(0), high: AtomicU64::new(0) }
    }

    #[inline]
    pub(crate) fn set(&self, state: Option<State>) {
        let Some(state) = state else {
            self.last.store(u64::MAX, Ordering::Relaxed);
            return;
        };
        let tokens = state.tokens();
        self.last.store(state.last(), Ordering::Relaxed);
        self.low.store(tokens as u64, Ordering::Relaxed);
        self.high.store((tokens >> 64) as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<State> {
        let last = self.last.load(Ordering::Relaxed);
        let low = u128::from(self.low.load(Ordering::Relaxed));
        let high = u128::from(self.high.load(Ordering::Relaxed));
        (last != u64::MAX).then(|| State::new(last, high << 64 | low))
    }
}

impl<N: Store, W: Store<Key = N::Key>> Layout<N, W> {
    pub(crate) fn new(params: &Params, shards: usize) -> Layout<N, W> {
        if params.is_narrow() {
            Layout::Narrow(N::new(shards))
        } else {
            Layout::Wide(W::new(shards))
        }
    }

    /// [`Store::decide_with`]: on the narrow store inline, the usual layout,
    /// and on the wide one out of line.
    #[inline(always)]
    pub(crate) fn decide_with<R>(
        &self,
        ctx: Ctx<'_>,
        key: &N::Key,
        now: u64,
        cost: u64,
        project: impl Fn(Decision) -> R + Copy,
    ) -> R {
        match self {
            Layout::Narrow(store) => store.decide_with(ctx, key, now, cost, project),
            Layout::Wide(store) => project(decide_out_of_line(store, ctx, key, now, cost)),
        }
    }

    pub(crate) fn bucket(&self, key: &N::Key) -> Option<State> {
        match self {
            Layout::Narrow(store) => store.bucket(key),
            Layout::Wide(store) => store.bucket(key),
        }
    }

    pub(crate) fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        match self {
            Layout::Narrow(store) => store.prune(ctx, now),
            Layout::Wide(store) => store.prune(ctx, now),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Layout::Narrow(store) => store.len(),
            Layout::Wide(store) => store.len(),
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        match self {
            Layout::Narrow(store) => store.counters(),
            Layout::Wide(store) => store.counters(),
        }
    }
}

/// [`Store::decide`], kept out of its caller.
#[inline(never)]
fn decide_out_of_line<S: Store>(
    store: &S,
    ctx: Ctx<'_>,
    key: &S::Key,
    now: u64,
    cost: u64,
) -> Decision {
    store.decide(ctx, key, now, cost)
}
