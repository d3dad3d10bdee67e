//! `allow` takes exactly the strings `std::net::IpAddr` parses, and charges the
//! bucket of the address std reads from them.
//!
//! The core parses addresses with its own parser, which its unit tests compare
//! with std directly over millions of strings; this test checks the same
//! promise through the public API, on every one-character edit of a set of
//! addresses in their tricky spellings.

use std::collections::HashMap;
use std::net::IpAddr;

use limiter_core::{ManualClock, Nanos, RateLimiter, canonical_ip};

/// Valid addresses in spellings that exercise each rule of std's grammar.
const SEEDS: &[&str] = &[
    "0.0.0.0",
    "192.168.1.10",
    "255.255.255.255",
    "10.0.0.100",
    "::",
    "::1",
    "1::",
    "2001:db8::1",
    "2001:0DB8:85a3:0000:0000:8A2E:0370:7334",
    "1:2:3:4:5:6:7::",
    "::1:2:3:4:5:6:7",
    "1:2:3:4::5:6:7",
    "fe80::1ff:fe23:4567:890a",
    "::ffff:192.0.2.128",
    "::192.0.2.128",
    "64:ff9b::10.0.0.1",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5::255.0.0.9",
];

/// Characters the edits insert and substitute: address characters, wrappers,
/// zone and port syntax, whitespace and non-ASCII look-alikes.
const ALPHABET: &[char] = &[
    '0', '1', '5', '9', 'a', 'f', 'A', 'F', 'g', 'x', ':', '.', '%', '[', ']', ' ', 'é', '٣', '０',
];

/// `seed` itself and every string one deletion, insertion or substitution of a
/// character of [`ALPHABET`] away from it.
fn edits(seed: &str) -> Vec<String> {
    let chars: Vec<char> = seed.chars().collect();
    let mut out = vec![seed.to_owned()];
    for at in 0..=chars.len() {
        let (before, after) = chars.split_at(at);
        if let Some((_, rest)) = after.split_first() {
            out.push(before.iter().chain(rest).collect());
        }
        for &c in ALPHABET {
            out.push(before.iter().chain([&c]).chain(after).collect());
            if let Some((_, rest)) = after.split_first() {
                out.push(before.iter().chain([&c]).chain(rest).collect());
            }
        }
    }
    out
}

#[test]
fn allow_takes_exactly_what_std_parses() {
    let now = Nanos::new(0);
    let capacity = 1_000_000;
    let limiter =
        RateLimiter::with_clock(capacity, "1/h".parse().unwrap(), ManualClock::default()).unwrap();
    // Requests charged so far to each bucket, by its canonical address.
    let mut charged: HashMap<IpAddr, u64> = HashMap::new();
    let (mut accepted, mut rejected) = (0, 0);
    for input in SEEDS.iter().flat_map(|seed| edits(seed)) {
        match (input.parse::<IpAddr>(), limiter.allow_at(&input, now)) {
            (Ok(ip), Ok(allowed)) => {
                // The request must be charged to std's address: its bucket
                // has given one token to each request for it, and no others.
                assert!(allowed, "{input:?}");
                accepted += 1;
                let count = charged.entry(canonical_ip(ip)).or_default();
                *count += 1;
                assert_eq!(limiter.tokens_at(ip, now), capacity - *count, "{input:?} is {ip}");
            }
            (Err(_), Err(invalid)) => {
                rejected += 1;
                assert_eq!(invalid.input(), input, "the error names the input");
            }
            (std, ours) => panic!("{input:?}: std says {std:?}, allow says {ours:?}"),
        }
    }
    // The edits must reach both verdicts in quantity for agreement to mean much.
    assert!(accepted > 1_000, "{accepted} accepted, {rejected} rejected");
    assert!(rejected > 5_000, "{rejected} rejected");
    assert_eq!(limiter.len(), charged.len(), "one bucket per address");
}
