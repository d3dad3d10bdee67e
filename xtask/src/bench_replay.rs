//! `cargo xtask bench-replay`: how fast `limiter-cli replay` goes.
//!
//! Generates (once, into `target/bench-replay/`) a CSV trace of 10M records
//! over 100k keys, builds `limiter-cli` in release mode, and times three
//! passes over the same file in one run: `limiter-cli lines` (read and split
//! only, the floor), a replay with one limit, and a 3×3 what-if sweep. Each
//! pass runs several times; the table shows the best and the median wall
//! time and the records per second of the best, next to the targets.
//! `--logs` also generates the same traffic as a 10M-line HAProxy log, AWS
//! ALB log and JSON-lines log (`cargo xtask gen-trace --log`), and times a
//! one-limit replay of each, next to the CSV figure: the target is at least
//! half the CSV replay's records per second. Each row also gives the input's
//! bytes per second: a log line is 5 to 13 times a CSV record's bytes.
//!
//! `--markdown` also writes the table to the `bench-replay` section of
//! BENCHMARKS.md.

use std::env;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::gen_trace::{self, Format, Log, Params};
use crate::markdown;

const USAGE: &str =
    "usage: cargo xtask bench-replay [--records N] [--keys N] [--runs N] [--logs] [--markdown]";

/// Target: a log replays at least this share of the CSV replay's records/s.
const LOG_TARGET: f64 = 0.5;

/// Target: records per second with one limit.
const SINGLE_TARGET: f64 = 5e6;
/// Target: a 3×3 sweep takes at most this many times one limit's time.
const SWEEP_TARGET: f64 = 3.0;

pub(crate) fn run(args: &[String], root: &Path) -> Result<(), Box<dyn Error>> {
    let (args, write) = markdown::take_flag(args);
    let command_line =
        ["cargo xtask bench-replay"].into_iter().chain(args.iter().map(String::as_str));
    let command_line = command_line.collect::<Vec<_>>().join(" ");
    let (mut records, mut keys, mut runs, mut logs) = (10_000_000, 100_000, 5, false);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--logs" {
            logs = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let value: u64 =
            value.parse().map_err(|_| format!("{flag}: {value:?} is not a whole number"))?;
        match flag.as_str() {
            "--records" => records = value,
            "--keys" => keys = value,
            "--runs" => runs = value.max(1),
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}").into()),
        }
    }
    let target_dir =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let dir = target_dir.join("bench-replay");
    std::fs::create_dir_all(&dir)?;
    let params =
        Params { records, keys, seed: 1, span_secs: 3600, format: Format::Decimal, log: Log::Csv };
    let trace = generate(&dir, &params)?;
    crate::cargo(&["build", "--release", "--quiet", "-p", "limiter-cli"])?;
    let bin = target_dir.join("release/limiter-cli");
    let trace_arg = trace.to_str().ok_or("the target directory's path is not UTF-8")?;
    let size = std::fs::metadata(&trace)?.len();

    let lines = ["lines", trace_arg];
    let single = ["replay", trace_arg, "--capacity", "10", "--rate", "5", "--output", "json"];
    let sweep =
        ["replay", trace_arg, "--capacity", "5,10,20", "--rate", "1,5,10", "--output", "json"];
    // Once untimed, so that every timed pass reads from the page cache.
    time(&bin, &lines, None)?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = Report::default();
    report.line(format!(
        "bench-replay: {records} records over {keys} keys, {:.1} MB, {runs} runs per pass, {cores} cores, \
         load average {}",
        size as f64 / 1e6,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));
    report.line(format!(
        "{:<22}{:>9}{:>10}{:>13}{:>12}   target",
        "pass", "best", "median", "records/s", "input/s"
    ));
    let floor = measure(&bin, &lines, runs, None)?;
    report.row("read and split lines", &floor, records, size, String::new());
    let one = measure(&bin, &single, runs, Some(records))?;
    let rate = records as f64 / one.best.as_secs_f64();
    let verdict = if rate >= SINGLE_TARGET { "met" } else { "MISSED" };
    report.row("replay, 1 limit", &one, records, size, format!(">= 5.0 M/s: {verdict}"));
    let nine = measure(&bin, &sweep, runs, Some(records))?;
    let ratio = nine.best.as_secs_f64() / one.best.as_secs_f64();
    let verdict = if ratio <= SWEEP_TARGET { "met" } else { "MISSED" };
    report.row(
        "replay, 3x3 sweep",
        &nine,
        records,
        size,
        format!("<= 3x one limit: {ratio:.2}x, {verdict}"),
    );
    if logs {
        for &(name, log) in &Log::ALL[1..] {
            let path = generate(&dir, &Params { log, ..params.clone() })?;
            let path = path.to_str().ok_or("the target directory's path is not UTF-8")?;
            let bytes = std::fs::metadata(path)?.len();
            let size = bytes as f64 / 1e6;
            let args = ["replay", path, "--input", name, "--capacity", "10", "--rate", "5"];
            let timing =
                measure(&bin, &[&args[..], &["--output", "json"]].concat(), runs, Some(records))?;
            let share = one.best.as_secs_f64() / timing.best.as_secs_f64();
            let verdict = if share >= LOG_TARGET { "met" } else { "MISSED" };
            let label = format!("replay {name}, {size:.0} MB");
            let target = format!(">= 0.5x CSV: {share:.2}x, {verdict}");
            report.row(&label, &timing, records, bytes, target);
        }
    }
    if write {
        markdown::write_section("bench-replay", &command_line, &markdown::fenced(&report.text))?;
    }
    Ok(())
}

