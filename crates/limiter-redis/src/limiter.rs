//! The shared limiter: Redis keys, and one script call per batch with the
//! deny cache and the failure policy around it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use limiter_core::{Nanos, Rate, canonical_ip};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, ErrorKind, ServerErrorKind, Value};

use crate::builder::{Builder, Settings};
use crate::error::Error;
use crate::flight::{self, Flights};
use crate::outcome::{Counters, Key, Outcome, Request, Source};
use crate::params::{MAX_TIME, Reply, request_arg};
use crate::policy::FailurePolicy;

/// SPEC's token bucket on Redis, shared by every instance that uses the same
/// Redis and key prefix; see the [crate docs](crate).
///
/// Calls may run concurrently from many tasks: they are pipelined on one
/// multiplexed connection, and single requests that come while a call for
/// their key (or their flight) is in flight are decided together in the next
/// script call (see [`RedisRateLimiter::check_n`]).
pub struct RedisRateLimiter {
    inner: Arc<Inner>,
}

/// What a limiter shares with the tasks that decide queued requests.
pub(crate) struct Inner {
    conn: ConnectionManager,
    pub(crate) parts: Settings,
    pub(crate) flights: Flights,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = &self.inner.parts;
        f.debug_struct("RedisRateLimiter")
            .field("params", &parts.params)
            .field("prefix", &parts.prefix)
            .field("deadline", &parts.deadline)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

/// One request on its way to the script.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) key: Vec<u8>,
    pub(crate) cost: u64,
    pub(crate) at: Option<u64>,
}

impl RedisRateLimiter {
    pub(crate) fn new(conn: ConnectionManager, parts: Settings) -> RedisRateLimiter {
        RedisRateLimiter { inner: Arc::new(Inner { conn, parts, flights: Flights::default() }) }
    }

    /// A [`Builder`] for limiters of `capacity` tokens refilled at `rate`,
    /// which `policy` decides for when Redis does not.
    pub fn builder(capacity: u64, rate: Rate, policy: FailurePolicy) -> Builder {
        Builder::new(capacity, rate, policy)
    }

