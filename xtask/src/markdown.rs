//! `--markdown` for the bench commands: each writes its own section of
//! `BENCHMARKS.md`, so a changed figure is a regenerated file.
//!
//! A section is the text between `<!-- bench:NAME -->` and
//! `<!-- /bench:NAME -->`, on lines of their own. Writing one replaces only
//! that text; everything outside the markers (the hand-written notes, other
//! commands' sections) stays as it is. A section not yet in the file is
//! appended at its end. A bench command adds `--markdown` like this:
//!
//! ```text
//! let output = markdown::run_teed(command)?;        // prints as it runs
//! let body = markdown::fenced(&output);             // or the output as is, if markdown
//! markdown::write_section("bench-http", "cargo xtask bench-http", &body)?;
//! ```

use std::error::Error;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::gen_trace::civil_from_days;
use crate::project_root;

/// The file every bench command writes its section of.
pub(crate) const FILE: &str = "BENCHMARKS.md";

/// The first line inside every section.
const GENERATED: &str =
    "<!-- generated: rerun the command below with --markdown; edit only outside the markers -->";

/// The section `cargo xtask stress ARGS --markdown` writes: `stress-soak`
/// for a soak, `stress-flood` for the flood alone, else `stress`.
pub(crate) fn stress_section(args: &[String]) -> &'static str {
    let flood_only = args.windows(2).any(|pair| pair[0] == "--workload" && pair[1] == "flood")
        || args.iter().any(|arg| arg == "--workload=flood");
    if args.iter().any(|arg| arg == "--soak" || arg.starts_with("--soak=")) {
        "stress-soak"
    } else if flood_only {
        "stress-flood"
    } else {
        "stress"
    }
}

/// Takes `--markdown` out of `args`; returns whether it was there.
pub(crate) fn take_flag(args: &[String]) -> (Vec<String>, bool) {
    let rest: Vec<String> = args.iter().filter(|arg| *arg != "--markdown").cloned().collect();
    let found = rest.len() != args.len();
    (rest, found)
}

/// Runs `command`, printing its standard output as it comes and returning
/// it; standard error goes straight through. Fails if the command fails.
pub(crate) fn run_teed(mut command: Command) -> Result<String, Box<dyn Error>> {
    eprintln!("$ {command:?}");
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let mut captured = String::new();
    let stdout = std::io::stdout();
    for line in BufReader::new(child.stdout.take().expect("stdout is piped")).lines() {
        let line = line?;
        writeln!(stdout.lock(), "{line}")?;
        captured.push_str(&line);
        captured.push('\n');
    }
    let status = child.wait()?;
    if status.success() {
        Ok(captured)
    } else {
        Err(format!("{command:?} failed: {status}").into())
    }
}

/// `text` as a fenced plain-text block, for output that is not markdown.
pub(crate) fn fenced(text: &str) -> String {
    format!("```text\n{}\n```\n", text.trim_end())
}

/// Writes section `name` of `BENCHMARKS.md` at the workspace root: a line
/// naming `command_line` and the machine, date and commit it ran on, then
/// `body` (markdown).
pub(crate) fn write_section(
    name: &str,
    command_line: &str,
    body: &str,
) -> Result<(), Box<dyn Error>> {
    let path = project_root().join(FILE);
    let old = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(err) => return Err(format!("{}: {err}", path.display()).into()),
    };
    let content = format!("{}\n{}", provenance(command_line), body.trim_end());
    let new = replace_section(&old, name, &content).map_err(|err| format!("{FILE}: {err}"))?;
    fs::write(&path, new)?;
    eprintln!("wrote section {name:?} of {}", path.display());
    Ok(())
}

/// `document` with the text between the markers of section `name` replaced
/// by `content`, or with the section appended if it has no markers.
fn replace_section(document: &str, name: &str, content: &str) -> Result<String, String> {
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let section = format!("{open}\n{GENERATED}\n{}\n{close}", content.trim_end());
    let lines: Vec<&str> = document.lines().collect();
    let find = |marker: &str| {
        let mut at = lines.iter().enumerate().filter(|(_, line)| line.trim() == marker);
        match (at.next(), at.next()) {
            (None, _) => Ok(None),
            (Some((i, _)), None) => Ok(Some(i)),
            (Some(_), Some(_)) => Err(format!("{marker} appears more than once")),
        }
    };
    match (find(&open)?, find(&close)?) {
        (None, None) => Ok(format!("{}\n\n{section}\n", document.trim_end())),
        (Some(start), Some(end)) if start < end => {
            let mut out: Vec<&str> = lines[..start].to_vec();
            out.push(&section);
            out.extend(&lines[end + 1..]);
            Ok(out.join("\n") + "\n")
        }
        _ => Err(format!("{open} and {close} must both appear, in that order")),
    }
}

