//! Each rule of SPEC.md, through the public API, with a manual clock.

use std::net::IpAddr;
use std::time::Duration;

use limiter_core::{
    Clock, ConfigError, Decision, ManualClock, Nanos, Rate, RateErrorKind, RateLimiter,
};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A limiter of `capacity` tokens at `rate`, on a manual clock at 0.
fn limiter(capacity: u64, rate: &str) -> (RateLimiter<ManualClock>, ManualClock) {
    let clock = ManualClock::default();
    let limiter = RateLimiter::with_clock(capacity, rate.parse().unwrap(), clock.clone()).unwrap();
    (limiter, clock)
}

/// Sends `n` requests of cost 1 and returns how many passed.
fn allowed_of(limiter: &RateLimiter<ManualClock>, addr: &str, n: usize) -> usize {
    (0..n).filter(|_| limiter.allow(addr).unwrap()).count()
}

#[test]
fn throttles_each_ip_after_its_capacity() {
    let (limiter, clock) = limiter(10, "5");
    assert_eq!(allowed_of(&limiter, "192.168.1.10", 15), 10, "at {:?}", clock.now());
    assert_eq!(
        limiter.check(ip("192.168.1.10")),
        Decision::Denied { remaining: 0, retry_after: Duration::from_millis(200) }
    );
}

#[test]
fn ips_are_independent() {
    let (limiter, _clock) = limiter(3, "1");
    assert_eq!(allowed_of(&limiter, "10.0.0.1", 5), 3);
    assert_eq!(allowed_of(&limiter, "10.0.0.2", 5), 3);
    assert_eq!(allowed_of(&limiter, "2001:db8::1", 5), 3);
    assert_eq!(limiter.len(), 3);
}

#[test]
fn refills_partial_tokens_and_caps_at_capacity() {
    let (limiter, clock) = limiter(4, "2");
    assert_eq!(allowed_of(&limiter, "10.0.0.1", 4), 4);
    clock.advance(Duration::from_millis(750)); // 1.5 tokens
    assert_eq!(allowed_of(&limiter, "10.0.0.1", 3), 1);
    clock.advance(Duration::from_millis(250)); // 0.5 + 0.5 tokens
    assert_eq!(allowed_of(&limiter, "10.0.0.1", 3), 1);
    clock.advance(Duration::from_secs(3600)); // far more than capacity
    assert_eq!(allowed_of(&limiter, "10.0.0.1", 10), 4, "at {:?}", clock.now());
}

#[test]
fn per_period_rates_are_exact() {
    let (limiter, clock) = limiter(1, "1/h");
    assert!(limiter.allow("10.0.0.1").unwrap());
    clock.advance(Duration::from_secs(3600) - Duration::from_nanos(1));
    assert!(!limiter.allow("10.0.0.1").unwrap());
    clock.advance(Duration::from_nanos(1));
    assert!(limiter.allow("10.0.0.1").unwrap());
}

#[test]
fn cost_zero_is_allowed_and_creates_nothing() {
    let (limiter, _clock) = limiter(2, "1");
    assert_eq!(limiter.check_n(ip("10.0.0.1"), 0), Decision::Allowed { remaining: 2 });
    assert!(limiter.is_empty());
    assert_eq!(limiter.check_n(ip("10.0.0.1"), 2), Decision::Allowed { remaining: 0 });
    assert_eq!(limiter.check_n(ip("10.0.0.1"), 0), Decision::Allowed { remaining: 0 });
    assert!(!limiter.allow("10.0.0.1").unwrap());
}

#[test]
fn cost_above_capacity_is_never_allowed() {
    let (limiter, clock) = limiter(5, "1");
    clock.advance(Duration::from_secs(1000));
    let never = Decision::OverCapacity { cost: 6, capacity: 5 };
    assert_eq!(limiter.check_n(ip("10.0.0.1"), 6), never);
    assert!(!limiter.check_n(ip("10.0.0.1"), 6).is_allowed());
    assert_eq!(limiter.check_n(ip("10.0.0.1"), 6).retry_after(), None);
    // It took nothing.
    assert_eq!(limiter.check_n(ip("10.0.0.1"), 5), Decision::Allowed { remaining: 0 });
}

