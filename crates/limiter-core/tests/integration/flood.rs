//! A flood of new keys against a full key cap: under every policy, no
//! established key is ever allowed more than an exact, uncapped bucket
//! allows it, and a cap that is never reached changes no decision.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use limiter_core::{Decision, Eviction, KeyedRateLimiter, Nanos, Rate, RateLimiter, WhenFull};
use limiter_testkit::{RngExt, rng};

const MS: u64 = 1_000_000;
const POLICIES: [WhenFull; 3] =
    [WhenFull::EvictFullest, WhenFull::DenyNewKeys, WhenFull::AdmitUntracked];

/// Capacity 5, 100 tokens a second: an emptied bucket is full again, and its
/// trace idle, within 50 ms.
const CAPACITY: u64 = 5;
const RATE_PER_SEC: u64 = 100;
const CAP: usize = 64;
/// Established keys, half IPv4 and half IPv6.
const GREEDY: u32 = 8;

/// The flood: each millisecond one greedy key (in turn, so each sends 125
/// requests a second against a rate of 100) sends a request, then four fresh
/// keys each spend their whole bucket. A flood bucket is then empty, so a
/// greedy bucket holding anything is the fullest: the one `EvictFullest`
/// would take, and which came back full before evicted buckets left traces.
fn flood(decide: &mut dyn FnMut(Sender, u64, u64) -> Decision) -> Vec<Vec<(u64, bool)>> {
    // Every greedy key has a bucket before the flood.
    let mut greedy: Vec<_> =
        (0..GREEDY).map(|n| vec![(0, decide(Sender::Greedy(n), 0, 1).is_allowed())]).collect();
    let mut fresh = 0;
    for ms in 0..3000 {
        let now = ms * MS;
        let n = (ms % u64::from(GREEDY)) as u32;
        greedy[n as usize].push((now, decide(Sender::Greedy(n), now, 1).is_allowed()));
        for _ in 0..4 {
            let _ = decide(Sender::Fresh(fresh), now, CAPACITY);
            fresh += 1;
        }
    }
    greedy
}

#[derive(Debug, Clone, Copy)]
enum Sender {
    Greedy(u32),
    Fresh(u32),
}

impl Sender {
    fn ip(self) -> IpAddr {
        match self {
            Sender::Greedy(n) if n % 2 == 0 => IpAddr::V4(Ipv4Addr::from_bits(0xc000_0200 | n)),
            Sender::Greedy(n) => IpAddr::V6(Ipv6Addr::from_bits(0x2001_0db8 << 96 | u128::from(n))),
            Sender::Fresh(n) if n % 2 == 0 => IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | n)),
            Sender::Fresh(n) => {
                IpAddr::V6(Ipv6Addr::from_bits(0x2001_0db8_0001 << 80 | u128::from(n)))
            }
        }
    }

    fn id(self) -> u64 {
        match self {
            Sender::Greedy(n) => 1 << 40 | u64::from(n),
            Sender::Fresh(n) => u64::from(n),
        }
    }
}

fn rate() -> Rate {
    Rate::per_second(RATE_PER_SEC).unwrap()
}

/// The eviction rule of the flooded limiters: a bucket is idle once full.
fn eviction() -> Eviction {
    Eviction::Idle { window: Duration::ZERO }
}

/// Checks each greedy key's decisions against an exact bucket's on the same
/// requests: never more allowed by any request, and so never more than
/// `C + R·span`. Returns how many requests the keys were allowed, and how
/// many an exact bucket allows them.
#[track_caller]
fn no_more_than_exact(what: &str, greedy: &[Vec<(u64, bool)>]) -> (u64, u64) {
    let exact = RateLimiter::builder(CAPACITY, rate()).eviction(Eviction::Never).build().unwrap();
    let (mut total, mut total_exact) = (0, 0);
    for (n, requests) in greedy.iter().enumerate() {
        let ip = Sender::Greedy(n as u32).ip();
        let (mut allowed, mut allowed_exact) = (0, 0);
        let first = requests[0].0;
        for &(now, ok) in requests {
            allowed += u64::from(ok);
            allowed_exact += u64::from(exact.check_at(ip, Nanos::new(now)).is_allowed());
            assert!(
                allowed <= allowed_exact,
                "{what}: {ip} allowed {allowed} by {now} ns, an exact bucket {allowed_exact}"
            );
            // C + R·span in whole tokens.
            assert!(allowed <= CAPACITY + (now - first) * RATE_PER_SEC / 1_000_000_000, "{what}");
        }
        total += allowed;
        total_exact += allowed_exact;
    }
    (total, total_exact)
}

