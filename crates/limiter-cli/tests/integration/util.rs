//! Runs the real `limiter-cli` binary in a fresh temporary directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a run printed and how it exited.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// A directory of its own for one test, removed when dropped.
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
}

impl Dir {
    pub(crate) fn new() -> Dir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("limiter-cli-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` in this directory.
    pub(crate) fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Reads `name` from this directory.
    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path.join(name)).unwrap()
    }

    /// Runs `limiter-cli ARGS` here, with nothing on standard input.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, b"")
    }

    /// Runs `limiter-cli ARGS` here, with `stdin` on standard input.
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self.command(args).stdin(Stdio::piped()).spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        let stdin = stdin.to_vec();
        // Write from another thread so a full stdout pipe cannot deadlock us.
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&stdin);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        Output {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// The command for `limiter-cli ARGS` here, its output piped.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_limiter-cli"));
        command.args(args).current_dir(&self.path).stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs `replay trace.csv ARGS` on `trace` in a fresh directory, checks that
/// it succeeds with nothing on standard error, and returns standard output.
#[track_caller]
pub(crate) fn replay(trace: &str, args: &[&str]) -> String {
    let dir = Dir::new();
    dir.file("trace.csv", trace);
    let mut all = vec!["replay", "trace.csv"];
    all.extend(args);
    let out = dir.run(&all);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{args:?}");
    out.stdout
}

/// Runs `replay trace.csv --decisions - --output json ARGS` on `trace` and
/// checks that it succeeds and that standard output is exactly the decisions
/// header and `rows`. Returns the JSON summary, which goes to standard error.
#[track_caller]
pub(crate) fn decisions(trace: &str, args: &[&str], rows: &str) -> serde_json::Value {
    let dir = Dir::new();
    dir.file("trace.csv", trace);
    let mut all = vec!["replay", "trace.csv", "--decisions", "-", "--output", "json"];
    all.extend(args);
    let out = dir.run(&all);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(out.stdout, format!("line,timestamp,ip,cost,allowed\n{rows}"), "trace: {trace:?}");
    let summary: serde_json::Value = serde_json::from_str(&out.stderr).expect("JSON summary");
    assert_eq!(summary["records"], rows.lines().count(), "{summary}");
    summary
}

/// Checks a run that fails: its exit status and standard error exactly, and
/// that standard output is empty.
#[track_caller]
pub(crate) fn check_failure(out: &Output, code: i32, stderr: &str) {
    assert_eq!((out.code, out.stderr.as_str(), out.stdout.as_str()), (code, stderr, ""));
}
