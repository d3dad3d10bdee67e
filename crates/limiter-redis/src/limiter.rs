//! The shared limiter: keys, the builder, and one script call per batch.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use limiter_core::{Decision, Nanos, Rate, canonical_ip};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};

use crate::cache::DenyCache;
use crate::error::{ConfigError, Error};
use crate::params::{MAX_TIME, Params, Reply, pack, request_arg};
use crate::policy::{FailurePolicy, Fallback};

/// The bucket script, run with `EVALSHA` and loaded again on `NOSCRIPT`.
const SCRIPT: &str = include_str!("bucket.lua");
/// The longest lifetime Redis takes for a key on every version: 2⁴⁸ ms.
const MAX_LIFETIME_MS: u128 = 1 << 48;

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
    /// The [`FailurePolicy`], because Redis failed or missed the deadline.
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
    /// Calls Redis failed or did not answer in time.
    pub errors: u64,
    /// Requests the [`FailurePolicy`] decided.
    pub fallbacks: u64,
    /// Requests the deny cache answered.
    pub cache_answers: u64,
}

#[derive(Debug, Default)]
struct Tally {
    allowed: AtomicU64,
    denied: AtomicU64,
    errors: AtomicU64,
    fallbacks: AtomicU64,
    cache_answers: AtomicU64,
}

