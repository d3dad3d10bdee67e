//! The whole suite: every shape under every quota and clock mode, each
//! implementation in turn, then the memory figures.

use std::net::IpAddr;

use crate::error::{BenchError, MemoryError};
use crate::floor::Floor;
use crate::keys::Family;
use crate::measure::{self, Request};
use crate::quota::Quota;
use crate::shape::{Shape, Sizes, Workload};
use crate::subject::{ClockMode, FloorAt, FloorNow, Implementation};
use crate::table::{MemoryRow, Report, Row};
use limiter_testkit::{GovernorAt, GovernorNow, OursAt, OursNow, Subject};

/// The seed of every key set and request sequence.
pub const SEED: u64 = 0x5EED_2026;

/// The explicit time at which keys are created, in nanoseconds; timed
/// requests follow it.
const START_NS: u64 = 1_000_000_000;

/// Runs every row, then asks `memory` for each memory figure.
///
/// Each row builds a fresh limiter per implementation, creates its known
/// keys (draining them under a small quota), then times the implementations
/// in turn, rotating which goes first, for the warm-up and timed samples.
/// `progress` gets a line per finished row.
///
/// # Errors
///
/// A [`BenchError`] if limiter-core rejects a quota or `memory` fails.
pub fn run(
    sizes: &Sizes,
    seed: u64,
    progress: &mut dyn FnMut(&str),
    memory: &mut dyn FnMut(Implementation, Family) -> Result<f64, MemoryError>,
) -> Result<Report, BenchError> {
    let mut rows = Vec::new();
    let total = Shape::ALL.len() * Quota::ALL.len() * ClockMode::ALL.len();
    for shape in Shape::ALL {
        let workload = Workload::new(shape, sizes, seed);
        for quota in Quota::ALL {
            for mode in ClockMode::ALL {
                let row = measure_row(shape, quota, mode, &workload, sizes)?;
                progress(&format!(
                    "[{}/{total}] {} | {} | {}: ours {:.1} ns, governor {:.1} ns, floor {:.1} ns",
                    rows.len() + 1,
                    shape.label(sizes),
                    quota,
                    mode.name(),
                    row.ns[0],
                    row.ns[1],
                    row.ns[2],
                ));
                rows.push(row);
            }
        }
    }
    let mut memory_rows = Vec::new();
    for family in Family::ALL {
        let mut bytes = [0.0; 3];
        for (slot, implementation) in bytes.iter_mut().zip(Implementation::ALL) {
            *slot = memory(implementation, family)?;
        }
        progress(&format!(
            "memory, {}: ours {:.1} B, governor {:.1} B, floor {:.1} B per key",
            family.name(),
            bytes[0],
            bytes[1],
            bytes[2],
        ));
        memory_rows.push(MemoryRow { family, keys: sizes.memory_keys, bytes });
    }
    Ok(Report { rows, memory: memory_rows, sizes: *sizes })
}

/// Measures ours, governor and the floor on one row.
///
/// # Errors
///
/// A [`BenchError`] if limiter-core rejects `quota`.
pub fn measure_row(
    shape: Shape,
    quota: Quota,
    mode: ClockMode,
    workload: &Workload,
    sizes: &Sizes,
) -> Result<Row, BenchError> {
    let fresh = shape == Shape::Fresh;
    let (ns, allowed) = if workload.texts.is_empty() {
        let setup =
            Setup { quota, keys: &workload.keys, requests: &workload.requests, fresh, sizes };
        measure_mode(mode, &setup)?
    } else {
        let setup = Setup { quota, keys: &workload.keys, requests: &workload.texts, fresh, sizes };
        measure_mode(mode, &setup)?
    };
    Ok(Row { shape, quota, mode, ns, allowed })
}

/// What every implementation of a row gets alike.
struct Setup<'a, R> {
    quota: Quota,
    keys: &'a [IpAddr],
    requests: &'a [Vec<R>],
    /// A new limiter for every sample, with no keys: the creation path.
    fresh: bool,
    sizes: &'a Sizes,
}

type Figures = ([f64; 3], [f64; 3]);

fn measure_mode<R: Request>(mode: ClockMode, setup: &Setup<'_, R>) -> Result<Figures, BenchError> {
    let quota = setup.quota;
    // The floor is sized for the keys a sample can bring: all new ones on the
    // creation path, the known ones otherwise.
    let keys =
        if setup.fresh { setup.requests.iter().map(Vec::len).sum() } else { setup.keys.len() };
    match mode {
        ClockMode::Explicit => contest(
            setup,
            Lane::new(setup, || Ok(OursAt(quota.ours()?)))?,
            Lane::new(setup, || Ok(GovernorAt::new(quota.governor())))?,
            Lane::new(setup, || Ok(FloorAt(Floor::with_keys(quota, keys))))?,
        ),
        ClockMode::Default => contest(
            setup,
            Lane::new(setup, || Ok(OursNow(quota.ours()?)))?,
            Lane::new(setup, || Ok(GovernorNow::new(quota.governor())))?,
            Lane::new(setup, || Ok(FloorNow(Floor::with_keys(quota, keys))))?,
        ),
    }
}

