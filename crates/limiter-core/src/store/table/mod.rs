//! The store for address keys: open-addressing tables of atomic slots, so
//! that a request for a known address takes no lock at all.
//!
//! # Layout
//!
//! A [`Table`] spreads its keys over shards by hash. Each shard is one
//! linear-probing table whose slots hold the key and the bucket's
//! [`Cell`] inline, 24 bytes for an IPv4 address and 32 for IPv6. The slots
//! live in chunks that are allocated once and never freed or moved while the
//! table lives. A shard's capacity runs 16, 24, 32, 48, 64, 96, … slots
//! (growing by half, then by a third), and each step adds one chunk of the
//! difference: chunk 0 holds the first 16 slots and every later chunk half
//! of a power of two. Growing only adds a chunk; that is what lets readers
//! work on slots through plain shared references, with no lock and no
//! reference count: nothing they can reach ever goes away. Growing by less
//! than double also keeps the table fuller: between 13/24 and 13/16 of the
//! slots hold keys once it has grown, where doubling would leave some at
//! 13/32.
//!
//! # Protocol
//!
//! Readers take nothing. They hash, probe, and decide on the cell they find
//! (see [`crate::cell::decide`]). Writers (a key's first request, eviction,
//! rebuilding a shard) take the shard's mutex, and change a slot's key or
//! tag only with its cell locked. A reader can therefore be misled in only
//! two ways, and both are caught:
//!
//! - It found its key, and the slot passed to another key before it locked
//!   the cell: with the cell locked it checks the key again.
//! - It decided from a snapshot, without writing, and the slot changed hands
//!   meanwhile: a slot changes hands (a tombstone reused, a shard rebuilt)
//!   only inside an odd `epoch` of its shard, and a reader returns such a
//!   decision only if the epoch it started in is still current.
//!
//! A reader that finds nothing, or gives up, takes the slow path under the
//! shard's mutex, where the table cannot change under it. Misses are
//! therefore never wrong either: a key inserted meanwhile is found there.
//! To spare a new key that second probe, a reader that missed hands over
//! the vacant slot its probe ended at and the shard's count of inserts and
//! rebuilds as it started; if the count has not moved and the shard has no
//! tombstone, a probe under the mutex would end at that same slot, and the
//! key goes there.
//!
//! The files: `hash` (keys in slots, and the keyed hash), `probe` (finding
//! slots in chunks, and the probes), `grow` (inserting, growing and
//! rebuilding a shard).

mod grow;
mod hash;
mod probe;

use std::fmt;
use std::ops::ControlFlow;

use crate::bucket::{Decision, Params, State};
use crate::cell::{self, Cell, Tag, Verdict};
use crate::store::limits::{self, Occupants};
use crate::store::traces::Traces;
use crate::store::{Counters, Ctx, Store, shard_index};
use crate::sync::{AtomicU64, AtomicUsize, Mutex, OnceLock, Ordering, fence};

use hash::{Seed, SlotKey, home};
use probe::Probe;

/// Slots in a shard's first chunk, a power of two.
#[cfg(not(loom))]
const MIN_SLOTS: usize = 16;
#[cfg(loom)]
const MIN_SLOTS: usize = 4;

/// Chunks a shard can have: two for every doubling after the first chunk.
const CHUNKS: usize = 49;

/// The most slots a shard can have: `MIN_SLOTS << 24` (2²⁸ outside loom).
const MAX_SLOTS: usize = MIN_SLOTS << ((CHUNKS - 1) / 2);

/// A shard grows (or sheds its tombstones) beyond this share of its slots
/// in use, tombstones included: 13/16. A new key's probe then passes about
/// 15 slots on average at worst, where 7/8 would make it 32.
const MAX_LOAD: (usize, usize) = (13, 16);

/// Buckets for address keys of type `K` (`u32` or
/// [`V6Bits`](crate::ip::V6Bits)) in cells of type `B`.
#[derive(Debug)]
pub(crate) struct Table<K: SlotKey, B> {
    shards: Box<[Shard<K, B>]>,
    seed: Seed,
}

/// One shard: a linear-probing table on its own cache lines.
#[repr(align(128))]
struct Shard<K: SlotKey, B> {
    /// Even while every slot keeps its key; odd while a writer moves keys
    /// between slots or gives a slot to another key.
    epoch: AtomicU64,
    /// Slots in use by the table: 0 before its first key, then a capacity
    /// of the series 16, 24, 32, 48, …. Changes only inside an odd epoch.
    capacity: AtomicUsize,
    /// Counts the writes that put keys into slots: inserts and rebuilds.
    /// A request that missed its key hands the count it started with to
    /// the slow path, which trusts the miss if the count has not moved
    /// (see [`Miss`]).
    changes: AtomicU64,
    chunks: [OnceLock<Chunk<K, B>>; CHUNKS],
    /// What only writers read and change; its mutex serialises them.
    ledger: Mutex<Ledger>,
}

