//! Buckets for address keys in open-addressing tables of atomic slots, so
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
//! # Hashing
//!
//! Keys come from the network, so the hash is keyed with random words drawn
//! per table from std's randomly keyed SipHash: a folded 64×64→128-bit
//! multiply of the key with them, as in `foldhash`. See ARCHITECTURE.md for
//! why that resists flooding one shard or one probe chain.

use std::fmt;
use std::hash::BuildHasher;
use std::ops::ControlFlow;

use crate::bucket::{Decision, Params, State};
use crate::cell::{self, Cell, Narrow, Tag, Verdict, Wide};
use crate::key::V6Bits;
use crate::store::{Admission, Buckets, Counters, Ctx, EVICTION_SAMPLE, KeyStore};
use crate::sync::{AtomicU32, AtomicU64, AtomicUsize, Mutex, OnceLock, Ordering, fence};

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

/// A key the tables store in atomics: an IPv4 address or an IPv6 one.
pub(crate) trait SlotKey: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// The key's storage in a slot.
    type Word: fmt::Debug + Send + Sync;

    /// The all-zero key, which vacant slots hold.
    const ZERO: Self;

    /// Storage holding [`SlotKey::ZERO`].
    fn zeroed() -> Self::Word;

    fn load(word: &Self::Word) -> Self;

    fn store(word: &Self::Word, key: Self);

    /// The key's hash under `seed`.
    fn hash(self, seed: &Seed) -> u64;
}

impl SlotKey for u32 {
    type Word = AtomicU32;

    const ZERO: u32 = 0;

    fn zeroed() -> AtomicU32 {
        AtomicU32::new(0)
    }

    #[inline]
    fn load(word: &AtomicU32) -> u32 {
        word.load(Ordering::Relaxed)
    }

    fn store(word: &AtomicU32, key: u32) {
        word.store(key, Ordering::Relaxed);
    }

    #[inline]
    fn hash(self, seed: &Seed) -> u64 {
        fold(u64::from(self) ^ seed.0[0], seed.0[1])
    }
}

impl SlotKey for V6Bits {
    type Word = [AtomicU64; 2];

    const ZERO: V6Bits = V6Bits([0, 0]);

    fn zeroed() -> [AtomicU64; 2] {
        [AtomicU64::new(0), AtomicU64::new(0)]
    }

    #[inline]
    fn load(word: &[AtomicU64; 2]) -> V6Bits {
        V6Bits([word[0].load(Ordering::Relaxed), word[1].load(Ordering::Relaxed)])
    }

    fn store(word: &[AtomicU64; 2], key: V6Bits) {
        word[0].store(key.0[0], Ordering::Relaxed);
        word[1].store(key.0[1], Ordering::Relaxed);
    }

    #[inline]
    fn hash(self, seed: &Seed) -> u64 {
        fold(self.0[0] ^ seed.0[0], self.0[1] ^ seed.0[1])
    }
}

/// The random words that key a table's hash.
#[derive(Clone, Copy)]
pub(crate) struct Seed([u64; 2]);

impl Seed {
    /// Fresh words: std's `RandomState` is keyed from the operating system's
    /// randomness, and differs for every instance.
    pub(crate) fn random() -> Seed {
        // loom runs a model many times and needs each run to make the same
        // choices, so its tables all hash alike.
        #[cfg(loom)]
        let state = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
        #[cfg(not(loom))]
        let state = std::hash::RandomState::new();
        // The second word is odd, so that multiplying by it loses no bits.
        Seed([state.hash_one(0u8), state.hash_one(1u8) | 1])
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the words: they are the table's secret.
        f.write_str("Seed(..)")
    }
}

/// The 128-bit product of `a` and `b`, its halves folded together.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ (product >> 64) as u64
}

/// The capacity after `capacity` (at least [`MIN_SLOTS`]): half as much
/// again from a power of two, a third as much again from 1.5 times one.
fn grow(capacity: usize) -> usize {
    if capacity.is_power_of_two() { capacity + capacity / 2 } else { capacity / 3 * 4 }
}

/// Where a probe for `hash` starts among `capacity` slots: its low 32 bits
/// scaled to the capacity (the shard came from its high bits).
#[inline]
fn home(hash: u64, capacity: usize) -> usize {
    (((hash & 0xffff_ffff) * capacity as u64) >> 32) as usize
}

