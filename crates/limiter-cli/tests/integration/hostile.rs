//! Hostile inputs: invalid UTF-8, NUL bytes, a 10 MB line, a million distinct
//! bad addresses, timestamps at and just past both ends of the range, a gzip
//! stream that expands a thousandfold and gzip files cut short, before or
//! while they are read.
//!
//! Each run must end, within a generous time limit, with a clear error or a
//! correct count: never a panic (exit status 101). The big inputs also bound
//! the child's peak memory, read from `/proc/PID/status` while it runs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::Child;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::util::{Dir, Output};

/// A run taking longer than this is a hang.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// The most resident memory a run over a big input may use. The line reader
/// keeps at most one 1 MiB line and one 1 MiB chunk, so tens of MiB is plenty;
/// this bound is loose so that only unbounded growth trips it.
const MEMORY_LIMIT_KIB: u64 = 200 * 1024;

/// A finished run and the peak resident memory seen while it ran, in KiB.
#[derive(Debug)]
struct Measured {
    out: Output,
    peak_kib: u64,
}

/// Runs `limiter-cli ARGS` in `dir`, failing the test on a hang or a panic,
/// and tracks the child's peak resident set (`VmHWM`) until it exits.
#[track_caller]
fn run_measured(dir: &Dir, args: &[&str]) -> Measured {
    let child = dir.command(args).spawn().expect("limiter-cli starts");
    let mut peak_kib = 0;
    let out = supervise(child, &format!("{args:?}"), |child| {
        peak_kib = peak_kib.max(peak_rss_kib(child).unwrap_or(0));
    });
    Measured { out, peak_kib }
}

/// Waits for `child` to exit, calling `watch` on it at least every few
/// milliseconds meanwhile, and fails the test if it hangs or panics.
///
/// Nothing sleeps: the wait blocks on the child's pipes closing (which
/// happens when it exits), with a short timeout only so that `watch` can
/// sample `VmHWM`, a high-water mark that loses nothing between samples.
#[track_caller]
fn supervise(mut child: Child, what: &str, mut watch: impl FnMut(&Child)) -> Output {
    const SAMPLE: Duration = Duration::from_millis(5);
    let (closed, pipes_closed) = mpsc::channel();
    // Drain both pipes on threads so a chatty child cannot block on them.
    let stdout = drain(child.stdout.take().expect("piped stdout"), closed.clone());
    let stderr = drain(child.stderr.take().expect("piped stderr"), closed);
    let started = Instant::now();
    let mut open = 2;
    while open > 0 {
        watch(&child);
        match pipes_closed.recv_timeout(SAMPLE) {
            Ok(()) => open -= 1,
            Err(RecvTimeoutError::Timeout) if started.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("limiter-cli {what} still running after {TIME_LIMIT:?}: a hang");
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    watch(&child);
    let status = child.wait().expect("wait for limiter-cli");
    let out = Output {
        code: status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(stdout.join().expect("stdout reader")).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr.join().expect("stderr reader")).expect("UTF-8 stderr"),
    };
    assert_ne!(out.code, 101, "limiter-cli {what} panicked: {}", out.stderr);
    out
}

/// Reads `pipe` to its end on a thread, then says so on `closed`.
fn drain(
    mut pipe: impl std::io::Read + Send + 'static,
    closed: Sender<()>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).expect("read a pipe");
        let _ = closed.send(());
        bytes
    })
}

