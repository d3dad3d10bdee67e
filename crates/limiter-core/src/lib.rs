//! An exact, concurrent token-bucket rate limiter with one bucket per client IP.
//!
//! Over any `d` seconds, at most `C + R·d` requests from one address pass,
//! where `C` is the capacity and `R` the rate.
//!
//! # Quick example
//!
//! ```
//! use limiter_core::RateLimiter;
//!
//! let limiter = RateLimiter::new(10, 5.0)?; // 10 tokens max, 5 tokens per second
//!
//! match limiter.allow("192.168.1.10") {
//!     Ok(true) => { /* request allowed */ }
//!     Ok(false) => { /* rate limited */ }
//!     Err(invalid) => eprintln!("{invalid}"),
//! }
//! # assert!(limiter.allow("192.168.1.10")?);
//! # assert!(limiter.allow("192.168.1.10:80").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each address's bucket is created on its first request, full. At a request
//! at time `t` it first refills, `tokens = min(C, tokens + (t − last)·R)`, then
//! a request of cost `n` passes if `tokens ≥ n` and takes them. A denied request
//! takes nothing. [`RateLimiter::check_n`] returns a [`Decision`] that also
//! tells the tokens left and how long a denied request must wait.
//!
//! # Exactness
//!
//! Decisions equal those of the model above computed in exact rational
//! arithmetic, however often or rarely a key is seen. A [`Rate`] is an exact
//! rational number of tokens per second (`"0.5"`, `"30/m"`, `"1/h"`), time is
//! integer nanoseconds ([`Nanos`]), and each bucket counts tokens as a 128-bit
//! integer in units of the rate's denominator, so a refill never rounds. This
//! holds over the whole supported range: capacities `1..=10⁹`, rates from 10⁻⁹
//! to 10⁹ tokens per second, and times anywhere in `0..2⁶⁴` ns. Floating point
//! is used only by [`RateLimiter::new`] and [`Rate::from_f64`], which turn an
//! `f64` into an exact rate once.
//!
//! A request whose time is earlier than the latest its bucket has seen is
//! decided at that latest time: a bucket's time never runs backwards. Cost 0 is
//! always allowed and changes nothing; a cost above the capacity can never be
//! allowed and is told apart as [`Decision::OverCapacity`].
//!
//! # Concurrency
//!
//! [`RateLimiter`] is `Send + Sync`. Addresses are spread by a keyed hash over
//! shards of open-addressing tables whose slots hold each address and its
//! bucket in atomics. A request for a known address takes no lock: it finds
//! the slot, reads the bucket, and either answers from what it read (a denial
//! writes nothing if it comes through the limiter's clock or finds the bucket
//! short of a whole token) or updates the bucket under a lock bit of its own.
//! Calls for different addresses therefore run in parallel, and calls for one
//! address are linearizable: with time frozen, any number of threads sending
//! more than `C` requests for a new address get exactly `C` allowed. Only an
//! address's first request (and the eviction or growth it may bring) takes its
//! shard's mutex, and two threads meeting a new address at once create one
//! bucket. [`KeyedRateLimiter`], for keys of any
//! type, keeps its buckets in a sharded hash map instead, whose readers share
//! a lock per shard.
//!
//! # Keys
//!
//! [`RateLimiter::allow`] takes an address exactly as [`std::net::IpAddr`]
//! parses it; anything else is an [`InvalidIp`] error that names the input and
//! touches no bucket. One address is one bucket however it is spelled (`::1`
//! and `0:0:0:0:0:0:0:1`), and an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
//! shares the bucket of `a.b.c.d`; see [`canonical_ip`]. Callers holding an
//! `IpAddr` pass it to [`RateLimiter::allow_ip`] or [`RateLimiter::check_n`]
//! without re-parsing.
//!
//! # Testing with `ManualClock`
//!
//! Time is read only through a [`Clock`]. Tests use a [`ManualClock`] and move
//! it by hand, so nothing sleeps; replays pass trace time to the `_at` methods.
//!
//! ```
//! use limiter_core::{ManualClock, Rate, RateLimiter};
//! use std::time::Duration;
//!
//! let clock = ManualClock::default();
//! let limiter = RateLimiter::with_clock(2, Rate::per_second(4)?, clock.clone())?;
//! let ip = "2001:db8::1".parse()?;
//! assert!(limiter.allow_ip(ip) && limiter.allow_ip(ip));
//! assert!(!limiter.allow_ip(ip));
//! clock.advance(Duration::from_millis(249));
//! assert!(!limiter.allow_ip(ip)); // 0.996 tokens
//! clock.advance(Duration::from_millis(1));
//! assert!(limiter.allow_ip(ip)); // exactly 1 token
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors and panics
//!
//! Construction fails with a [`ConfigError`] naming the value when the capacity
//! or rate is out of range; parsing an address fails with [`InvalidIp`]. No
//! input within the supported ranges panics, overflows or loses precision, and
//! there are no ranges to leave at request time: every `u64` time and cost is
//! handled.

#![forbid(unsafe_code)]

// The limiters: one generic body, its two keyspaces, and how to build them.
mod addresses;
mod builder;
mod keyed;
mod limiter;
mod settings;

// The decision: exact rates, time, one bucket's arithmetic and its atomics.
mod bucket;
mod cell;
mod clock;
mod rate;

// Keys, storage and policy.
mod ip;
mod policy;
mod store;

mod error;
mod sync;

pub use crate::addresses::{Addresses, RateLimiter};
pub use crate::bucket::{Decision, MAX_CAPACITY};
pub use crate::builder::Builder;
pub use crate::clock::{Clock, ManualClock, MonotonicClock, Nanos};
pub use crate::error::{ConfigError, InvalidIp, IpFamily, ParseRateError, RateErrorKind};
pub use crate::ip::{canonical_ip, parse_ip};
pub use crate::keyed::{AnyKeys, KeyedRateLimiter};
pub use crate::limiter::{Keyspace, Limiter};
pub use crate::policy::{Eviction, WhenFull};
pub use crate::rate::Rate;
pub use crate::store::Counters;
