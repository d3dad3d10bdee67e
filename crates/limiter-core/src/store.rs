//! What every store of buckets shares (the limits, the counters, the layout
//! choice), and the sharded hash map that stores buckets for keys of any
//! type. Address keys have their own lock-free tables (`table`).

use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::HashTable;

use crate::bucket::{Decision, Params, State};
use crate::cell::{self, Cell, Narrow, Verdict, Wide};
use crate::policy::{Eviction, WhenFull};
use crate::sync::{AtomicU64, AtomicUsize, Ordering, RwLock, thread_index, thread_index_if_set};

/// Entries an insertion examines for idle buckets, besides its own.
const SWEEP_PER_INSERT: usize = 8;

/// Entries an insertion examines for idle buckets when the key cap is reached.
const SWEEP_AT_CAP: usize = 64;

/// Buckets [`WhenFull::EvictFullest`] compares to choose one to evict.
pub(crate) const EVICTION_SAMPLE: usize = 16;

/// The hash bits that pick a shard: above those that place an entry in its
/// table (the low bits) and below those of its tag (the top 7 bits).
const SHARD_SHIFT: u32 = 40;

/// What every store of one limiter shares: the settings that bound its keys,
/// and, under a key cap, the count of keys tracked across all of its stores
/// (read and changed only through `at_cap`, `admit` and `untrack`).
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) max_keys: usize,
    pub(crate) when_full: WhenFull,
    pub(crate) eviction: Eviction,
    pub(crate) tracked: AtomicUsize,
    pub(crate) tally: Tally,
}

#[cfg(test)]
impl Limits {
    /// Limits with no key cap, for tests of one store.
    pub(crate) fn uncapped(eviction: Eviction) -> Limits {
        Limits {
            max_keys: usize::MAX,
            when_full: WhenFull::default(),
            eviction,
            tracked: AtomicUsize::new(0),
            tally: Tally::new(),
        }
    }
}

/// What the key cap makes of a key's first request.
#[derive(Debug)]
pub(crate) enum Admission {
    /// The key is counted in: make its bucket.
    Track,
    /// Evict one bucket to make room, then make the key's.
    EvictOne,
    /// Make no bucket, and answer this.
    Refuse(Decision),
}

impl Limits {
    /// Whether the keys are capped at all. Without a cap nothing counts
    /// them here: each store counts its own, and a count shared by every
    /// thread creating keys would be a cache line they all write.
    fn capped(&self) -> bool {
        self.max_keys != usize::MAX
    }

    /// Whether the cap is reached.
    pub(crate) fn at_cap(&self) -> bool {
        self.capped() && self.tracked.load(Ordering::Relaxed) >= self.max_keys
    }

    /// Counts `evicted` keys out.
    pub(crate) fn untrack(&self, evicted: usize) {
        if self.capped() && evicted > 0 {
            self.tracked.fetch_sub(evicted, Ordering::Relaxed);
        }
    }

    /// Counts a new key in, or says what the policy for a full cap makes of
    /// a request of `cost` at `now` from it.
    pub(crate) fn admit(&self, params: &Params, now: u64, cost: u64) -> Admission {
        if !self.capped() || self.tracked.fetch_add(1, Ordering::Relaxed) < self.max_keys {
            return Admission::Track;
        }
        self.tracked.fetch_sub(1, Ordering::Relaxed);
        match self.when_full {
            WhenFull::DenyNewKeys => Admission::Refuse(self.deny_new_key(params)),
            WhenFull::AdmitUntracked => {
                let mut state = params.fresh(now);
                Admission::Refuse(params.decide(&mut state, now, cost))
            }
            WhenFull::EvictFullest => Admission::EvictOne,
        }
    }

    /// The denial of a new key the store has no room for.
    pub(crate) fn deny_new_key(&self, params: &Params) -> Decision {
        Decision::Denied { remaining: 0, retry_after: params.token_interval() }
    }
}

