//! `cargo xtask bench [--quick]`: builds limiter-bench's suite in release
//! (cargo's bench profile) and runs it, printing one table that compares
//! limiter-core with governor and a floor.

use std::error::Error;

/// Runs the suite; `--quick` is the only argument it takes.
pub(crate) fn bench(args: &[String]) -> Result<(), Box<dyn Error>> {
    if let Some(arg) = args.iter().find(|arg| *arg != "--quick") {
        return Err(format!("bench: unknown argument {arg:?} (only --quick)").into());
    }
    let mut all = vec!["bench", "--quiet", "-p", "limiter-bench", "--bench", "suite", "--"];
    all.extend(args.iter().map(String::as_str));
    super::cargo(&all)
}