/// A shard's bookkeeping, kept under its mutex.
#[derive(Debug, Default)]
struct Ledger {
    live: usize,
    tombs: usize,
    /// The next slot the sweeps and eviction samples examine.
    cursor: usize,
    created: u64,
    evicted: u64,
    traces: Traces,
}

/// A shard with its mutex held: what the shared path for new keys
/// (`limits::insert_new`) works on, with the seed that finds an evicted
/// key's trace.
struct Held<'a, K: SlotKey, B> {
    shard: &'a Shard<K, B>,
    ledger: &'a mut Ledger,
    seed: &'a Seed,
}

/// A run of slots, allocated once.
type Chunk<K, B> = Box<[Slot<K, B>]>;

#[derive(Debug)]
struct Slot<K: SlotKey, B> {
    key: K::Word,
    cell: B,
}

/// A key and its hash under its table's seed.
#[derive(Debug, Clone, Copy)]
struct Hashed<K> {
    key: K,
    hash: u64,
}

/// Where the fast path's probe stopped: at a slot holding the key's bits, or
/// at a vacant slot.
enum Seen<'a, K: SlotKey, B> {
    Key(usize, &'a Slot<K, B>),
    Vacant(usize),
}

/// What the fast path learnt about a key it did not find: its probe passed
/// no slot of the key's and ended at the vacant slot `vacant`, as of
/// `changes`. Under the shard's mutex, with `changes` unmoved, both still
/// hold: only the writes it counts put keys into slots or fill vacant ones.
#[derive(Debug, Clone, Copy)]
struct Miss {
    changes: u64,
    vacant: usize,
}

impl<K: SlotKey, B> fmt::Debug for Shard<K, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shard")
            .field("epoch", &self.epoch)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: SlotKey, B: Cell> Slot<K, B> {
    fn vacant() -> Slot<K, B> {
        Slot { key: K::zeroed(), cell: B::vacant() }
    }
}

impl<K: SlotKey, B: Cell> Store for Table<K, B> {
    type Key = K;

    fn new(shards: usize) -> Table<K, B> {
        assert!(shards.is_power_of_two(), "shard count {shards} is not a power of two");
        let shards = (0..shards)
            .map(|_| Shard {
                epoch: AtomicU64::new(0),
                capacity: AtomicUsize::new(0),
                changes: AtomicU64::new(0),
                chunks: std::array::from_fn(|_| OnceLock::new()),
                ledger: Mutex::new(Ledger::default()),
            })
            .collect();
        Table { shards, seed: Seed::random() }
    }

    #[inline]
    fn decide(&self, ctx: Ctx<'_>, key: &K, now: u64, cost: u64) -> Decision {
        self.decide_with(ctx, key, now, cost, cell::same)
    }

    #[inline(always)]
    fn decide_with<R>(
        &self,
        ctx: Ctx<'_>,
        key: &K,
        now: u64,
        cost: u64,
        project: impl Fn(Decision) -> R + Copy,
    ) -> R {
        let sought = Hashed { key: *key, hash: key.hash(&self.seed) };
        let shard = self.shard(sought.hash);
        // Projected on each path, so that the fast path's decision never
        // meets the slow path's in memory.
        match shard.find_and_decide(ctx, sought, now, cost, project) {
            Ok(outcome) => outcome,
            Err(miss) => {
                // A snapshot the fast path kept may not have been this key's.
                if let Some(seen) = ctx.seen {
                    seen.set(None);
                }
                // By reference: a context passed by value is copied on the
                // fast path for this call.
                project(shard.decide_locked(&ctx, &self.seed, sought, now, cost, miss))
            }
        }
    }