/// Requests allowed and denied, counted on stripes of their own cache line
/// each, so that counting never makes threads contend, even when they all
/// ask about one key.
///
/// Threads with an index ([`thread_index`]) below [`OWNED`] each own a
/// stripe and count on it with a plain load and store, which costs far less
/// than an atomic add; the rest share the other stripes, with atomic adds.
#[derive(Debug)]
pub(crate) struct Tally {
    /// `OWNED` owned stripes, then `SHARED` shared ones. (An array, so
    /// that an index below `OWNED` needs no bounds check.)
    stripes: Box<[Stripe; OWNED + SHARED]>,
}

#[derive(Debug)]
#[repr(align(128))]
struct Stripe {
    allowed: AtomicU64,
    denied: AtomicU64,
}

impl Stripe {
    /// The counter of requests `allowed`, or of those denied.
    #[inline]
    fn counter(&self, allowed: bool) -> &AtomicU64 {
        if allowed { &self.allowed } else { &self.denied }
    }
}

/// Stripes owned by one thread each.
const OWNED: usize = 16;

/// Stripes shared by the threads after the first [`OWNED`], a power of two.
const SHARED: usize = 16;

impl Tally {
    pub(crate) fn new() -> Tally {
        let stripe = |_| Stripe { allowed: AtomicU64::new(0), denied: AtomicU64::new(0) };
        Tally { stripes: Box::new(std::array::from_fn(stripe)) }
    }

    #[inline]
    pub(crate) fn count(&self, allowed: bool) {
        // One comparison for the common case: a thread whose index is set
        // and owns a stripe. loom runs its threads on one OS thread, so they
        // share an index there: every count is an atomic add.
        match thread_index_if_set() {
            Some(thread) if thread < OWNED && cfg!(not(loom)) => self.count_owned(thread, allowed),
            _ => self.count_other(allowed),
        }
    }

