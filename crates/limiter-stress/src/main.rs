//! `limiter-stress`: hammers limiter-core from many threads, prints throughput
//! and latency percentiles per workload, and checks exactly that no key was
//! allowed more than its bucket allows. `--against governor` runs the same
//! workloads on the `governor` crate in the same process for comparison.
//! `--workload flood` floods a limiter with a key cap with new addresses, in
//! trace time, and `--soak MINUTES` repeats every workload for that long.
//!
//! Run it through `cargo xtask stress [ARGS]`, which builds in release mode.

mod args;
mod check;
mod flood;
mod limiters;
mod report;
mod run;
mod soak;
mod svg;
mod workload;

#[cfg(test)]
mod harness_tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::Parser;

use limiter_core::WhenFull;

use crate::args::{Against, Args, Config, Stop};
use crate::flood::{FloodResult, FloodSize};
use crate::report::Header;
use crate::run::RunResult;
use crate::workload::Workload;

fn main() -> ExitCode {
    let config = match Config::try_from(Args::parse()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("limiter-stress: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some((policy, threads)) = config.flood_child {
        let size = config.flood.unwrap_or(FloodSize::FULL);
        println!("{}", flood::run(size, policy, threads).to_json());
        return ExitCode::SUCCESS;
    }
    match stress(&config) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("limiter-stress: a check failed: see FAILED above");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("limiter-stress: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every workload under every quota on every limiter; `Ok(false)` if a check failed.
fn stress(config: &Config) -> Result<bool, StressError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .thread_name(|i| format!("stress-{i}"))
        .build()
        .map_err(|err| StressError::Pool(err.to_string()))?;
    if let Some(duration) = config.soak {
        return Ok(soak::soak(config, &pool, duration));
    }
    let header = Header {
        threads: config.threads,
        seed: config.seed,
        batch: config.batch,
        timer: run::timer_cost(200_000),
        load: load_average(),
    };
    let mut runs: Vec<RunResult> = Vec::new();
    for &kind in &config.workloads {
        let started = Instant::now();
        let workload = Workload::generate(
            kind,
            config.threads,
            config.stream_len,
            config.seed,
            config.zipf_exponent,
        );
        eprintln!("{}: generated keys in {:.2} s", kind.name(), started.elapsed().as_secs_f64());
        for &quota in &config.quotas {
            let ours = limiters::ours(quota);
            runs.push(timed_run(&ours, &workload, quota, &pool, config));
            drop(ours);
            if config.against == Some(Against::Governor) {
                let (theirs, exact) = limiters::governor(quota);
                if !exact {
                    eprintln!("note: governor's period is 1/R rounded up to a whole nanosecond");
                }
                runs.push(timed_run(&theirs, &workload, quota, &pool, config));
            }
        }
    }
    if !runs.is_empty() {
        print!("{}", report::table(&header, &runs));
    }
    let mut floods = Vec::new();
    if let Some(size) = config.flood {
        for threads in [1, 2] {
            for policy in flood::POLICIES {
                eprintln!("flood: {policy:?} on {threads} thread(s), in a fresh process");
                floods.push(flood_in_child(size, policy, threads)?);
            }
        }
        print!("{}", report::flood_table(&floods));
    }
    if let Some(path) = &config.json {
        let text = serde_json::to_string_pretty(&report::json(&header, &runs, &floods))
            .expect("JSON values serialise");
        write(path, text + "\n")?;
    }
    if let Some(dir) = &config.hgrm {
        std::fs::create_dir_all(dir)
            .map_err(|source| StressError::Io { path: dir.clone(), source })?;
        for run in &runs {
            write(&dir.join(report::hgrm_file_name(run)), report::hgrm(&run.histogram))?;
        }
    }
    if let Some(path) = &config.svg {
        let title = format!("limiter-stress: latency by percentile, {} threads", config.threads);
        write(path, svg::plot(&title, &runs))?;
    }
    Ok(runs.iter().all(|run| run.check.passed()) && floods.iter().all(|run| run.passed()))
}

fn timed_run<L: limiter_testkit::Subject>(
    limiter: &L,
    workload: &Workload,
    quota: check::Quota,
    pool: &rayon::ThreadPool,
    config: &Config,
) -> RunResult {
    let what = match config.stop {
        Stop::After(duration) => format!("{:.2} s", duration.as_secs_f64()),
        Stop::Ops(ops) => format!("{ops} ops"),
    };
    eprintln!(
        "{}: {} on {} for {what}",
        workload.kind.name(),
        report::short_quota(quota),
        limiter.name()
    );
    run::run(limiter, workload, quota, pool, config.stop, config.batch)
}

/// The first three fields of Linux's `/proc/loadavg`, if it exists.
pub(crate) fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// Runs one flood case in a child process of this binary, so that its
/// memory is measured from a fresh heap rather than one that earlier runs
/// left pages in.
fn flood_in_child(
    size: FloodSize,
    policy: WhenFull,
    threads: usize,
) -> Result<FloodResult, StressError> {
    let exe = std::env::current_exe().map_err(|err| StressError::Child(err.to_string()))?;
    let mut command = Command::new(exe);
    command.arg("--workload=flood").arg(format!("--flood-child={policy:?}:{threads}"));
    if size == FloodSize::QUICK {
        command.arg("--quick");
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| StressError::Child(err.to_string()))?;
    if !output.status.success() {
        return Err(StressError::Child(format!(
            "{policy:?} on {threads} exited {}",
            output.status
        )));
    }
    serde_json::from_slice(&output.stdout)
        .ok()
        .as_ref()
        .and_then(FloodResult::from_json)
        .ok_or_else(|| StressError::Child(format!("{policy:?} on {threads}: unreadable result")))
}

fn write(path: &Path, contents: String) -> Result<(), StressError> {
    std::fs::write(path, contents)
        .map_err(|source| StressError::Io { path: path.to_owned(), source })
}

/// Why a stress run could not finish.
#[derive(Debug)]
enum StressError {
    /// The worker pool could not be built.
    Pool(String),
    /// A flood's child process could not run or report.
    Child(String),
    /// An output file could not be written.
    Io { path: PathBuf, source: std::io::Error },
}

impl fmt::Display for StressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StressError::Pool(err) => write!(f, "cannot start the worker threads: {err}"),
            StressError::Child(err) => write!(f, "flood child process failed: {err}"),
            StressError::Io { path, source } => {
                write!(f, "cannot write {:?}: {source}", path.display().to_string())
            }
        }
    }
}

impl std::error::Error for StressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StressError::Pool(_) | StressError::Child(_) => None,
            StressError::Io { source, .. } => Some(source),
        }
    }
}
