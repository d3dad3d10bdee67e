//! Unit tests of the address table, with keys placed by hand.

use std::time::Duration;

use super::*;
use crate::cell::Narrow;
use crate::ip::V6Bits;
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
    let (params, limits) = (params(3), Limits::uncapped(Eviction::Idle { window: Duration::ZERO }));
    let ctx = Ctx { params: &params, limits: &limits, live: false, seen: None };
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
    let evicted = shard.sweep(ctx, 2 * SEC, MIN_SLOTS);
    assert_eq!((evicted, table.len()), (1, 2));
    // 33 is found past 17's tombstone, and 49 takes the tombstone.
    assert_eq!(table.decide(ctx, &33, 2 * SEC, 1), Decision::Allowed { remaining: 0 });
    assert_eq!(table.decide(ctx, &49, 2 * SEC, 1), Decision::Allowed { remaining: 2 });
    assert_eq!(shard.ledger.lock().tombs, 0);
    assert_eq!([1, 17, 33, 49].map(|k| table.peek(&params, &k, 2 * SEC)), [2, 3, 0, 2]);
    assert_eq!(table.counters(), Counters { created: 4, evicted: 1, ..Counters::default() });
}

#[test]
fn a_miss_is_trusted_only_while_nothing_came_in() {
    let table = identity();
    let (params, limits) = (params(3), Limits::uncapped(Eviction::Never));
    let ctx = Ctx { params: &params, limits: &limits, live: false, seen: None };
    let shard = &table.shards[0];
    let sought = |key: u32| Hashed { key, hash: key.hash(&table.seed) };
    assert!(table.decide(ctx, &1, 0, 1).is_allowed());
    // 17 probes past 1 to the vacant slot 1.
    let Err(Some(stale)) = shard.find_and_decide(ctx, sought(17), 0, 1, crate::cell::same) else {
        panic!("17 is not in the table yet");
    };
    assert_eq!(stale.vacant, 1);
    // Another request brings 17 in meanwhile: the stale miss must not
    // make it a second bucket.
    assert!(table.decide(ctx, &17, 0, 2).is_allowed());
    let late = shard.decide_locked(&ctx, &table.seed, sought(17), 0, 1, Some(stale));
    assert_eq!(late, Decision::Allowed { remaining: 0 });
    assert_eq!((table.len(), table.peek(&params, &17, 0)), (2, 0));
    // A fresh miss is trusted: 33 goes where the probe ended.
    let Err(Some(fresh)) = shard.find_and_decide(ctx, sought(33), 0, 1, crate::cell::same) else {
        panic!("33 is not in the table yet");
    };
    assert_eq!(fresh.vacant, 2);
    let first = shard.decide_locked(&ctx, &table.seed, sought(33), 0, 1, Some(fresh));
    assert_eq!(first, Decision::Allowed { remaining: 2 });
    assert!(shard.slot(2).is_some_and(|slot| u32::load(&slot.key) == 33));
    assert_eq!(table.len(), 3);
}

#[test]
fn growing_keeps_every_bucket_and_pruning_clears_tombstones() {
    let table = identity();
    let (params, limits) = (params(5), Limits::uncapped(Eviction::Idle { window: Duration::ZERO }));
    let ctx = Ctx { params: &params, limits: &limits, live: false, seen: None };
    // Keys spread over the whole range, so that growing moves them.
    let keys: Vec<u32> = (0..500).map(|i| i * 8_589_934).collect();
    for (i, key) in keys.iter().enumerate() {
        assert!(table.decide(ctx, key, 0, 1 + i as u64 % 5).is_allowed());
    }
    assert_eq!(table.len(), 500);
    assert_eq!(table.capacity(), 768, "500 keys fit in 768 slots at 13/16, not in 512");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(table.peek(&params, key, 0), 4 - i as u64 % 5, "key {key}");
    }
    // At 4 s, the keys that took at most 4 tokens are full again.
    assert_eq!(table.prune(ctx, 4 * SEC), 400);
    assert_eq!((table.len(), table.shards[0].ledger.lock().tombs), (100, 0));
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
    let ctx = Ctx { params: &params, limits: &limits, live: false, seen: None };
    let allowed = std::thread::scope(|scope| {
        let user = scope
            .spawn(|| (0..200_000).filter(|_| table.decide(ctx, &7, 0, 1).is_allowed()).count());
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
