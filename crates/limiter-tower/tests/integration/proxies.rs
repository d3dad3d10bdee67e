//! Which bucket a request lands in, behind proxies or not: one table.

use std::net::IpAddr;

use http::StatusCode;
use limiter_core::{Clock, Rate};
use limiter_tower::{ProxyHeader, RateLimitLayer};

use crate::util::{clock, get_once, serve_limited};

/// How the layer in a case is set up.
#[derive(Clone, Copy)]
struct Setup {
    trusted: &'static [&'static str],
    header: ProxyHeader,
    ipv6_prefix: u8,
}

const NONE: Setup = Setup { trusted: &[], header: ProxyHeader::XForwardedFor, ipv6_prefix: 128 };
const LB: Setup = Setup { trusted: &["10.0.0.0/8"], ..NONE };
const XFF: Setup = Setup { trusted: &["127.0.0.0/8", "10.0.0.0/8"], ..NONE };
const FWD: Setup = Setup { header: ProxyHeader::Forwarded, ..XFF };
const MAPPED: Setup = Setup { trusted: &["::ffff:127.0.0.1"], ..NONE };
const PREFIX: Setup = Setup { ipv6_prefix: 64, ..XFF };

/// A case: its name, the layer, the request's headers, the bucket it must land in.
type Case = (&'static str, Setup, &'static [(&'static str, &'static str)], &'static str);

const CASES: &[Case] = &[
    ("no proxies: headers ignored", NONE, &[("x-forwarded-for", "203.0.113.7")], "127.0.0.1"),
    ("untrusted peer: headers ignored", LB, &[("x-forwarded-for", "203.0.113.7")], "127.0.0.1"),
    ("trusted peer, one hop", XFF, &[("x-forwarded-for", "203.0.113.7")], "203.0.113.7"),
    (
        "the rightmost, not the forged leftmost",
        XFF,
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.7")],
        "203.0.113.7",
    ),
    (
        "trusted chain skipped",
        XFF,
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.0.0.2,10.0.0.1")],
        "203.0.113.7",
    ),
    (
        "every entry trusted: the leftmost",
        XFF,
        &[("x-forwarded-for", "10.0.0.3, 10.0.0.2")],
        "10.0.0.3",
    ),
    (
        "malformed rightmost: the peer",
        XFF,
        &[("x-forwarded-for", "203.0.113.7, garbage")],
        "127.0.0.1",
    ),
    (
        "malformed entry ends the walk",
        XFF,
        &[("x-forwarded-for", "203.0.113.7, 300.1.1.1, 10.0.0.1")],
        "10.0.0.1",
    ),
    (
        "empty entry ends the walk",
        XFF,
        &[("x-forwarded-for", "203.0.113.7, , 10.0.0.1")],
        "10.0.0.1",
    ),
    (
        "several lines, in order",
        XFF,
        &[("x-forwarded-for", "198.51.100.9"), ("x-forwarded-for", "203.0.113.8, 10.0.0.1")],
        "203.0.113.8",
    ),
    (
        "several lines, the last all trusted",
        XFF,
        &[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.0.0.1")],
        "203.0.113.9",
    ),
    ("an entry with a port", XFF, &[("x-forwarded-for", "203.0.113.7:4711")], "203.0.113.7"),
    (
        "a bracketed IPv6 entry with a port",
        XFF,
        &[("x-forwarded-for", "[2001:db8::7]:443")],
        "2001:db8::7",
    ),
    ("an IPv6 client", XFF, &[("x-forwarded-for", "2001:db8::1")], "2001:db8::1"),
    (
        "an IPv4-mapped client is its IPv4 address",
        XFF,
        &[("x-forwarded-for", "::ffff:203.0.113.5")],
        "203.0.113.5",
    ),
    (
        "a trusted range written mapped",
        MAPPED,
        &[("x-forwarded-for", "203.0.113.6")],
        "203.0.113.6",
    ),
    (
        "IPv6 clients grouped by /64",
        PREFIX,
        &[("x-forwarded-for", "2001:db8:1:2:a:b:c:d")],
        "2001:db8:1:2::",
    ),
    (
        "Forwarded: for= among other pairs",
        FWD,
        &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
        "192.0.2.60",
    ),
    (
        "Forwarded: quoted IPv6 with a port",
        FWD,
        &[("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")],
        "2001:db8:cafe::17",
    ),
    (
        "Forwarded: elements and lines walked from the right",
        FWD,
        &[
            ("forwarded", "for=198.51.100.1"),
            ("forwarded", "for=192.0.2.61, For=10.0.0.1;proto=https"),
        ],
        "192.0.2.61",
    ),
    (
        "Forwarded: unknown ends the walk",
        FWD,
        &[("forwarded", "for=192.0.2.62, for=unknown")],
        "127.0.0.1",
    ),
    (
        "Forwarded mode ignores X-Forwarded-For",
        FWD,
        &[("x-forwarded-for", "203.0.113.7")],
        "127.0.0.1",
    ),
    ("X-Forwarded-For mode ignores Forwarded", XFF, &[("forwarded", "for=192.0.2.1")], "127.0.0.1"),
];

#[tokio::test]
async fn the_client_behind_proxies() {
    assert!(CASES.len() >= 15);
    for (name, setup, headers, want) in CASES {
        let clock = clock();
        let mut builder = RateLimitLayer::builder(5, Rate::per_second(1).unwrap())
            .proxy_header(setup.header)
            .ipv6_prefix(setup.ipv6_prefix);
        for range in setup.trusted {
            builder = builder.trusted_proxy(range.parse().unwrap());
        }
        let layer = builder.build_with_clock(clock.clone()).unwrap();
        let limiter = layer.clone();
        let addr = serve_limited(layer).await;
        let reply = get_once(addr, headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {reply:?}");
        let want: IpAddr = want.parse().unwrap();
        let limiter = limiter.backend();
        assert_eq!(limiter.len(), 1, "{name}");
        assert_eq!(limiter.tokens_at(want, clock.now()), 4, "{name}: the bucket of {want}");
    }
}