    /// Counts on the stripe of `thread`, which owns it.
    #[inline]
    fn count_owned(&self, thread: usize, allowed: bool) {
        let counter = self.stripes[thread].counter(allowed);
        // Only this thread ever writes this counter.
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Counts for a thread that owns no stripe, or has no index yet (and
    /// gets one).
    #[cold]
    fn count_other(&self, allowed: bool) {
        let thread = thread_index();
        if thread < OWNED && cfg!(not(loom)) {
            self.count_owned(thread, allowed);
        } else {
            self.stripes[OWNED + (thread & (SHARED - 1))]
                .counter(allowed)
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far, as [`Counters`] with nothing created or evicted.
    pub(crate) fn counters(&self) -> Counters {
        self.stripes.iter().fold(Counters::default(), |sum, stripe| {
            sum + Counters {
                allowed: stripe.allowed.load(Ordering::Relaxed),
                denied: stripe.denied.load(Ordering::Relaxed),
                created: 0,
                evicted: 0,
            }
        })
    }
}

/// A store of buckets for keys of type [`KeyStore::Key`].
pub(crate) trait KeyStore {
    type Key;

    /// A store with `shards` shards, a power of two.
    fn new(shards: usize) -> Self;

    /// Decides a request of `cost` for `key` at `now`, creating a full bucket
    /// for a key never seen before. Cost 0 creates nothing.
    fn decide(&self, ctx: Ctx<'_>, key: &Self::Key, now: u64, cost: u64) -> Decision;

    /// Whole tokens `key`'s bucket holds at `now`, without changing or
    /// creating it: a key never seen has a full bucket.
    fn peek(&self, params: &Params, key: &Self::Key, now: u64) -> u64;

    // limiter-tower (#20).
    /// `key`'s bucket as it is, without changing it; `None` if it has none.
    fn state(&self, key: &Self::Key) -> Option<State>;

    /// Evicts every idle bucket; returns how many.
    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize;

    /// The number of keys with a bucket.
    fn len(&self) -> usize;

    /// The buckets created and evicted (requests are counted in [`Tally`]).
    fn counters(&self) -> Counters;
}

/// Buckets in the cell layout the limiter's parameters need: a store of
/// narrow cells or one of wide cells.
#[derive(Debug)]
pub(crate) enum Buckets<N, W> {
    Narrow(N),
    Wide(W),
}

/// Buckets for keys of any type: the sharded hash map.
pub(crate) type MapBuckets<K> = Buckets<Store<K, Narrow>, Store<K, Wide>>;

/// What a limiter has done since it was built.
///
/// Requests are counted with relaxed atomics on per-thread stripes, so
/// counting costs the hot path one uncontended add; read while calls are
/// running, the counts are each exact but not a snapshot of one instant.
///
/// # Example
///
/// ```
/// use limiter_core::{Counters, Rate, RateLimiter};
///
/// let limiter = RateLimiter::with_rate(1, Rate::per_second(1)?)?;
/// let _ = limiter.allow("10.0.0.1")?;
/// let _ = limiter.allow("10.0.0.1")?;
/// let counters = limiter.counters();
/// assert_eq!((counters.allowed, counters.denied, counters.created), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Requests allowed.
    pub allowed: u64,
    /// Requests denied, those costing more than the capacity included.
    pub denied: u64,
    /// Buckets created.
    pub created: u64,
    /// Buckets evicted, idle or to make room under the key cap.
    pub evicted: u64,
}

impl std::ops::Add for Counters {
    type Output = Counters;

    fn add(self, other: Counters) -> Counters {
        Counters {
            allowed: self.allowed + other.allowed,
            denied: self.denied + other.denied,
            created: self.created + other.created,
            evicted: self.evicted + other.evicted,
        }
    }
}

/// Buckets for keys of type `K`, spread over independently locked shards.
///
/// A request for a known key takes its shard's lock shared and then works on
/// the bucket's atomics, so requests for different keys, even in one shard,
/// run in parallel. Only a key's first request takes its shard exclusively, to
/// insert the bucket, and it then also evicts a few idle buckets.
#[derive(Debug)]
pub(crate) struct Store<K, B> {
    shards: Box<[Shard<K, B>]>,
    /// SipHash-1-3 with random keys per store: keys come from the network, so
    /// an attacker must not be able to choose colliding ones.
    hasher: RandomState,
}

/// One shard, on its own cache lines so that shards never share one.
#[derive(Debug)]
#[repr(align(128))]
struct Shard<K, B> {
    table: RwLock<Table<K, B>>,
}

#[derive(Debug)]
struct Table<K, B> {
    entries: HashTable<Entry<K, B>>,
    /// The next bucket index the amortised sweep examines.
    cursor: usize,
    created: u64,
    evicted: u64,
}

#[derive(Debug)]
struct Entry<K, B> {
    key: K,
    cell: B,
}

impl<N: KeyStore, W: KeyStore<Key = N::Key>> Buckets<N, W> {
    pub(crate) fn new(params: &Params, shards: usize) -> Buckets<N, W> {
        if params.is_narrow() {
            Buckets::Narrow(N::new(shards))
        } else {
            Buckets::Wide(W::new(shards))
        }
    }

    #[inline]
    pub(crate) fn decide(&self, ctx: Ctx<'_>, key: &N::Key, now: u64, cost: u64) -> Decision {
        match self {
            Buckets::Narrow(store) => store.decide(ctx, key, now, cost),
            Buckets::Wide(store) => store.decide(ctx, key, now, cost),
        }
    }

    pub(crate) fn peek(&self, params: &Params, key: &N::Key, now: u64) -> u64 {
        match self {
            Buckets::Narrow(store) => store.peek(params, key, now),
            Buckets::Wide(store) => store.peek(params, key, now),
        }
    }

    // limiter-tower (#20).
    pub(crate) fn state(&self, key: &N::Key) -> Option<State> {
        match self {
            Buckets::Narrow(store) => store.state(key),
            Buckets::Wide(store) => store.state(key),
        }
    }

    pub(crate) fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        match self {
            Buckets::Narrow(store) => store.prune(ctx, now),
            Buckets::Wide(store) => store.prune(ctx, now),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Buckets::Narrow(store) => store.len(),
            Buckets::Wide(store) => store.len(),
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        match self {
            Buckets::Narrow(store) => store.counters(),
            Buckets::Wide(store) => store.counters(),
        }
    }
}

/// What a store needs from its limiter for one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) params: &'a Params,
    pub(crate) limits: &'a Limits,
    /// The time came from the limiter's own monotonic clock.
    pub(crate) live: bool,
}

impl Ctx<'_> {
    /// Whether a key's first request at `now` sweeps its shard for idle
    /// buckets first, and if so the horizon and how many entries: all
    /// `entries` if the shard is `full` (rather than let it grow), more than
    /// usual under a full cap (to make room), and otherwise a few.
    ///
    /// Calls at explicit times may replay traffic far out of order, so they
    /// sweep only to stay under a cap the user asked for.
    pub(crate) fn sweep(&self, now: u64, full: bool, entries: usize) -> Option<(u64, usize)> {
        let at_cap = self.limits.at_cap();
        let horizon = self.limits.eviction.horizon(now).filter(|_| self.live || at_cap)?;
        let budget = if full {
            entries
        } else if at_cap {
            SWEEP_AT_CAP
        } else {
            SWEEP_PER_INSERT
        };
        Some((horizon, budget))
    }
}

impl<K: Hash + Eq + Clone, B: Cell> KeyStore for Store<K, B> {
    type Key = K;

    fn new(shards: usize) -> Store<K, B> {
        assert!(shards.is_power_of_two(), "shard count {shards} is not a power of two");
        let shards = (0..shards)
            .map(|_| Shard {
                table: RwLock::new(Table {
                    entries: HashTable::new(),
                    cursor: 0,
                    created: 0,
                    evicted: 0,
                }),
            })
            .collect();
        Store { shards, hasher: RandomState::new() }
    }

    #[inline]
    fn decide(&self, ctx: Ctx<'_>, key: &K, now: u64, cost: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        let decision = {
            let table = shard.table.read();
            match table.entries.find(hash, |e| e.key == *key) {
                Some(entry) => settle(&entry.cell, ctx, now, cost),
                None if cost == 0 => Decision::Allowed { remaining: ctx.params.capacity() },
                None => {
                    drop(table);
                    self.insert(ctx, shard, hash, key, now, cost)
                }
            }
        };
        ctx.limits.tally.count(decision.is_allowed());
        decision
    }

    fn peek(&self, params: &Params, key: &K, now: u64) -> u64 {
        let hash = self.hasher.hash_one(key);
        let table = self.shard(hash).table.read();
        table
            .entries
            .find(hash, |e| e.key == *key)
            .map_or(params.capacity(), |e| params.peek(e.cell.snapshot().0, now))
    }

    // limiter-tower (#20).
    fn state(&self, key: &K) -> Option<State> {
        let hash = self.hasher.hash_one(key);
        let table = self.shard(hash).table.read();
        table.entries.find(hash, |e| e.key == *key).map(|e| e.cell.snapshot().0)
    }

    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        let Some(horizon) = ctx.limits.eviction.horizon(now) else { return 0 };
        self.shards
            .iter()
            .map(|shard| {
                let mut table = shard.table.write();
                let all = table.entries.num_buckets();
                let evicted = table.sweep(ctx, horizon, all);
                // Give memory back once the shard is mostly empty.
                if table.entries.len() < table.entries.capacity() / 4 {
                    let hasher = &self.hasher;
                    table.entries.shrink_to_fit(|e| hasher.hash_one(&e.key));
                }
                evicted
            })
            .sum()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.read().entries.len()).sum()
    }

    fn counters(&self) -> Counters {
        self.shards.iter().fold(Counters::default(), |sum, shard| {
            let table = shard.table.read();
            sum + Counters { created: table.created, evicted: table.evicted, ..Counters::default() }
        })
    }
}