/// Builds a [`RedisRateLimiter`].
///
/// Setters take and return `&mut self`; [`Builder::connect`] may be called
/// more than once, for several instances on one Redis.
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: u64,
    rate: Rate,
    policy: FailurePolicy,
    prefix: String,
    deadline: Duration,
    deny_cache: Option<usize>,
    lifetime: Duration,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl Builder {
    /// Keys are `limiter:{key}`.
    pub const DEFAULT_PREFIX: &'static str = "limiter";
    /// The default deadline of a call: 5 ms.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(5);
    /// The default lifetime of a key written with an explicit time: one day.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

    /// Sets the key prefix: keys are `prefix:{key}`, where the braces are the
    /// Redis Cluster hash tag. Default [`Builder::DEFAULT_PREFIX`].
    pub fn prefix(&mut self, prefix: &str) -> &mut Builder {
        self.prefix = prefix.to_owned();
        self
    }

    /// Sets how long a call may wait for Redis before the [`FailurePolicy`]
    /// decides it. Default [`Builder::DEFAULT_DEADLINE`].
    pub fn deadline(&mut self, deadline: Duration) -> &mut Builder {
        self.deadline = deadline;
        self
    }

    /// Keeps "short of a token until T" for at most `max_keys` keys and
    /// answers their requests without a round trip (off by default).
    ///
    /// A cached answer is always a denial Redis would also give, and the
    /// bucket is left as Redis would leave it, under these conditions:
    /// - with the server's time, the server's clock runs no faster than this
    ///   instance's monotonic clock (the time is estimated as the cached
    ///   server time plus this instance's elapsed time since the call was
    ///   sent). The denial and `remaining: 0` are then exact; `retry_after`
    ///   and `next_token` are lower bounds, short by the clocks' difference
    ///   and the round trip, and by other instances' takings;
    /// - with explicit times, only requests at or after the cached time are
    ///   answered, and when this instance is the only one using the key the
    ///   whole outcome equals Redis's.
    pub fn deny_cache(&mut self, max_keys: usize) -> &mut Builder {
        self.deny_cache = Some(max_keys);
        self
    }

    /// Sets the lifetime of keys written by explicit-time calls, renewed on
    /// every write (trace time is not the server's clock, so such keys cannot
    /// expire when full). Default [`Builder::DEFAULT_LIFETIME`].
    pub fn explicit_time_lifetime(&mut self, lifetime: Duration) -> &mut Builder {
        self.lifetime = lifetime;
        self
    }

    /// IPv4 addresses sharing their first `len` bits share a bucket (0 to 32).
    pub fn ipv4_prefix(&mut self, len: u8) -> &mut Builder {
        self.ipv4_prefix = len;
        self
    }

    /// IPv6 addresses sharing their first `len` bits share a bucket (0 to 128).
    pub fn ipv6_prefix(&mut self, len: u8) -> &mut Builder {
        self.ipv6_prefix = len;
        self
    }

    /// Checks every setting without connecting.
    ///
    /// # Errors
    ///
    /// - [`ConfigError::CapacityOutOfRange`] unless `1 <= capacity <= 10⁹`.
    /// - [`ConfigError::BeyondExactRange`] if the bucket's integer figures
    ///   break the script's bounds (never within SPEC's range).
    /// - [`ConfigError::InvalidPrefix`], [`ConfigError::AddressPrefixOutOfRange`],
    ///   [`ConfigError::Zero`] or [`ConfigError::LifetimeTooLong`] for the
    ///   other settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(drop)
    }

    /// Connects to the Redis at `url` (`redis://host:port/db`) and builds a
    /// limiter on one multiplexed connection, which reconnects by itself.
    ///
    /// # Errors
    ///
    /// [`Builder::validate`]'s errors first; then [`Error::Redis`] if the
    /// first connection fails or misses the deadline (ten times the call
    /// deadline, at least a second).
    pub async fn connect(&self, url: &str) -> Result<RedisRateLimiter, BuildError> {
        let settings = self.settings()?;
        let client = redis::Client::open(url).map_err(Error::from)?;
        let connect_deadline = (self.deadline * 10).max(Duration::from_secs(1));
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_deadline))
            .set_response_timeout(None)
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(100));
        let conn = tokio::time::timeout(
            connect_deadline,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| Error::Timeout { deadline: connect_deadline })?
        .map_err(Error::from)?;
        Ok(settings.with_connection(conn))
    }

    fn settings(&self) -> Result<Parts, ConfigError> {
        let params = Params::new(self.capacity, self.rate)?;
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(ConfigError::InvalidPrefix { prefix: self.prefix.clone() });
        }
        if self.ipv4_prefix > 32 {
            return Err(ConfigError::AddressPrefixOutOfRange {
                family: "IPv4",
                len: self.ipv4_prefix,
            });
        }
        if self.ipv6_prefix > 128 {
            return Err(ConfigError::AddressPrefixOutOfRange {
                family: "IPv6",
                len: self.ipv6_prefix,
            });
        }
        if self.deadline.is_zero() {
            return Err(ConfigError::Zero { setting: "deadline" });
        }
        if self.deny_cache == Some(0) {
            return Err(ConfigError::Zero { setting: "deny cache size" });
        }
        let lifetime_ms = self.lifetime.as_millis();
        if lifetime_ms == 0 {
            return Err(ConfigError::Zero { setting: "explicit-time lifetime" });
        }
        if lifetime_ms > MAX_LIFETIME_MS {
            return Err(ConfigError::LifetimeTooLong { lifetime: self.lifetime });
        }
        let (mut server, mut explicit) = (vec![0], vec![lifetime_ms as u64]);
        params.args(&mut server);
        params.args(&mut explicit);
        let header = [pack(&server), pack(&explicit)];
        Ok(Parts {
            script: Script::new(SCRIPT),
            params,
            header,
            rate: self.rate,
            prefix: self.prefix.clone(),
            v4_mask: u32::MAX.checked_shl(32 - u32::from(self.ipv4_prefix)).unwrap_or(0),
            v6_mask: u128::MAX.checked_shl(128 - u32::from(self.ipv6_prefix)).unwrap_or(0),
            deadline: self.deadline,
            cache: self.deny_cache.map(DenyCache::new),
            fallback: Fallback::new(self.policy, &params, self.rate),
            tally: Tally::default(),
        })
    }
}

