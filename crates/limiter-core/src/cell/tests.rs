//! Unit tests of the cells: they follow the pure step, and their tags and
//! locks.

use super::*;

fn params(capacity: u64, rate: &str) -> Params {
    Params::new(capacity, rate.parse().unwrap())
}

/// [`super::decide`] keeping the whole decision.
fn decide<B: Cell>(
    cell: &B,
    params: &Params,
    now: u64,
    cost: u64,
    live: bool,
    owned: impl Fn() -> bool,
) -> Verdict {
    super::decide(cell, params, now, cost, live, owned, None, same)
}

#[test]
fn a_projection_keeps_what_it_keeps_of_the_decision() {
    let p = params(1, "1");
    let cell = Narrow::new(p.fresh(0));
    let allowed = super::decide(&cell, &p, 0, 1, true, || true, None, |d: Decision| d.is_allowed());
    assert_eq!(allowed, Verdict::Locked(true));
    let denied = super::decide(&cell, &p, 0, 1, true, || true, None, |d: Decision| d.is_allowed());
    assert_eq!(denied, Verdict::Read(false));
}

fn decision(verdict: Verdict) -> Decision {
    match verdict {
        Verdict::Locked(decision) | Verdict::Read(decision) => decision,
        Verdict::Gone => panic!("a live cell was gone"),
    }
}

/// Runs the same requests through a cell and through the pure step.
#[track_caller]
fn same_as_pure<C: Cell>(params: Params, steps: &[(u64, u64)]) {
    let cell = C::new(params.fresh(steps[0].0));
    let mut state = params.fresh(steps[0].0);
    for &(now, cost) in steps {
        let expected = params.decide(&mut state, now, cost);
        let got = decision(decide(&cell, &params, now, cost, false, || true));
        assert_eq!(got, expected, "cost {cost} at {now}");
        assert_eq!(cell.snapshot(), (state, Tag::Live), "cost {cost} at {now}");
    }
}

#[test]
fn cells_follow_the_pure_step() {
    let steps = [(5, 2), (5, 1), (4, 1), (1_000_000_005, 1), (1_000_000_005, 9), (7, 0)];
    let narrow = params(3, "1");
    assert!(narrow.is_narrow());
    same_as_pure::<Narrow>(narrow, &steps);
    same_as_pure::<Wide>(narrow, &steps);
    let wide = params(1_000_000_000, "0.000000001");
    assert!(!wide.is_narrow());
    same_as_pure::<Wide>(wide, &[(0, 1_000_000_000), (MAX_TIME, 9), (MAX_TIME, 1)]);
}

#[test]
fn denials_through_the_clock_or_short_of_a_token_write_nothing() {
    let p = params(1, "1");
    let cell = Narrow::new(p.fresh(0));
    assert!(decision(decide(&cell, &p, 0, 1, true, || true)).is_allowed());
    let before = cell.snapshot();
    let denial = decide(&cell, &p, 500_000_000, 1, true, || true);
    assert!(matches!(denial, Verdict::Read(d) if !d.is_allowed()), "{denial:?}");
    assert_eq!(cell.snapshot(), before);
    // At an explicit time too: half a token makes no whole one.
    let denial = decide(&cell, &p, 500_000_000, 1, false, || true);
    assert!(matches!(denial, Verdict::Read(d) if !d.is_allowed()), "{denial:?}");
    assert_eq!(cell.snapshot(), before);
    // A denial that leaves a whole token records its time, as SPEC says,
    // for a cheaper request that may come in from before it.
    let two = params(2, "1");
    let cell = Narrow::new(two.fresh(0));
    assert!(decision(decide(&cell, &two, 0, 2, false, || true)).is_allowed());
    let denial = decide(&cell, &two, 1_500_000_000, 2, false, || true);
    assert!(matches!(denial, Verdict::Locked(d) if !d.is_allowed()), "{denial:?}");
    let one_and_a_half = two.fresh(0).tokens() * 3 / 4;
    assert_eq!(cell.snapshot().0, State::new(1_500_000_000, one_and_a_half));
    assert!(decision(decide(&cell, &two, 900_000_000, 1, false, || true)).is_allowed());
    let wide = Wide::new(p.fresh(0));
    assert!(decision(decide(&wide, &p, 0, 1, true, || true)).is_allowed());
    assert!(!decision(decide(&wide, &p, 500_000_000, 1, true, || true)).is_allowed());
    assert_eq!(wide.snapshot().0.last(), 0);
}

#[test]
fn tags_survive_every_token_count_and_stop_writers() {
    // The largest narrow bucket keeps its tag bits clear.
    let p = params(1_000_000_000, "4.5");
    assert!(p.is_narrow());
    let full = p.fresh(MAX_TIME);
    let cell = Narrow::new(full);
    assert_eq!(cell.snapshot(), (full, Tag::Live));
    for tag in [Tag::Tomb, Tag::Vacant, Tag::Live] {
        let (state, _) = cell.lock();
        cell.unlock(state, tag);
        assert_eq!((cell.snapshot(), cell.tag_hint()), ((full, tag), tag));
    }
    let wide = params(1_000_000_000, "0.000000001");
    let wide_cell = Wide::new(wide.fresh(7));
    let (state, _) = wide_cell.lock();
    wide_cell.unlock(state, Tag::Tomb);
    assert_eq!(wide_cell.snapshot(), (wide.fresh(7), Tag::Tomb));
    // A request on a dead cell, or one its owner check rejects, is gone
    // and changes nothing.
    assert_eq!(decide(&wide_cell, &wide, 9, 1, false, || true), Verdict::Gone);
    assert_eq!(decide(&Narrow::vacant(), &p, 9, 1, false, || true), Verdict::Gone);
    assert_eq!(decide(&cell, &p, MAX_TIME, 1, false, || false), Verdict::Gone);
    assert_eq!(cell.snapshot(), (full, Tag::Live));
}

#[test]
fn narrow_cells_are_16_bytes_and_wide_24() {
    assert_eq!(size_of::<Narrow>(), 16);
    assert_eq!(size_of::<Wide>(), 24);
}
