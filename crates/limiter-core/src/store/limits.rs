//! The key cap, and the one path by which every store takes in a new key.
//!
//! A store that misses a key calls [`insert_new`] with its shard held by
//! the writer: it sweeps a few idle buckets out, asks the cap whether the
//! key may come in ([`Limits::admit`]), evicts the fullest of a sample of
//! buckets if the cap's policy says so, and only then lets the store put the
//! bucket in. The stores differ only in how they walk and empty their
//! positions, which they tell through [`Occupants`].
//!
//! A bucket evicted before it is idle leaves its state in the shard's
//! [`Traces`], and its key is decided from it until it is idle: eviction
//! makes no key's limit looser (see `traces`).

use crate::bucket::{Decision, Params, State};
use crate::policy::{Eviction, WhenFull};
use crate::store::Ctx;
use crate::store::traces::Traces;
use crate::sync::{AtomicUsize, Ordering};

/// Positions an insertion examines for idle buckets, besides its own.
const SWEEP_PER_INSERT: usize = 8;

/// Positions an insertion examines for idle buckets when the key cap is
/// reached.
const SWEEP_AT_CAP: usize = 64;

/// Buckets [`WhenFull::EvictFullest`] compares to choose one to evict.
const EVICTION_SAMPLE: usize = 16;

/// What bounds the keys of one limiter, across all of its stores: the
/// settings, and under a key cap the count of keys tracked (read and changed
/// only through `at_cap`, `admit` and `untrack`).
#[derive(Debug)]
pub(crate) struct Limits {
    max_keys: usize,
    when_full: WhenFull,
    pub(crate) eviction: Eviction,
    tracked: AtomicUsize,
    /// The trace sets each shard keeps once it evicts a bucket that is not
    /// idle (see `traces`).
    trace_sets: usize,
}

/// What the key cap makes of a key's first request.
#[derive(Debug)]
enum Admission {
    /// The key is counted in: make its bucket.
    Track,
    /// Evict one bucket to make room, then make the key's.
    EvictOne,
    /// Make no bucket, and answer this.
    Refuse(Decision),
}

impl Limits {
    /// Limits of at most `max_keys` keys (`usize::MAX`: no cap), for stores
    /// of `shards` shards.
    pub(crate) fn new(
        max_keys: usize,
        when_full: WhenFull,
        eviction: Eviction,
        shards: usize,
    ) -> Limits {
        let trace_sets = Traces::sets_for(max_keys, shards);
        Limits { max_keys, when_full, eviction, tracked: AtomicUsize::new(0), trace_sets }
    }

    /// Limits with no key cap, for tests of one store.
    #[cfg(test)]
    pub(crate) fn uncapped(eviction: Eviction) -> Limits {
        Limits::new(usize::MAX, WhenFull::default(), eviction, 1)
    }

    /// Whether the keys are capped at all. Without a cap nothing counts
    /// them here: each store counts its own, and a count shared by every
    /// thread creating keys would be a cache line they all write.
    fn capped(&self) -> bool {
        self.max_keys != usize::MAX
    }

    /// Whether the cap is reached.
    fn at_cap(&self) -> bool {
        self.capped() && self.tracked.load(Ordering::Relaxed) >= self.max_keys
    }

    /// Counts `evicted` keys out.
    fn untrack(&self, evicted: usize) {
        if self.capped() && evicted > 0 {
            self.tracked.fetch_sub(evicted, Ordering::Relaxed);
        }
    }

    /// Counts a new key in, or says what the policy for a full cap makes of
    /// a request of `cost` at `now` from it.
    fn admit(&self, params: &Params, now: u64, cost: u64) -> Admission {
        if !self.capped() || self.tracked.fetch_add(1, Ordering::Relaxed) < self.max_keys {
            return Admission::Track;
        }
        self.tracked.fetch_sub(1, Ordering::Relaxed);
        match self.when_full {
            WhenFull::DenyNewKeys => Admission::Refuse(deny_new_key(params)),
            WhenFull::AdmitUntracked => {
                let mut state = params.fresh(now);
                Admission::Refuse(params.decide(&mut state, now, cost))
            }
            WhenFull::EvictFullest => Admission::EvictOne,
        }
    }
}

/// The denial of a new key the store has no room for.
fn deny_new_key(params: &Params) -> Decision {
    Decision::Denied { remaining: 0, retry_after: params.token_interval() }
}

/// A shard held by its writer, as eviction sees it: positions (slots, or
/// the map's buckets) that a cursor walks round, each holding a live bucket
/// or not, and the traces of the buckets it evicted.
pub(crate) trait Occupants {
    /// The positions the cursor walks.
    fn positions(&self) -> usize;

    /// The next position the cursor examines; sweeps and eviction samples
    /// go on from where the last one stopped.
    fn cursor(&mut self) -> &mut usize;

    /// Whether one more key would make the shard grow.
    fn is_full(&self) -> bool;

    /// The state of the live bucket at `index` and its key's hash, if one
    /// is there.
    fn live(&self, index: usize) -> Option<(State, u64)>;

    /// Evicts the live bucket at `index` if it is idle at `horizon` (see
    /// [`Params::is_idle`]), counting it; whether it did.
    fn evict_if_idle(&mut self, index: usize, params: &Params, horizon: u64) -> bool;

    /// Evicts the live bucket at `index`, counting it; returns its last
    /// state and its key's hash.
    fn evict(&mut self, index: usize) -> Option<(State, u64)>;

