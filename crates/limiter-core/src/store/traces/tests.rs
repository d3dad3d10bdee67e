//! Unit tests of the traces, with hashes chosen by hand: with one set, a
//! hash's low 32 bits are its fingerprint.

use super::*;

const SEC: u64 = 1_000_000_000;

/// Capacity 10 at 1 token a second: a token is 10⁹ units.
fn params() -> Params {
    Params::new(10, "1".parse().unwrap())
}

/// A state of `n` tokens at `secs` seconds.
fn at(secs: u64, n: u64) -> State {
    State::new(secs * SEC, u128::from(n) * u128::from(SEC))
}

/// Times around every corner of the states these tests use: each quarter
/// second over 30 s.
fn times() -> impl Iterator<Item = u64> {
    (0..=120).map(|q| q * SEC / 4)
}

/// Whether `bound` holds no more units than `own` for a request at any time.
#[track_caller]
fn no_looser(params: &Params, bound: State, own: State) {
    for u in times() {
        let (b, o) = (params.units_at(bound, u), params.units_at(own, u));
        assert!(b <= o, "at {u} ns: {b} units from {bound:?}, but {own:?} holds {o}");
    }
}

#[test]
fn meet_is_no_looser_than_either_state_and_exact_on_one() {
    let p = params();
    let states = [at(0, 0), at(0, 9), at(3, 2), at(5, 0), at(5, 10), at(2, 7), at(9, 4)];
    for a in states {
        assert_eq!(p.meet(a, a), a);
        for b in states {
            let met = p.meet(a, b);
            no_looser(&p, met, a);
            no_looser(&p, met, b);
            assert_eq!(met, p.meet(b, a));
        }
    }
    // The loosest such state: the lower level on the later line. 2 tokens
    // at 3 s and 4 at 6 s (the line of 2 at 4 s) meet as 2 tokens at 4 s.
    assert_eq!(p.meet(at(3, 2), at(6, 4)), at(4, 2));
    assert_eq!(p.meet(at(3, 2), at(5, 0)), at(5, 0));
    assert_eq!(p.meet(at(3, 2), at(2, 7)), at(3, 2));
    // A full state bounds nothing beyond the other one.
    assert_eq!(p.meet(at(0, 10), at(4, 1)), at(4, 1));
}

#[test]
fn a_key_finds_its_own_trace_until_it_is_idle() {
    let (p, mut traces) = (params(), Traces::default());
    assert_eq!(traces.find(7), None, "no traces yet");
    assert!(traces.fits(&p, 7, None));
    traces.store(&p, 1, 7, at(1, 3), None);
    assert_eq!(traces.find(7), Some(at(1, 3)));
    assert_eq!(traces.find(9), None);
    // A bucket idle at the horizon leaves none.
    traces.store(&p, 1, 11, at(1, 10), Some(SEC));
    assert_eq!(traces.find(11), None);
    for hash in [13, 15, 17] {
        traces.store(&p, 1, hash, at(8, 0), Some(7 * SEC));
    }
    // The set is full: a fifth key does not fit until a trace is idle.
    assert!(!traces.fits(&p, 19, Some(7 * SEC)));
    assert!(traces.fits(&p, 17, Some(7 * SEC)), "its own way");
    // Key 7's trace is full from 8 s on, so idle at a horizon of 8 s.
    assert!(traces.fits(&p, 19, Some(8 * SEC)));
    traces.store(&p, 1, 19, at(9, 0), Some(8 * SEC));
    assert_eq!(traces.find(7), None);
    assert_eq!(traces.find(19), Some(at(9, 0)));
}

#[test]
fn a_colliding_fingerprint_only_makes_buckets_stricter() {
    let (p, mut traces) = (params(), Traces::default());
    // Two keys whose hashes share their low 32 bits, so their fingerprint.
    let (a, b) = (0x1_0000_0005, 0x2_0000_0005);
    let (own_a, own_b) = (at(2, 1), at(4, 8));
    traces.store(&p, 1, a, own_a, None);
    // b was never evicted, so its own bucket is full: a's trace is stricter.
    assert_eq!(traces.find(b), Some(own_a), "b is held to a's trace");
    no_looser(&p, own_a, p.fresh(0));
    assert!(traces.fits(&p, b, None));
    traces.store(&p, 1, b, own_b, None);
    // Now the way holds both, met: each is held to no more than its own.
    let both = traces.find(a).unwrap();
    assert_eq!(traces.find(b), Some(both));
    no_looser(&p, both, own_a);
    no_looser(&p, both, own_b);
    // Deciding one key on the shared way keeps the other bounded: b spends
    // 1 token at 5 s, and a is held to no more than before.
    assert_eq!(traces.decide(&p, b, 5 * SEC, 1), Some(Decision::Allowed { remaining: 3 }));
    no_looser(&p, traces.find(a).unwrap(), own_a);
    no_looser(&p, traces.find(a).unwrap(), at(5, 3));
}

#[test]
fn deciding_on_a_trace_is_exact_for_requests_in_order() {
    let (p, mut traces) = (params(), Traces::default());
    traces.store(&p, 1, 7, at(0, 2), None);
    let mut exact = at(0, 2);
    for (secs, cost) in [(0, 1), (0, 2), (1, 1), (1, 1), (3, 4), (3, 1), (20, 10), (20, 1)] {
        let expected = p.decide(&mut exact, secs * SEC, cost);
        assert_eq!(traces.decide(&p, 7, secs * SEC, cost), Some(expected), "{cost} at {secs} s");
        for u in times().filter(|&u| u >= secs * SEC) {
            assert_eq!(p.units_at(traces.find(7).unwrap(), u), p.units_at(exact, u));
        }
    }
    assert_eq!(traces.decide(&p, 9, 0, 1), None, "no trace, no decision");
}

#[test]
fn traces_take_a_fixed_32_bytes_a_way() {
    let (p, mut traces) = (params(), Traces::default());
    let sets = Traces::sets_for(100_000, 64);
    assert_eq!(sets, 98, "1563 keys a shard: 391 ways, in sets of 4");
    for hash in 0..10_000u64 {
        let hash = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if traces.fits(&p, hash, None) {
            traces.store(&p, sets, hash, at(1, 0), None);
        }
    }
    assert_eq!(traces.bytes(), sets * WAYS * 32);
    // Every way was taken, and no trace was dropped for another.
    let kept =
        (0..10_000u64).filter(|h| traces.find(h.wrapping_mul(0x9E37_79B9_7F4A_7C15)).is_some());
    assert_eq!(kept.count(), sets * WAYS);
}