/// Decides on a map entry's cell, which is always live and always its key's.
#[inline]
fn settle<B: Cell>(cell: &B, ctx: Ctx<'_>, now: u64, cost: u64) -> Decision {
    match cell::decide(cell, ctx.params, now, cost, ctx.live, || true) {
        Verdict::Locked(decision) | Verdict::Read(decision) => decision,
        Verdict::Gone => unreachable!("map entries are never tagged dead"),
    }
}

impl<K: Hash + Eq + Clone, B: Cell> Store<K, B> {
    /// The slow path of [`KeyStore::decide`]: the key was missing a moment ago.
    #[cold]
    fn insert(
        &self,
        ctx: Ctx<'_>,
        shard: &Shard<K, B>,
        hash: u64,
        key: &K,
        now: u64,
        cost: u64,
    ) -> Decision {
        let mut table = shard.table.write();
        if let Some(entry) = table.entries.find(hash, |e| e.key == *key) {
            // Another thread created it since the shared lookup.
            return settle(&entry.cell, ctx, now, cost);
        }
        let limits = ctx.limits;
        let full = table.entries.len() == table.entries.capacity();
        if let Some((horizon, budget)) = ctx.sweep(now, full, table.entries.num_buckets()) {
            table.sweep(ctx, horizon, budget);
        }
        match limits.admit(ctx.params, now, cost) {
            Admission::Track => {}
            Admission::Refuse(decision) => return decision,
            Admission::EvictOne => {
                if !table.evict_fullest(ctx.params, now) {
                    return limits.deny_new_key(ctx.params);
                }
            }
        }
        let mut state = ctx.params.fresh(now);
        let decision = ctx.params.decide(&mut state, now, cost);
        table.entries.insert_unique(hash, Entry { key: key.clone(), cell: B::new(state) }, |e| {
            self.hasher.hash_one(&e.key)
        });
        table.created += 1;
        decision
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, B> {
        &self.shards[(hash >> SHARD_SHIFT) as usize & (self.shards.len() - 1)]
    }
}

impl<K, B: Cell> Table<K, B> {
    /// Examines up to `budget` buckets from the cursor on, and evicts those
    /// that are idle at `horizon`; returns how many.
    fn sweep(&mut self, ctx: Ctx<'_>, horizon: u64, budget: usize) -> usize {
        let buckets = self.entries.num_buckets();
        let mut evicted = 0;
        for _ in 0..budget.min(buckets) {
            let index = self.cursor % buckets;
            self.cursor = index + 1;
            if let Ok(entry) = self.entries.get_bucket_entry(index)
                && ctx.params.is_idle(entry.get().cell.snapshot().0, horizon)
            {
                entry.remove();
                evicted += 1;
            }
        }
        self.evicted += evicted as u64;
        ctx.limits.untrack(evicted);
        evicted
    }

