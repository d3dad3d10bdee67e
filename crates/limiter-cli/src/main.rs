//! `limiter-cli`: replays recorded traffic through a per-IP rate limiter.
//!
//! `main` only parses arguments, runs, and maps errors to exit statuses: 2 for
//! usage errors, 1 for everything else, 0 when standard output is a closed
//! pipe (as when piped into `head`).

mod args;
mod batch;
mod decide;
mod decisions;
mod error;
mod formats;
mod input;
mod keys;
mod plot;
mod redis;
mod replay;
mod report;

use std::process::ExitCode;

// The input parsers live in the library target, so that limiter-fuzz can
// fuzz them in-process; these imports keep their `crate::` paths working.
use limiter_cli::{timestamp, trace};

use clap::Parser as _;

use crate::args::{Cli, Command, OutputFormat, ReplayConfig};
use crate::error::CliError;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("limiter-cli: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Replay(args) => {
            let config = ReplayConfig::try_from(args)?;
            let progress = input::progress_bar(&config.traces);
            let summary = replay::replay(&config, &progress)?;
            progress.finish_and_clear();
            let json = config.output == OutputFormat::Json;
            if let Some(path) = &config.plot {
                plot::draw(&summary, path)?;
            }
            report::print_summary(&summary, json, config.decisions_on_stdout())
        }
        Command::Lines { traces } => report::print_line_count(replay::count_lines(&traces)?),
    }
}