    fn bucket(&self, key: &K) -> Option<State> {
        let sought = Hashed { key: *key, hash: key.hash(&self.seed) };
        let shard = self.shard(sought.hash);
        let ledger = shard.ledger.lock();
        match shard.probe(sought) {
            Some(Probe::Found(index)) => shard.slot(index).map(|slot| slot.cell.snapshot().0),
            // An evicted key is decided from its trace, if it left one.
            _ => ledger.traces.find(sought.hash),
        }
    }

    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        let Some(horizon) = ctx.limits.eviction.horizon(now) else { return 0 };
        self.shards
            .iter()
            .map(|shard| {
                let mut ledger = shard.ledger.lock();
                let mut held = Held { shard, ledger: &mut ledger, seed: &self.seed };
                let all = held.positions();
                let evicted = limits::sweep(&mut held, ctx, horizon, all);
                // Clear the tombstones, so probes stay short.
                if ledger.tombs > 0 {
                    shard.rebuild(&mut ledger, all, &self.seed);
                }
                evicted
            })
            .sum()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.ledger.lock().live).sum()
    }

    fn counters(&self) -> Counters {
        self.shards.iter().fold(Counters::default(), |sum, shard| {
            let ledger = shard.ledger.lock();
            sum + Counters {
                created: ledger.created,
                evicted: ledger.evicted,
                ..Counters::default()
            }
        })
    }
}

impl<K: SlotKey, B: Cell> Table<K, B> {
    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, B> {
        &self.shards[shard_index(hash, self.shards.len())]
    }
}

impl<K: SlotKey, B: Cell> Shard<K, B> {
    /// The fast path: decides for `key` without a lock, or hands over to
    /// the slow path, with where its probe ended if the key is missing
    /// (nothing if the shard was busy).
    #[inline(always)]
    fn find_and_decide<R>(
        &self,
        ctx: Ctx<'_>,
        sought: Hashed<K>,
        now: u64,
        cost: u64,
        project: impl Fn(Decision) -> R,
    ) -> Result<R, Option<Miss>> {
        let Hashed { key, hash } = sought;
        let epoch = self.epoch.load(Ordering::Acquire);
        if epoch & 1 == 1 {
            return Err(None);
        }
        // Before the slots: writers bump it after their slot stores.
        let changes = self.changes.load(Ordering::Acquire);
        let capacity = self.capacity.load(Ordering::Acquire);
        if capacity == 0 {
            // No slot is ours to read before the capacity says so (a chunk
            // may be being filled in).
            return Err(None);
        }
        // The probe only compares keys; the bucket is decided after it, so
        // that the loop stays small enough to inline.
        let seen = self.probe_from(home(hash, capacity), capacity, |index, slot| {
            if K::load(&slot.key) == key {
                return ControlFlow::Break(Seen::Key(index, slot));
            }
            if slot.cell.tag_hint() == Tag::Vacant {
                return ControlFlow::Break(Seen::Vacant(index));
            }
            ControlFlow::Continue(())
        });
        let (index, slot) = match seen {
            Some(Seen::Key(index, slot)) => (index, slot),
            Some(Seen::Vacant(vacant)) => return Err(Some(Miss { changes, vacant })),
            None => return Err(None),
        };
        let owned = || K::load(&slot.key) == key;
        match cell::decide(&slot.cell, ctx.params, now, cost, ctx.live, owned, ctx.seen, project) {
            Verdict::Locked(outcome) => Ok(outcome),
            Verdict::Read(outcome) => {
                // Valid only if no slot changed hands meanwhile.
                fence(Ordering::Acquire);
                let current = self.epoch.load(Ordering::Relaxed) == epoch;
                if current { Ok(outcome) } else { Err(None) }
            }
            // A vacant slot holding the key's bits (an all-zero key): the
            // probe ends here, as at any vacant slot.
            Verdict::Gone if slot.cell.tag_hint() == Tag::Vacant => {
                Err(Some(Miss { changes, vacant: index }))
            }
            // A tombstone of this key's. A key's live slot comes before its
            // tombstones in its probe chain (a key goes back in at the first
            // tombstone on its way), so it has none now, or one came in
            // meanwhile: the slow path finds out under the mutex.
            Verdict::Gone => Err(None),
        }
    }

