//! Quota headers: the IETF draft's `RateLimit-Policy` and `RateLimit`, and
//! the legacy `X-RateLimit-*` trio.
//!
//! The draft is "RateLimit header fields for HTTP",
//! draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026). Its fields are
//! Structured Field lists whose items are a quoted policy name with
//! parameters:
//!
//! ```text
//! RateLimit-Policy: "default";q=10;w=2
//! RateLimit: "default";r=7;t=1
//! ```
//!
//! For a token bucket of capacity `C` refilled at `R` tokens per second,
//! `q` is `C` and `w` the seconds an empty bucket takes to fill, `C / R`
//! rounded up; `r` is the whole tokens left and `t` the seconds until the
//! next token, rounded up (0 when the bucket is full), so that within `t`
//! seconds no more than `r` requests can pass.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use limiter_core::Rate;

/// Which quota headers the layer adds to every response it limits, allowed
/// or refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderMode {
    /// No quota headers (a refusal still carries `Retry-After`).
    None,
    /// The draft's `RateLimit-Policy` and `RateLimit` (the default).
    #[default]
    Draft,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
    /// (seconds until the next token). Under stacked layers, the layer with
    /// the fewest tokens left sets them.
    Legacy,
    /// Both sets.
    Both,
}

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Whole seconds in `wait`, rounded up.
#[inline]
pub(crate) fn ceil_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// A bucket's state as the headers tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Whole tokens left; `None` when the decision does not say
    /// (a request above the capacity).
    pub(crate) remaining: Option<u64>,
    /// Seconds until the next token, rounded up.
    pub(crate) reset: u64,
}

/// One layer's headers, the constant parts made once.
#[derive(Debug, Clone)]
pub(crate) struct QuotaHeaders {
    mode: HeaderMode,
    /// `RateLimit`'s value up to the remaining tokens: the policy name as a
    /// Structured Field string, quotes included, then `;r=`.
    prefix: String,
    policy: HeaderValue,
    limit: HeaderValue,
    capacity: u64,
    /// RateLimit's values made in advance (see [`Made`]).
    made: Vec<HeaderValue>,
}

/// Which `RateLimit` values a layer makes when it is built, to clone rather
/// than write on each request: those of a bucket nearly empty (the first
/// `ENDS` counts of tokens left) or nearly full (the last `ENDS`, to the
/// capacity), with the next token at most `WAITS - 1` seconds away. A
/// client within its limit leaves its bucket nearly full, a client over it
/// leaves it empty: most requests, whatever the quota.
struct Made;

impl Made {
    const ENDS: u64 = 16;
    const WAITS: u64 = 4;

    /// The index of `(remaining, reset)` among the values made for a bucket
    /// of `capacity`, if it is one of them: remaining tokens `0..ENDS` first,
    /// then `capacity - ENDS + 1 ..= capacity`, each with every wait.
    fn index(capacity: u64, remaining: u64, reset: u64) -> Option<usize> {
        if reset >= Made::WAITS {
            return None;
        }
        let row = if remaining < Made::ENDS {
            remaining
        } else {
            let from_top = capacity.checked_sub(remaining)?;
            // Rows past the low ones, and not the same counts again.
            if from_top >= Made::ENDS || remaining < 2 * Made::ENDS {
                return None;
            }
            Made::ENDS + from_top
        };
        usize::try_from(row * Made::WAITS + reset).ok()
    }
}

impl QuotaHeaders {
    pub(crate) fn new(mode: HeaderMode, name: &str, capacity: u64, rate: Rate) -> QuotaHeaders {
        let name = sf_string(name);
        // C / R seconds = C · denom / numer, rounded up; at least 1.
        let window = (u128::from(capacity) * u128::from(rate.denom()))
            .div_ceil(u128::from(rate.numer()))
            .max(1);
        let policy = format!("{name};q={capacity};w={window}");
        let mut headers = QuotaHeaders {
            mode,
            prefix: format!("{name};r="),
            policy: HeaderValue::try_from(policy).expect("a printable ASCII field value"),
            limit: HeaderValue::from(capacity),
            capacity,
            made: Vec::new(),
        };
        if matches!(mode, HeaderMode::Draft | HeaderMode::Both) {
            let high = (capacity + 1).saturating_sub(Made::ENDS).max(2 * Made::ENDS)..=capacity;
            for remaining in (0..Made::ENDS.min(capacity + 1)).chain(high.rev()) {
                for reset in 0..Made::WAITS {
                    let index = Made::index(capacity, remaining, reset);
                    debug_assert_eq!(index, Some(headers.made.len()));
                    headers.made.push(headers.write_ratelimit(remaining, reset));
                }
            }
        }
        headers
    }