/// Why [`Builder::connect`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range.
    Config(ConfigError),
    /// Redis could not be reached.
    Redis(Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Config(err) => err.fmt(f),
            BuildError::Redis(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(err) => Some(err),
            BuildError::Redis(err) => Some(err),
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(err: ConfigError) -> Self {
        BuildError::Config(err)
    }
}

impl From<Error> for BuildError {
    fn from(err: Error) -> Self {
        BuildError::Redis(err)
    }
}

/// A limiter's settings, which it has before it has a connection.
#[derive(Debug)]
struct Parts {
    script: Script,
    params: Params,
    /// The script's second argument (the lifetime and the bucket's figures),
    /// for server time and for explicit times.
    header: [Vec<u8>; 2],
    rate: Rate,
    prefix: String,
    v4_mask: u32,
    v6_mask: u128,
    deadline: Duration,
    cache: Option<DenyCache>,
    fallback: Fallback,
    tally: Tally,
}

impl Parts {
    fn with_connection(self, conn: ConnectionManager) -> RedisRateLimiter {
        RedisRateLimiter { conn, parts: self }
    }
}

/// SPEC's token bucket on Redis, shared by every instance that uses the same
/// Redis and key prefix; see the [crate docs](crate).
///
/// Calls may run concurrently from many tasks: they are pipelined on one
/// multiplexed connection.
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    parts: Parts,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("params", &self.parts.params)
            .field("prefix", &self.parts.prefix)
            .field("deadline", &self.parts.deadline)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

/// One request on its way to the script.
struct Item {
    key: Vec<u8>,
    cost: u64,
    at: Option<u64>,
}

impl RedisRateLimiter {
    /// A [`Builder`] for limiters of `capacity` tokens refilled at `rate`,
    /// which `policy` decides for when Redis does not.
    pub fn builder(capacity: u64, rate: Rate, policy: FailurePolicy) -> Builder {
        Builder {
            capacity,
            rate,
            policy,
            prefix: Builder::DEFAULT_PREFIX.to_owned(),
            deadline: Builder::DEFAULT_DEADLINE,
            deny_cache: None,
            lifetime: Builder::DEFAULT_LIFETIME,
            ipv4_prefix: 32,
            ipv6_prefix: 128,
        }
    }

    /// Decides a request of cost 1 at the server's time.
    pub async fn check<'k>(&self, key: impl Into<Key<'k>>) -> Outcome {
        self.check_n(key, 1).await
    }

    /// Decides a request of `cost` at the server's time (Redis `TIME`: whole
    /// microseconds). A failed or late call is decided by the
    /// [`FailurePolicy`].
    pub async fn check_n<'k>(&self, key: impl Into<Key<'k>>, cost: u64) -> Outcome {
        self.one(Request { key: key.into(), cost, at: None }).await
    }

    /// Decides a request of `cost` at the explicit time `now`, exactly as
    /// [`limiter_core::RateLimiter::check_n_at`] does (times from 2⁶³ ns on
    /// are taken as 2⁶³ − 1). A failed or late call is decided by the
    /// [`FailurePolicy`].
    pub async fn check_n_at<'k>(&self, key: impl Into<Key<'k>>, cost: u64, now: Nanos) -> Outcome {
        self.one(Request { key: key.into(), cost, at: Some(now) }).await
    }

    /// As [`RedisRateLimiter::check_n_at`], but returns Redis's failure
    /// instead of applying the policy.
    ///
    /// # Errors
    ///
    /// [`Error`] when Redis fails or misses the deadline.
    pub async fn try_check_n_at<'k>(
        &self,
        key: impl Into<Key<'k>>,
        cost: u64,
        now: Nanos,
    ) -> Result<Outcome, Error> {
        let mut out =
            self.try_check_batch(&[Request { key: key.into(), cost, at: Some(now) }]).await?;
        Ok(out.pop().expect("one outcome per request"))
    }

    /// Decides `requests` in order, with one round trip for each run of
    /// requests of the same kind (server time or explicit time), each run
    /// one script call. A failed or late call's requests are decided by the
    /// [`FailurePolicy`].
    ///
    /// On Redis Cluster, the keys of one batch must hash to one slot.
    pub async fn check_batch(&self, requests: &[Request<'_>]) -> Vec<Outcome> {
        let items: Vec<Item> = requests.iter().map(|r| self.item(r)).collect();
        let mut out = Vec::with_capacity(items.len());
        for run in items.chunk_by(|a, b| a.at.is_some() == b.at.is_some()) {
            match self.decide(run).await {
                Ok(outcomes) => out.extend(outcomes),
                Err(_) => out.extend(run.iter().map(|item| self.fall_back(item))),
            }
        }
        out
    }

    /// As [`RedisRateLimiter::check_batch`], but returns the first failure
    /// instead of applying the policy. Runs before it were decided.
    ///
    /// # Errors
    ///
    /// [`Error`] when Redis fails or misses the deadline.
    pub async fn try_check_batch(&self, requests: &[Request<'_>]) -> Result<Vec<Outcome>, Error> {
        let items: Vec<Item> = requests.iter().map(|r| self.item(r)).collect();
        let mut out = Vec::with_capacity(items.len());
        for run in items.chunk_by(|a, b| a.at.is_some() == b.at.is_some()) {
            out.extend(self.decide(run).await?);
        }
        Ok(out)
    }

    /// The Redis key of `key`'s bucket: `prefix:{name}`, where the name is
    /// the bucket address (for an IP) or the bytes.
    pub fn redis_key<'k>(&self, key: impl Into<Key<'k>>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.prefix.len() + 48);
        out.extend_from_slice(self.parts.prefix.as_bytes());
        out.extend_from_slice(b":{");
        match key.into() {
            Key::Ip(ip) => out.extend_from_slice(self.bucket_address(ip).to_string().as_bytes()),
            Key::Bytes(bytes) => out.extend_from_slice(bytes),
        }
        out.push(b'}');
        out
    }

    /// The address that names `ip`'s bucket: its canonical form cut to the
    /// limiter's prefix for its family, as limiter-core's `bucket_address`.
    pub fn bucket_address(&self, ip: IpAddr) -> IpAddr {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => IpAddr::V4((v4.to_bits() & self.parts.v4_mask).into()),
            IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & self.parts.v6_mask).into()),
        }
    }

    /// Deletes every key under this limiter's prefix (with `SCAN` and
    /// `UNLINK`, so it does not block Redis); returns how many. For the end
    /// of a replay under a prefix of its own.
    ///
    /// # Errors
    ///
    /// [`Error::Redis`] if a command fails. There is no deadline: the time
    /// grows with the number of keys.
    pub async fn delete_all(&self) -> Result<u64, Error> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.parts.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let n: u64 = conn.unlink(keys).await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// The capacity of every bucket, in tokens.
    pub fn capacity(&self) -> u64 {
        self.parts.params.capacity
    }

    /// The refill rate of every bucket.
    pub fn rate(&self) -> Rate {
        self.parts.rate
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.parts.prefix
    }

    /// The deadline of each call.
    pub fn deadline(&self) -> Duration {
        self.parts.deadline
    }

    /// How many keys the deny cache holds (0 without one).
    pub fn cached_keys(&self) -> usize {
        self.parts.cache.as_ref().map_or(0, DenyCache::len)
    }

    /// What this limiter has done since it was built.
    pub fn counters(&self) -> Counters {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counters {
            allowed: get(&self.parts.tally.allowed),
            denied: get(&self.parts.tally.denied),
            errors: get(&self.parts.tally.errors),
            fallbacks: get(&self.parts.tally.fallbacks),
            cache_answers: get(&self.parts.tally.cache_answers),
        }
    }

    async fn one(&self, request: Request<'_>) -> Outcome {
        let item = self.item(&request);
        match self.decide(std::slice::from_ref(&item)).await {
            Ok(mut out) => out.pop().expect("one outcome per request"),
            Err(_) => self.fall_back(&item),
        }
    }

    fn item(&self, request: &Request<'_>) -> Item {
        Item {
            key: self.redis_key(request.key),
            cost: request.cost,
            at: request.at.map(|at| at.as_u64().min(MAX_TIME)),
        }
    }

    /// Decides `items` (all server time or all explicit), the deny cache
    /// first, the rest in one script call.
    async fn decide(&self, items: &[Item]) -> Result<Vec<Outcome>, Error> {
        let mut out: Vec<Option<Outcome>> = vec![None; items.len()];
        if let Some(cache) = &self.parts.cache {
            for (slot, item) in out.iter_mut().zip(items) {
                if item.cost == 0 {
                    continue;
                }
                if let Some((decision, next_token)) =
                    cache.answer(&self.parts.params, &item.key, item.cost, item.at)
                {
                    *slot = Some(Outcome { decision, next_token, source: Source::Cache });
                }
            }
        }
        let pending: Vec<&Item> =
            out.iter().zip(items).filter(|(slot, _)| slot.is_none()).map(|(_, i)| i).collect();
        if !pending.is_empty() {
            let sent = Instant::now();
            let decided = match self.call(&pending).await {
                Ok(reply) => self.read(&pending, &reply, sent),
                Err(err) => Err(err),
            };
            let decided = decided.inspect_err(|_| {
                self.parts.tally.errors.fetch_add(1, Ordering::Relaxed);
            })?;
            let mut decided = decided.into_iter();
            for slot in out.iter_mut().filter(|slot| slot.is_none()) {
                *slot = decided.next();
            }
        }
        // Counted only now: a failed call's requests are the policy's.
        Ok(out
            .into_iter()
            .map(|slot| {
                let outcome = slot.expect("every request decided");
                if outcome.source == Source::Cache {
                    self.parts.tally.cache_answers.fetch_add(1, Ordering::Relaxed);
                }
                self.count(outcome)
            })
            .collect())
    }

    /// The outcomes of the script's `reply` to `items`, sent at `sent`.
    fn read(
        &self,
        items: &[&Item],
        reply: &[Vec<u8>],
        sent: Instant,
    ) -> Result<Vec<Outcome>, Error> {
        let mut out = Vec::with_capacity(items.len());
        for (item, fields) in items.iter().zip(reply) {
            let parsed = Reply::parse(fields).filter(|r| {
                r.units <= self.parts.params.full && r.now <= MAX_TIME && r.t <= MAX_TIME
            });
            let Some(Reply { code, now, t, units }) = parsed else {
                return Err(Error::Reply { detail: format!("out of range: {fields:?}") });
            };
            let (decision, next_token) = self.parts.params.outcome(code, item.cost, now, t, units);
            if let Some(cache) = self.parts.cache.as_ref().filter(|_| item.cost > 0) {
                cache.record(&self.parts.params, &item.key, t, units, sent);
            }
            out.push(Outcome { decision, next_token, source: Source::Redis });
        }
        Ok(out)
    }

    /// One script call for `items`, within the deadline.
    async fn call(&self, items: &[&Item]) -> Result<Vec<Vec<u8>>, Error> {
        let explicit = items[0].at.is_some();
        let mut invocation = self.parts.script.prepare_invoke();
        invocation.arg(match (explicit, self.parts.params.fast) {
            (true, true) => "e",
            (true, false) => "E",
            (false, true) => "s",
            (false, false) => "S",
        });
        invocation.arg(&self.parts.header[usize::from(explicit)]);
        for item in items {
            invocation.key(item.key.as_slice());
            invocation.arg(request_arg(
                item.at.unwrap_or(0),
                item.cost,
                self.parts.params.capacity,
            ));
        }
        let mut conn = self.conn.clone();
        let reply: Vec<Vec<u8>> =
            tokio::time::timeout(self.parts.deadline, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| Error::Timeout { deadline: self.parts.deadline })??;
        if reply.len() != items.len() {
            return Err(Error::Reply {
                detail: format!("{} answers for {} requests", reply.len(), items.len()),
            });
        }
        Ok(reply)
    }

    fn fall_back(&self, item: &Item) -> Outcome {
        self.parts.tally.fallbacks.fetch_add(1, Ordering::Relaxed);
        let decision =
            self.parts.fallback.decide(&item.key, item.cost, item.at, self.parts.params.capacity);
        self.count(Outcome { decision, next_token: None, source: Source::Fallback })
    }

    fn count(&self, outcome: Outcome) -> Outcome {
        let counter = if outcome.decision.is_allowed() {
            &self.parts.tally.allowed
        } else {
            &self.parts.tally.denied
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }
}