    /// Decides a request of cost 1 at the server's time.
    pub async fn check<'k>(&self, key: impl Into<Key<'k>>) -> Outcome {
        self.check_n(key, 1).await
    }

    /// Decides a request of `cost` at the server's time (Redis `TIME`: whole
    /// microseconds). A failed or late call is decided by the
    /// [`FailurePolicy`].
    ///
    /// While a script call for the same key (on a single Redis, for a key of
    /// the same flight: see [`Builder::batch_across_keys`]) is in flight, the
    /// request waits for it to return and is then decided with the others
    /// that waited, in the order they came, in one script call (at one server
    /// time), all within this call's deadline.
    pub async fn check_n<'k>(&self, key: impl Into<Key<'k>>, cost: u64) -> Outcome {
        self.one(Request { key: key.into(), cost, at: None }).await
    }

    /// Decides a request of `cost` at the explicit time `now`, exactly as
    /// [`limiter_core::RateLimiter::check_n_at`] does (times from 2⁶³ ns on
    /// are taken as 2⁶³ − 1). A failed or late call is decided by the
    /// [`FailurePolicy`]. Concurrent requests for one key share script calls
    /// as in [`RedisRateLimiter::check_n`].
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
        let inner = &self.inner;
        let items: Vec<Item> = requests.iter().map(|r| inner.item(r)).collect();
        let mut out = Vec::with_capacity(items.len());
        for run in items.chunk_by(|a, b| a.at.is_some() == b.at.is_some()) {
            match inner.decide(run).await {
                Ok(outcomes) => {
                    out.extend(outcomes.into_iter().map(|o| inner.parts.tally.count(o)))
                }
                Err(_) => {
                    inner.parts.tally.error();
                    out.extend(run.iter().map(|item| inner.fall_back(item)));
                }
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
        let inner = &self.inner;
        let items: Vec<Item> = requests.iter().map(|r| inner.item(r)).collect();
        let mut out = Vec::with_capacity(items.len());
        for run in items.chunk_by(|a, b| a.at.is_some() == b.at.is_some()) {
            let outcomes = inner.decide(run).await.inspect_err(|_| inner.parts.tally.error())?;
            out.extend(outcomes.into_iter().map(|o| inner.parts.tally.count(o)));
        }
        Ok(out)
    }

    /// The Redis key of `key`'s bucket: `prefix:{name}`, where the name is
    /// the bucket address (for an IP) or the bytes.
    pub fn redis_key<'k>(&self, key: impl Into<Key<'k>>) -> Vec<u8> {
        self.inner.redis_key(key.into())
    }

    /// The address that names `ip`'s bucket: its canonical form cut to the
    /// limiter's prefix for its family, as limiter-core's `bucket_address`.
    pub fn bucket_address(&self, ip: IpAddr) -> IpAddr {
        self.inner.bucket_address(ip)
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
        let mut conn = self.inner.conn.clone();
        let pattern = format!("{}:*", self.inner.parts.prefix);
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
        self.inner.parts.params.capacity
    }

    /// The refill rate of every bucket.
    pub fn rate(&self) -> Rate {
        self.inner.parts.rate
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.parts.prefix
    }

    /// The deadline of each call.
    pub fn deadline(&self) -> Duration {
        self.inner.parts.deadline
    }

    /// How many keys the deny cache holds (0 without one).
    pub fn cached_keys(&self) -> usize {
        self.inner.parts.cache.as_ref().map_or(0, |cache| cache.len())
    }

    /// What this limiter has done since it was built.
    pub fn counters(&self) -> Counters {
        self.inner.parts.tally.counters()
    }

    async fn one(&self, request: Request<'_>) -> Outcome {
        let item = self.inner.item(&request);
        flight::decide(&self.inner, item).await
    }
}

impl Inner {
    fn redis_key(&self, key: Key<'_>) -> Vec<u8> {
        let prefix = self.parts.prefix.as_bytes();
        let mut out = Vec::with_capacity(prefix.len() + 48);
        out.extend_from_slice(prefix);
        out.extend_from_slice(b":{");
        match key {
            Key::Ip(ip) => out.extend_from_slice(self.bucket_address(ip).to_string().as_bytes()),
            Key::Bytes(bytes) => out.extend_from_slice(bytes),
        }
        out.push(b'}');
        out
    }

