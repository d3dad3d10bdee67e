//! Error types: one for building a limiter, one for a call that Redis did not
//! answer.

use std::fmt;
use std::time::Duration;

/// A limiter could not be built from the given settings.
///
/// Every variant names the offending value and the bound it breaks.
///
/// # Example
///
/// ```
/// use limiter_core::Rate;
/// use limiter_redis::{ConfigError, FailurePolicy, RedisRateLimiter};
///
/// let err = RedisRateLimiter::builder(0, Rate::per_second(1)?, FailurePolicy::Deny)
///     .validate()
///     .unwrap_err();
/// assert_eq!(err, ConfigError::CapacityOutOfRange { capacity: 0 });
/// assert_eq!(err.to_string(), "capacity 0 is out of range: expected 1 to 1000000000 tokens");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The capacity is 0 or above [`limiter_core::MAX_CAPACITY`].
    CapacityOutOfRange {
        /// The capacity that was given.
        capacity: u64,
    },
    /// A figure of the bucket's integer arithmetic is at or above the bound
    /// the script's proof of exactness assumes. Within SPEC's range (capacity
    /// up to 10⁹, any [`Rate`](limiter_core::Rate)) this never happens.
    BeyondExactRange {
        /// Which figure.
        what: &'static str,
        /// Its value.
        value: u128,
        /// The bound it must stay below.
        bound: u128,
    },
    /// A key prefix that is empty or holds `{` or `}`, which would move the
    /// Redis Cluster hash tag off the key.
    InvalidPrefix {
        /// The prefix that was given.
        prefix: String,
    },
    /// An IPv4 prefix above 32 bits or an IPv6 prefix above 128.
    AddressPrefixOutOfRange {
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
        /// The prefix length that was given.
        len: u8,
    },
    /// A zero deadline, deny-cache size, explicit-time lifetime or instance
    /// count: each must be at least one of its unit.
    Zero {
        /// Which setting.
        setting: &'static str,
    },
    /// An explicit-time key lifetime above 2⁴⁸ ms, more than Redis accepts
    /// on every version.
    LifetimeTooLong {
        /// The lifetime that was given.
        lifetime: Duration,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::CapacityOutOfRange { capacity } => write!(
                f,
                "capacity {capacity} is out of range: expected 1 to {} tokens",
                limiter_core::MAX_CAPACITY
            ),
            ConfigError::BeyondExactRange { what, value, bound } => {
                write!(f, "{what} {value} is not below {bound}, the bound of exact arithmetic")
            }
            ConfigError::InvalidPrefix { prefix } => {
                write!(f, "key prefix {prefix:?} is empty or holds '{{' or '}}'")
            }
            ConfigError::AddressPrefixOutOfRange { family, len } => {
                let max = if *family == "IPv4" { 32 } else { 128 };
                write!(f, "{family} prefix {len} is out of range: expected 0 to {max}")
            }
            ConfigError::Zero { setting } => write!(f, "{setting} must not be zero"),
            ConfigError::LifetimeTooLong { lifetime } => {
                write!(f, "lifetime {lifetime:?} is above 2^48 ms")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why Redis did not decide a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The call's deadline passed first.
    Timeout {
        /// The deadline.
        deadline: Duration,
    },
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
    /// Redis answered something the script never returns.
    Reply {
        /// What was wrong with it.
        detail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout { deadline } => write!(f, "redis did not answer within {deadline:?}"),
            Error::Redis(err) => write!(f, "redis: {err}"),
            Error::Reply { detail } => write!(f, "unexpected reply from redis: {detail}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(err) => Some(err),
            Error::Timeout { .. } | Error::Reply { .. } => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Error {
        Error::Redis(err)
    }
}
