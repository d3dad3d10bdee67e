//! `cargo xtask bench-http [--duration SECS] [--rounds N] [--connections N]`:
//! builds limiter-tower's HTTP benchmark in release, runs it once, prints its
//! table and writes it into BENCHMARKS.md between the `bench:bench-http`
//! markers (creating the file, or the section, if absent).

use std::error::Error;
use std::fs;
use std::path::Path;

const NAME: &str = "bench-http";

/// Runs the benchmark with `args` and records its table.
pub(crate) fn run(args: &[String], root: &Path) -> Result<(), Box<dyn Error>> {
    check_args(args)?;
    let mut all =
        vec!["run", "--release", "--quiet", "-p", "limiter-tower", "--example", "bench_http", "--"];
    all.extend(args.iter().map(String::as_str));
    let mut command = super::cargo_command(&all);
    command.stderr(std::process::Stdio::inherit());
    eprintln!("$ {command:?}");
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!("{command:?} failed: {}", output.status).into());
    }
    let table = String::from_utf8(output.stdout)?;
    print!("{table}");
    let invocation =
        format!("cargo xtask {NAME}{}", args.iter().map(|a| format!(" {a}")).collect::<String>());
    let body = format!(
        "## HTTP: limiter-tower, bare axum and tower_governor\n\n`{invocation}` on {}.\n\n{table}",
        machine()
    );
    let path = root.join("BENCHMARKS.md");
    let old = fs::read_to_string(&path).unwrap_or_default();
    fs::write(&path, with_section(&old, NAME, &body))?;
    eprintln!("wrote the {NAME} section of {}", path.display());
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

/// The CPU model and count, as /proc/cpuinfo tells them.
fn machine() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cpus} CPUs")
}

/// `doc` with the section `name` (between `<!-- bench:NAME -->` and
/// `<!-- /bench:NAME -->`) holding `body`: replaced where it is, or added at
/// the end.
fn with_section(doc: &str, name: &str, body: &str) -> String {
    let (open, close) = (format!("<!-- bench:{name} -->"), format!("<!-- /bench:{name} -->"));
    let section = format!("{open}\n{}\n{close}", body.trim_end());
    if let Some(start) = doc.find(&open)
        && let Some(end) = doc[start..].find(&close)
    {
        let end = start + end + close.len();
        return format!("{}{section}{}", &doc[..start], &doc[end..]);
    }
    if doc.trim().is_empty() {
        return format!("{section}\n");
    }
    format!("{}\n\n{section}\n", doc.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_or_added() {
        assert_eq!(with_section("", "x", "a\n"), "<!-- bench:x -->\na\n<!-- /bench:x -->\n");
        let doc = "# B\n\n<!-- bench:x -->\nold\n<!-- /bench:x -->\n\ntail\n";
        assert_eq!(
            with_section(doc, "x", "new"),
            "# B\n\n<!-- bench:x -->\nnew\n<!-- /bench:x -->\n\ntail\n"
        );
        assert_eq!(
            with_section("# B\n", "x", "a"),
            "# B\n\n<!-- bench:x -->\na\n<!-- /bench:x -->\n"
        );
        let other = "<!-- bench:y -->\ny\n<!-- /bench:y -->\n";
        assert!(with_section(other, "x", "a").starts_with(other.trim_end()));
    }

    #[test]
    fn arguments_are_checked_before_the_build() {
        let check =
            |args: &[&str]| check_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert_eq!(check(&["--duration", "2", "--rounds", "3"]), Ok(()));
        assert!(check(&["--duration"]).is_err());
        assert!(check(&["--fast"]).unwrap_err().contains("\"--fast\""));
    }
}