    pub(crate) fn mode(&self) -> HeaderMode {
        self.mode
    }

    /// Adds this layer's headers for `quota` to `headers`, after those of any
    /// layer inside it.
    pub(crate) fn write(&self, headers: &mut HeaderMap, quota: Quota) {
        if matches!(self.mode, HeaderMode::Draft | HeaderMode::Both) {
            headers.append(RATELIMIT_POLICY.clone(), self.policy.clone());
            if let Some(remaining) = quota.remaining {
                headers.append(RATELIMIT.clone(), self.ratelimit(remaining, quota.reset));
            }
        }
        if matches!(self.mode, HeaderMode::Legacy | HeaderMode::Both) {
            let Some(remaining) = quota.remaining else { return };
            let inner = headers
                .get(&X_REMAINING)
                .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
            if inner.is_none_or(|inner| remaining < inner) {
                headers.insert(X_LIMIT.clone(), self.limit.clone());
                headers.insert(X_REMAINING.clone(), HeaderValue::from(remaining));
                headers.insert(X_RESET.clone(), HeaderValue::from(quota.reset));
            }
        }
    }

    /// `RateLimit`'s value, `"name";r=7;t=1`: a clone of one made in
    /// advance, or written now.
    #[inline]
    fn ratelimit(&self, remaining: u64, reset: u64) -> HeaderValue {
        match Made::index(self.capacity, remaining, reset).and_then(|i| self.made.get(i)) {
            Some(value) => value.clone(),
            None => self.write_ratelimit(remaining, reset),
        }
    }

    /// `RateLimit`'s value written on the stack: the value's own bytes are
    /// its one allocation.
    fn write_ratelimit(&self, remaining: u64, reset: u64) -> HeaderValue {
        let mut line = Line::new();
        line.push(self.prefix.as_bytes());
        line.push_u64(remaining);
        line.push(b";t=");
        line.push_u64(reset);
        match line.as_bytes() {
            Some(bytes) => HeaderValue::from_bytes(bytes),
            // A policy name too long for the buffer.
            None => HeaderValue::try_from(format!("{}{remaining};t={reset}", self.prefix)),
        }
        .expect("a printable ASCII field value")
    }
}

/// `00` to `99`.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// A short line of text on the stack, for header values made per request.
pub(crate) struct Line {
    buf: [u8; Line::CAPACITY],
    len: usize,
    /// Something did not fit.
    overflow: bool,
}

impl Line {
    const CAPACITY: usize = 96;

    pub(crate) fn new() -> Line {
        Line { buf: [0; Line::CAPACITY], len: 0, overflow: false }
    }

    /// Appends `bytes`, if they fit.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }

    /// Appends `n` in decimal, if it fits: two digits a step.
    pub(crate) fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0; 20];
        let mut at = digits.len();
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = n as usize * 2;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            digits[at] = b'0' + n as u8;
        }
        self.push(&digits[at..]);
    }

    /// The line, unless something did not fit.
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        (!self.overflow).then(|| &self.buf[..self.len])
    }
}

