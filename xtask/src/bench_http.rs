//! `cargo xtask bench-http [--duration SECS] [--rounds N] [--connections N]`:
//! builds limiter-tower's HTTP benchmark in release, runs it once and prints
//! its table; `--markdown` also writes it to the `bench-http` section of
//! BENCHMARKS.md.

use std::error::Error;

use crate::markdown;

const NAME: &str = "bench-http";

/// Runs the benchmark with `args`; with `--markdown`, records its table in
/// the `bench-http` section of BENCHMARKS.md.
pub(crate) fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    let (args, write) = markdown::take_flag(args);
    check_args(&args)?;
    let mut all =
        vec!["run", "--release", "--quiet", "-p", "limiter-tower", "--example", "bench_http", "--"];
    all.extend(args.iter().map(String::as_str));
    let table = markdown::run_teed(super::cargo_command(&all))?;
    if write {
        let invocation = format!(
            "cargo xtask {NAME}{}",
            args.iter().map(|a| format!(" {a}")).collect::<String>()
        );
        markdown::write_section(NAME, &invocation, &table)?;
    }
    Ok(())
}

/// Rejects, before the build, arguments the benchmark cannot take; it checks
/// their values itself.
fn check_args(args: &[String]) -> Result<(), String> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--duration" | "--rounds" | "--connections" if rest.next().is_some() => {}
            "--duration" | "--rounds" | "--connections" => {
                return Err(format!("{NAME}: {arg} needs a value"));
            }
            _ => {
                return Err(format!(
                    "{NAME}: unknown argument {arg:?} (--duration SECS, --rounds N, --connections N)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_before_the_build() {
        let check =
            |args: &[&str]| check_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert_eq!(check(&["--duration", "2", "--rounds", "3"]), Ok(()));
        assert!(check(&["--duration"]).is_err());
        assert!(check(&["--fast"]).unwrap_err().contains("\"--fast\""));
    }
}