#[test]
fn time_never_runs_backwards_for_a_bucket() {
    let (limiter, _clock) = limiter(1, "1");
    let addr = ip("10.0.0.1");
    assert!(limiter.check_at(addr, Nanos::from_secs(100)).is_allowed());
    // An earlier request is decided at 100 s: no refill.
    assert_eq!(
        limiter.check_at(addr, Nanos::from_secs(50)),
        Decision::Denied { remaining: 0, retry_after: Duration::from_secs(51) }
    );
    // And the bucket's time stayed at 100 s, so 101 s has exactly one token.
    assert!(limiter.check_at(addr, Nanos::from_secs(101)).is_allowed());
    assert!(!limiter.check_at(addr, Nanos::from_secs(101)).is_allowed());
}

#[test]
fn one_address_is_one_bucket_whatever_its_spelling() {
    let (limiter, _clock) = limiter(4, "1");
    for spelling in ["::1", "0:0:0:0:0:0:0:1", "0000::0001", "::0:1"] {
        assert!(limiter.allow(spelling).unwrap(), "{spelling}");
    }
    assert!(!limiter.allow("::1").unwrap());
    for spelling in ["10.9.8.7", "::ffff:10.9.8.7", "::FFFF:a09:807"] {
        assert!(limiter.allow(spelling).unwrap(), "{spelling}");
    }
    assert_eq!(limiter.len(), 2);
    assert_eq!(limiter.tokens_at(ip("::ffff:10.9.8.7"), Nanos::ZERO), 1);
}

#[test]
fn invalid_ips_name_the_input_and_touch_no_bucket() {
    let (limiter, _clock) = limiter(4, "1");
    for bad in
        ["1.2.3.4:80", "", " 1.2.3.4", "1.2.3.4 ", "fe80::1%eth0", "010.0.0.1", "[::1]", "1.2.3"]
    {
        let err = limiter.allow(bad).unwrap_err();
        assert_eq!(err.input(), bad);
        assert_eq!(err.to_string(), format!("invalid IP address {bad:?}"));
    }
    let junk = "x".repeat(1 << 20);
    let err = limiter.allow(&junk).unwrap_err();
    assert_eq!(err.len(), 1 << 20);
    assert!(err.to_string().len() < 200, "{err}");
    assert!(limiter.is_empty());
}

#[test]
fn peeking_creates_nothing_and_takes_nothing() {
    let (limiter, clock) = limiter(3, "1");
    assert_eq!(limiter.tokens_at(ip("10.0.0.1"), Nanos::ZERO), 3);
    assert!(limiter.is_empty());
    assert_eq!(allowed_of(&limiter, "10.0.0.1", 3), 3);
    clock.advance(Duration::from_secs(2));
    assert_eq!(limiter.tokens_at(ip("10.0.0.1"), clock.now()), 2);
    assert_eq!(limiter.tokens_at(ip("10.0.0.1"), clock.now()), 2);
}

#[test]
fn bad_configuration_is_a_config_error_naming_the_value() {
    let out_of_range = |rate: &str| ConfigError::RateOutOfRange { rate: rate.to_owned() };
    assert_eq!(
        RateLimiter::new(0, 5.0).unwrap_err(),
        ConfigError::CapacityOutOfRange { capacity: 0 }
    );
    assert_eq!(
        RateLimiter::new(1_000_000_001, 5.0).unwrap_err(),
        ConfigError::CapacityOutOfRange { capacity: 1_000_000_001 }
    );
    assert!(RateLimiter::new(1_000_000_000, 5.0).is_ok());
    for (rate, shown) in [
        (0.0, "0"),
        (-1.0, "-1"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (1e-10, "0.0000000001"),
        (2e9, "2000000000"),
    ] {
        assert_eq!(RateLimiter::new(10, rate).unwrap_err(), out_of_range(shown), "{rate}");
    }
    for text in ["abc", "5/d", "1.0000000001", "-5", ""] {
        let malformed = text.parse::<Rate>().is_err_and(|e| e.kind() != RateErrorKind::OutOfRange);
        assert!(malformed, "{text:?}");
    }
    assert_eq!(
        "0.0000000001".parse::<Rate>().unwrap_err().to_string(),
        "invalid rate \"0.0000000001\": more than 9 fractional digits"
    );
}

#[test]
fn the_f64_entry_point_rounds_to_nine_digits() {
    let limiter = RateLimiter::new(10, 5.0).unwrap();
    assert_eq!(limiter.rate(), Rate::per_second(5).unwrap());
    assert_eq!(RateLimiter::new(1, 1.0 / 3.0).unwrap().rate(), "0.333333333".parse().unwrap());
    assert_eq!(RateLimiter::new(1, 5e-10).unwrap().rate(), Rate::MIN);
}