/// `name` as a Structured Field string: printable ASCII in quotes, with `"`
/// and `\` escaped; any other character becomes `_`.
pub(crate) fn sf_string(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(mode: HeaderMode, capacity: u64, rate: &str, quota: Quota) -> Vec<String> {
        let headers = QuotaHeaders::new(mode, "burst", capacity, rate.parse().unwrap());
        let mut map = HeaderMap::new();
        headers.write(&mut map, quota);
        map.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())).collect()
    }

    #[test]
    fn draft_fields() {
        let quota = Quota { remaining: Some(7), reset: 1 };
        assert_eq!(
            written(HeaderMode::Draft, 10, "5", quota),
            ["ratelimit-policy: \"burst\";q=10;w=2", "ratelimit: \"burst\";r=7;t=1"]
        );
        // 10 tokens at 3 per second fill in 3⅓ s: w rounds up.
        assert_eq!(
            written(HeaderMode::Draft, 10, "3", quota)[0],
            "ratelimit-policy: \"burst\";q=10;w=4"
        );
        assert_eq!(
            written(HeaderMode::Draft, 1, "1/h", quota)[0],
            "ratelimit-policy: \"burst\";q=1;w=3600"
        );
        assert_eq!(
            written(HeaderMode::Draft, 1, "1000", quota)[0],
            "ratelimit-policy: \"burst\";q=1;w=1"
        );
        assert!(written(HeaderMode::None, 10, "5", quota).is_empty());
    }

    #[test]
    fn legacy_fields_and_both() {
        let quota = Quota { remaining: Some(0), reset: 3 };
        assert_eq!(
            written(HeaderMode::Legacy, 10, "5", quota),
            ["x-ratelimit-limit: 10", "x-ratelimit-remaining: 0", "x-ratelimit-reset: 3"]
        );
        assert_eq!(written(HeaderMode::Both, 10, "5", quota).len(), 5);
    }

    #[test]
    fn legacy_keeps_the_tighter_layer() {
        let inner = QuotaHeaders::new(HeaderMode::Legacy, "a", 10, "5".parse().unwrap());
        let outer = QuotaHeaders::new(HeaderMode::Legacy, "b", 1000, "1".parse().unwrap());
        let mut map = HeaderMap::new();
        inner.write(&mut map, Quota { remaining: Some(4), reset: 1 });
        outer.write(&mut map, Quota { remaining: Some(900), reset: 1 });
        assert_eq!(map.get("x-ratelimit-limit").unwrap(), "10");
        outer.write(&mut map, Quota { remaining: Some(2), reset: 1 });
        assert_eq!(map.get("x-ratelimit-limit").unwrap(), "1000");
    }

    #[test]
    fn values_made_in_advance_are_the_values() {
        for capacity in [1, 2, 10, 15, 16, 17, 31, 32, 33, 47, 48, 100, 1_000_000_000] {
            let headers = QuotaHeaders::new(HeaderMode::Draft, "p", capacity, "5".parse().unwrap());
            let mut made = 0;
            let low = 0..40.min(capacity + 1);
            for remaining in low.chain(capacity.saturating_sub(40)..=capacity) {
                for reset in 0..6 {
                    let want = format!("\"p\";r={remaining};t={reset}");
                    assert_eq!(headers.ratelimit(remaining, reset), want.as_str(), "{capacity}");
                    made += usize::from(Made::index(capacity, remaining, reset).is_some());
                }
            }
            assert!(headers.made.len() <= 2 * 16 * 4, "{capacity}: {}", headers.made.len());
            // Each made value is found, once (the ranges above overlap).
            assert!(made >= headers.made.len(), "{capacity}: {made} < {}", headers.made.len());
        }
        let none = QuotaHeaders::new(HeaderMode::None, "p", 10, "5".parse().unwrap());
        assert!(none.made.is_empty());
    }

    #[test]
    fn long_names_and_large_numbers() {
        let name = "n".repeat(200);
        let headers = QuotaHeaders::new(HeaderMode::Draft, &name, 10, "5".parse().unwrap());
        let mut map = HeaderMap::new();
        headers.write(&mut map, Quota { remaining: Some(u64::MAX), reset: 0 });
        let want = format!("\"{name}\";r={};t=0", u64::MAX);
        assert_eq!(map.get("ratelimit").unwrap(), want.as_str());
        for n in (0..1000).chain([u64::MAX, 1_000_000_007, 99_999, 100_000]) {
            let mut line = Line::new();
            line.push_u64(n);
            line.push(b"/");
            assert_eq!(line.as_bytes(), Some(format!("{n}/").as_bytes()));
        }
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(sf_string("a\"b\\c\u{e9}"), "\"a\\\"b\\\\c_\"");
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }
}
