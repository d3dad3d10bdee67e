//! Web server access logs: detected from the first record or forced with
//! `--input combined`.

use crate::util::{Dir, check_failure};

const NGINX: &str = r#"203.0.113.9 - - [14/Nov/2023:22:13:20 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
2001:db8::7 - alice [14/Nov/2023:17:13:20 -0500] "POST /api/login HTTP/2.0" 401 31 "https://example.com/a b" "curl/8.4.0"
203.0.113.9 - - [14/Nov/2023:23:13:20 +0100] "GET /search?q=\"rate limit\" HTTP/1.1" 200 1043 "https://example.com/?q=\"x\"" "Agent \"quoted\" [brackets]"
::ffff:203.0.113.9 - - [15/Nov/2023:03:43:21 +0530] "GET / HTTP/1.1" 304 - "-" "-"
2001:0db8:0:0::7 - - [14/Nov/2023:22:13:20 +0000] "-" 400 0 "-" "-" rt=0.003 "extra field"
"#;

#[test]
fn nginx_and_apache_lines_are_detected_and_replayed() {
    let dir = Dir::new();
    dir.file("access.log", NGINX);
    let out = dir.run(&[
        "replay",
        "access.log",
        "--capacity",
        "2",
        "--rate",
        "1",
        "--decisions",
        "-",
        "--output",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "\
line,timestamp,ip,cost,allowed
1,14/Nov/2023:22:13:20 +0000,203.0.113.9,1,true
2,14/Nov/2023:17:13:20 -0500,2001:db8::7,1,true
3,14/Nov/2023:23:13:20 +0100,203.0.113.9,1,true
4,15/Nov/2023:03:43:21 +0530,::ffff:203.0.113.9,1,true
5,14/Nov/2023:22:13:20 +0000,2001:0db8:0:0::7,1,true
"
    );
    let summary: serde_json::Value = serde_json::from_str(&out.stderr).unwrap();
    assert_eq!(summary["distinct_keys"], 2);
    assert_eq!(summary["first"], "2023-11-14T22:13:20Z");
    assert_eq!(summary["last"], "2023-11-14T22:13:21Z");
    let denied: serde_json::Value = serde_json::json!(0);
    assert_eq!(summary["results"][0]["denied"], denied);
}

#[test]
fn a_third_request_in_the_same_second_is_denied() {
    let dir = Dir::new();
    let log = NGINX.replace("15/Nov/2023:03:43:21 +0530", "15/Nov/2023:03:43:20 +0530");
    dir.file("access.log", log);
    let out = dir.run(&[
        "replay",
        "--input",
        "combined",
        "access.log",
        "--capacity",
        "2",
        "--rate",
        "1",
        "--decisions",
        "d.csv",
    ]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    let rows: Vec<String> =
        dir.read("d.csv").lines().map(|l| l.rsplit(',').next().unwrap().to_owned()).collect();
    assert_eq!(rows, ["allowed", "true", "true", "true", "false", "true"]);
}

#[test]
fn host_names_are_not_keys() {
    let dir = Dir::new();
    let log = format!(
        "{NGINX}www.example.com - - [14/Nov/2023:22:13:22 +0000] \"GET / HTTP/1.1\" 200 1\n\
         203.0.113.9 - - [14/Nov/2023:22:13:23 +0000] \"GET / HTTP/1.1\" 200 1\n"
    );
    dir.file("access.log", &log);
    let out = dir.run(&["replay", "access.log"]);
    check_failure(
        &out,
        1,
        "limiter-cli: access.log:6: host \"www.example.com\": not an IP address (host names are not addresses; --key any replays them by name)\n",
    );
    let out = dir.run(&["replay", "access.log", "--skip-invalid", "--output", "json"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stderr,
        "limiter-cli: warning: skipped access.log:6: host \"www.example.com\": not an IP address (host names are not addresses; --key any replays them by name)\n"
    );
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((&summary["records"], &summary["skipped"]), (&6.into(), &1.into()));
}

#[test]
fn bad_log_lines_name_the_field() {
    let dir = Dir::new();
    let cases = [
        (
            "10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET / HTTP/1.1\" 200 1\n10.0.0.1 - - [14/Nov/2023:22:13:20] \"GET / HTTP/1.1\" 200 1\n",
            "access.log:2: time \"14/Nov/2023:22:13:20\": not a common log format time like 10/Oct/2000:13:55:36 -0700",
        ),
        (
            "10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET / HTTP/1.1\" 200 1\n10.0.0.1 - - [31/Nov/2023:22:13:20 +0000] \"GET\" 200 1\n",
            "access.log:2: time \"31/Nov/2023:22:13:20 +0000\": no such calendar date",
        ),
        (
            "10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET / HTTP/1.1\" 200 1\n10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET\n",
            "access.log:2: record \"10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \\\"GET\": not in common or combined log format (host ident user [time] \"request\" status bytes)",
        ),
    ];
    for (log, message) in cases {
        dir.file("access.log", log);
        check_failure(&dir.run(&["replay", "access.log"]), 1, &format!("limiter-cli: {message}\n"));
    }
}

#[test]
fn forcing_the_wrong_format_fails_on_the_first_record() {
    let dir = Dir::new();
    dir.file("access.log", NGINX);
    dir.file("trace.csv", "# a trace\n1,10.0.0.1\n");
    check_failure(
        &dir.run(&["replay", "--input", "combined", "trace.csv"]),
        1,
        "limiter-cli: trace.csv:2: record \"1,10.0.0.1\": not in common or combined log format (host ident user [time] \"request\" status bytes)\n",
    );
    let out = dir.run(&["replay", "--input", "csv", "access.log"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    // The user agent's one comma makes two fields, so the timestamp is wrong.
    assert!(
        out.stderr.starts_with(
            "limiter-cli: access.log:1: timestamp \"203.0.113.9 - - [14/Nov/2023:22:13:20 +0000]"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("…\": not a decimal number of seconds\n"), "{}", out.stderr);
}

#[test]
fn each_input_is_detected_on_its_own() {
    let dir = Dir::new();
    dir.file(
        "access.log",
        "\n10.0.0.1 - - [01/Jan/1970:00:00:10 +0000] \"GET / HTTP/1.1\" 200 1\n",
    );
    dir.file("trace.csv", "timestamp,ip\n10,10.0.0.1\n11,10.0.0.1\n");
    let out = dir.run(&[
        "replay",
        "access.log",
        "trace.csv",
        "--capacity",
        "1",
        "--rate",
        "1",
        "--decisions",
        "-",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "line,timestamp,ip,cost,allowed,file\n2,01/Jan/1970:00:00:10 +0000,10.0.0.1,1,true,access.log\n\
         2,10,10.0.0.1,1,false,trace.csv\n3,11,10.0.0.1,1,true,trace.csv\n"
    );
}
