//! `cargo xtask bench-redis`: limiter-redis against a reference float GCRA
//! script on a local `redis-server` of its own.
//!
//! Runs limiter-redis's `bench` example in release mode, which starts a
//! `redis-server` of its own on a free loopback port (persistence off) and
//! stops it, and prints the example's table; `--markdown` also writes it to
//! the `redis` section of BENCHMARKS.md.

use std::error::Error;
use std::process::{Command, Stdio};

use crate::markdown;

const USAGE: &str = "usage: cargo xtask bench-redis [--secs S] [--markdown]";

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

    let mut bench = crate::cargo_command(&[
        "run",
        "--release",
        "--quiet",
        "-p",
        "limiter-redis",
        "--example",
        "bench",
        "--",
        "--secs",
        &secs,
    ]);
    bench.stderr(Stdio::inherit());
    let output = bench.output()?;
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
