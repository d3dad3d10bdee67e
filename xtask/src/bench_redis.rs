//! `cargo xtask bench-redis`: limiter-redis against a reference float GCRA
//! script on a local `redis-server` of its own.
//!
//! Starts `redis-server` on a free loopback port (persistence off), runs
//! limiter-redis's `bench` example in release mode against it, stops the
//! server and prints the example's table; `--markdown` also writes it to the
//! `redis` section of BENCHMARKS.md.

use std::error::Error;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::markdown;

const USAGE: &str = "usage: cargo xtask bench-redis [--secs S] [--markdown]";

/// A `redis-server` child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    let (args, write) = markdown::take_flag(args);
    let mut secs = "2".to_owned();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--secs" => secs = args.next().ok_or(USAGE)?.clone(),
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}").into()),
        }
    }
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .map_err(|err| format!("redis-server: {err} (apt-get install -y redis-server)"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    crate::cargo(&["build", "--release", "--quiet", "-p", "limiter-redis", "--example", "bench"])?;

    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
    let server = Server(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()?,
    );
    let started = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let url = format!("redis://127.0.0.1:{port}/");
    let mut bench = crate::cargo_command(&[
        "run",
        "--release",
        "--quiet",
        "-p",
        "limiter-redis",
        "--example",
        "bench",
        "--",
        &url,
        "--secs",
        &secs,
    ]);
    bench.stderr(Stdio::inherit());
    let output = bench.output()?;
    drop(server);
    if !output.status.success() {
        return Err(format!("the bench failed: {}", output.status).into());
    }
    let table = String::from_utf8(output.stdout)?;
    print!("{table}");
    if write {
        let body = format!(
            "Each row {secs} s, the two engines of a row taking turns in eighths of it; one \
             client process with 2 tokio workers and the server on the same machine; \
             {version}.\n\n{table}"
        );
        markdown::write_section("redis", &format!("cargo xtask bench-redis --secs {secs}"), &body)?;
    }
    Ok(())
}
