//! What a call asks and answers: keys, requests, outcomes and counters.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use limiter_core::{Decision, Nanos};

/// A bucket's key: an IP address (grouped as limiter-core groups it) or any
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A client address. Its bucket is named by its canonical form cut to the
    /// limiter's prefix for its family, exactly as
    /// [`limiter_core::RateLimiter::bucket_address`] groups addresses.
    Ip(IpAddr),
    /// Any byte string, used as it is.
    Bytes(&'a [u8]),
}

impl From<IpAddr> for Key<'_> {
    fn from(ip: IpAddr) -> Self {
        Key::Ip(ip)
    }
}

impl<'a> From<&'a [u8]> for Key<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Key::Bytes(bytes)
    }
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(text: &'a str) -> Self {
        Key::Bytes(text.as_bytes())
    }
}

/// One request of a batch: a key, a cost, and its time (`None`: the server's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The bucket.
    pub key: Key<'a>,
    /// Tokens asked for.
    pub cost: u64,
    /// An explicit time, or `None` for Redis's own clock.
    pub at: Option<Nanos>,
}

/// Who decided a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// The script on Redis.
    Redis,
    /// The local deny cache, without a round trip.
    Cache,
    /// The [`FailurePolicy`](crate::FailurePolicy), because Redis failed or missed the deadline.
    Fallback,
}

/// A decision, and what HTTP quota headers need besides it.
#[must_use = "an outcome does nothing unless the caller acts on it"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// limiter-core's decision, field for field.
    pub decision: Decision,
    /// The exact time from the request's time until the bucket holds one
    /// whole token more than it has left after this request (rounded up to
    /// the next nanosecond); `None` when it is full. For a denied request of
    /// cost 1 this equals its `retry_after`. `None` for every
    /// [`Source::Fallback`] outcome.
    pub next_token: Option<Duration>,
    /// Who decided.
    pub source: Source,
}

/// What a limiter has done since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests allowed (from any source).
    pub allowed: u64,
    /// Requests denied, over-capacity ones included (from any source).
    pub denied: u64,
    /// Calls Redis failed or did not answer in time: one per call made to
    /// the limiter (a batch is one call), also when it waited to share a
    /// script call with concurrent requests for its key.
    pub errors: u64,
    /// Requests the [`FailurePolicy`](crate::FailurePolicy) decided.
    pub fallbacks: u64,
    /// Requests the deny cache answered.
    pub cache_answers: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) allowed: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) cache_answers: AtomicU64,
}

impl Tally {
    pub(crate) fn counters(&self) -> Counters {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counters {
            allowed: get(&self.allowed),
            denied: get(&self.denied),
            errors: get(&self.errors),
            fallbacks: get(&self.fallbacks),
            cache_answers: get(&self.cache_answers),
        }
    }

    /// Counts `outcome`, delivered to its caller, and returns it.
    pub(crate) fn count(&self, outcome: Outcome) -> Outcome {
        if outcome.source == Source::Cache {
            self.cache_answers.fetch_add(1, Ordering::Relaxed);
        }
        let counter = if outcome.decision.is_allowed() { &self.allowed } else { &self.denied };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}