/// What a section records about its run: the command, when, at which
/// commit, and on what machine and toolchain.
fn provenance(command_line: &str) -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory =
        mem_total_gib(&meminfo).map_or_else(|| "? GiB".to_owned(), |g| format!("{g:.1} GiB"));
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let rustc = stdout_of(
        Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-V"),
    );
    let commit = stdout_of(Command::new("git").args(["rev-parse", "--short=7", "HEAD"]));
    // BENCHMARKS.md itself does not count: another section may just have
    // been written.
    let dirty = stdout_of(Command::new("git").args([
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!BENCHMARKS.md",
    ]));
    let dirty = if dirty.is_empty() || dirty == "?" { "" } else { " with uncommitted changes" };
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "- command: `{command_line}`\n- date: {}\n- commit: `{commit}`{dirty}\n\
         - machine: {}, {cores} cores (nproc), {memory} memory; {rustc}\n\
         - load average at the end: {}\n",
        utc_minute(seconds),
        cpu_model(&cpuinfo).unwrap_or("unknown CPU"),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// A command's trimmed standard output, or `?` if it could not run.
fn stdout_of(command: &mut Command) -> String {
    command
        .current_dir(project_root())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "?".to_owned(), |text| text.trim().to_owned())
}

/// The first `model name` in a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<&str> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim())
    })
}

/// `MemTotal` of a `/proc/meminfo` text, in GiB.
fn mem_total_gib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib as f64 / (1024.0 * 1024.0))
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
fn utc_minute(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let (year, month, day) = civil_from_days(days);
    let minute = seconds % 86_400 / 60;
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_the_rest_kept() {
        let document = "# Benchmarks\n\nnotes\n\n<!-- bench:bench -->\nold\ntable\n<!-- /bench:bench -->\n\n\
                        <!-- bench:bench-replay -->\nreplay\n<!-- /bench:bench-replay -->\ntail\n";
        let new = replace_section(document, "bench", "new\n").unwrap();
        assert_eq!(
            new,
            format!(
                "# Benchmarks\n\nnotes\n\n<!-- bench:bench -->\n{GENERATED}\nnew\n<!-- /bench:bench -->\n\n\
                 <!-- bench:bench-replay -->\nreplay\n<!-- /bench:bench-replay -->\ntail\n"
            )
        );
        assert_eq!(replace_section(&new, "bench", "new").unwrap(), new, "rewriting is idempotent");
    }

    #[test]
    fn a_new_section_is_appended() {
        let new = replace_section("# Benchmarks\n\nnotes\n\n", "bench-http", "figures").unwrap();
        assert_eq!(
            new,
            format!(
                "# Benchmarks\n\nnotes\n\n<!-- bench:bench-http -->\n{GENERATED}\n\
                 figures\n<!-- /bench:bench-http -->\n"
            )
        );
    }

    #[test]
    fn broken_markers_are_refused_rather_than_overwritten() {
        let open = "<!-- bench:bench -->";
        let close = "<!-- /bench:bench -->";
        for document in [
            format!("{open}\nx\n"),
            format!("{close}\nx\n"),
            format!("{close}\nx\n{open}\n"),
            format!("{open}\n{close}\n{open}\n{close}\n"),
        ] {
            assert!(replace_section(&document, "bench", "y").is_err(), "{document:?}");
        }
        // Another command's markers do not count.
        assert!(replace_section("<!-- bench:bench-replay -->\n", "bench", "y").is_ok());
    }

    #[test]
    fn the_flag_is_taken_out_of_the_arguments() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(take_flag(&args(&["--quick", "--markdown"])), (args(&["--quick"]), true));
        assert_eq!(take_flag(&args(&["--runs", "3"])), (args(&["--runs", "3"]), false));
    }

    #[test]
    fn every_section_of_the_real_file_is_rewritten_in_place() {
        let text = fs::read_to_string(project_root().join(FILE)).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("<!-- bench:")?.strip_suffix(" -->"))
            .collect();
        assert!(names.contains(&"bench") && names.contains(&"bench-replay"), "{names:?}");
        for name in names {
            let open = format!("<!-- bench:{name} -->\n{GENERATED}\n");
            let start = text.find(&open).expect("a section opens with its generated line");
            let end = text.find(&format!("\n<!-- /bench:{name} -->")).unwrap();
            let content = &text[start + open.len()..end];
            let new = replace_section(&text, name, "new figures").unwrap();
            assert_eq!(new.len(), text.len() - content.len() + "new figures".len(), "{name}");
            assert_eq!(replace_section(&new, name, content).unwrap(), text, "{name}");
        }
    }

    #[test]
    fn stress_runs_write_a_section_per_kind() {
        let args = |line: &str| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(stress_section(&args("--against governor")), "stress");
        assert_eq!(stress_section(&args("--workload flood")), "stress-flood");
        assert_eq!(stress_section(&args("--workload=flood")), "stress-flood");
        assert_eq!(stress_section(&args("--workload hot")), "stress");
        assert_eq!(stress_section(&args("--soak 10")), "stress-soak");
        assert_eq!(stress_section(&args("--workload flood --soak=1")), "stress-soak");
    }

    #[test]
    fn machine_facts_are_read_from_proc_texts() {
        let cpuinfo =
            "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(cpu_model(cpuinfo), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
        assert_eq!(
            mem_total_gib("MemTotal:       24683772 kB\nMemFree: 1 kB\n"),
            Some(24683772.0 / 1048576.0)
        );
        assert_eq!(mem_total_gib("MemFree: 1 kB\n"), None);
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        // 2026-12-06 11:10:09 UTC.
        assert_eq!(utc_minute(1_796_555_409), "2026-12-06 11:10 UTC");
        assert_eq!(fenced("a\nb\n\n"), "```text\na\nb\n```\n");
    }
}
