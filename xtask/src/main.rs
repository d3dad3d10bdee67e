//! The workspace's task runner, run as `cargo xtask <task>`.
//!
//! `cargo xtask` is an alias (see `.cargo/config.toml`) for running this
//! binary, so tasks need nothing installed beyond cargo. It uses std only,
//! to build fast, and runs cargo through `$CARGO`, the cargo that invoked it.

mod bench;
mod bench_http;
mod bench_redis;
mod bench_replay;
mod fuzz;
mod gen_trace;
mod markdown;

use std::env;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
usage: cargo xtask <task> [args]

tasks:
  bench [--quick] [--runs N] [--adversarial] [--markdown]
                     build in release and run the benchmark suite: one table of
                     limiter-core against governor and a floor (--quick: short;
                     --runs N: N runs, then how often each target was met); then
                     structured key sets against random ones (--adversarial: only those)

  ci                 fmt check, clippy -D warnings, the README's test command, docs -D warnings
  loom               model-check limiter-core's concurrency (its tests/loom.rs, --cfg loom)
  stress [ARGS] [--markdown]
                     build in release and run limiter-stress with ARGS (--quick: smoke run)
  gen-trace [ARGS]   write examples/trace.csv (or --out PATH) from a seeded generator
  bench-http [--duration SECS] [--rounds N] [--connections N] [--markdown]
                     load bare axum, limiter-tower and tower_governor over loopback
  bench-replay [--logs] [--markdown]
                     time limiter-cli replay on a 10M-record trace: 1 limit, a 3x3 sweep, read only;
                     --logs adds 10M-line HAProxy, ALB and JSON-lines logs
  bench-redis [--secs S] [--markdown]
                     limiter-redis against a float GCRA script on a redis-server of its own
  fuzz TARGET --time SECONDS
                     run a cargo-fuzz target on nightly (fuzz --list: the targets)

--markdown (bench, bench-http, bench-redis, bench-replay, stress) also writes the output, with the command,
machine and date, to that command's section of BENCHMARKS.md (xtask/src/markdown.rs)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::bench(&args[1..]),
        Some("ci") => ci(),
        Some("loom") => loom(),
        Some("stress") => stress(&args[1..]),
        Some("gen-trace") => gen_trace::run(&args[1..], &project_root()),
        Some("bench-http") => bench_http::run(&args[1..]),
        Some("bench-replay") => bench_replay::run(&args[1..], &project_root()),
        Some("bench-redis") => bench_redis::run(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        _ => {
            eprint!("{HELP}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The checks CI runs, in order from fastest to slowest.
fn ci() -> Result<(), Box<dyn Error>> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    cargo(&["test", "--workspace"])?;
    let mut doc = cargo_command(&["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    run(doc)?;
    forbidden_core_dependencies()
}

/// Fails if limiter-core depends on a crate only the binaries may use.
fn forbidden_core_dependencies() -> Result<(), Box<dyn Error>> {
    let output = cargo_command(&["tree", "-p", "limiter-core", "-e", "normal", "--prefix", "none"])
        .output()?;
    if !output.status.success() {
        return Err(
            format!("cargo tree failed: {}", String::from_utf8_lossy(&output.stderr)).into()
        );
    }
    let tree = String::from_utf8(output.stdout)?;
    let forbidden = ["clap", "rayon", "hdrhistogram", "rand", "governor"];
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.contains(name))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("limiter-core must not depend on {}", found.join(", ")).into())
    }
}

/// Runs the loom model tests, in their own target directory so that the
/// `--cfg loom` build does not invalidate the normal one.
///
/// Two sets: `tests/loom.rs` through the public API, and the tables' slot
/// protocol (`store::table::loom_tests`, the only unit tests that run under
/// loom).
fn loom() -> Result<(), Box<dyn Error>> {
    for args in [
        &["test", "-p", "limiter-core", "--test", "loom", "--release"][..],
        &["test", "-p", "limiter-core", "--lib", "--release", "--", "loom_tests"],
    ] {
        let mut test = cargo_command(args);
        test.env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", project_root().join("target/loom"));
        run(test)?;
    }
    Ok(())
}

fn stress(args: &[String]) -> Result<(), Box<dyn Error>> {
    let (args, write) = markdown::take_flag(args);
    let mut all = vec!["run", "--release", "--quiet", "-p", "limiter-stress", "--"];
    all.extend(args.iter().map(String::as_str));
    if !write {
        return cargo(&all);
    }
    let output = markdown::run_teed(cargo_command(&all))?;
    let command_line = format!("cargo xtask stress {}", args.join(" "));
    markdown::write_section(
        markdown::stress_section(&args),
        command_line.trim_end(),
        &markdown::fenced(&output),
    )
}

fn cargo(args: &[&str]) -> Result<(), Box<dyn Error>> {
    run(cargo_command(args))
}

fn cargo_command(args: &[&str]) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(project_root());
    command
}

fn run(mut command: Command) -> Result<(), Box<dyn Error>> {
    eprintln!("$ {command:?}");
    let status = command.status()?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed: {status}").into()) }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}