/// The slot after `index`, wrapping around.
#[inline]
fn next(index: usize, capacity: usize) -> usize {
    if index + 1 == capacity { 0 } else { index + 1 }
}

/// Buckets for address keys of type `K` (`u32` or [`V6Bits`]), in the cell
/// layout the limiter's parameters need.
pub(crate) type AddressBuckets<K> = Buckets<Table<K, Narrow>, Table<K, Wide>>;

/// Buckets for keys of type `K` in cells of type `B`.
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
    /// Slots in use by the table: 0 before its first key, then a power of
    /// two. Changes only inside an odd epoch.
    capacity: AtomicUsize,
    /// Counts the writes that put keys into slots: inserts and rebuilds.
    /// A request that missed its key hands the count it started with to
    /// the slow path, which trusts the miss if the count has not moved
    /// (see [`Miss`]).
    changes: AtomicU64,
    chunks: [OnceLock<Chunk<K, B>>; CHUNKS],
    writer: Mutex<Writer>,
}

/// A shard's bookkeeping, which only writers touch.
#[derive(Debug, Default)]
struct Writer {
    live: usize,
    tombs: usize,
    /// The next slot the amortised sweep examines.
    cursor: usize,
    created: u64,
    evicted: u64,
}

/// A run of slots, allocated once.
type Chunk<K, B> = Box<[Slot<K, B>]>;

#[derive(Debug)]
struct Slot<K: SlotKey, B> {
    key: K::Word,
    cell: B,
}

/// Where a writer's probe for a key ended.
enum Probe {
    Found(usize),
    /// Not there; `free` is the first tombstone on the way, or else the
    /// vacant slot that ended the probe.
    Missing {
        free: usize,
    },
}

/// A key and its hash under its table's seed.
#[derive(Debug, Clone, Copy)]
struct Hashed<K> {
    key: K,
    hash: u64,
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

impl<K: SlotKey, B: Cell> KeyStore for Table<K, B> {
    type Key = K;

    fn new(shards: usize) -> Table<K, B> {
        assert!(shards.is_power_of_two(), "shard count {shards} is not a power of two");
        let shards = (0..shards)
            .map(|_| Shard {
                epoch: AtomicU64::new(0),
                capacity: AtomicUsize::new(0),
                changes: AtomicU64::new(0),
                chunks: std::array::from_fn(|_| OnceLock::new()),
                writer: Mutex::new(Writer::default()),
            })
            .collect();
        Table { shards, seed: Seed::random() }
    }

    #[inline]
    fn decide(&self, ctx: Ctx<'_>, key: &K, now: u64, cost: u64) -> Decision {
        let sought = Hashed { key: *key, hash: key.hash(&self.seed) };
        let shard = self.shard(sought.hash);
        let decision = match shard.find_and_decide(ctx, sought, now, cost) {
            Ok(decision) => decision,
            Err(miss) => shard.decide_locked(ctx, &self.seed, sought, now, cost, miss),
        };
        ctx.limits.tally.count(decision.is_allowed());
        decision
    }

    fn peek(&self, params: &Params, key: &K, now: u64) -> u64 {
        let sought = Hashed { key: *key, hash: key.hash(&self.seed) };
        let shard = self.shard(sought.hash);
        let _writer = shard.writer.lock();
        match shard.probe(sought) {
            Some(Probe::Found(index)) => shard
                .slot(index)
                .map_or(params.capacity(), |slot| params.peek(slot.cell.snapshot().0, now)),
            _ => params.capacity(),
        }
    }

    // limiter-tower (#20).
    fn state(&self, key: &K) -> Option<State> {
        let sought = Hashed { key: *key, hash: key.hash(&self.seed) };
        let shard = self.shard(sought.hash);
        let _writer = shard.writer.lock();
        match shard.probe(sought) {
            Some(Probe::Found(index)) => shard.slot(index).map(|slot| slot.cell.snapshot().0),
            _ => None,
        }
    }

    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        let Some(horizon) = ctx.limits.eviction.horizon(now) else { return 0 };
        self.shards
            .iter()
            .map(|shard| {
                let mut writer = shard.writer.lock();
                let all = shard.capacity.load(Ordering::Relaxed);
                let evicted = shard.sweep(&mut writer, ctx, horizon, all);
                // Clear the tombstones, so probes stay short.
                if writer.tombs > 0 {
                    shard.rebuild(&mut writer, all, &self.seed);
                }
                evicted
            })
            .sum()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.writer.lock().live).sum()
    }

    fn counters(&self) -> Counters {
        self.shards.iter().fold(Counters::default(), |sum, shard| {
            let writer = shard.writer.lock();
            sum + Counters {
                created: writer.created,
                evicted: writer.evicted,
                ..Counters::default()
            }
        })
    }
}

