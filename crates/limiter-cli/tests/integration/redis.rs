//! `replay --redis`: the same summary and decisions, byte for byte, as the
//! in-process replay, against a `redis-server` of the test's own.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;

use limiter_testkit::RedisServer as Server;

use crate::util::Dir;

fn example_trace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/trace.csv")
}

#[test]
fn replay_through_redis_prints_what_the_in_process_replay_prints() {
    let Some(server) =
        Server::start("replay_through_redis_prints_what_the_in_process_replay_prints")
    else {
        return;
    };
    let dir = Dir::new();
    let trace = example_trace();
    let trace = trace.to_str().unwrap();
    // Out of order, costs above the capacity and 0, and one IPv4-mapped address.
    let tricky = dir.file(
        "tricky.csv",
        "1.5,10.0.0.1\n1.0,10.0.0.1\n1.0,::ffff:10.0.0.1,3\n2,10.0.0.1,0\n9,10.0.0.2,7\n9,10.0.0.2\n",
    );
    let tricky = tricky.to_str().unwrap();
    let url = server.url();
    let cases: &[&[&str]] = &[
        &["replay", trace, "--decisions", "-"],
        &["replay", trace, "--capacity", "3", "--rate", "0.5", "--output", "json"],
        &["replay", trace, "--capacity", "2,5", "--rate", "1/m,7/h"],
        &["replay", trace, "--ipv6-prefix", "48", "--decisions", "-", "--rate", "0.123456789"],
        &["replay", trace, "--key", "any", "--capacity", "1", "--rate", "1"],
        &["replay", tricky, "--capacity", "2", "--rate", "1", "--decisions", "-"],
    ];
    for args in cases {
        let local = dir.run(args);
        assert_eq!(local.code, 0, "{args:?}: {}", local.stderr);
        let mut remote_args = args.to_vec();
        remote_args.extend(["--redis", url.as_str()]);
        let calls = server.script_calls();
        let remote = dir.run(&remote_args);
        assert!(server.script_calls() > calls, "{args:?}: decided on Redis");
        assert_eq!(remote.code, 0, "{args:?}: {}", remote.stderr);
        assert_eq!(remote.stdout, local.stdout, "{args:?}");
        assert_eq!(remote.stderr, local.stderr, "{args:?}");
        assert!(local.stdout.len() > 100, "{args:?}: {}", local.stdout);
        assert_eq!(server.keys(), 0, "{args:?}: the run's keys are deleted at the end");
    }
    // A chosen prefix.
    let out = dir.run(&["replay", trace, "--redis", &url, "--redis-prefix", "mine"]);
    assert_eq!((out.code, out.stdout), (0, dir.run(&["replay", trace]).stdout));
}

#[test]
fn an_unreachable_redis_stops_the_replay() {
    let dir = Dir::new();
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}/");
    let trace = example_trace();
    let out = dir.run(&["replay", trace.to_str().unwrap(), "--redis", &url]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(&format!("limiter-cli: --redis: {url}: redis")),
        "{}",
        out.stderr
    );
    let out = dir.run(&["replay", "x.csv", "--redis-prefix", "p"]);
    assert_eq!(out.code, 2, "--redis-prefix needs --redis: {}", out.stderr);
}
