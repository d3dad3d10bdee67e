//! The `ip` target: the core's own address parser behind `allow_at`.

use std::collections::HashMap;
use std::net::IpAddr;

use limiter_core::{Nanos, Rate, RateLimiter, canonical_ip, parse_ip};

/// Tokens per bucket: small, so that the bucket each address lands in shows.
const CAPACITY: u64 = 3;

/// Sends each line of `data` (lossily decoded as UTF-8) through
/// [`RateLimiter::allow_at`], all at one instant, and the whole input once.
///
/// Asserts that [`parse_ip`] returns exactly the address `std` reads, and
/// that an input is accepted exactly when `std` parses it as an [`IpAddr`];
/// that an accepted one takes a token from the bucket of the
/// address `std` reads (checked through [`RateLimiter::tokens_at`]), so that
/// spellings of one address share a bucket; and that a rejected one names a
/// prefix of the input and creates no bucket.
///
/// # Panics
///
/// Only on a bug in the limiter's address parsing or keying.
pub fn ip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let limiter = RateLimiter::with_rate(CAPACITY, Rate::MIN).expect("capacity is in range");
    let mut taken: HashMap<IpAddr, u64> = HashMap::new();
    for input in text.split('\n').chain([text.as_ref()]) {
        let before = limiter.len();
        let std = input.parse::<IpAddr>();
        assert_eq!(parse_ip(input).ok(), std.as_ref().ok().copied(), "{input:?}: parse_ip and std");
        match (limiter.allow_at(input, Nanos::new(0)), std) {
            (Ok(allowed), Ok(ip)) => {
                assert_eq!(
                    limiter.bucket_address(ip),
                    canonical_ip(ip),
                    "{input:?}: bucket address"
                );
                let count = taken.entry(canonical_ip(ip)).or_default();
                assert_eq!(allowed, *count < CAPACITY, "{input:?} allowed after {count} takes");
                *count = (*count + 1).min(CAPACITY);
                assert_eq!(
                    limiter.tokens_at(ip, Nanos::new(0)),
                    CAPACITY - *count,
                    "{input:?} took from another address's bucket"
                );
                assert_eq!(limiter.len(), taken.len(), "{input:?}: one bucket per address");
            }
            (Err(err), Err(_)) => {
                assert!(input.starts_with(err.input()), "{input:?} reported as {:?}", err.input());
                assert_eq!(err.len(), input.len(), "{input:?}: reported length");
                assert_eq!(limiter.len(), before, "{input:?} was rejected but made a bucket");
            }
            (ours, std) => panic!("{input:?}: limiter says {ours:?}, std says {std:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_address_share_a_bucket() {
        ip(b"::1\n0:0:0:0:0:0:0:1\n::ffff:10.0.0.1\n10.0.0.1\n10.0.0.1\n::ffff:0a00:0001");
        ip(b"10.0.0.300\n\n 10.0.0.1\n1.2.3.4:80\nfe80::1%eth0\n\xff\xfe");
    }
}