    /// Evicts the fullest at `now` of the next few buckets from the cursor on;
    /// false if the shard holds none.
    fn evict_fullest(&mut self, params: &Params, now: u64) -> bool {
        let buckets = self.entries.num_buckets();
        let mut fullest = None;
        let mut sampled = 0;
        for _ in 0..buckets {
            let index = self.cursor % buckets;
            self.cursor = index + 1;
            if let Some(entry) = self.entries.get_bucket(index) {
                let units = params.units_at(entry.cell.snapshot().0, now);
                fullest = fullest.max(Some((units, index)));
                sampled += 1;
                if sampled == EVICTION_SAMPLE {
                    break;
                }
            }
        }
        let Some((_, index)) = fullest else { return false };
        if let Ok(entry) = self.entries.get_bucket_entry(index) {
            entry.remove();
            self.evicted += 1;
        }
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_count_lands_whether_a_thread_owns_a_stripe_or_shares_one() {
        // More threads than there are owned stripes, all living at once, so
        // that some count on shared stripes; each thread's first count is
        // the one that gives it its index.
        let tally = Tally::new();
        let barrier = std::sync::Barrier::new(OWNED + 9);
        std::thread::scope(|scope| {
            for t in 0..OWNED + 9 {
                let (tally, barrier) = (&tally, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..1000 {
                        tally.count(i % 4 != t % 4);
                    }
                });
            }
        });
        let counters = tally.counters();
        assert_eq!((counters.allowed, counters.denied), (750 * 25, 250 * 25));
    }
}
