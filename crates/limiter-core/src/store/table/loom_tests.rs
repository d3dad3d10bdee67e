//! Model checks of the slot protocol, with keys placed by hand.

use loom::sync::Arc;
use loom::thread;

use super::*;
use crate::cell::Narrow;
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
        let ctx = Ctx { params: &self.params, limits: &self.limits, live, seen: None };
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
            let tokens =
                |k| f.table.bucket(&k).map_or(f.params.capacity(), |b| f.params.peek(b, 0));
            assert_eq!([A, B, C, D].map(tokens), [1, 0, 1, 1]);
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
        let ctx = Ctx { params: &f.params, limits: &f.limits, live: false, seen: None };
        let shard = &f.table.shards[0];
        assert_eq!(shard.sweep(ctx, 2_000_000_000, 4), 1);
        assert_eq!(f.decide(1, 2_000_000_000, 1), Decision::Allowed { remaining: 1 });
        assert_eq!(shard.ledger.lock().tombs, 0, "key 1 took the tombstone");
        assert_eq!(reader.join().unwrap(), Decision::Allowed { remaining: 2 });
    });
}

#[test]
fn a_request_racing_its_key_s_eviction_gets_no_tokens_back() {
    // A cap of one key: key 4 evicts key 2, which has one of its two
    // tokens left, while a request for two tokens of key 2 is under way.
    // Whichever runs first, key 2 holds one token (in its bucket or its
    // trace), so the request is denied. (With this seed a key is its own
    // hash, and its fingerprint the hash made odd: 3 and 5 differ.)
    for live in [false, true] {
        model(move || {
            let f = Arc::new(Fixture {
                table: Table::with_seed(1, Seed([0, 1])),
                params: Params::new(2, "1".parse().unwrap()),
                limits: Limits::new(1, crate::WhenFull::EvictFullest, Eviction::Never, 1),
            });
            assert!(f.decide(2, 0, 1).is_allowed());
            let user = {
                let f = Arc::clone(&f);
                thread::spawn(move || f.decide_live(2, 0, 2, live))
            };
            assert_eq!(f.decide(4, 0, 1), Decision::Allowed { remaining: 1 });
            assert!(!user.join().unwrap().is_allowed());
            assert_eq!(f.table.peek(&f.params, &2, 0), 1, "key 2 kept its one token");
        });
    }
}
