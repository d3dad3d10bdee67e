//! `replay --redis`: the same summary and decisions, byte for byte, as the
//! in-process replay, against a `redis-server` of the test's own.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::Dir;

/// A `redis-server` on a free loopback port, persistence off, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// `None` (after saying what was not run) when `redis-server` is missing,
    /// unless `LIMITER_REQUIRE_REDIS=1` makes that a failure.
    fn start(test: &str) -> Option<Server> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let install = "apt-get install -y redis-server";
            let required = std::env::var("LIMITER_REQUIRE_REDIS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "redis-server is not installed and LIMITER_REQUIRE_REDIS=1: {install}"
            );
            eprintln!("limiter-cli: {test} not run: redis-server is not installed ({install})");
            return None;
        }
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, port };
        let start = Instant::now();
        // Waiting for the real server to listen: bounded polling.
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The reply to an inline command, as text.
    fn ask(&self, command: &str) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        stream.write_all(format!("{command}\r\n").as_bytes()).unwrap();
        let mut reply = vec![0; 1 << 16];
        let n = stream.read(&mut reply).unwrap();
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    /// The number of keys.
    fn keys(&self) -> u64 {
        self.ask("DBSIZE").trim_start_matches(':').trim_end().parse().unwrap()
    }

    /// How many `EVALSHA` calls the server has run.
    fn script_calls(&self) -> u64 {
        let stats = self.ask("INFO commandstats");
        let Some(line) = stats.lines().find(|l| l.starts_with("cmdstat_evalsha:calls=")) else {
            return 0;
        };
        line["cmdstat_evalsha:calls=".len()..].split(',').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