/// Runs the three lanes' samples interleaved, rotating which goes first so
/// that none always runs right after another's cache traffic.
fn contest<R: Request, A: Subject, B: Subject, C: Subject>(
    setup: &Setup<'_, R>,
    mut a: Lane<A, impl Fn() -> Result<A, BenchError>>,
    mut b: Lane<B, impl Fn() -> Result<B, BenchError>>,
    mut c: Lane<C, impl Fn() -> Result<C, BenchError>>,
) -> Result<Figures, BenchError> {
    for k in 0..setup.sizes.warmups + setup.sizes.samples {
        for j in 0..3 {
            match (k + j) % 3 {
                0 => a.sample(k, setup)?,
                1 => b.sample(k, setup)?,
                _ => c.sample(k, setup)?,
            }
        }
    }
    Ok(([a.median(), b.median(), c.median()], [a.allowed(), b.allowed(), c.allowed()]))
}

/// One implementation's limiter and samples within a row.
struct Lane<S, F> {
    make: F,
    /// The limiter, with its keys created; `None` when every sample needs a
    /// new one.
    kept: Option<S>,
    ns: Vec<f64>,
    allowed: u64,
    sent: u64,
}

impl<S: Subject, F: Fn() -> Result<S, BenchError>> Lane<S, F> {
    fn new<R>(setup: &Setup<'_, R>, make: F) -> Result<Lane<S, F>, BenchError> {
        let kept = if setup.fresh { None } else { Some(created(make()?, setup)) };
        Ok(Lane { make, kept, ns: Vec::new(), allowed: 0, sent: 0 })
    }

    fn sample<R: Request>(&mut self, k: usize, setup: &Setup<'_, R>) -> Result<(), BenchError> {
        let step = setup.sizes.step_ns;
        let run = match &self.kept {
            Some(subject) => {
                let span = (setup.requests.first().map_or(0, Vec::len) as u64 + 1) * step;
                measure::run(subject, setup.requests, START_NS + k as u64 * span, step)
            }
            None => {
                let subject = (self.make)()?;
                let run = measure::run(&subject, setup.requests, START_NS, step);
                drop(subject);
                run
            }
        };
        if k >= setup.sizes.warmups {
            self.ns.push(run.ns_per_op());
            self.allowed += run.allowed;
            self.sent += run.sent;
        }
        Ok(())
    }

    fn median(&self) -> f64 {
        measure::median(&self.ns)
    }

    fn allowed(&self) -> f64 {
        self.allowed as f64 / self.sent.max(1) as f64
    }
}

/// `subject` after it has learnt `setup`'s keys at the start time, each
/// drained by the quota's drain cost.
fn created<S: Subject, R>(subject: S, setup: &Setup<'_, R>) -> S {
    let cost = setup.quota.drain_cost();
    for ip in setup.keys {
        subject.check_n(*ip, cost, START_NS);
    }
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Sizes = Sizes {
        requests: 2_000,
        samples: 3,
        warmups: 1,
        fresh_keys: 500,
        uniform_keys: 1_000,
        zipf_keys: 5_000,
        memory_keys: 1_000,
        step_ns: 100,
    };

    #[test]
    fn a_row_measures_all_three_with_the_same_decisions() {
        let shape = Shape::Uniform { threads: 2 };
        let workload = Workload::new(shape, &TINY, 9);
        let row = measure_row(shape, Quota::SEED, ClockMode::Explicit, &workload, &TINY).unwrap();
        assert!(row.ns.iter().all(|ns| ns.is_finite() && *ns > 0.0), "{row:?}");
        // Drained keys refill by 2000 × 100 ns × 5/s per sample: nothing
        // passes, in every implementation alike.
        assert_eq!(row.allowed, [0.0; 3]);
    }

    #[test]
    fn the_allow_all_quota_allows_everything_on_every_shape() {
        for shape in Shape::ALL {
            let workload = Workload::new(shape, &TINY, 9);
            for mode in ClockMode::ALL {
                let row = measure_row(shape, Quota::ALLOW_ALL, mode, &workload, &TINY).unwrap();
                assert_eq!(row.allowed, [1.0; 3], "{shape:?} {mode:?}");
            }
        }
    }

    #[test]
    fn fresh_keys_start_full_under_the_seed_quota() {
        let workload = Workload::new(Shape::Fresh, &TINY, 9);
        let row =
            measure_row(Shape::Fresh, Quota::SEED, ClockMode::Default, &workload, &TINY).unwrap();
        assert_eq!(row.allowed, [1.0; 3]);
    }

    #[test]
    fn the_suite_fills_every_row_and_asks_for_every_memory_figure() {
        let mut lines = 0;
        let mut asked = Vec::new();
        let report = run(
            &Sizes { requests: 200, samples: 1, ..TINY },
            9,
            &mut |_| lines += 1,
            &mut |i, f| {
                asked.push((i, f));
                Ok(12.5)
            },
        )
        .unwrap();
        assert_eq!(report.rows.len(), 36);
        assert_eq!(lines, 36 + 2);
        assert_eq!(asked.len(), 6);
        assert_eq!(report.memory[1].bytes, [12.5; 3]);
        assert_eq!(report.memory[1].family, Family::V6);
    }

    #[test]
    fn a_memory_failure_stops_the_suite_with_its_error() {
        let sizes = Sizes { requests: 10, samples: 1, warmups: 0, ..TINY };
        let err = run(&sizes, 9, &mut |_| {}, &mut |_, _| Err(MemoryError::NoVmRss)).unwrap_err();
        assert_eq!(err, BenchError::Memory(MemoryError::NoVmRss));
    }
}