/// The file of `params`' records in `dir`, generated once.
fn generate(dir: &Path, params: &Params) -> Result<PathBuf, Box<dyn Error>> {
    let Params { records, keys, .. } = *params;
    let name = match params.log {
        Log::Csv => format!("trace-{records}-{keys}-seed1.csv"),
        Log::Haproxy => format!("haproxy-{records}-{keys}-seed1.log"),
        Log::Alb => format!("alb-{records}-{keys}-seed1.log"),
        Log::Jsonl => format!("caddy-{records}-{keys}-seed1.jsonl"),
    };
    let path = dir.join(name);
    if !path.exists() {
        let started = Instant::now();
        let partial = path.with_extension("partial");
        gen_trace::write_file(params, &partial)?;
        std::fs::rename(&partial, &path)?;
        eprintln!("generated {} in {:.1} s", path.display(), started.elapsed().as_secs_f64());
    }
    Ok(path)
}

/// The table, printed line by line as it is measured and kept for
/// `--markdown`.
#[derive(Default)]
struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, line: String) {
        println!("{line}");
        self.text.push_str(&line);
        self.text.push('\n');
    }

    /// A pass's times, its records a second and its input's bytes a second
    /// (of the best run).
    fn row(&mut self, name: &str, timing: &Timing, records: u64, bytes: u64, target: String) {
        let best = timing.best.as_secs_f64();
        let rate = records as f64 / best / 1e6;
        let bytes_rate = bytes as f64 / best / 1e9;
        self.line(format!(
            "{name:<22}{best:>7.2} s{:>8.2} s{rate:>9.1} M/s{bytes_rate:>7.2} GB/s   {target}",
            timing.median.as_secs_f64(),
        ));
    }
}

/// The best and median of several timed runs.
struct Timing {
    best: Duration,
    median: Duration,
}

fn measure(
    bin: &Path,
    args: &[&str],
    runs: u64,
    records: Option<u64>,
) -> Result<Timing, Box<dyn Error>> {
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(time(bin, args, records)?);
    }
    times.sort();
    Ok(Timing { best: times[0], median: times[times.len() / 2] })
}

/// Runs the binary once and checks that it replayed `records` records.
fn time(bin: &Path, args: &[&str], records: Option<u64>) -> Result<Duration, Box<dyn Error>> {
    let started = Instant::now();
    let output = Command::new(bin).args(args).output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("limiter-cli {} failed: {stderr}", args.join(" ")).into());
    }
    if let Some(records) = records {
        let stdout = String::from_utf8(output.stdout)?;
        let expected = format!("\"records\": {records},");
        if !stdout.contains(&expected) {
            return Err(format!("expected {records} records replayed, got:\n{stdout}").into());
        }
    }
    Ok(elapsed)
}