impl<K: SlotKey, B: Cell> Table<K, B> {
    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, B> {
        // The high half picks the shard; the low bits pick the slot.
        &self.shards[(hash >> 40) as usize & (self.shards.len() - 1)]
    }
}

impl<K: SlotKey, B: Cell> Shard<K, B> {
    /// Slot `index`, if its chunk exists.
    #[inline]
    fn slot(&self, index: usize) -> Option<&Slot<K, B>> {
        self.run(index)?.first()
    }

    /// The slots from `index` to the end of its chunk, if the chunk exists.
    #[inline]
    fn run(&self, index: usize) -> Option<&[Slot<K, B>]> {
        let (chunk, offset) = if index < MIN_SLOTS {
            (0, index)
        } else {
            // `index` is in [2^(q+1), 2^(q+2)), whose halves are chunks of
            // 2^q slots: `index >> q` is 2 in the first half, 3 in the second.
            let q = index.ilog2() - 1;
            let half = index >> q;
            let chunk = 2 * q as usize + 1 + half - 2 * MIN_SLOTS.ilog2() as usize;
            (chunk, index - (half << q))
        };
        self.chunks.get(chunk)?.get()?.get(offset..)
    }

    /// The allocated slots among the first `capacity`, a chunk at a time.
    fn runs(&self, capacity: usize) -> impl Iterator<Item = &[Slot<K, B>]> {
        let mut start = 0;
        self.chunks.iter().map_while(move |chunk| {
            if start >= capacity {
                return None;
            }
            let run = chunk.get()?;
            start += run.len();
            Some(&run[..])
        })
    }

    /// Visits the slots a probe from `start` passes in a table of `capacity`
    /// slots (more than 0), in order and wrapping around, a chunk at a time,
    /// until `visit` breaks with an answer; `None` if it never does, or a
    /// chunk is missing. Whole chunks are counted against the capacity, so a
    /// full table may see a few slots twice.
    #[inline(always)]
    fn probe_from<R>(
        &self,
        mut start: usize,
        capacity: usize,
        mut visit: impl FnMut(usize, &Slot<K, B>) -> ControlFlow<R>,
    ) -> Option<R> {
        let mut left = capacity;
        loop {
            let run = self.run(start)?;
            for (offset, slot) in run.iter().enumerate() {
                if let ControlFlow::Break(answer) = visit(start + offset, slot) {
                    return Some(answer);
                }
            }
            left = left.checked_sub(run.len()).filter(|&left| left > 0)?;
            // Chunks end where capacities do: the next run starts there or
            // at 0.
            start += run.len();
            if start == capacity {
                start = 0;
            }
        }
    }

    /// The fast path: decides for `key` without a lock, or hands over to
    /// the slow path, with where its probe ended if the key is missing
    /// (nothing if the shard was busy).
    #[inline]
    fn find_and_decide(
        &self,
        ctx: Ctx<'_>,
        sought: Hashed<K>,
        now: u64,
        cost: u64,
    ) -> Result<Decision, Option<Miss>> {
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
        let answer = self.probe_from(home(hash, capacity), capacity, |index, slot| {
            if K::load(&slot.key) == key {
                let owned = || K::load(&slot.key) == key;
                match cell::decide(&slot.cell, ctx.params, now, cost, ctx.live, owned) {
                    Verdict::Locked(decision) => return ControlFlow::Break(Ok(decision)),
                    Verdict::Read(decision) => {
                        // Valid only if no slot changed hands meanwhile.
                        fence(Ordering::Acquire);
                        let current = self.epoch.load(Ordering::Relaxed) == epoch;
                        return ControlFlow::Break(if current { Ok(decision) } else { Err(None) });
                    }
                    // A tombstone of this key's: it may live further on.
                    Verdict::Gone => {}
                }
            }
            if slot.cell.tag_hint() == Tag::Vacant {
                return ControlFlow::Break(Err(Some(Miss { changes, vacant: index })));
            }
            ControlFlow::Continue(())
        });
        answer.unwrap_or(Err(None))
    }

