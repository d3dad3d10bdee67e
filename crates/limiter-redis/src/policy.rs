//! What a call that Redis does not decide in time means: the caller's choice.

use std::num::NonZeroU32;
use std::time::Duration;

use limiter_core::{Decision, KeyedRateLimiter, Rate};

use crate::params::Params;

/// What a call means when Redis fails or misses its deadline.
///
/// There is no default: a limiter is built with the policy its caller chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Deny (fail closed): [`Decision::Denied`] with no tokens and a wait of
    /// one token's refill interval, so that clients back off a little.
    Deny,
    /// Allow (fail open): [`Decision::Allowed`] with no tokens reported.
    Allow,
    /// Decide in a limiter local to this instance, with the capacity and rate
    /// divided by `instances` (the capacity rounded down, at least 1; the rate
    /// rounded down to 10⁻⁹ tokens per second, at least that).
    ///
    /// This is approximate: the instances' shares only add up to the shared
    /// limit when traffic is spread evenly over them, and local buckets start
    /// full, whatever the shared bucket held.
    Local {
        /// How many instances share the limit.
        instances: NonZeroU32,
    },
}

/// The local limiter of [`FailurePolicy::Local`], keyed by Redis key.
#[derive(Debug)]
pub(crate) struct Fallback {
    policy: FailurePolicy,
    local: Option<KeyedRateLimiter<Vec<u8>>>,
    interval: Duration,
}

impl Fallback {
    pub(crate) fn new(policy: FailurePolicy, params: &Params, rate: Rate) -> Fallback {
        let local = match policy {
            FailurePolicy::Local { instances } => {
                let n = u64::from(instances.get());
                let capacity = (params.capacity / n).max(1);
                let nanotokens = (u128::from(rate.numer()) * 1_000_000_000
                    / (u128::from(rate.denom()) * u128::from(n)))
                .max(1);
                let text =
                    format!("{}.{:09}", nanotokens / 1_000_000_000, nanotokens % 1_000_000_000);
                let share: Rate = text.parse().expect("a share of a rate is a rate");
                Some(
                    KeyedRateLimiter::with_rate(capacity, share)
                        .expect("a share of a valid capacity is valid"),
                )
            }
            FailurePolicy::Deny | FailurePolicy::Allow => None,
        };
        Fallback { policy, local, interval: params.token_interval() }
    }

    /// The decision for a request Redis did not decide.
    pub(crate) fn decide(
        &self,
        key: &[u8],
        cost: u64,
        now: Option<u64>,
        capacity: u64,
    ) -> Decision {
        if cost > capacity {
            return Decision::OverCapacity { cost, capacity };
        }
        match (&self.policy, &self.local) {
            (FailurePolicy::Allow, _) => Decision::Allowed { remaining: 0 },
            (_, Some(local)) => {
                // Keyed by bytes; the local limiter has its own clock for
                // server-time calls.
                let key = key.to_vec();
                match now {
                    Some(now) => local.check_n_at(&key, cost, now.into()),
                    None => local.check_n(&key, cost),
                }
            }
            _ => Decision::Denied { remaining: 0, retry_after: self.interval },
        }
    }
}
