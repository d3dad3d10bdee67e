//! `replay --redis`: the records' buckets on Redis, decided by limiter-redis
//! in trace time, a batch per round trip.
//!
//! Each limit gets keys of its own under the run's prefix (`P-0`, `P-1`, …),
//! written with a fixed lifetime so that nothing expires while the replay
//! needs it, and deleted when the replay ends. A Redis failure stops the
//! replay: no policy stands in for Redis here, since the point is its answer.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use limiter_core::{Decision, Nanos};
use limiter_redis::{FailurePolicy, Key, RedisRateLimiter, Request};
use tokio::runtime::Runtime;

use crate::args::{KeyKind, Limit};
use crate::batch::Rec;
use crate::error::CliError;
use crate::keys::Prefixes;

/// How long a call may take: a replay waits for Redis rather than guess.
const DEADLINE: Duration = Duration::from_secs(30);
/// Requests per script call: a few milliseconds of the server's time.
const CHUNK: usize = 1024;

/// Where `--redis` replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisTarget {
    pub(crate) url: String,
    /// The run's key prefix: `--redis-prefix`, or a fresh one per run.
    pub(crate) prefix: String,
}

impl RedisTarget {
    pub(crate) fn new(url: String, prefix: Option<String>) -> RedisTarget {
        let prefix = prefix.unwrap_or_else(|| {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            format!("limiter-replay-{}-{nanos}", std::process::id())
        });
        RedisTarget { url, prefix }
    }
}

/// One limit's limiter on Redis, on a current-thread runtime of its own, and
/// the decisions of the records handed to [`RedisDecider::prepare`].
pub(crate) struct RedisDecider {
    runtime: Runtime,
    limiter: RedisRateLimiter,
    key: KeyKind,
    decided: VecDeque<Decision>,
}

impl RedisDecider {
    /// Connects for limit number `index`.
    pub(crate) fn connect(
        target: &RedisTarget,
        index: usize,
        limit: Limit,
        prefixes: Prefixes,
        key: KeyKind,
    ) -> Result<RedisDecider, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| CliError::Redis(format!("cannot start a runtime: {err}")))?;
        let limiter = runtime
            .block_on(
                RedisRateLimiter::builder(limit.capacity, limit.rate, FailurePolicy::Deny)
                    .prefix(&format!("{}-{index}", target.prefix))
                    .ipv4_prefix(prefixes.v4())
                    .ipv6_prefix(prefixes.v6())
                    .deadline(DEADLINE)
                    .connect(&target.url),
            )
            .map_err(|err| CliError::Redis(format!("{}: {err}", target.url)))?;
        Ok(RedisDecider { runtime, limiter, key, decided: VecDeque::new() })
    }

    /// Decides `recs` in order on Redis, to be taken one by one with
    /// [`RedisDecider::next`].
    pub(crate) fn prepare(&mut self, recs: &[Rec]) -> Result<(), CliError> {
        for chunk in recs.chunks(CHUNK) {
            let names: Vec<String> = match self.key {
                KeyKind::Ip => Vec::new(),
                // An opaque key's id is one-to-one with its bytes in a run.
                KeyKind::Any => chunk.iter().map(|rec| format!("#{}", rec.id)).collect(),
            };
            let requests: Vec<Request<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, rec)| Request {
                    key: match self.key {
                        KeyKind::Ip => Key::Ip(rec.ip),
                        KeyKind::Any => Key::Bytes(names[i].as_bytes()),
                    },
                    cost: rec.cost,
                    at: Some(Nanos::new(rec.nanos)),
                })
                .collect();
            let outcomes = self
                .runtime
                .block_on(self.limiter.try_check_batch(&requests))
                .map_err(|err| CliError::Redis(err.to_string()))?;
            self.decided.extend(outcomes.into_iter().map(|outcome| outcome.decision));
        }
        Ok(())
    }

    /// The decision of the next prepared record.
    pub(crate) fn next(&mut self) -> Decision {
        self.decided.pop_front().expect("every record is prepared before it is decided")
    }
}

impl Drop for RedisDecider {
    /// Deletes the run's keys; they expire anyway if this fails.
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.limiter.delete_all());
    }
}
