//! `cargo xtask bench [--quick] [--runs N] [--markdown]`: builds
//! limiter-bench's suite in release (cargo's bench profile) and runs it,
//! printing one table that compares limiter-core with governor and a floor.
//! `--markdown` also writes that table (the suite prints markdown) to the
//! `bench` section of BENCHMARKS.md.

use std::error::Error;

use crate::markdown;

/// Runs the suite with `args`.
pub(crate) fn bench(args: &[String]) -> Result<(), Box<dyn Error>> {
    let (args, write) = markdown::take_flag(args);
    check_args(&args)?;
    let mut all = vec!["bench", "--quiet", "-p", "limiter-bench", "--bench", "suite", "--"];
    all.extend(args.iter().map(String::as_str));
    if !write {
        return super::cargo(&all);
    }
    let output = markdown::run_teed(super::cargo_command(&all))?;
    let command_line = ["cargo xtask bench"].into_iter().chain(args.iter().map(String::as_str));
    markdown::write_section("bench", &command_line.collect::<Vec<_>>().join(" "), &output)
}

/// Rejects, before the build, arguments the suite cannot take. The suite
/// checks `--runs`' value itself.
fn check_args(args: &[String]) -> Result<(), String> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => {}
            "--runs" if rest.next().is_some() => {}
            "--runs" => return Err("bench: --runs needs N".to_owned()),
            _ => {
                return Err(format!(
                    "bench: unknown argument {arg:?} (--quick, --runs N, --markdown)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Result<(), String> {
        check_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_are_checked_before_the_build() {
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&["--runs", "3", "--quick"]), Ok(()));
        assert_eq!(check(&["--runs"]), Err("bench: --runs needs N".to_owned()));
        assert_eq!(
            check(&["--fast"]),
            Err("bench: unknown argument \"--fast\" (--quick, --runs N, --markdown)".to_owned())
        );
    }
}
