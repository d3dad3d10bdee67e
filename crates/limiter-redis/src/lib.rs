//! limiter-core's exact token bucket, shared by every instance of a service
//! through Redis.
//!
//! A service that runs N instances, each limiting on its own, lets each client
//! through N times faster than intended. A [`RedisRateLimiter`] keeps one
//! bucket per client in Redis instead, decided atomically on the server by one
//! Lua script per call, with limiter-core's semantics to the last nanosecond.
//!
//! # Quick example
//!
//! ```no_run
//! use limiter_core::{Decision, Rate};
//! use limiter_redis::{FailurePolicy, RedisRateLimiter};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let limiter = RedisRateLimiter::builder(10, Rate::per_second(5)?, FailurePolicy::Deny)
//!     .prefix("api")
//!     .connect("redis://127.0.0.1:6379/")
//!     .await?;
//! let ip: std::net::IpAddr = "192.0.2.7".parse()?;
//! let outcome = limiter.check(ip).await;
//! match outcome.decision {
//!     Decision::Allowed { remaining } => println!("allowed, {remaining} left"),
//!     Decision::Denied { retry_after, .. } => println!("retry in {retry_after:?}"),
//!     Decision::OverCapacity { .. } => println!("never"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Exactness
//!
//! Every decision equals [`limiter_core::RateLimiter::check_n_at`]'s at the
//! same time, field for field, over the whole supported range (capacity
//! `1..=10⁹`, any [`Rate`](limiter_core::Rate) from 10⁻⁹ to 10⁹ tokens per
//! second, times in `0..2⁶³` ns). The script (`bucket.lua`) counts tokens in
//! integer units as limiter-core does, and every Lua number in it is an exact
//! integer of at most 2⁵³: in plain numbers when a full bucket is at most
//! 4·10¹⁵ units (most limits: 10 tokens at 5/s is 2·10⁹), and in big integers
//! of 24-bit limbs otherwise; its header proves the bounds. What the script
//! returns (the bucket's time and units) is turned into a
//! [`Decision`](limiter_core::Decision) in `u128` arithmetic, as limiter-core
//! does. Nothing in the range is refused; [`ConfigError::BeyondExactRange`]
//! guards the proof's assumptions.
//!
//! # Time
//!
//! [`RedisRateLimiter::check_n`] uses the server's clock (`TIME`, whole
//! microseconds), so instances' clocks cannot disagree. The `_at` methods take
//! explicit nanoseconds, for replays and tests. Either way a bucket's time
//! never runs backwards: a request earlier than its bucket's time (a failover
//! to a server whose clock is behind) is decided at the bucket's time.
//!
//! # Keys and memory
//!
//! Keys are `prefix:{name}`, the braces being the Redis Cluster hash tag; the
//! name is an address's bucket address (as limiter-core groups addresses by
//! prefix) or any bytes. With the server's time, a key expires (`PX`) when its
//! bucket is full again, and a full bucket is deleted: a missing key *is* a
//! full bucket, so expiry never changes a decision. With explicit times the
//! server's clock says nothing about the trace's, so keys live a fixed time
//! after their last write ([`Builder::explicit_time_lifetime`]) and
//! [`RedisRateLimiter::delete_all`] removes them at the end of a replay.
//!
//! # Failures
//!
//! Every call has a deadline ([`Builder::deadline`], 5 ms by default). A call
//! that fails or misses it is decided by the [`FailurePolicy`] the caller
//! chose: deny, allow, or a local limiter with a share of the limit. The
//! `try_` methods return the [`Error`] instead. The connection is one
//! multiplexed [`redis::aio::ConnectionManager`], which reconnects by itself,
//! and the script is reloaded on `NOSCRIPT` after a restart.
//!
//! # Concurrent requests
//!
//! Single requests for one key that come while a script call for it is in
//! flight wait for it, then go together as one batch in the next call: one
//! round trip, one script run, and on the usual path one read and at most
//! one write of the key for the whole batch, decided request by request in
//! the order they came. On a single Redis (not a Cluster, as `INFO cluster`
//! tells at connection) requests for any keys share calls in the same way,
//! in two flights by key ([`Builder::batch_across_keys`]). Requests in flight together have no order of their
//! own, so this changes no decision's exactness; each keeps its own
//! deadline. A request that is not allowed and leaves its bucket short of a
//! token writes nothing (limiter-core's own rule, and the same decisions).
//!
//! # The deny cache
//!
//! [`Builder::deny_cache`] answers requests for keys known to be short of a
//! whole token without a round trip; see there for when it is exact.

mod builder;
mod cache;
mod error;
mod flight;
mod limiter;
mod outcome;
mod params;
mod policy;

pub use crate::builder::{BuildError, Builder};
pub use crate::error::{ConfigError, Error};
pub use crate::limiter::RedisRateLimiter;
pub use crate::outcome::{Counters, Key, Outcome, Request, Source};
pub use crate::policy::FailurePolicy;
