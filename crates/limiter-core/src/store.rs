//! A sharded map from keys to buckets, created lazily.

use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::HashTable;

use crate::bucket::{Decision, Params, State};
use crate::sync::{Mutex, RwLock};

/// Buckets for keys of type `K`, spread over independently locked shards.
///
/// A request for a known key takes its shard's lock shared and then the
/// bucket's own lock, so requests for different keys, even in one shard, run
/// in parallel. Only a key's first request takes its shard exclusively, to
/// insert the bucket.
#[derive(Debug)]
pub(crate) struct Store<K> {
    shards: Box<[Shard<K>]>,
    /// SipHash-1-3 with random keys per store: keys come from the network, so
    /// an attacker must not be able to choose colliding ones.
    hasher: RandomState,
}

/// One shard, on its own cache lines so that shards never share one.
#[derive(Debug)]
#[repr(align(128))]
struct Shard<K> {
    table: RwLock<HashTable<Entry<K>>>,
}

#[derive(Debug)]
struct Entry<K> {
    key: K,
    state: Mutex<State>,
}

/// The hash bits that pick a shard: above those that place an entry in its
/// table (the low bits) and below those of its tag (the top 7 bits).
const SHARD_BITS_SHIFT: u32 = 40;

impl<K: Hash + Eq> Store<K> {
    /// A store with `shards` shards, a power of two.
    pub(crate) fn new(shards: usize) -> Store<K> {
        assert!(shards.is_power_of_two() && shards <= 1 << 16, "bad shard count {shards}");
        let shards = (0..shards).map(|_| Shard { table: RwLock::new(HashTable::new()) }).collect();
        Store { shards, hasher: RandomState::new() }
    }

    /// Decides a request of `cost` for `key` at `now`, creating a full bucket
    /// for a key never seen before. Cost 0 creates nothing.
    #[inline]
    pub(crate) fn decide(&self, params: &Params, key: K, now: u64, cost: u64) -> Decision {
        let hash = self.hasher.hash_one(&key);
        let shard = self.shard(hash);
        {
            let table = shard.table.read();
            if let Some(entry) = table.find(hash, |e| e.key == key) {
                return params.decide(&mut entry.state.lock(), now, cost);
            }
        }
        if cost == 0 {
            return Decision::Allowed { remaining: params.capacity() };
        }
        let mut table = shard.table.write();
        if let Some(entry) = table.find(hash, |e| e.key == key) {
            // Another thread created it since the shared lookup.
            return params.decide(&mut entry.state.lock(), now, cost);
        }
        let mut state = params.fresh(now);
        let decision = params.decide(&mut state, now, cost);
        table.insert_unique(hash, Entry { key, state: Mutex::new(state) }, |e| {
            self.hasher.hash_one(&e.key)
        });
        decision
    }

    /// Whole tokens `key`'s bucket holds at `now`, without changing or
    /// creating it: a key never seen has a full bucket.
    pub(crate) fn peek(&self, params: &Params, key: &K, now: u64) -> u64 {
        let hash = self.hasher.hash_one(key);
        let table = self.shard(hash).table.read();
        table
            .find(hash, |e| e.key == *key)
            .map_or(params.capacity(), |e| params.peek(*e.state.lock(), now))
    }

    /// The number of keys with a bucket.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.read().len()).sum()
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K> {
        &self.shards[(hash >> SHARD_BITS_SHIFT) as usize & (self.shards.len() - 1)]
    }
}
