//! The reference float GCRA script (`gcra_reference.lua`, like
//! go-redis/redis_rate's) that the `bench` and `probe` examples compare
//! limiter-redis with; bench only, not exact.

use limiter_core::Rate;
use redis::aio::ConnectionManager;
use redis::{RedisResult, Script, Value};

/// The reference script and a connection of its own; clones share the
/// connection.
#[derive(Clone)]
pub(crate) struct Reference {
    script: Script,
    conn: ConnectionManager,
}

impl Reference {
    /// The script, run over `conn`.
    pub(crate) fn new(conn: ConnectionManager) -> Reference {
        Reference { script: Script::new(include_str!("../gcra_reference.lua")), conn }
    }

    /// Decides one request of cost 1 for `key` (stored as `ref:{key}`) under
    /// `capacity` and `rate`; whether it was allowed.
    pub(crate) async fn allow(
        &mut self,
        key: &str,
        capacity: u64,
        rate: Rate,
    ) -> RedisResult<bool> {
        let reply: Vec<Value> = self
            .script
            .key(format!("ref:{{{key}}}"))
            .arg(capacity)
            .arg(rate.numer())
            .arg(rate.denom() as f64)
            .arg(1)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(matches!(reply.first(), Some(Value::Int(n)) if *n > 0))
    }
}
