//! Side-by-side benchmarks of limiter-core, governor and a floor.
//!
//! `cargo xtask bench` runs the `suite` bench target, which measures in one
//! run, with the same quotas, keys and threads for every implementation:
//!
//! - limiter-core's [`RateLimiter`](limiter_core::RateLimiter);
//! - governor's default keyed limiter, `RateLimiter::keyed`, with `IpAddr`
//!   keys (a `DashMap` with SipHash);
//! - the [`Floor`]: one keyed-hash lookup plus one atomic update per check.
//!
//! After the suite's table it prints issue #23's outside shape
//! ([`run_outside`]), which adds governor with foldhash's hasher.
//!
//! Every [`Shape`] runs under both [`Quota`]s and in both [`ClockMode`]s,
//! and [`Report::render`] prints one table with ns/op, the ratios, the
//! scaling on two threads, the memory per key and the issue's targets.
//! A second table ([`AdversarialReport`]) compares structured key sets
//! with random ones on limiter-core alone.
//!
//! # Example
//!
//! ```
//! use limiter_bench::{ClockMode, Quota, Shape, Sizes, Workload, measure_row};
//!
//! let sizes = Sizes { requests: 1_000, samples: 1, uniform_keys: 1_000, ..Sizes::QUICK };
//! let workload = Workload::new(Shape::UniformV6, &sizes, 1);
//! let row = measure_row(Shape::UniformV6, Quota::ALLOW_ALL, ClockMode::Explicit, &workload, &sizes)?;
//! assert_eq!(row.allowed, [1.0; 3]); // ours, governor, floor
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod adversarial;
mod args;
mod error;
mod floor;
mod keys;
mod machine;
mod measure;
mod memory;
mod outside;
mod quota;
mod shape;
mod subject;
mod suite;
mod table;

pub use crate::adversarial::{AdversarialReport, AdversarialRow, KeySet, run as run_adversarial};
pub use crate::args::{ArgsError, Command, USAGE, parse as parse_args};
pub use crate::error::{BenchError, MemoryError};
pub use crate::floor::Floor;
pub use crate::keys::{Family, uniform, zipf};
pub use crate::machine::{Machine, cpu_model, load_average};
pub use crate::measure::{Request, Run, median, run};
pub use crate::memory::{
    CHILD_ENV, bytes_per_key, bytes_per_key_in_child, parse_child_output, parse_vm_rss,
    resident_bytes,
};
pub use crate::outside::{
    OutsideRow, OutsideSizes, Variant, render_outside, run_outside, splitmix64,
};
pub use crate::quota::Quota;
pub use crate::shape::{Shape, Sizes, Workload};
pub use crate::subject::{ClockMode, FloorAt, FloorNow, Implementation};
pub use crate::suite::{SEED, measure_row, run as run_suite};
pub use crate::table::{MemoryRow, Report, Row, Summary, SummaryLine, Tally, Target};
pub use limiter_testkit::{
    GovernorAt, GovernorNow, OursAt, OursNow, Subject, ThreadClock, Zipf, distinct_v4, distinct_v6,
    governor_default_clock_name, rng,
};