    fn bucket_address(&self, ip: IpAddr) -> IpAddr {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => IpAddr::V4((v4.to_bits() & self.parts.v4_mask).into()),
            IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & self.parts.v6_mask).into()),
        }
    }

    fn item(&self, request: &Request<'_>) -> Item {
        Item {
            key: self.redis_key(request.key),
            cost: request.cost,
            at: request.at.map(|at| at.as_u64().min(MAX_TIME)),
        }
    }

    /// The deny cache's answer to `item`, if it has one.
    pub(crate) fn cached(&self, item: &Item) -> Option<Outcome> {
        let cache = self.parts.cache.as_ref().filter(|_| item.cost > 0)?;
        let (decision, next_token) =
            cache.answer(&self.parts.params, &item.key, item.cost, item.at)?;
        Some(Outcome { decision, next_token, source: Source::Cache })
    }

    /// Decides `items` (all server time or all explicit), the deny cache
    /// first, the rest in one script call. Counts nothing: the caller counts
    /// what it delivers.
    pub(crate) async fn decide(&self, items: &[Item]) -> Result<Vec<Outcome>, Error> {
        if self.parts.cache.is_none() {
            let pending: Vec<&Item> = items.iter().collect();
            return self.call(&pending).await;
        }
        let mut out: Vec<Option<Outcome>> = items.iter().map(|item| self.cached(item)).collect();
        let pending: Vec<&Item> =
            out.iter().zip(items).filter(|(slot, _)| slot.is_none()).map(|(_, i)| i).collect();
        if !pending.is_empty() {
            let mut decided = self.call(&pending).await?.into_iter();
            for slot in out.iter_mut().filter(|slot| slot.is_none()) {
                *slot = decided.next();
            }
        }
        Ok(out.into_iter().map(|slot| slot.expect("every request decided")).collect())
    }

    /// One script call for `items` within the deadline, and its outcomes.
    pub(crate) async fn call(&self, items: &[&Item]) -> Result<Vec<Outcome>, Error> {
        // Only the deny cache needs to know when a call left.
        let sent = self.parts.cache.as_ref().map(|_| Instant::now());
        let reply = tokio::time::timeout(self.parts.deadline, self.invoke(items))
            .await
            .map_err(|_| Error::Timeout { deadline: self.parts.deadline })??;
        match reply {
            // One request: its string alone.
            Value::BulkString(bytes) if items.len() == 1 => {
                Ok(vec![self.read(items[0], &bytes, sent)?])
            }
            Value::Array(values) if values.len() == items.len() && items.len() > 1 => items
                .iter()
                .zip(values)
                .map(|(item, value)| match value {
                    Value::BulkString(bytes) => self.read(item, &bytes, sent),
                    other => Err(Error::Reply { detail: format!("{other:?}") }),
                })
                .collect(),
            other => {
                Err(Error::Reply { detail: format!("{other:?} for {} requests", items.len()) })
            }
        }
    }

    /// Runs the script for `items` (`EVALSHA`, loading it on `NOSCRIPT`).
    async fn invoke(&self, items: &[&Item]) -> Result<Value, Error> {
        let explicit = items[0].at.is_some();
        let parts = &self.parts;
        let header = &parts.header[usize::from(explicit)];
        let keys: usize = items.iter().map(|item| item.key.len()).sum();
        let mut cmd = redis::Cmd::with_capacity(
            5 + 2 * items.len(),
            64 + header.len() + keys + 24 * items.len(),
        );
        cmd.arg("EVALSHA").arg(parts.script.get_hash()).arg(items.len());
        for item in items {
            cmd.arg(item.key.as_slice());
        }
        cmd.arg(match (explicit, parts.params.fast) {
            (true, true) => "e",
            (true, false) => "E",
            (false, true) => "s",
            (false, false) => "S",
        });
        cmd.arg(header.as_slice());
        for item in items {
            let arg = request_arg(item.at.unwrap_or(0), item.cost, parts.params.capacity);
            cmd.arg(&arg[..]);
        }
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                parts.script.load_async(&mut conn).await?;
                Ok(cmd.query_async(&mut conn).await?)
            }
            reply => Ok(reply?),
        }
    }

    /// The outcome of the script's answer `fields` to `item`, sent at `sent`
    /// (with a deny cache).
    fn read(&self, item: &Item, fields: &[u8], sent: Option<Instant>) -> Result<Outcome, Error> {
        let params = &self.parts.params;
        let parsed = Reply::parse(fields)
            .filter(|r| r.units <= params.full && r.now <= MAX_TIME && r.t <= MAX_TIME);
        let Some(Reply { code, now, t, units }) = parsed else {
            return Err(Error::Reply { detail: format!("out of range: {fields:?}") });
        };
        let (decision, next_token) = params.outcome(code, item.cost, now, t, units);
        if let (Some(cache), Some(sent)) = (&self.parts.cache, sent)
            && item.cost > 0
        {
            cache.record(params, &item.key, t, units, sent);
        }
        Ok(Outcome { decision, next_token, source: Source::Redis })
    }

    /// The [`FailurePolicy`]'s outcome for `item`, counted.
    pub(crate) fn fall_back(&self, item: &Item) -> Outcome {
        self.parts.tally.fallbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let decision =
            self.parts.fallback.decide(&item.key, item.cost, item.at, self.parts.params.capacity);
        self.parts.tally.count(Outcome { decision, next_token: None, source: Source::Fallback })
    }
}
