//! What the workspace's tests, benchmarks, stress runs and fuzz targets
//! share, so that each exists once (`publish = false`; nothing ships with
//! it):
//!
//! - [`rng`]: the one random source, a seeded [`StdRng`] per purpose, so
//!   every run repeats;
//! - [`Model`]: SPEC's token bucket in exact `u128` fixed point, the
//!   reference every decision is compared with, and [`within_bound`] /
//!   [`max_allowed`], the over-admission bound `C + R·span`;
//! - [`Zipf`]: a Zipf sampler over ranks, and [`distinct_v4`] /
//!   [`distinct_v6`] / [`distinct_by`] for key populations;
//! - [`Subject`]: the one harness trait that limiter-bench and
//!   limiter-stress drive every limiter through, with [`OursAt`] and
//!   [`OursNow`] for limiter-core and, with the `governor` feature,
//!   `GovernorAt` and `GovernorNow` for governor's keyed limiter;
//! - [`RedisServer`]: a `redis-server` of a test's own on loopback;
//! - [`MAX_TIME`] and [`NANOS_PER_SEC`].
//!
//! limiter-core uses it from its integration tests only (a dev-dependency;
//! cargo allows that cycle for tests), so nothing here reaches the library.
//!
//! # Example
//!
//! ```
//! use limiter_core::{Nanos, Rate, RateLimiter};
//! use limiter_testkit::{Model, RngExt, rng};
//!
//! let rate: Rate = "7/m".parse()?;
//! let limiter = RateLimiter::with_rate(3, rate)?;
//! let mut model = Model::new(3, rate);
//! let mut random = rng(1, 0);
//! let ip = "10.0.0.1".parse()?;
//! for _ in 0..100 {
//!     let t = random.random_range(0..60_000_000_000);
//!     assert_eq!(limiter.check_n_at(ip, 1, Nanos::new(t)), model.decide(ip, t, 1));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bound;
#[cfg(feature = "governor")]
mod governor;
mod keys;
mod model;
mod redis_server;
mod subject;
mod zipf;

pub use rand::RngExt;
pub use rand::rngs::StdRng;

pub use crate::bound::{max_allowed, within_bound};
#[cfg(feature = "governor")]
pub use crate::governor::{
    GovernorAt, GovernorNow, ThreadClock, governor_default_clock_name, governor_quota,
};
pub use crate::keys::{distinct_by, distinct_v4, distinct_v6, rng};
pub use crate::model::Model;
pub use crate::redis_server::RedisServer;
pub use crate::subject::{OursAt, OursNow, Subject};
pub use crate::zipf::Zipf;

/// The latest instant limiter-core represents, `2⁶³ − 1` ns; later times
/// are taken as it.
pub const MAX_TIME: u64 = (1 << 63) - 1;

/// Nanoseconds in a second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
