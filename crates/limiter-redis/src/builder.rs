//! Building a limiter: its settings, checked before it connects.

use std::time::Duration;

use limiter_core::Rate;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cache::DenyCache;
use crate::error::{ConfigError, Error};
use crate::limiter::RedisRateLimiter;
use crate::outcome::Tally;
use crate::params::{Params, pack};
use crate::policy::{FailurePolicy, Fallback};

/// The bucket script, run with `EVALSHA` and loaded again on `NOSCRIPT`.
const SCRIPT: &str = include_str!("bucket.lua");
/// The longest lifetime Redis takes for a key on every version: 2⁴⁸ ms.
const MAX_LIFETIME_MS: u128 = 1 << 48;

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
    across_keys: Option<bool>,
    lifetime: Duration,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl Builder {
    pub(crate) fn new(capacity: u64, rate: Rate, policy: FailurePolicy) -> Builder {
        Builder {
            capacity,
            rate,
            policy,
            prefix: Builder::DEFAULT_PREFIX.to_owned(),
            deadline: Builder::DEFAULT_DEADLINE,
            deny_cache: None,
            across_keys: None,
            lifetime: Builder::DEFAULT_LIFETIME,
            ipv4_prefix: 32,
            ipv6_prefix: 128,
        }
    }

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

    /// Whether concurrent requests for different keys may share a script
    /// call, as requests for one key always do (see
    /// [`RedisRateLimiter::check_n`]). By default they do when the server
    /// says it is not part of a Redis Cluster (`INFO cluster`:
    /// `cluster_enabled:0`) as [`Builder::connect`] connects, and do not if it
    /// is or does not say. Set `false` behind a proxy that sends each key to
    /// a server of its own but answers `INFO` as a single server; `true` only
    /// for a single server.
    ///
    /// Sharing trades latency for throughput: a request that waits takes the
    /// rest of the call in flight and then its own batch's round trip, where
    /// alone it would take one round trip of its own; each batch saves the
    /// server a script run, a `TIME` and a round trip per request.
    pub fn batch_across_keys(&mut self, across: bool) -> &mut Builder {
        self.across_keys = Some(across);
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
        let mut settings = settings;
        settings.across_keys = match self.across_keys {
            Some(across) => across,
            None => standalone(&conn, connect_deadline).await,
        };
        Ok(RedisRateLimiter::new(conn, settings))
    }

    fn settings(&self) -> Result<Settings, ConfigError> {
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
        Ok(Settings {
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
            across_keys: false,
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
pub(crate) struct Settings {
    pub(crate) script: Script,
    pub(crate) params: Params,
    /// The script's second argument (the lifetime and the bucket's figures),
    /// for server time and for explicit times.
    pub(crate) header: [Vec<u8>; 2],
    pub(crate) rate: Rate,
    pub(crate) prefix: String,
    pub(crate) v4_mask: u32,
    pub(crate) v6_mask: u128,
    pub(crate) deadline: Duration,
    pub(crate) cache: Option<DenyCache>,
    pub(crate) fallback: Fallback,
    pub(crate) tally: Tally,
    /// Whether requests for different keys may share a script call.
    pub(crate) across_keys: bool,
}

/// Whether the server says it is a single server, not part of a Redis
/// Cluster; `false` if it does not answer within `deadline`.
async fn standalone(conn: &ConnectionManager, deadline: Duration) -> bool {
    let mut conn = conn.clone();
    let mut cmd = redis::cmd("INFO");
    cmd.arg("cluster");
    match tokio::time::timeout(deadline, cmd.query_async::<String>(&mut conn)).await {
        Ok(Ok(info)) => info.lines().any(|line| line.trim() == "cluster_enabled:0"),
        _ => false,
    }
}