    /// The traces of the buckets the shard evicted.
    fn traces(&mut self) -> &mut Traces;
}

/// Takes the position under the cursor and moves the cursor on.
fn step(shard: &mut impl Occupants, positions: usize) -> usize {
    let cursor = shard.cursor();
    let index = *cursor % positions;
    *cursor = index + 1;
    index
}

/// Examines up to `budget` positions from the cursor on, and evicts the
/// buckets idle at `horizon`; returns how many.
pub(crate) fn sweep(
    shard: &mut impl Occupants,
    ctx: Ctx<'_>,
    horizon: u64,
    budget: usize,
) -> usize {
    let positions = shard.positions();
    let mut evicted = 0;
    for _ in 0..budget.min(positions) {
        let index = step(shard, positions);
        if shard.evict_if_idle(index, ctx.params, horizon) {
            evicted += 1;
        }
    }
    ctx.limits.untrack(evicted);
    evicted
}

/// Evicts the fullest at `now` of the next [`EVICTION_SAMPLE`] buckets from
/// the cursor on that can go without a loss: those idle at the eviction
/// horizon, and those whose trace fits (see [`Traces::fits`]), which they
/// leave. False if the shard holds none of them.
fn evict_fullest(shard: &mut impl Occupants, ctx: Ctx<'_>, now: u64) -> bool {
    let (params, limits) = (ctx.params, ctx.limits);
    let horizon = limits.eviction.horizon(now);
    let positions = shard.positions();
    // The fullest that can go, and whether its trace fits.
    let mut fullest = None;
    let mut sampled = 0;
    for _ in 0..positions {
        let index = step(shard, positions);
        if let Some((state, hash)) = shard.live(index) {
            let fits = shard.traces().fits(params, hash, horizon);
            if fits || horizon.is_some_and(|h| params.is_idle(state, h)) {
                fullest = fullest.max(Some((params.units_at(state, now), fits, index)));
            }
            sampled += 1;
            if sampled == EVICTION_SAMPLE {
                break;
            }
        }
    }
    match fullest {
        None => false,
        Some((_, true, index)) => {
            if let Some((state, hash)) = shard.evict(index) {
                shard.traces().store(params, limits.trace_sets, hash, state, horizon);
            }
            true
        }
        // Idle, with no room for a trace: only if it still is.
        Some((_, false, index)) => {
            shard.evict_if_idle(index, params, horizon.expect("idle at a horizon"))
        }
    }
}

/// Decides the first request of `cost` at `now` for the key of `hash`,
/// which the held `shard` does not have, creating its bucket through
/// `insert` if the key cap lets it in. The bucket starts from the key's
/// trace if it has one (see `traces`), full otherwise. Cost 0 changes
/// nothing, so creates nothing.
///
/// Under [`WhenFull::EvictFullest`], when no sampled bucket can be evicted
/// without losing its trace, a key with a trace is decided on it, and one
/// without is decided on a full bucket kept as a trace if one fits, and
/// denied if none does.
///
/// First it sweeps: all positions if the shard is full (rather than let it
/// grow), more than usual under a full cap (to make room), and otherwise a
/// few. Calls at explicit times may replay traffic far out of order, so
/// they sweep only to stay under a cap the user asked for. `insert` returns
/// false if the shard can hold no more keys; the key is then denied.
pub(crate) fn insert_new<S: Occupants>(
    shard: &mut S,
    ctx: Ctx<'_>,
    hash: u64,
    now: u64,
    cost: u64,
    insert: impl FnOnce(&mut S, State) -> bool,
) -> Decision {
    let (params, limits) = (ctx.params, ctx.limits);
    if cost == 0 {
        return Decision::Allowed { remaining: params.capacity() };
    }
    let at_cap = limits.at_cap();
    if let Some(horizon) = limits.eviction.horizon(now).filter(|_| ctx.live || at_cap) {
        let budget = if shard.is_full() {
            shard.positions()
        } else if at_cap {
            SWEEP_AT_CAP
        } else {
            SWEEP_PER_INSERT
        };
        sweep(shard, ctx, horizon, budget);
    }
    match limits.admit(params, now, cost) {
        Admission::Track => {}
        Admission::Refuse(decision) => return decision,
        Admission::EvictOne => {
            if !evict_fullest(shard, ctx, now) {
                return decide_untracked(shard.traces(), ctx, hash, now, cost);
            }
        }
    }
    let mut state = shard.traces().find(hash).unwrap_or_else(|| params.fresh(now));
    let decision = params.decide(&mut state, now, cost);
    if !insert(shard, state) {
        // The shard is at its largest and full: undo the count.
        limits.untrack(1);
        return deny_new_key(params);
    }
    if let Some(seen) = ctx.seen {
        seen.set(Some(state));
    }
    decision
}

/// Decides a request for the key of `hash` that gets no bucket, on its trace
/// if it has one, else on a full bucket that becomes its trace if one fits;
/// denies it if none does.
fn decide_untracked(traces: &mut Traces, ctx: Ctx<'_>, hash: u64, now: u64, cost: u64) -> Decision {
    let (params, limits) = (ctx.params, ctx.limits);
    if let Some(decision) = traces.decide(params, hash, now, cost) {
        return decision;
    }
    let horizon = limits.eviction.horizon(now);
    if !traces.fits(params, hash, horizon) {
        return deny_new_key(params);
    }
    let mut state = params.fresh(now);
    let decision = params.decide(&mut state, now, cost);
    traces.store(params, limits.trace_sets, hash, state, horizon);
    decision
}
