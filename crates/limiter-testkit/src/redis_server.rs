//! A `redis-server` of a test's own: a free loopback port, persistence off,
//! killed when dropped.
//!
//! Every test that talks to Redis (limiter-redis, `limiter-cli replay
//! --redis`, limiter-tower's Redis backend) starts one through
//! [`RedisServer::start`]. Where `redis-server` is not installed the test
//! prints one line saying what was not run and how to install it, and
//! passes, unless `LIMITER_REQUIRE_REDIS=1` (as CI sets it) makes that a
//! failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How to install `redis-server` on Debian.
const INSTALL: &str = "apt-get install -y redis-server";

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What `redis-server` (6.x and 7.x alike) logs once it listens.
const READY: &str = "Ready to accept connections";

/// A running `redis-server` on `127.0.0.1`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a server for the test named `test`, or returns `None` after
    /// printing that `test` was not run when `redis-server` is not installed.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing and `LIMITER_REQUIRE_REDIS=1`, or when
    /// the server does not accept connections within 20 seconds.
    pub fn start(test: &str) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            let required = std::env::var("LIMITER_REQUIRE_REDIS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "redis-server is not installed and LIMITER_REQUIRE_REDIS=1: {INSTALL}"
            );
            eprintln!(
                "{test} not run: redis-server is not installed ({INSTALL}; \
                 LIMITER_REQUIRE_REDIS=1 makes this a failure)"
            );
            return None;
        }
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let mut server = RedisServer { child: None, port };
        server.restart();
        Some(server)
    }

    /// The server's port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`RedisServer::kill`])
    /// and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When the server exits before it listens (its log says why) or does
    /// not listen within 20 seconds.
    pub fn restart(&mut self) {
        self.kill();
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let log = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        match ready(log).recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("redis-server exited before it listened:\n{log}"),
            Err(_) => panic!("redis-server did not listen within {START_TIMEOUT:?}"),
        }
    }

    /// Sends the server a signal by name (`STOP`, `CONT`).
    ///
    /// # Panics
    ///
    /// When the server is not running or `kill` fails.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server running").id();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// The server's reply to an inline command (`DBSIZE`, `INFO
    /// commandstats`), as text.
    pub fn ask(&self, command: &str) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        stream.write_all(format!("{command}\r\n").as_bytes()).unwrap();
        let mut reply = vec![0; 1 << 16];
        let n = stream.read(&mut reply).unwrap();
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    /// The number of keys in the server's database.
    pub fn keys(&self) -> u64 {
        self.ask("DBSIZE").trim_start_matches(':').trim_end().parse().unwrap()
    }

    /// How many `EVALSHA` calls the server has run.
    pub fn script_calls(&self) -> u64 {
        let stats = self.ask("INFO commandstats");
        let Some(line) = stats.lines().find(|l| l.starts_with("cmdstat_evalsha:calls=")) else {
            return 0;
        };
        line["cmdstat_evalsha:calls=".len()..].split(',').next().unwrap().parse().unwrap()
    }
}

/// Reads a starting server's log on a thread of its own: sends `Ok` once
/// the server listens, or its whole log if it exits first, then keeps
/// draining the log so the server never blocks on a full pipe.
fn ready(log: impl Read + Send + 'static) -> mpsc::Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = String::new();
        let mut lines = BufReader::new(log).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.contains(READY) {
                let _ = tx.send(Ok(()));
                lines.for_each(drop);
                return;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    rx
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server would not act on SIGKILL until continued.
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.kill();
    }
}