    /// The slow path, under the shard's mutex: decides for `key`, creating
    /// its bucket if it has none.
    #[cold]
    fn decide_locked(
        &self,
        ctx: Ctx<'_>,
        seed: &Seed,
        sought: Hashed<K>,
        now: u64,
        cost: u64,
        miss: Option<Miss>,
    ) -> Decision {
        let mut writer = self.writer.lock();
        let mut free = None;
        // Without tombstones, the probe under the lock would end where the
        // fast path's did, unless a key came in meanwhile. (With them, it
        // finds the first one, to reuse.)
        let trusted = miss.filter(|miss| {
            writer.tombs == 0 && miss.changes == self.changes.load(Ordering::Relaxed)
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
                match cell::decide(&slot.cell, ctx.params, now, cost, ctx.live, || true) {
                    Verdict::Locked(decision) | Verdict::Read(decision) => return decision,
                    Verdict::Gone => unreachable!("a live slot died under its shard's mutex"),
                }
            }
            // Evictions below only add tombstones, so this slot stays free
            // unless the shard is rebuilt.
            Some(Probe::Missing { free: slot }) => free = Some(slot),
            None => {}
        }
        if cost == 0 {
            // Changes nothing, so creates nothing.
            return Decision::Allowed { remaining: ctx.params.capacity() };
        }
        let limits = ctx.limits;
        let slots = self.capacity.load(Ordering::Relaxed);
        if let Some((horizon, budget)) = ctx.sweep(now, self.is_full(&writer), slots) {
            self.sweep(&mut writer, ctx, horizon, budget);
        }
        match limits.admit(ctx.params, now, cost) {
            Admission::Track => {}
            Admission::Refuse(decision) => return decision,
            Admission::EvictOne => {
                if !self.evict_fullest(&mut writer, ctx.params, now) {
                    return limits.deny_new_key(ctx.params);
                }
            }
        }
        let mut state = ctx.params.fresh(now);
        let decision = ctx.params.decide(&mut state, now, cost);
        if !self.insert(&mut writer, seed, sought, free, state) {
            // The shard is at its largest and full: undo the count.
            limits.untrack(1);
            return limits.deny_new_key(ctx.params);
        }
        decision
    }

    /// Whether one more key would load the shard beyond [`MAX_LOAD`].
    fn is_full(&self, writer: &Writer) -> bool {
        let capacity = self.capacity.load(Ordering::Relaxed);
        (writer.live + writer.tombs + 1) * MAX_LOAD.1 > capacity * MAX_LOAD.0
    }

