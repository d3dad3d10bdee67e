//! Settings refused before connecting, and the keys buckets get.

use std::net::IpAddr;
use std::time::Duration;

use limiter_core::{Nanos, Rate, RateLimiter};
use limiter_redis::{ConfigError, FailurePolicy, Key, RedisRateLimiter, Request, Source};

#[test]
fn settings_outside_the_range_are_refused_with_the_bound() {
    let rate = Rate::per_second(1).unwrap();
    let check = |capacity: u64, set: &dyn Fn(&mut limiter_redis::Builder)| {
        let mut builder = RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny);
        set(&mut builder);
        builder.validate()
    };
    let none = |_: &mut limiter_redis::Builder| {};
    assert_eq!(check(0, &none), Err(ConfigError::CapacityOutOfRange { capacity: 0 }));
    assert_eq!(
        check(1_000_000_001, &none),
        Err(ConfigError::CapacityOutOfRange { capacity: 1_000_000_001 })
    );
    assert_eq!(check(1_000_000_000, &none), Ok(()));
    for rate in [Rate::MIN, Rate::MAX, "0.123456789".parse().unwrap(), "7/h".parse().unwrap()] {
        let builder = RedisRateLimiter::builder(1_000_000_000, rate, FailurePolicy::Deny);
        assert_eq!(builder.validate(), Ok(()), "{rate}: the whole range is exact");
    }
    assert_eq!(
        check(1, &|b| _ = b.prefix("a{b")),
        Err(ConfigError::InvalidPrefix { prefix: "a{b".into() })
    );
    assert_eq!(
        check(1, &|b| _ = b.prefix("")),
        Err(ConfigError::InvalidPrefix { prefix: "".into() })
    );
    assert_eq!(
        check(1, &|b| _ = b.ipv4_prefix(33)),
        Err(ConfigError::AddressPrefixOutOfRange { family: "IPv4", len: 33 })
    );
    assert_eq!(
        check(1, &|b| _ = b.ipv6_prefix(129)),
        Err(ConfigError::AddressPrefixOutOfRange { family: "IPv6", len: 129 })
    );
    assert_eq!(
        check(1, &|b| _ = b.deadline(Duration::ZERO)),
        Err(ConfigError::Zero { setting: "deadline" })
    );
    assert_eq!(
        check(1, &|b| _ = b.deny_cache(0)),
        Err(ConfigError::Zero { setting: "deny cache size" })
    );
    let long = Duration::from_millis(1 << 49);
    assert_eq!(
        check(1, &|b| _ = b.explicit_time_lifetime(long)),
        Err(ConfigError::LifetimeTooLong { lifetime: long })
    );
    let err = check(0, &none).unwrap_err();
    assert_eq!(err.to_string(), "capacity 0 is out of range: expected 1 to 1000000000 tokens");
}

#[tokio::test]
async fn keys_are_bucket_addresses_under_a_hash_tag() {
    let Some(server) = crate::server::Server::start("keys_are_bucket_addresses") else {
        return;
    };
    let rate = Rate::per_second(1).unwrap();
    for (v4, v6) in [(32, 128), (24, 64), (0, 0), (31, 127)] {
        let redis = RedisRateLimiter::builder(5, rate, FailurePolicy::Deny)
            .prefix("p")
            .ipv4_prefix(v4)
            .ipv6_prefix(v6)
            .deadline(crate::PATIENT)
            .connect(&server.url())
            .await
            .unwrap();
        let core = RateLimiter::builder(5, rate).ipv4_prefix(v4).ipv6_prefix(v6).build().unwrap();
        for text in ["192.0.2.77", "::ffff:192.0.2.77", "2001:db8:1:2:3:4:5:6", "::1", "0.0.0.0"] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(redis.bucket_address(ip), core.bucket_address(ip), "{text} /{v4} /{v6}");
            let expected = format!("p:{{{}}}", core.bucket_address(ip));
            assert_eq!(redis.redis_key(ip), expected.as_bytes());
        }
    }
    let redis = crate::limiter(&server.url(), "p", 2, "1").await;
    assert_eq!(redis.redis_key(Key::Bytes(b"user 7")), b"p:{user 7}");
    // One address, one bucket, however it is spelled.
    let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
    let plain: IpAddr = "10.1.2.3".parse().unwrap();
    let at = Nanos::from_secs(1);
    assert!(redis.check_n_at(mapped, 2, at).await.decision.is_allowed());
    assert!(!redis.check_n_at(plain, 1, at).await.decision.is_allowed());
    // An address's bucket is named by its text: the bytes of that text share it.
    assert!(!redis.check_n_at("10.1.2.3", 1, at).await.decision.is_allowed());
    assert!(redis.check_n_at("10.1.2.4", 1, at).await.decision.is_allowed());

    // A batch mixing server-time and explicit-time requests: one run each,
    // in order.
    let request = |key: &'static str, at: Option<u64>| Request {
        key: Key::from(key),
        cost: 1,
        at: at.map(Nanos::from_secs),
    };
    let batch = [
        request("m1", None),
        request("m2", Some(5)),
        request("m2", Some(5)),
        request("m2", Some(5)),
        request("m1", None),
    ];
    let outcomes = redis.check_batch(&batch).await;
    let allowed: Vec<bool> = outcomes.iter().map(|o| o.decision.is_allowed()).collect();
    assert_eq!(allowed, [true, true, true, false, true]);
    assert!(outcomes.iter().all(|o| o.source == Source::Redis));
}