/// The child's `VmHWM`, its peak resident set so far, in KiB.
fn peak_rss_kib(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `replay trace ARGS --output json`, expects exit status 0 and returns
/// the JSON summary with the run's peak memory.
#[track_caller]
fn summary(dir: &Dir, trace: &str, args: &[&str]) -> (serde_json::Value, String, u64) {
    let mut all = vec!["replay", trace, "--output", "json"];
    all.extend(args);
    let Measured { out, peak_kib } = run_measured(dir, &all);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let summary = serde_json::from_str(&out.stdout).expect("a JSON summary");
    (summary, out.stderr, peak_kib)
}

/// Runs `replay trace` and expects exit status 1 with exactly `message`.
#[track_caller]
fn fails_with(dir: &Dir, trace: &str, message: &str) {
    let Measured { out, .. } = run_measured(dir, &["replay", trace]);
    assert_eq!(
        (out.code, out.stderr.as_str(), out.stdout.as_str()),
        (1, format!("limiter-cli: {message}\n").as_str(), "")
    );
}

#[test]
fn invalid_utf8_is_named_lossily_and_never_panics() {
    let dir = Dir::new();
    dir.file("ip.csv", b"0,10.0.0.1\n1,10.0.0.\xff\n");
    fails_with(&dir, "ip.csv", "ip.csv:2: ip \"10.0.0.\u{fffd}\": not an IPv4 or IPv6 address");
    dir.file("ts.csv", b"\xc3\x28,10.0.0.1\n");
    fails_with(
        &dir,
        "ts.csv",
        "ts.csv:1: timestamp \"\u{fffd}(\": not a decimal number of seconds",
    );
    // A comment may hold anything; a whole file of invalid UTF-8 is counted.
    dir.file("mixed.csv", b"# caf\xe9\n0,10.0.0.1\n\xfe\xff\xfe\n\xff,\xff,\xff\n");
    let (summary, _, _) = summary(&dir, "mixed.csv", &["--skip-invalid"]);
    assert_eq!((&summary["records"], &summary["skipped"]), (&1.into(), &2.into()), "{summary}");
}

#[test]
fn nul_bytes_are_malformed_fields() {
    let dir = Dir::new();
    dir.file("nul.csv", b"0,10.0.0.1\0\n");
    fails_with(&dir, "nul.csv", "nul.csv:1: ip \"10.0.0.1\\0\": not an IPv4 or IPv6 address");
    dir.file("nul_ts.csv", b"0\x001,10.0.0.1\n");
    fails_with(
        &dir,
        "nul_ts.csv",
        "nul_ts.csv:1: timestamp \"0\\01\": not a decimal number of seconds",
    );
    let mut many = b"0,10.0.0.1\n".to_vec();
    many.extend([0; 4096]);
    many.extend(b"\n\0\n1,10.0.0.1,\0\n2,::1\n");
    dir.file("many.csv", many);
    let (summary, _, _) = summary(&dir, "many.csv", &["--skip-invalid"]);
    assert_eq!((&summary["records"], &summary["skipped"]), (&2.into(), &3.into()), "{summary}");
}

#[test]
fn a_10_mb_line_is_reported_and_skipped() {
    let dir = Dir::new();
    let mut trace = b"0,10.0.0.1\n1,".to_vec();
    trace.extend(std::iter::repeat_n(b'9', 10 << 20));
    trace.extend(b",10.0.0.1\n2,10.0.0.1\n");
    dir.file("long.csv", &trace);
    let Measured { out, peak_kib } = run_measured(&dir, &["replay", "long.csv"]);
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert!(
        out.stderr.starts_with("limiter-cli: long.csv:2: record \"1,999")
            && out.stderr.ends_with(": line longer than 1048576 bytes\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.len() < 1024, "the message quotes only the start of the line");
    assert!(peak_kib < MEMORY_LIMIT_KIB, "peak memory {peak_kib} KiB");
    let (summary, _, _) = summary(&dir, "long.csv", &["--skip-invalid"]);
    assert_eq!((&summary["records"], &summary["skipped"]), (&2.into(), &1.into()), "{summary}");
}

#[test]
fn a_million_distinct_invalid_addresses_are_all_counted_in_bounded_memory() {
    const BAD: u64 = 1_000_000;
    let dir = Dir::new();
    let path = dir.path().join("bad.csv");
    let mut file = BufWriter::new(File::create(&path).expect("create bad.csv"));
    writeln!(file, "0,10.0.0.1").unwrap();
    for i in 0..BAD {
        // Five octets: each line a different, invalid address.
        writeln!(file, "{i},10.{}.{}.{}.1", i >> 16, (i >> 8) & 255, i & 255).unwrap();
    }
    writeln!(file, "1,::1").unwrap();
    file.into_inner().expect("flush bad.csv").sync_all().unwrap();
    let (summary, stderr, peak_kib) = summary(&dir, "bad.csv", &["--skip-invalid"]);
    assert_eq!((&summary["records"], &summary["skipped"]), (&2.into(), &BAD.into()), "{summary}");
    assert!(stderr.starts_with(
        "limiter-cli: warning: skipped bad.csv:2: ip \"10.0.0.0.1\": not an IPv4 or IPv6 address\n"
    ));
    assert!(
        stderr.ends_with("skipped 999995 more malformed records, 1000000 in all\n"),
        "{stderr}"
    );
    assert!(peak_kib < MEMORY_LIMIT_KIB, "peak memory {peak_kib} KiB");
}

#[test]
fn timestamps_at_both_ends_of_the_range_and_just_past_them() {
    let dir = Dir::new();
    let trace = "0,10.0.0.1\n9223372036.854775807,10.0.0.2\n1970-01-01T00:00:00Z,10.0.0.3\n\
                 2262-04-11T23:47:16.854775807Z,10.0.0.4\n2262-04-12T01:47:16.854775807+02:00,10.0.0.5\n";
    dir.file("ends.csv", trace);
    let Measured { out, .. } = run_measured(&dir, &["replay", "ends.csv", "--decisions", "-"]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let rows: Vec<&str> = out.stdout.lines().take(6).collect();
    assert_eq!(
        rows,
        [
            "line,timestamp,ip,cost,allowed",
            "1,0,10.0.0.1,1,true",
            "2,9223372036.854775807,10.0.0.2,1,true",
            "3,1970-01-01T00:00:00Z,10.0.0.3,1,true",
            "4,2262-04-11T23:47:16.854775807Z,10.0.0.4,1,true",
            "5,2262-04-12T01:47:16.854775807+02:00,10.0.0.5,1,true",
        ]
    );
    let range = "out of range: expected 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z \
                 (0 to 2^63-1 ns)";
    let past: &[(&str, &str)] = &[
        ("9223372036.854775808", range),
        ("9223372037", range),
        ("18446744073709551616", range),
        ("2262-04-11T23:47:16.854775808Z", range),
        ("2262-04-11T21:47:16.854775808-02:00", range),
        ("1969-12-31T23:59:59.999999999Z", range),
        ("1970-01-01T00:00:00+00:01", range),
        ("-1", "not a decimal number of seconds"),
        ("-0.000000001", "not a decimal number of seconds"),
    ];
    for (timestamp, reason) in past {
        dir.file("past.csv", format!("0,10.0.0.1\n{timestamp},10.0.0.1\n"));
        fails_with(&dir, "past.csv", &format!("past.csv:2: timestamp \"{timestamp}\": {reason}"));
    }
}

/// One gzip member holding `len` zero bytes.
fn gzip_zeros(len: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&vec![0; len]).expect("compress to memory");
    encoder.finish().expect("compress to memory")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("compress to memory");
    encoder.finish().expect("compress to memory")
}

#[test]
fn a_gzip_bomb_expands_in_bounded_memory_and_counts_right() {
    // 1024 members of 1 MiB of zeros (1 KiB each compressed), between two
    // valid records: 1 GiB of one NUL-filled line from about 1 MiB, which a
    // debug build reads in about 5 s. Concatenated members are one stream,
    // as `cat a.gz b.gz` makes.
    const MEMBERS: usize = 1024;
    let dir = Dir::new();
    let path = dir.path().join("bomb.csv.gz");
    let mut file = BufWriter::new(File::create(&path).expect("create bomb.csv.gz"));
    file.write_all(&gzip(b"0,10.0.0.1\n")).unwrap();
    let zeros = gzip_zeros(1 << 20);
    for _ in 0..MEMBERS {
        file.write_all(&zeros).unwrap();
    }
    file.write_all(&gzip(b"\n1,10.0.0.1\n")).unwrap();
    file.into_inner().expect("flush bomb.csv.gz").sync_all().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < (2 << 20), "the bomb is small on disk");

    let (summary, stderr, peak_kib) = summary(&dir, "bomb.csv.gz", &["--skip-invalid"]);
    assert_eq!((&summary["records"], &summary["skipped"]), (&2.into(), &1.into()), "{summary}");
    assert!(stderr.ends_with(": line longer than 1048576 bytes\n"), "{stderr}");
    assert!(peak_kib < MEMORY_LIMIT_KIB, "peak memory {peak_kib} KiB");
}

#[test]
fn a_gzip_file_cut_short_is_a_read_error_naming_it() {
    let dir = Dir::new();
    let mut trace = String::from("timestamp,ip,cost\n");
    for i in 0..20_000 {
        trace.push_str(&format!("{i}.5,10.0.{}.{},2\n", i / 256 % 256, i % 256));
    }
    let whole = gzip(trace.as_bytes());
    let cuts = [
        (5, "unexpected end of file"),
        (whole.len() / 2, "incomplete deflate stream"),
        (whole.len() - 3, "unexpected end of file"),
    ];
    // In the header, inside the deflate data, and in the 8-byte trailer.
    for (cut, reason) in cuts {
        dir.file("cut.csv.gz", &whole[..cut]);
        fails_with(&dir, "cut.csv.gz", &format!("cannot read \"cut.csv.gz\": {reason}"));
    }
}

#[test]
fn a_gzip_file_truncated_while_it_is_read_ends_cleanly() {
    const RECORDS: u64 = 400_000;
    let dir = Dir::new();
    let mut trace = Vec::new();
    for i in 0..RECORDS {
        writeln!(trace, "{i},10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255).unwrap();
    }
    let whole = gzip(&trace);
    let path = dir.file("live.csv.gz", &whole);
    let child = dir
        .command(&["replay", "live.csv.gz", "--output", "json"])
        .spawn()
        .expect("limiter-cli starts");
    // Cut the file to a tenth as soon as the run starts. Whether the child
    // has read past the cut by then is a race, so both outcomes are checked:
    // a read error naming the file, or (if it read everything first) every
    // record counted. Either way it ends, and never with a panic.
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open live.csv.gz");
    file.set_len(whole.len() as u64 / 10).expect("truncate live.csv.gz");
    let out = supervise(child, "on a truncated file", |_| {});
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    match out.code {
        1 => assert!(
            stderr.starts_with("limiter-cli: cannot read \"live.csv.gz\": ")
                && stderr.lines().count() == 1,
            "{stderr}"
        ),
        0 => {
            let summary: serde_json::Value = serde_json::from_str(stdout).expect("a JSON summary");
            assert_eq!(summary["records"], RECORDS, "{summary}");
        }
        code => panic!("exit status {code}: {stderr}"),
    }
}