    /// Probes for `key` under the mutex; `None` if the shard has no room
    /// for it and no slot of its.
    fn probe(&self, sought: Hashed<K>) -> Option<Probe> {
        let Hashed { key, hash } = sought;
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return None;
        }
        let mut free = None;
        let found = self.probe_from(home(hash, capacity), capacity, |index, slot| {
            match slot.cell.tag_hint() {
                Tag::Live if K::load(&slot.key) == key => ControlFlow::Break(Probe::Found(index)),
                Tag::Live => ControlFlow::Continue(()),
                Tag::Tomb => {
                    free.get_or_insert(index);
                    ControlFlow::Continue(())
                }
                Tag::Vacant => ControlFlow::Break(Probe::Missing { free: free.unwrap_or(index) }),
            }
        });
        found.or(free.map(|free| Probe::Missing { free }))
    }

    /// Inserts a key known to be missing, into `free` unless the shard has
    /// to grow first; false if the shard can hold no more keys.
    fn insert(
        &self,
        writer: &mut Writer,
        seed: &Seed,
        sought: Hashed<K>,
        mut free: Option<usize>,
        state: State,
    ) -> bool {
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            // The first key: no reader can be in a table of no slots.
            self.allocate(MIN_SLOTS);
            self.capacity.store(MIN_SLOTS, Ordering::Release);
            free = None;
        } else if self.is_full(writer) {
            // Grow, unless shedding the tombstones leaves room enough.
            let live = (writer.live + 1) * MAX_LOAD.1 * 4;
            let roomy = live <= capacity * MAX_LOAD.0 * 3;
            let grown = if roomy || capacity == MAX_SLOTS { capacity } else { grow(capacity) };
            self.rebuild(writer, grown, seed);
            free = None;
        }
        if free.is_none()
            && let Some(Probe::Missing { free: slot }) = self.probe(sought)
        {
            free = Some(slot);
        }
        // None only for a shard at its largest capacity and full of keys.
        let Some(slot) = free.and_then(|free| self.slot(free)) else { return false };
        let (_, tag) = slot.cell.lock();
        if tag == Tag::Tomb {
            // The slot changes hands: readers that saw its old key must not
            // trust what they read.
            self.epoch.fetch_add(1, Ordering::Relaxed);
            fence(Ordering::Release);
            K::store(&slot.key, sought.key);
            slot.cell.unlock(state, Tag::Live);
            self.epoch.fetch_add(1, Ordering::Release);
            writer.tombs -= 1;
        } else {
            K::store(&slot.key, sought.key);
            slot.cell.unlock(state, Tag::Live);
        }
        self.count_change();
        writer.live += 1;
        writer.created += 1;
        true
    }

    /// Counts a write that put keys into slots, after its slot stores.
    fn count_change(&self) {
        // Only writers, under the mutex, change the count.
        self.changes.store(self.changes.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// Rehashes every live key into the first `capacity` slots, allocating
    /// the chunks they need, and leaves no tombstone.
    fn rebuild(&self, writer: &mut Writer, capacity: usize, seed: &Seed) {
        let old = self.capacity.load(Ordering::Relaxed);
        // Every old slot is locked below and unlocked by being rewritten.
        debug_assert!(capacity >= old, "a shard never shrinks");
        self.epoch.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        // Lock every slot, and keep the live keys with their buckets.
        let mut live = Vec::with_capacity(writer.live);
        for slot in self.runs(old).flatten() {
            let (state, tag) = slot.cell.lock();
            if tag == Tag::Live {
                live.push((K::load(&slot.key), state));
            }
        }
        self.allocate(capacity);
        // Place them as a probe would, then write every slot.
        const EMPTY: u32 = u32::MAX;
        let mut placed = vec![EMPTY; capacity];
        for (entry, &(key, _)) in live.iter().enumerate() {
            let mut index = home(key.hash(seed), capacity);
            while placed[index] != EMPTY {
                index = next(index, capacity);
            }
            // A shard holds fewer than 2³² slots.
            placed[index] = entry as u32;
        }
        let mut places = placed.iter().enumerate();
        for run in self.runs(capacity) {
            for (slot, (index, &place)) in run.iter().zip(places.by_ref()) {
                if place != EMPTY {
                    let (key, state) = live[place as usize];
                    K::store(&slot.key, key);
                    slot.cell.unlock(state, Tag::Live);
                } else if index < old {
                    K::store(&slot.key, K::ZERO);
                    slot.cell.unlock(State::new(0, 0), Tag::Vacant);
                }
                // Slots past the old capacity were allocated just now,
                // vacant, and are unreachable until the new capacity is
                // stored; the others were locked above, and this unlocks
                // them.
            }
        }
        self.capacity.store(capacity, Ordering::Release);
        self.count_change();
        self.epoch.fetch_add(1, Ordering::Release);
        writer.live = live.len();
        writer.tombs = 0;
        writer.cursor = 0;
    }

    /// Allocates the chunks that the first `capacity` slots need.
    fn allocate(&self, capacity: usize) {
        let mut start = 0;
        for cell in &self.chunks {
            if start >= capacity {
                break;
            }
            let end = if start == 0 { MIN_SLOTS } else { grow(start) };
            cell.get_or_init(|| (start..end).map(|_| Slot::vacant()).collect());
            start = end;
        }
    }

    /// Examines up to `budget` slots from the cursor on, and turns those
    /// whose buckets are idle at `horizon` into tombstones; returns how many.
    fn sweep(&self, writer: &mut Writer, ctx: Ctx<'_>, horizon: u64, budget: usize) -> usize {
        let capacity = self.capacity.load(Ordering::Relaxed);
        let mut evicted = 0;
        for _ in 0..budget.min(capacity) {
            let index = writer.cursor % capacity;
            writer.cursor = index + 1;
            let Some(slot) = self.slot(index) else { continue };
            let (state, tag) = slot.cell.snapshot();
            if tag == Tag::Live
                && ctx.params.is_idle(state, horizon)
                && slot.cell.try_lock(state.last())
            {
                // Still idle unless a request came in between.
                let (now_state, _) = slot.cell.locked(state.last());
                if ctx.params.is_idle(now_state, horizon) {
                    slot.cell.unlock(now_state, Tag::Tomb);
                    evicted += 1;
                } else {
                    slot.cell.unlock(now_state, Tag::Live);
                }
            }
        }
        writer.live -= evicted;
        writer.tombs += evicted;
        writer.evicted += evicted as u64;
        ctx.limits.untrack(evicted);
        evicted
    }

    /// Evicts the fullest at `now` of the next few buckets from the cursor on;
    /// false if the shard holds none.
    fn evict_fullest(&self, writer: &mut Writer, params: &Params, now: u64) -> bool {
        let capacity = self.capacity.load(Ordering::Relaxed);
        let mut fullest = None;
        let mut sampled = 0;
        for _ in 0..capacity {
            let index = writer.cursor % capacity;
            writer.cursor = index + 1;
            let Some(slot) = self.slot(index) else { continue };
            let (state, tag) = slot.cell.snapshot();
            if tag == Tag::Live {
                fullest = fullest.max(Some((params.units_at(state, now), index)));
                sampled += 1;
                if sampled == EVICTION_SAMPLE {
                    break;
                }
            }
        }
        let Some((_, index)) = fullest else { return false };
        let Some(slot) = self.slot(index) else { return false };
        let (state, _) = slot.cell.lock();
        slot.cell.unlock(state, Tag::Tomb);
        writer.live -= 1;
        writer.tombs += 1;
        writer.evicted += 1;
        true
    }
}

#[cfg(test)]
impl<K: SlotKey, B: Cell> Table<K, B> {
    /// A table hashing with `seed`: `Seed([0, 1])` makes an IPv4 key its
    /// own hash, so tests can choose which keys share a probe chain.
    fn with_seed(shards: usize, seed: Seed) -> Table<K, B> {
        Table { seed, ..KeyStore::new(shards) }
    }

    fn capacity(&self) -> usize {
        self.shards.iter().map(|shard| shard.capacity.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::Eviction;
    use crate::store::Limits;

    const SEC: u64 = 1_000_000_000;

    fn params(capacity: u64) -> Params {
        Params::new(capacity, "1".parse().unwrap())
    }

    /// One shard whose IPv4 keys are their own hashes.
    fn identity() -> Table<u32, Narrow> {
        Table::with_seed(1, Seed([0, 1]))
    }

    #[test]
    fn keys_on_one_probe_chain_keep_their_own_buckets_across_tombstones() {
        let table = identity();
        let (params, limits) =
            (params(3), Limits::uncapped(Eviction::Idle { window: Duration::ZERO }));
        let ctx = Ctx { params: &params, limits: &limits, live: false };
        // Small keys all start their probes at slot 0.
        for (key, cost) in [(1, 1), (17, 2), (33, 3)] {
            assert!(table.decide(ctx, &key, 0, cost).is_allowed());
        }
        assert_eq!(table.capacity(), MIN_SLOTS);
        assert_eq!([1, 17, 33].map(|k| table.peek(&params, &k, 0)), [2, 1, 0]);
        // 17 refills by 2 s and is evicted; 1 and 33 are still refilling.
        assert!(table.decide(ctx, &1, 0, 2).is_allowed());
        assert!(table.decide(ctx, &33, SEC, 1).is_allowed());
        let shard = &table.shards[0];
        let evicted = shard.sweep(&mut shard.writer.lock(), ctx, 2 * SEC, MIN_SLOTS);
        assert_eq!((evicted, table.len()), (1, 2));
        // 33 is found past 17's tombstone, and 49 takes the tombstone.
        assert_eq!(table.decide(ctx, &33, 2 * SEC, 1), Decision::Allowed { remaining: 0 });
        assert_eq!(table.decide(ctx, &49, 2 * SEC, 1), Decision::Allowed { remaining: 2 });
        assert_eq!(shard.writer.lock().tombs, 0);
        assert_eq!([1, 17, 33, 49].map(|k| table.peek(&params, &k, 2 * SEC)), [2, 3, 0, 2]);
        assert_eq!(table.counters(), Counters { created: 4, evicted: 1, ..Counters::default() });
    }

    #[test]
    fn a_miss_is_trusted_only_while_nothing_came_in() {
        let table = identity();
        let (params, limits) = (params(3), Limits::uncapped(Eviction::Never));
        let ctx = Ctx { params: &params, limits: &limits, live: false };
        let shard = &table.shards[0];
        let sought = |key: u32| Hashed { key, hash: key.hash(&table.seed) };
        assert!(table.decide(ctx, &1, 0, 1).is_allowed());
        // 17 probes past 1 to the vacant slot 1.
        let Err(Some(stale)) = shard.find_and_decide(ctx, sought(17), 0, 1) else {
            panic!("17 is not in the table yet");
        };
        assert_eq!(stale.vacant, 1);
        // Another request brings 17 in meanwhile: the stale miss must not
        // make it a second bucket.
        assert!(table.decide(ctx, &17, 0, 2).is_allowed());
        let late = shard.decide_locked(ctx, &table.seed, sought(17), 0, 1, Some(stale));
        assert_eq!(late, Decision::Allowed { remaining: 0 });
        assert_eq!((table.len(), table.peek(&params, &17, 0)), (2, 0));
        // A fresh miss is trusted: 33 goes where the probe ended.
        let Err(Some(fresh)) = shard.find_and_decide(ctx, sought(33), 0, 1) else {
            panic!("33 is not in the table yet");
        };
        assert_eq!(fresh.vacant, 2);
        let first = shard.decide_locked(ctx, &table.seed, sought(33), 0, 1, Some(fresh));
        assert_eq!(first, Decision::Allowed { remaining: 2 });
        assert!(shard.slot(2).is_some_and(|slot| u32::load(&slot.key) == 33));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn growing_keeps_every_bucket_and_pruning_clears_tombstones() {
        let table = identity();
        let (params, limits) =
            (params(5), Limits::uncapped(Eviction::Idle { window: Duration::ZERO }));
        let ctx = Ctx { params: &params, limits: &limits, live: false };
        // Keys spread over the whole range, so that growing moves them.
        let keys: Vec<u32> = (0..500).map(|i| i * 8_589_934).collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(table.decide(ctx, key, 0, 1 + i as u64 % 5).is_allowed());
        }
        assert_eq!(table.len(), 500);
        assert_eq!(table.capacity(), 768, "500 keys fit in 768 slots at 7/8, not in 512");
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(table.peek(&params, key, 0), 4 - i as u64 % 5, "key {key}");
        }
        // At 4 s, the keys that took at most 4 tokens are full again.
        assert_eq!(table.prune(ctx, 4 * SEC), 400);
        assert_eq!((table.len(), table.shards[0].writer.lock().tombs), (100, 0));
        for (i, key) in keys.iter().enumerate() {
            let left = if i % 5 == 4 { 4 } else { 5 };
            assert_eq!(table.peek(&params, key, 4 * SEC), left, "key {key}");
        }
    }

    #[test]
    fn a_bucket_in_use_loses_nothing_while_its_shard_grows() {
        // One thread spends a key's tokens while another makes the shard
        // grow again and again; every allowed request must be taken.
        let table = identity();
        let (params, limits) = (params(1_000_000), Limits::uncapped(Eviction::Never));
        let ctx = Ctx { params: &params, limits: &limits, live: false };
        let allowed = std::thread::scope(|scope| {
            let user = scope.spawn(|| {
                (0..200_000).filter(|_| table.decide(ctx, &7, 0, 1).is_allowed()).count()
            });
            for key in 1..=20_000u32 {
                assert!(table.decide(ctx, &(key * 214_748), 0, 1).is_allowed());
            }
            user.join().unwrap()
        });
        assert_eq!(allowed, 200_000);
        assert_eq!(table.peek(&params, &7, 0), 800_000);
        assert_eq!(table.len(), 20_001);
        assert_eq!(table.capacity(), 32_768);
    }

    #[test]
    fn ipv6_keys_hash_both_halves() {
        let seed = Seed::random();
        let a = V6Bits([1, 2]).hash(&seed);
        assert_ne!(a, V6Bits([2, 1]).hash(&seed));
        assert_ne!(a, V6Bits([1, 3]).hash(&seed));
        assert_ne!(a, V6Bits([0, 2]).hash(&seed));
        assert_eq!(a, V6Bits([1, 2]).hash(&seed));
        assert_ne!(format!("{seed:?}"), format!("{:?}", seed.0), "the seed stays secret");
    }

    #[test]
    fn slots_are_24_bytes_for_ipv4_and_32_for_ipv6() {
        assert_eq!(size_of::<Slot<u32, Narrow>>(), 24);
        assert_eq!(size_of::<Slot<V6Bits, Narrow>>(), 32);
    }
}

/// Model checks of the slot protocol, with keys placed by hand. Run by
/// `cargo xtask loom` with the tests in `tests/loom.rs`.
#[cfg(all(test, loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::policy::Eviction;
    use crate::store::Limits;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.max_branches = 20_000;
        builder.check(f);
    }

    struct Fixture {
        table: Table<u32, Narrow>,
        params: Params,
        limits: Limits,
    }

    impl Fixture {
        fn new(eviction: Eviction) -> Arc<Fixture> {
            Arc::new(Fixture {
                table: Table::with_seed(1, Seed([0, 1])),
                params: Params::new(2, "1".parse().unwrap()),
                limits: Limits::uncapped(eviction),
            })
        }

        fn decide(&self, key: u32, now: u64, cost: u64) -> Decision {
            self.decide_live(key, now, cost, false)
        }

        /// With `live`, as through the limiter's clock, which takes the
        /// other path through `cell::decide`.
        fn decide_live(&self, key: u32, now: u64, cost: u64, live: bool) -> Decision {
            let ctx = Ctx { params: &self.params, limits: &self.limits, live };
            self.table.decide(ctx, &key, now, cost)
        }
    }

    #[test]
    fn a_request_racing_a_rebuild_stays_with_its_key() {
        // At 4 slots, keys A, B and C sit in slots 0, 1 and 3. Key D makes
        // the shard grow to 6, which moves B to slot 2 (and C to 4), and
        // then takes slot 1 itself, while a request for B that found it in
        // slot 1 is under way.
        const A: u32 = 0;
        const B: u32 = 0x6000_0000;
        const C: u32 = 0xc000_0000;
        const D: u32 = 0x3000_0000;
        for live in [false, true] {
            model(move || {
                let f = Fixture::new(Eviction::Never);
                for key in [A, B, C] {
                    assert!(f.decide(key, 0, 1).is_allowed());
                }
                let user = {
                    let f = Arc::clone(&f);
                    thread::spawn(move || f.decide_live(B, 0, 1, live))
                };
                assert!(f.decide(D, 0, 1).is_allowed());
                assert_eq!(user.join().unwrap(), Decision::Allowed { remaining: 0 });
                assert_eq!(f.table.capacity(), 6);
                assert_eq!([A, B, C, D].map(|k| f.table.peek(&f.params, &k, 0)), [1, 0, 1, 1]);
            });
        }
    }

    #[test]
    fn a_read_racing_a_slot_changing_hands_never_sees_the_new_key() {
        // Key 0 is evicted and key 1 takes its slot (both start at slot 0)
        // while a cost-0 request, which only reads, asks about key 0. Key 0
        // is full whether it is found or not, and key 1 is not.
        model(|| {
            let f = Fixture::new(Eviction::Idle { window: std::time::Duration::ZERO });
            assert!(f.decide(0, 0, 1).is_allowed());
            let reader = {
                let f = Arc::clone(&f);
                thread::spawn(move || f.decide(0, 2_000_000_000, 0))
            };
            let ctx = Ctx { params: &f.params, limits: &f.limits, live: false };
            let shard = &f.table.shards[0];
            assert_eq!(shard.sweep(&mut shard.writer.lock(), ctx, 2_000_000_000, 4), 1);
            assert_eq!(f.decide(1, 2_000_000_000, 1), Decision::Allowed { remaining: 1 });
            assert_eq!(shard.writer.lock().tombs, 0, "key 1 took the tombstone");
            assert_eq!(reader.join().unwrap(), Decision::Allowed { remaining: 2 });
        });
    }
}