#[test]
fn a_flood_never_lets_an_established_address_past_its_exact_limit() {
    for policy in POLICIES {
        let limiter = RateLimiter::builder(CAPACITY, rate())
            .max_keys(CAP)
            .when_full(policy)
            .eviction(eviction())
            .build()
            .unwrap();
        let greedy =
            flood(&mut |sender, now, cost| limiter.check_n_at(sender.ip(), cost, Nanos::new(now)));
        let what = format!("{policy:?}");
        exact_within_the_cap(&what, policy, &greedy, limiter.len(), limiter.counters().evicted);
    }
}

#[test]
fn a_flood_never_lets_an_established_key_of_any_type_past_its_exact_limit() {
    for policy in POLICIES {
        let limiter: KeyedRateLimiter<u64> = KeyedRateLimiter::builder(CAPACITY, rate())
            .max_keys(CAP)
            .when_full(policy)
            .eviction(eviction())
            .build()
            .unwrap();
        let greedy =
            flood(&mut |sender, now, cost| limiter.check_n_at(&sender.id(), cost, Nanos::new(now)));
        let what = format!("{policy:?}, any keys");
        exact_within_the_cap(&what, policy, &greedy, limiter.len(), limiter.counters().evicted);
    }
}

/// After a flood under `policy`: no greedy key got more than an exact bucket
/// would give it, and each got exactly that (the traces keep evicted buckets
/// exact; a fingerprint collision, odds far below one in a million here,
/// could only lower it); the cap held; `EvictFullest` did evict.
#[track_caller]
fn exact_within_the_cap(
    what: &str,
    policy: WhenFull,
    greedy: &[Vec<(u64, bool)>],
    len: usize,
    evicted: u64,
) {
    let (allowed, exact) = no_more_than_exact(what, greedy);
    assert!(len <= CAP, "{what}: {len} keys");
    assert_eq!(allowed, exact, "{what}");
    if policy == WhenFull::EvictFullest {
        assert!(evicted > 1000, "{what}: the flood evicted buckets");
    }
}

#[test]
fn a_flood_denies_new_keys_only_once_no_bucket_can_leave_a_trace() {
    // Fresh keys that each send one request leave traces of one token: the
    // cap turns over while the traces have room, then new keys are denied
    // and keys with a trace are still decided exactly.
    let limiter = RateLimiter::builder(CAPACITY, rate()).max_keys(CAP).build().unwrap();
    let allowed: Vec<bool> = (0..2000)
        .map(|n| limiter.check_at(Sender::Fresh(n).ip(), Nanos::new(u64::from(n))).is_allowed())
        .collect();
    let admitted = allowed.iter().filter(|&&a| a).count();
    let counters = limiter.counters();
    assert!(admitted > CAP && counters.evicted > 0, "{admitted} admitted, {counters:?}");
    assert!(admitted < 2000, "the traces filled: {admitted} admitted");
    assert_eq!(limiter.len(), CAP);
    // Every newcomer allowed is remembered, as a bucket or a trace one
    // token short (2 µs refill 2000 units of a token's 10⁷); the others
    // were never given a token.
    let at = Nanos::new(2000);
    for (n, &allowed) in (0..).zip(&allowed) {
        let ip = Sender::Fresh(n).ip();
        let tokens = if allowed { CAPACITY - 1 } else { CAPACITY };
        assert_eq!(limiter.tokens_at(ip, at), tokens, "{ip}");
        let again = limiter.check_n_at(ip, CAPACITY, at);
        assert!(!again.is_allowed(), "{ip} came back to a full bucket: {again:?}");
    }
}

#[test]
fn a_cap_never_reached_changes_no_decision() {
    let mut rng = rng(23, 0);
    for policy in POLICIES {
        let capped = RateLimiter::builder(3, rate()).max_keys(1000).when_full(policy).build();
        let uncapped = RateLimiter::builder(3, rate()).build().unwrap();
        let capped = capped.unwrap();
        let mut now = 0;
        for _ in 0..5000 {
            now += rng.random_range(0..MS * 300);
            let at = Nanos::new(now - rng.random_range(0..=now.min(MS * 500)));
            let ip = Sender::Fresh(rng.random_range(0..200)).ip();
            let cost = rng.random_range(0..=4);
            assert_eq!(capped.check_n_at(ip, cost, at), uncapped.check_n_at(ip, cost, at));
        }
        assert_eq!(capped.counters().evicted, uncapped.counters().evicted, "{policy:?}");
    }
}
