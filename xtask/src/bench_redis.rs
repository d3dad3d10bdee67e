//! `cargo xtask bench-redis`: limiter-redis against a reference float GCRA
//! script on a local `redis-server` of its own.
//!
//! Starts `redis-server` on a free loopback port (persistence off), runs
//! limiter-redis's `bench` example in release mode against it, stops the
//! server, and writes the example's table between the `<!-- bench:redis -->`
//! markers of BENCHMARKS.md (creating the file or the section if absent).

use std::error::Error;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cargo xtask bench-redis [--secs S] [--no-write]";
const START: &str = "<!-- bench:redis -->";
const END: &str = "<!-- /bench:redis -->";

/// A `redis-server` child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run(args: &[String], root: &Path) -> Result<(), Box<dyn Error>> {
    let (mut secs, mut write) = ("2".to_owned(), true);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--secs" => secs = args.next().ok_or(USAGE)?.clone(),
            "--no-write" => write = false,
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
        let section = format!(
            "{START}\n## Redis backend\n\n`cargo xtask bench-redis` (each row {secs} s; one \
             client process, 2 tokio workers, and the server on the same machine: {}; {version}).\n\n\
             {table}{END}",
            machine()
        );
        let path = root.join("BENCHMARKS.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let new = match (old.find(START), old.find(END)) {
            (Some(start), Some(end)) if start < end => {
                format!("{}{section}{}", &old[..start], &old[end + END.len()..])
            }
            _ if old.is_empty() => format!("# Benchmarks\n\n{section}\n"),
            _ => format!("{}\n{section}\n", old.trim_end()),
        };
        std::fs::write(&path, new)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The CPU model and core count, from /proc/cpuinfo where there is one.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split(':').nth(1)))
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("unknown");
    format!("{model}, {cores} cores, load average {load} at the start")
}
