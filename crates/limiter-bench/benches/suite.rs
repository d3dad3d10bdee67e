//! The benchmark suite: limiter-core against governor and a floor, printed
//! as one table. Run it with `cargo xtask bench [--quick] [--runs N]`.
//!
//! This is a custom harness (`harness = false`): criterion and divan each
//! time one function at a time and print their own report per function, so
//! neither can put three implementations, their ratios, two-thread scaling
//! and memory side by side in one table from one run.

use std::env;
use std::process::ExitCode;
use std::time::Instant;

use limiter_bench::{
    CHILD_ENV, Command, Machine, OutsideSizes, SEED, Sizes, Summary, USAGE, bytes_per_key,
    bytes_per_key_in_child, governor_default_clock_name, load_average, parse_args, render_outside,
    run_adversarial, run_outside, run_suite,
};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("limiter-bench: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Suite { quick, runs, outside_only } => {
            let outside = if quick { OutsideSizes::QUICK } else { OutsideSizes::FULL };
            if outside_only {
                outside_table(&outside)
            } else {
                suite(if quick { Sizes::QUICK } else { Sizes::FULL }, runs)
                    .and_then(|()| outside_table(&outside))
            }
        }
        Command::Adversarial { quick } => {
            adversarial(if quick { Sizes::QUICK } else { Sizes::FULL })
        }
        Command::MemoryChild { implementation, family, keys, seed } => {
            bytes_per_key(implementation, family, keys, seed)
                .map(|bytes| println!("{bytes}"))
                .map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("limiter-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn suite(sizes: Sizes, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let exe = env::current_exe()?;
    let machine = Machine::read();
    let load_before = load_average();
    let began = Instant::now();
    let mut reports = Vec::with_capacity(runs);
    for run in 1..=runs {
        let prefix = if runs > 1 { format!("run {run}/{runs} ") } else { String::new() };
        reports.push(run_suite(
            &sizes,
            SEED,
            &mut |line| eprintln!("{prefix}{line}"),
            &mut |i, family| bytes_per_key_in_child(&exe, i, family, sizes.memory_keys, SEED),
        )?);
    }
    println!(
        "limiter-bench: `cargo xtask bench{}{}`",
        if sizes == Sizes::QUICK { " --quick" } else { "" },
        if runs > 1 { format!(" --runs {runs}") } else { String::new() },
    );
    println!();
    println!(
        "- machine: {machine}; load average {load_before} at start, {} at end",
        load_average()
    );
    println!("- build profile: {}", profile());
    println!(
        "- each figure: median of {} samples (after {} warm-up) of {} requests per thread; \
         explicit time advances {} ns per request; seed {SEED:#x}; took {:.0} s",
        sizes.samples,
        sizes.warmups,
        sizes.requests,
        sizes.step_ns,
        began.elapsed().as_secs_f64(),
    );
    println!(
        "- clocks: ours `MonotonicClock`, governor `{}`, floor `Instant`",
        governor_default_clock_name()
    );
    println!(
        "- 2-thread rows: ns/op is wall time over one thread's requests; scaling = 2 × ns(1 thread) / ns(2 threads)"
    );
    println!(
        "- ours allowed: the share of ours' timed requests allowed; under 10, 5/s most are denied"
    );
    println!(
        "- memory: resident bytes added per key over {} keys, each in a fresh process with {}={}",
        sizes.memory_keys, CHILD_ENV.0, CHILD_ENV.1
    );
    if load_before.parse::<f64>().is_ok_and(|load| load >= 0.5) {
        println!(
            "- warning: load average {load_before} at start: other processes share the CPU, \
             so figures are noisy, two-thread rows most"
        );
    }
    if runs > 1 {
        println!(
            "- runs: {runs}, one after another; the table is the last run's, the summary below it covers all"
        );
    }
    println!();
    let last = reports.last().expect("at least one run");
    print!("{}", last.render());
    if runs > 1 {
        println!();
        print!("{}", Summary::of(&reports).render());
    }
    println!();
    print!("{}", run_adversarial(&sizes, SEED, &mut |line| eprintln!("{line}"))?.render());
    Ok(())
}

/// The adversarial-keys table alone.
fn adversarial(sizes: Sizes) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "limiter-bench: `cargo xtask bench{} --adversarial`",
        if sizes == Sizes::QUICK { " --quick" } else { "" }
    );
    println!();
    println!("- machine: {}; load average {} at start", Machine::read(), load_average());
    println!(
        "- each figure: median of {} samples (after {} warm-up); seed {SEED:#x}",
        sizes.samples, sizes.warmups
    );
    println!();
    print!("{}", run_adversarial(&sizes, SEED, &mut |line| eprintln!("{line}"))?.render());
    Ok(())
}

/// Runs issue #23's outside shape and prints its table after the suite's.
fn outside_table(sizes: &OutsideSizes) -> Result<(), Box<dyn std::error::Error>> {
    let load_before = load_average();
    let rows = run_outside(sizes, SEED, &mut |line| eprintln!("{line}"))?;
    println!();
    println!(
        "- build profile: {}; load average {load_before} at start, {} at end",
        profile(),
        load_average()
    );
    println!();
    print!("{}", render_outside(&rows, sizes));
    Ok(())
}

/// The cargo profile this binary was built with, by its target directory
/// (`release` for cargo's bench profile, which inherits it).
fn profile() -> String {
    env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            Some(deps.parent()?.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
