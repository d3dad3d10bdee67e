//! The store for keys of any type: a sharded hash map, used by
//! [`KeyedRateLimiter`](crate::KeyedRateLimiter).

use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::HashTable;

use crate::bucket::{Decision, Params, State};
use crate::cell::{self, Cell, Verdict};
use crate::store::limits::{self, Occupants};
use crate::store::traces::Traces;
use crate::store::{Counters, Ctx, Store, shard_index};
use crate::sync::RwLock;

/// Buckets for keys of type `K` in cells of type `B`, spread over
/// independently locked shards.
///
/// A request for a known key takes its shard's lock shared and then works on
/// the bucket's atomics, so requests for different keys, even in one shard,
/// run in parallel. Only a key's first request takes its shard exclusively, to
/// insert the bucket, and it then also evicts a few idle buckets.
#[derive(Debug)]
pub(crate) struct Map<K, B> {
    shards: Box<[MapShard<K, B>]>,
    /// SipHash-1-3 with random keys per store: keys may come from the
    /// network, so an attacker must not be able to choose colliding ones.
    hasher: RandomState,
}

/// One shard, on its own cache lines so that shards never share one.
#[derive(Debug)]
#[repr(align(128))]
struct MapShard<K, B> {
    entries: RwLock<Entries<K, B>>,
}

/// A shard's entries, and what its writers keep.
#[derive(Debug)]
struct Entries<K, B> {
    table: HashTable<Entry<K, B>>,
    /// The next bucket index the sweeps and eviction samples examine.
    cursor: usize,
    created: u64,
    evicted: u64,
    traces: Traces,
}

/// A shard's entries held by the writer, with the hasher that finds an
/// evicted key's trace.
struct Held<'a, K, B> {
    entries: &'a mut Entries<K, B>,
    hasher: &'a RandomState,
}

#[derive(Debug)]
struct Entry<K, B> {
    key: K,
    cell: B,
}

impl<K: Hash + Eq + Clone, B: Cell> Store for Map<K, B> {
    type Key = K;

    fn new(shards: usize) -> Map<K, B> {
        assert!(shards.is_power_of_two(), "shard count {shards} is not a power of two");
        let shards = (0..shards)
            .map(|_| MapShard {
                entries: RwLock::new(Entries {
                    table: HashTable::new(),
                    cursor: 0,
                    created: 0,
                    evicted: 0,
                    traces: Traces::default(),
                }),
            })
            .collect();
        Map { shards, hasher: RandomState::new() }
    }

    #[inline]
    fn decide(&self, ctx: Ctx<'_>, key: &K, now: u64, cost: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        let entries = shard.entries.read();
        match entries.table.find(hash, |e| e.key == *key) {
            Some(entry) => settle(&entry.cell, ctx, now, cost),
            None if cost == 0 => Decision::Allowed { remaining: ctx.params.capacity() },
            None => {
                drop(entries);
                self.insert(ctx, shard, hash, key, now, cost)
            }
        }
    }

    fn bucket(&self, key: &K) -> Option<State> {
        let hash = self.hasher.hash_one(key);
        let entries = self.shard(hash).entries.read();
        match entries.table.find(hash, |e| e.key == *key) {
            Some(entry) => Some(entry.cell.snapshot().0),
            // An evicted key is decided from its trace, if it left one.
            None => entries.traces.find(hash),
        }
    }

    fn prune(&self, ctx: Ctx<'_>, now: u64) -> usize {
        let Some(horizon) = ctx.limits.eviction.horizon(now) else { return 0 };
        self.shards
            .iter()
            .map(|shard| {
                let mut entries = shard.entries.write();
                let all = entries.table.num_buckets();
                let held = &mut Held { entries: &mut entries, hasher: &self.hasher };
                let evicted = limits::sweep(held, ctx, horizon, all);
                // Give memory back once the shard is mostly empty.
                if entries.table.len() < entries.table.capacity() / 4 {
                    let hasher = &self.hasher;
                    entries.table.shrink_to_fit(|e| hasher.hash_one(&e.key));
                }
                evicted
            })
            .sum()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.entries.read().table.len()).sum()
    }

    fn counters(&self) -> Counters {
        self.shards.iter().fold(Counters::default(), |sum, shard| {
            let entries = shard.entries.read();
            sum + Counters {
                created: entries.created,
                evicted: entries.evicted,
                ..Counters::default()
            }
        })
    }
}

/// Decides on a map entry's cell, which is always live and always its key's.
#[inline]
fn settle<B: Cell>(cell: &B, ctx: Ctx<'_>, now: u64, cost: u64) -> Decision {
    match cell::decide(cell, ctx.params, now, cost, ctx.live, || true, ctx.seen, cell::same) {
        Verdict::Locked(decision) | Verdict::Read(decision) => decision,
        Verdict::Gone => unreachable!("map entries are never tagged dead"),
    }
}

impl<K: Hash + Eq + Clone, B: Cell> Map<K, B> {
    /// The slow path of [`Store::decide`]: the key was missing a moment ago.
    #[cold]
    fn insert(
        &self,
        ctx: Ctx<'_>,
        shard: &MapShard<K, B>,
        hash: u64,
        key: &K,
        now: u64,
        cost: u64,
    ) -> Decision {
        let mut entries = shard.entries.write();
        if let Some(entry) = entries.table.find(hash, |e| e.key == *key) {
            // Another thread created it since the shared lookup.
            return settle(&entry.cell, ctx, now, cost);
        }
        let held = &mut Held { entries: &mut entries, hasher: &self.hasher };
        limits::insert_new(held, ctx, hash, now, cost, |held, state| {
            let entry = Entry { key: key.clone(), cell: B::new(state) };
            held.entries.table.insert_unique(hash, entry, |e| self.hasher.hash_one(&e.key));
            held.entries.created += 1;
            true
        })
    }

    #[inline]
    fn shard(&self, hash: u64) -> &MapShard<K, B> {
        &self.shards[shard_index(hash, self.shards.len())]
    }
}

impl<K: Hash, B: Cell> Occupants for Held<'_, K, B> {
    fn positions(&self) -> usize {
        self.entries.table.num_buckets()
    }

    fn cursor(&mut self) -> &mut usize {
        &mut self.entries.cursor
    }

    fn is_full(&self) -> bool {
        self.entries.table.len() == self.entries.table.capacity()
    }

    fn live(&self, index: usize) -> Option<(State, u64)> {
        let entry = self.entries.table.get_bucket(index)?;
        Some((entry.cell.snapshot().0, self.hasher.hash_one(&entry.key)))
    }

    fn evict_if_idle(&mut self, index: usize, params: &Params, horizon: u64) -> bool {
        match self.entries.table.get_bucket_entry(index) {
            Ok(entry) if params.is_idle(entry.get().cell.snapshot().0, horizon) => {
                entry.remove();
                self.entries.evicted += 1;
                true
            }
            _ => false,
        }
    }

    fn evict(&mut self, index: usize) -> Option<(State, u64)> {
        let entry = self.entries.table.get_bucket_entry(index).ok()?;
        let state = entry.get().cell.snapshot().0;
        let hash = self.hasher.hash_one(&entry.get().key);
        entry.remove();
        self.entries.evicted += 1;
        Some((state, hash))
    }

    fn traces(&mut self) -> &mut Traces {
        &mut self.entries.traces
    }
}