    /// The slow path, under the shard's mutex: decides for `key`, creating
    /// its bucket if it has none.
    #[cold]
    fn decide_locked(
        &self,
        ctx: &Ctx<'_>,
        seed: &Seed,
        sought: Hashed<K>,
        now: u64,
        cost: u64,
        miss: Option<Miss>,
    ) -> Decision {
        let mut ledger = self.ledger.lock();
        let mut free = None;
        // Without tombstones, the probe under the lock would end where the
        // fast path's did, unless a key came in meanwhile. (With them, it
        // finds the first one, to reuse.)
        let trusted = miss.filter(|miss| {
            ledger.tombs == 0 && miss.changes == self.changes.load(Ordering::Relaxed)
        });
        let probe = match trusted {
            Some(miss) => Some(Probe::Missing { free: miss.vacant }),
            None => self.probe(sought),
        };
        match probe {
            Some(Probe::Found(index)) => {
                let slot = self.slot(index).expect("a probe finds only allocated slots");
                // Tags and keys change only under this mutex: the slot stays
                // the key's, live, and a snapshot of it needs no epoch check.
                let (params, live, kept) = (ctx.params, ctx.live, ctx.seen);
                match cell::decide(&slot.cell, params, now, cost, live, || true, kept, cell::same) {
                    Verdict::Locked(decision) | Verdict::Read(decision) => return decision,
                    Verdict::Gone => unreachable!("a live slot died under its shard's mutex"),
                }
            }
            // Evictions only add tombstones, so this slot stays free unless
            // the shard is rebuilt (which `insert` notices).
            Some(Probe::Missing { free: slot }) => free = Some(slot),
            None => {}
        }
        let mut held = Held { shard: self, ledger: &mut ledger, seed };
        limits::insert_new(&mut held, *ctx, sought.hash, now, cost, |held, state| {
            held.shard.insert(held.ledger, held.seed, sought, free, state)
        })
    }
}

impl<K: SlotKey, B: Cell> Occupants for Held<'_, K, B> {
    fn positions(&self) -> usize {
        self.shard.capacity.load(Ordering::Relaxed)
    }

    fn cursor(&mut self) -> &mut usize {
        &mut self.ledger.cursor
    }

    fn is_full(&self) -> bool {
        self.shard.is_full(self.ledger)
    }

    fn live(&self, index: usize) -> Option<(State, u64)> {
        let slot = self.shard.slot(index)?;
        let (state, tag) = slot.cell.snapshot();
        // Keys change only under the mutex the caller holds.
        (tag == Tag::Live).then(|| (state, K::load(&slot.key).hash(self.seed)))
    }

    fn evict_if_idle(&mut self, index: usize, params: &Params, horizon: u64) -> bool {
        let Some(slot) = self.shard.slot(index) else { return false };
        let (state, tag) = slot.cell.snapshot();
        if tag != Tag::Live || !params.is_idle(state, horizon) || !slot.cell.try_lock(state.last())
        {
            return false;
        }
        // Still idle unless a request came in between.
        let (now_state, _) = slot.cell.locked(state.last());
        if !params.is_idle(now_state, horizon) {
            slot.cell.unlock(now_state, Tag::Live);
            return false;
        }
        slot.cell.unlock(now_state, Tag::Tomb);
        self.ledger.live -= 1;
        self.ledger.tombs += 1;
        self.ledger.evicted += 1;
        true
    }

    fn evict(&mut self, index: usize) -> Option<(State, u64)> {
        let slot = self.shard.slot(index)?;
        let (state, _) = slot.cell.lock();
        let key = K::load(&slot.key);
        slot.cell.unlock(state, Tag::Tomb);
        self.ledger.live -= 1;
        self.ledger.tombs += 1;
        self.ledger.evicted += 1;
        Some((state, key.hash(self.seed)))
    }

    fn traces(&mut self) -> &mut Traces {
        &mut self.ledger.traces
    }
}

#[cfg(test)]
impl<K: SlotKey, B: Cell> Table<K, B> {
    /// A table hashing with `seed`: `Seed([0, 1])` makes an IPv4 key its
    /// own hash, so tests can choose which keys share a probe chain.
    fn with_seed(shards: usize, seed: Seed) -> Table<K, B> {
        Table { seed, ..Store::new(shards) }
    }

    fn capacity(&self) -> usize {
        self.shards.iter().map(|shard| shard.capacity.load(Ordering::Relaxed)).sum()
    }

    /// Whole tokens `key`'s bucket holds at `now`, as `tokens_at` reports
    /// them (the unit tests and the loom models both use it).
    fn peek(&self, params: &Params, key: &K, now: u64) -> u64 {
        self.bucket(key).map_or(params.capacity(), |bucket| params.peek(bucket, now))
    }
}

#[cfg(test)]
impl<K: SlotKey, B: Cell> Shard<K, B> {
    /// Sweeps up to `budget` slots as a new key's insertion would.
    fn sweep(&self, ctx: Ctx<'_>, horizon: u64, budget: usize) -> usize {
        limits::sweep(
            // A sweep evicts only idle buckets, which leave no trace: no seed needed.
            &mut Held { shard: self, ledger: &mut self.ledger.lock(), seed: &Seed([0, 1]) },
            ctx,
            horizon,
            budget,
        )
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

/// Model checks of the slot protocol, with keys placed by hand. Run by
/// `cargo xtask loom` with the tests in `tests/loom.rs`.
#[cfg(all(test, loom))]
mod loom_tests;
