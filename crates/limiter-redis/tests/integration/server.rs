//! A `redis-server` of the test's own on a free loopback port, persistence
//! off, killed when dropped.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian package that provides `redis-server`.
const INSTALL: &str = "apt-get install -y redis-server";

/// A running `redis-server`.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) port: u16,
}

impl Server {
    /// Starts a server, or returns `None` after printing what was not run when
    /// `redis-server` is not installed (a failure under `LIMITER_REQUIRE_REDIS=1`).
    pub(crate) fn start(test: &str) -> Option<Server> {
        if !installed() {
            if std::env::var("LIMITER_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
                panic!("redis-server is not installed and LIMITER_REQUIRE_REDIS=1: {INSTALL}");
            }
            eprintln!(
                "limiter-redis: {test} not run: redis-server is not installed ({INSTALL}; \
                 LIMITER_REQUIRE_REDIS=1 makes this a failure)"
            );
            return None;
        }
        let port = free_port();
        let mut server = Server { child: None, port };
        server.restart();
        Some(server)
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`Server::kill`]), and
    /// waits until it accepts connections.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        // Waiting for the real server to listen: bounded polling.
        let start = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends the server a signal (`STOP`, `CONT`).
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server running").id();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// A plain connection for inspecting keys.
    pub(crate) async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server would ignore SIGKILL's exit until continued.
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.kill();
    }
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}
