//! How a limiter bounds the keys it tracks.

use std::time::Duration;

/// When a limiter may forget a bucket.
///
/// A bucket that has refilled to capacity is indistinguishable from a new one,
/// except to a request stamped earlier than the bucket's own time, which SPEC
/// decides at the bucket's time. Eviction therefore removes a bucket only if it
/// was full at `now - window` and has seen no time after that; every request
/// stamped at `now - window` or later is then decided exactly as if the bucket
/// were still there.
///
/// Calls that read the limiter's clock (`allow`, `check_n`, ...) evict a few
/// idle buckets whenever they create one, and sweep a whole shard before its
/// table would grow. Their times are never out of order by more than the time
/// between two threads reading the clock, so the default one-second window
/// makes this lossless.
///
/// Calls at explicit times (the `_at` methods) may replay recorded traffic
/// whose records are out of order by any amount, so they evict nothing by
/// themselves, except to make room under a key cap set with
/// [`Builder::max_keys`](crate::Builder::max_keys); they stay exact to SPEC's
/// model. Call [`RateLimiter::prune_at`](crate::RateLimiter::prune_at) with a
/// time no later than any request still to come to bound their memory.
///
/// # Example
///
/// ```
/// use limiter_core::{Eviction, Nanos, Rate, RateLimiter};
/// use std::time::Duration;
///
/// let limiter = RateLimiter::builder(2, Rate::per_second(1)?)
///     .eviction(Eviction::Idle { window: Duration::ZERO })
///     .build()?;
/// let ip = "10.0.0.1".parse()?;
/// assert!(limiter.check_n_at(ip, 2, Nanos::ZERO).is_allowed());
/// assert_eq!(limiter.prune_at(Nanos::from_secs(1)), 0); // one token short
/// assert_eq!(limiter.prune_at(Nanos::from_secs(2)), 1); // full again
/// assert!(limiter.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Eviction {
    /// Keep every bucket: memory grows with the number of distinct keys.
    Never,
    /// Evict buckets that are idle: full and untouched since `now - window`.
    Idle {
        /// How far behind the latest time a request may be stamped and still be
        /// decided exactly.
        window: Duration,
    },
}

impl Default for Eviction {
    /// Idle buckets, with a one-second window.
    fn default() -> Eviction {
        Eviction::Idle { window: Duration::from_secs(1) }
    }
}

impl Eviction {
    /// The latest time at which buckets may be judged idle, at time `now`.
    pub(crate) fn horizon(self, now: u64) -> Option<u64> {
        match self {
            Eviction::Never => None,
            Eviction::Idle { window } => {
                now.checked_sub(u64::try_from(window.as_nanos()).unwrap_or(u64::MAX))
            }
        }
    }
}

/// What a limiter with a key cap does for a new key when the cap is reached and
/// no tracked bucket is idle: the moment a flood of new addresses fills it.
///
/// Under every policy, no established client (an address with a bucket) is
/// ever allowed more than an exact bucket with no cap would allow it, and
/// under `EvictFullest` and `DenyNewKeys` no address at all is: a flood of
/// new addresses can deny requests, but hands out no tokens (only
/// `AdmitUntracked` fails open, for the addresses it does not track). Each
/// policy chooses whom a flood hurts:
///
/// - [`WhenFull::EvictFullest`] (the default) keeps admitting newcomers
///   under their own limit while it can make room without loss. It evicts
///   the bucket with the most tokens among a sample of tracked ones, which
///   is most often a flooding address that sent one request and never came
///   back. A bucket evicted before it is full leaves a trace, its state, and
///   its key is decided from that trace, never from a full bucket, until
///   the trace has refilled. Traces take a fixed 8 bytes per key of the cap
///   in each address family (one 32-byte way per 4 keys a shard holds),
///   allocated when a shard first evicts a bucket that is not idle, and
///   none is ever dropped while it could matter: when no sampled bucket can
///   leave its trace, nothing is evicted, and an address with no trace is
///   denied, as under `DenyNewKeys`, until traces turn idle. So a sustained
///   flood that outruns the cap and its traces locks out new addresses
///   (legitimate ones included), while every established client keeps its
///   exact limit.
/// - [`WhenFull::DenyNewKeys`] keeps every established client's limit exact,
///   but denies every new address until buckets turn idle: a flood locks out
///   newcomers, legitimate ones included.
/// - [`WhenFull::AdmitUntracked`] fails open for new addresses only: they are
///   allowed as if their bucket were full, and nothing is remembered. Nobody
///   is locked out and established clients keep their exact limits, but a
///   flood of fresh addresses is not limited at all, nor is an address that
///   first appears while the cap is full.
///
/// # What an attacker can and cannot do under `EvictFullest`
///
/// The traces are keyed by a fingerprint of the limiter's keyed hash, which
/// an attacker can neither see nor choose. Two keys sharing a fingerprint
/// share a trace that holds the stricter of their states for every request
/// time, so a collision only ever makes a bucket stricter. An attacker
/// rotating through fresh addresses gets each one's own full bucket, as
/// without a cap (use [`Builder::ipv6_prefix`](crate::Builder::ipv6_prefix)
/// to give one /64 one bucket), and by flooding can evict established
/// clients, but cannot raise any address's allowance above its exact limit:
/// in every window of `s` seconds each address is allowed at most
/// `C + R·s` tokens, and, for requests of cost 1 in time order, at most what
/// an exact bucket with no cap allows it on the same requests (exactly that,
/// unless its trace shares a fingerprint with another). What a flood can do
/// is lock out addresses never seen before, for as long as it outruns the
/// cap and the traces, plus the time its traces take to refill and the
/// eviction window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WhenFull {
    /// Evict the fullest of a sample of tracked buckets to make room.
    #[default]
    EvictFullest,
    /// Deny requests from new keys until a tracked bucket turns idle.
    DenyNewKeys,
    /// Decide a new key's request on a full bucket that is not kept.
    AdmitUntracked,
}
