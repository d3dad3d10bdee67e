//! Every way a run fails: malformed records, unusable files, usage errors.

use crate::util::{Dir, check_failure};

/// Checks that replaying `trace` stops with exit status 1 and `message`.
#[track_caller]
fn check_malformed(trace: &str, message: &str) {
    let dir = Dir::new();
    dir.file("trace.csv", trace);
    let out = dir.run(&["replay", "trace.csv"]);
    check_failure(&out, 1, &format!("limiter-cli: {message}\n"));
}

#[test]
fn malformed_records_name_file_line_field_and_value() {
    let ts = "not a decimal number of seconds";
    check_malformed(
        "1,10.0.0.1\n12x,10.0.0.1\n",
        &format!(r#"trace.csv:2: timestamp "12x": {ts}"#),
    );
    check_malformed("\n\ntimestamp,ip\n", &format!(r#"trace.csv:3: timestamp "timestamp": {ts}"#));
    check_malformed("+5,10.0.0.1\n", &format!(r#"trace.csv:1: timestamp "+5": {ts}"#));
    check_malformed("-5,10.0.0.1\n", &format!(r#"trace.csv:1: timestamp "-5": {ts}"#));
    check_malformed("1.5e3,10.0.0.1\n", &format!(r#"trace.csv:1: timestamp "1.5e3": {ts}"#));
    check_malformed(
        "a\n\u{feff}1,10.0.0.1\n",
        "trace.csv:1: record \"a\": expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found 1 \
         (--input auto chose a CSV trace from this line; --input names the format: csv, combined, haproxy, alb or jsonl)",
    );
    check_malformed(
        "# ok\n\u{feff}1,10.0.0.1\n",
        &format!(r#"trace.csv:2: timestamp "\u{{feff}}1": {ts}"#),
    );
    check_malformed(
        "1.0000000001,10.0.0.1\n",
        r#"trace.csv:1: timestamp "1.0000000001": more than 9 fractional digits"#,
    );
    check_malformed(
        "9223372036.854775808,10.0.0.1\n",
        r#"trace.csv:1: timestamp "9223372036.854775808": out of range: expected 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z (0 to 2^63-1 ns)"#,
    );
    check_malformed(
        "1969-12-31T23:59:59Z,10.0.0.1\n",
        r#"trace.csv:1: timestamp "1969-12-31T23:59:59Z": out of range: expected 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z (0 to 2^63-1 ns)"#,
    );
    let rfc = "not an RFC 3339 date-time like 2023-11-14T22:13:20.5Z or 2023-11-14T23:13:20+01:00";
    check_malformed(
        "2023-11-14 22:13:20Z,10.0.0.1\n",
        &format!(r#"trace.csv:1: timestamp "2023-11-14 22:13:20Z": {rfc}"#),
    );
    check_malformed(
        "2023-11-14T22:13:20,10.0.0.1\n",
        &format!(r#"trace.csv:1: timestamp "2023-11-14T22:13:20": {rfc}"#),
    );
    check_malformed(
        "2023-02-29T00:00:00Z,10.0.0.1\n",
        r#"trace.csv:1: timestamp "2023-02-29T00:00:00Z": no such calendar date"#,
    );
    check_malformed(
        "2016-12-31T23:59:60Z,10.0.0.1\n",
        r#"trace.csv:1: timestamp "2016-12-31T23:59:60Z": leap seconds (second 60) are not supported"#,
    );
    check_malformed(
        "2023-11-14T22:13:20+24:00,10.0.0.1\n",
        r#"trace.csv:1: timestamp "2023-11-14T22:13:20+24:00": time-zone offset out of range (at most 23 hours and 59 minutes)"#,
    );
    check_malformed(
        "1,10.0.0.256\n",
        r#"trace.csv:1: ip "10.0.0.256": not an IPv4 or IPv6 address"#,
    );
    check_malformed("1,[::1]\n", r#"trace.csv:1: ip "[::1]": not an IPv4 or IPv6 address"#);
    check_malformed(
        "1,10.0.0.1,\n",
        r#"trace.csv:1: cost "": empty (leave out the cost column for the default cost 1)"#,
    );
    check_malformed("1,10.0.0.1,+5\n", r#"trace.csv:1: cost "+5": not a whole number"#);
    check_malformed(
        "1,10.0.0.1,18446744073709551616\n",
        r#"trace.csv:1: cost "18446744073709551616": larger than 18446744073709551615"#,
    );
    check_malformed(
        "1,10.0.0.1,1,extra\n",
        r#"trace.csv:1: record "1,10.0.0.1,1,extra": expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found 4"#,
    );
}

#[test]
fn a_line_longer_than_a_mebibyte_is_malformed() {
    let trace = format!("1,10.0.0.1\n{}\n", "7".repeat(3 << 20));
    check_malformed(
        &trace,
        &format!(r#"trace.csv:2: record "{}…": line longer than 1048576 bytes"#, "7".repeat(64)),
    );
}

#[test]
fn records_before_a_malformed_one_are_decided_and_written() {
    let dir = Dir::new();
    dir.file("trace.csv", "1,10.0.0.1\n2,10.0.0.2\nbad\n3,10.0.0.3\n");
    let out = dir.run(&["replay", "trace.csv", "--decisions", "d.csv"]);
    check_failure(
        &out,
        1,
        "limiter-cli: trace.csv:3: record \"bad\": expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found 1\n",
    );
    assert_eq!(
        dir.read("d.csv"),
        "line,timestamp,ip,cost,allowed\n1,1,10.0.0.1,1,true\n2,2,10.0.0.2,1,true\n"
    );
}

#[test]
fn skip_invalid_counts_every_bad_record_and_shows_the_first_five() {
    let dir = Dir::new();
    let trace = "timestamp,ip\nx,10.0.0.1\n1,10.0.0.1\n1,nope\n1,10.0.0.1,\n,\n\n1,10.0.0.1,2,3\n2,10.0.0.1\n2023-02-30T00:00:00Z,::1\n1,::1,-1\n";
    dir.file("trace.csv", trace);
    let out = dir.run(&["replay", "trace.csv", "--skip-invalid", "--output", "json"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stderr,
        "\
limiter-cli: warning: skipped trace.csv:2: timestamp \"x\": not a decimal number of seconds
limiter-cli: warning: skipped trace.csv:4: ip \"nope\": not an IPv4 or IPv6 address
limiter-cli: warning: skipped trace.csv:5: cost \"\": empty (leave out the cost column for the default cost 1)
limiter-cli: warning: skipped trace.csv:6: timestamp \"\": empty
limiter-cli: warning: skipped trace.csv:8: record \"1,10.0.0.1,2,3\": expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found 4
limiter-cli: warning: skipped 2 more malformed records, 7 in all
"
    );
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((&summary["records"], &summary["skipped"]), (&2.into(), &7.into()));
}

#[test]
fn skip_invalid_with_few_bad_records_shows_them_all() {
    let dir = Dir::new();
    dir.file("trace.csv", "1,10.0.0.1\nbad,10.0.0.1\n");
    let out = dir.run(&["replay", "trace.csv", "--skip-invalid", "--output", "json"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stderr,
        "limiter-cli: warning: skipped trace.csv:2: timestamp \"bad\": not a decimal number of seconds\n"
    );
    assert!(out.stdout.contains("\"skipped\": 1,"), "{}", out.stdout);
}

#[test]
fn unusable_inputs_and_outputs() {
    let dir = Dir::new();
    dir.file("ok.csv", "1,10.0.0.1\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["replay", "missing.csv"], "cannot open \"missing.csv\": no such file or directory"),
        (
            &["replay", "ok.csv", "missing.csv"],
            "cannot open \"missing.csv\": no such file or directory",
        ),
        (&["replay", "sub"], "cannot read \"sub\": is a directory, not a trace file"),
        (
            &["replay", "ok.csv", "--decisions", "nowhere/d.csv"],
            "cannot create decisions file \"nowhere/d.csv\": no such file or directory",
        ),
        (
            &["replay", "ok.csv", "--decisions", "sub"],
            "cannot create decisions file \"sub\": is a directory",
        ),
        (
            &["replay", "ok.csv/x"],
            "cannot open \"ok.csv/x\": a component of the path is not a directory",
        ),
    ];
    for (args, message) in cases {
        let out = dir.run(args);
        check_failure(&out, 1, &format!("limiter-cli: {message}\n"));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn an_input_that_fails_to_read_is_an_error() {
    // Reading /proc/self/mem from offset 0 fails with EIO.
    let out = Dir::new().run(&["replay", "/proc/self/mem"]);
    check_failure(
        &out,
        1,
        "limiter-cli: cannot read \"/proc/self/mem\": input/output error (os error 5)\n",
    );
}

#[test]
fn corrupt_gzip_is_a_read_error() {
    let dir = Dir::new();
    dir.file("bad.csv.gz", b"\x1f\x8b\x08\x00garbage that is not deflate");
    let out = dir.run(&["replay", "bad.csv.gz"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(out.stderr.starts_with("limiter-cli: cannot read \"bad.csv.gz\": "), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn bad_limits_are_usage_errors() {
    let dir = Dir::new();
    dir.file("ok.csv", "1,10.0.0.1\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--rate", "fast"],
            "--rate: invalid rate \"fast\": expected a decimal number of tokens per second like 5 or 0.5, or N/s, N/m or N/h",
        ),
        (
            &["--rate", "-1"],
            "--rate: invalid rate \"-1\": expected a decimal number of tokens per second like 5 or 0.5, or N/s, N/m or N/h",
        ),
        (
            &["--rate", "0"],
            "--rate: rate \"0\" is out of range: expected 0.000000001 to 1000000000 tokens per second",
        ),
        (
            &["--rate", "5,1.0000000001"],
            "--rate: invalid rate \"1.0000000001\": more than 9 fractional digits",
        ),
        (&["--rate", "5/d"], "--rate: invalid rate \"5/d\": expected N/s, N/m or N/h"),
        (
            &["--capacity", "0"],
            "--capacity: \"0\" is out of range: expected 1 to 1000000000 tokens",
        ),
        (&["--capacity", "-3"], "--capacity: \"-3\" is not a whole number of tokens"),
        (&["--capacity", "ten"], "--capacity: \"ten\" is not a whole number of tokens"),
        (
            &["--capacity", "1,2", "--decisions", "d.csv"],
            "--decisions needs a single capacity and rate, not a sweep of several",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["replay", "ok.csv"];
        all.extend(*args);
        check_failure(&dir.run(&all), 2, &format!("limiter-cli: {message}\n"));
    }
}

#[test]
fn the_decisions_file_may_not_be_an_input() {
    let dir = Dir::new();
    dir.file("trace.csv", "1,10.0.0.1\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (args, named) in [
        (&["replay", "trace.csv", "--decisions", "trace.csv"][..], "trace.csv"),
        (&["replay", "-", "sub/../trace.csv", "--decisions", "./trace.csv"], "./trace.csv"),
    ] {
        let out = dir.run(args);
        let message = format!(
            "limiter-cli: --decisions {named:?} is one of the traces; it would be overwritten\n"
        );
        check_failure(&out, 2, &message);
        assert_eq!(dir.read("trace.csv"), "1,10.0.0.1\n");
    }
}

#[test]
fn clap_usage_errors_exit_2() {
    let dir = Dir::new();
    for args in [
        &["replay"][..],
        &["replay", "x.csv", "--bogus"],
        &["replay", "x.csv", "--output", "xml"],
        &["frobnicate"],
        &[],
    ] {
        let out = dir.run(args);
        assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{args:?}");
        assert!(
            out.stderr.starts_with("error: ") || out.stderr.contains("Usage: limiter-cli"),
            "{args:?}: {}",
            out.stderr
        );
    }
}
