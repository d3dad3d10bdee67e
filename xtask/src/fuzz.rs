//! `cargo xtask fuzz`: runs a cargo-fuzz target of `fuzz/` for a set time.
//!
//! cargo-fuzz needs a nightly toolchain, so the fuzz crate lives outside the
//! workspace and this task runs `cargo +nightly fuzz` through rustup's `cargo`
//! proxy rather than `$CARGO`, which is the pinned stable cargo itself.

use std::error::Error;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{project_root, run};

pub(crate) const USAGE: &str = "\
usage: cargo xtask fuzz TARGET --time SECONDS [--cmin] [-- LIBFUZZER_ARGS]
       cargo xtask fuzz --list

Runs fuzz/fuzz_targets/TARGET.rs with cargo +nightly fuzz for SECONDS, growing
fuzz/corpus/TARGET/; --cmin then minimises that corpus. Installs cargo-fuzz
if it is missing.";

/// Runs the `fuzz` task with the arguments after its name.
pub(crate) fn fuzz(args: &[String]) -> Result<(), Box<dyn Error>> {
    let (ours, libfuzzer) = match args.iter().position(|arg| arg == "--") {
        Some(dash) => (&args[..dash], &args[dash + 1..]),
        None => (args, &[][..]),
    };
    let targets = targets()?;
    let (mut target, mut seconds, mut cmin) = (None, None, false);
    let mut rest = ours.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--list" => {
                targets.iter().for_each(|name| println!("{name}"));
                return Ok(());
            }
            "--time" => {
                let value = rest.next().ok_or("--time needs a number of seconds")?;
                let parsed = value.parse::<u64>().ok().filter(|&s| s > 0);
                seconds = Some(parsed.ok_or(format!("--time {value:?}: expected seconds > 0"))?);
            }
            "--cmin" => cmin = true,
            name if target.is_none() && !name.starts_with('-') => target = Some(name.to_owned()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}").into()),
        }
    }
    let (Some(target), Some(seconds)) = (target, seconds) else {
        return Err(format!("a target and --time are required\n{USAGE}").into());
    };
    if !targets.contains(&target) {
        return Err(
            format!("unknown fuzz target {target:?}: expected {}", targets.join(", ")).into()
        );
    }
    install_cargo_fuzz()?;
    let mut run_target = nightly(&["fuzz", "run", &target, "--"]);
    run_target.arg(format!("-max_total_time={seconds}")).args(libfuzzer);
    run(run_target)?;
    if cmin {
        run(nightly(&["fuzz", "cmin", &target]))?;
    }
    Ok(())
}

/// The names of `fuzz/fuzz_targets/*.rs`, sorted.
fn targets() -> Result<Vec<String>, Box<dyn Error>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(fuzz_dir().join("fuzz_targets"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn install_cargo_fuzz() -> Result<(), Box<dyn Error>> {
    let installed = nightly(&["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Ok(());
    }
    let mut install = Command::new("cargo");
    install.args(["install", "cargo-fuzz", "--locked"]);
    run(install)
}

/// `cargo +nightly ARGS` in `fuzz/`, through rustup's proxy, without the
/// variables that tie a cargo run to the pinned toolchain.
fn nightly(args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .args(args)
        .current_dir(fuzz_dir())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    command
}

fn fuzz_dir() -> PathBuf {
    project_root().join("fuzz")
}
