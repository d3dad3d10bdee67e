//! Standard input, gzip, the decisions file, broken pipes and the progress
//! bar's silence when standard error is not a terminal.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::util::{Dir, check_failure};

const TRACE: &str = "timestamp,ip\n0,10.0.0.1\n0,10.0.0.1\n0,10.0.0.2\n";
const ROWS: &str = "line,timestamp,ip,cost,allowed\n2,0,10.0.0.1,1,true\n3,0,10.0.0.1,1,false\n4,0,10.0.0.2,1,true\n";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn standard_input() {
    let dir = Dir::new();
    let out = dir.run_with_stdin(
        &["replay", "-", "--capacity", "1", "--decisions", "d.csv"],
        TRACE.as_bytes(),
    );
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert!(
        out.stdout.starts_with("limit            capacity 1, rate 5/s\ninput            <stdin>\n"),
        "{}",
        out.stdout
    );
    assert_eq!(dir.read("d.csv"), ROWS);
    let out = dir.run_with_stdin(&["replay", "-"], b"1,10.0.0.1\n1,x\n");
    check_failure(&out, 1, "limiter-cli: <stdin>:2: ip \"x\": not an IPv4 or IPv6 address\n");
}

#[test]
fn gzip_files_and_streams_are_decompressed() {
    let dir = Dir::new();
    dir.file("trace.csv.gz", gzip(TRACE.as_bytes()));
    let out = dir.run(&["replay", "trace.csv.gz", "--capacity", "1", "--decisions", "-"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ROWS), "{}", out.stderr);
    let out = dir.run_with_stdin(
        &["replay", "-", "--capacity", "1", "--decisions", "-"],
        &gzip(TRACE.as_bytes()),
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, ROWS), "{}", out.stderr);
    // Concatenated gzip members, as `cat a.gz b.gz` makes, are one stream.
    let mut two = gzip(b"timestamp,ip\n0,10.0.0.1\n");
    two.extend(gzip(b"0,10.0.0.1\n0,10.0.0.2\n"));
    dir.file("two.gz", two);
    let out = dir.run(&["replay", "two.gz", "--capacity", "1", "--decisions", "-"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ROWS), "{}", out.stderr);
}

#[test]
fn the_decisions_file_and_the_summary_on_stdout() {
    let dir = Dir::new();
    dir.file("trace.csv", TRACE);
    let out = dir.run(&[
        "replay",
        "trace.csv",
        "--capacity",
        "1",
        "--decisions",
        "d.csv",
        "--output",
        "json",
    ]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["records"], 3);
    assert_eq!(dir.read("d.csv"), ROWS);
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let dir = Dir::new();
    let trace: String =
        (0..100_000).map(|i| format!("{i},10.0.{}.{}\n", i % 256, i / 256 % 256)).collect();
    dir.file("big.csv", trace);
    // Like `| head -c 5`: the reader goes away after a few bytes of decisions.
    let mut child = dir.command(&["replay", "big.csv", "--decisions", "-"]).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0; 5];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"line,");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        (output.status.code(), String::from_utf8_lossy(&output.stderr).as_ref()),
        (Some(0), "")
    );
    // The reader is gone before the summary is written.
    for output in ["text", "json"] {
        let mut child = dir.command(&["replay", "big.csv", "--output", output]).spawn().unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            (output.status.code(), String::from_utf8_lossy(&output.stderr).as_ref()),
            (Some(0), "")
        );
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_full_disk_is_a_write_error() {
    let dir = Dir::new();
    dir.file("trace.csv", TRACE);
    let out = dir.run(&["replay", "trace.csv", "--decisions", "/dev/full"]);
    check_failure(
        &out,
        1,
        "limiter-cli: cannot write decisions file \"/dev/full\": no space left on device\n",
    );
    for output in ["text", "json"] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = dir
            .command(&["replay", "trace.csv", "--output", output])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{output}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "limiter-cli: cannot write standard output: no space left on device\n"
        );
    }
}

#[test]
fn lines_counts_physical_lines() {
    let dir = Dir::new();
    dir.file("a.csv", "a\r\nb\n\nc");
    dir.file("b.gz", gzip(b"1\n2\n"));
    let out = dir.run(&["lines", "a.csv", "b.gz"]);
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "6\n", ""));
}
