//! `--key any`: the second field is an opaque key, compared byte for byte,
//! never read as an address.

use limiter_testkit::{RngExt, rng};

use crate::util::{Dir, check_failure, decisions, replay};

/// API keys, user ids, and two spellings of `::1` that are different keys.
const TRACE: &str = "\
timestamp,ip,cost
0,sk_live_aaa
0,sk_live_aaa
0,sk_live_aaa
0,::1
0,0:0:0:0:0:0:0:1
0,::1
0, user 42 ,2
1,sk_live_aaa
0.5,a\tb
0,a\tb
";

#[test]
fn opaque_keys_are_counted_as_written() {
    let out = replay(TRACE, &["--capacity", "1", "--rate", "1", "--key", "any"]);
    assert_eq!(
        out,
        "\
limit            capacity 1, rate 1/s
input            trace.csv
records          10
allowed           5   50.00%
denied            5   50.00%
never allowable   1   10.00%
keys denied       4
skipped           0
distinct keys     5
out of order      1
first            1970-01-01T00:00:00Z
last             1970-01-01T00:00:01Z
span             1 s

top 4 keys by denials
key          allowed  denied
sk_live_aaa        2       2
::1                1       1
a\\tb               1       1
user 42            0       1
"
    );
}

#[test]
fn the_decisions_csv_has_each_key_as_written() {
    let rows = "\
2,0,sk_live_aaa,1,true
3,0,sk_live_aaa,1,false
4,0,sk_live_aaa,1,false
5,0,::1,1,true
6,0,0:0:0:0:0:0:0:1,1,true
7,0,::1,1,false
8,0,user 42,2,false
9,1,sk_live_aaa,1,true
10,0.5,a\tb,1,true
11,0,a\tb,1,false
";
    let summary = decisions(TRACE, &["--capacity", "1", "--rate", "1", "--key", "any"], rows);
    let top = &summary["results"][0]["top"];
    assert_eq!(
        top[0],
        serde_json::json!({ "key": "sk_live_aaa", "allowed": 2, "denied": 2 }),
        "{summary}"
    );
    assert_eq!(top[2]["key"], "a\tb", "{summary}");
    // Quotes are escaped as CSV needs.
    decisions("1,say \"hi\"\n", &["--key", "any"], "1,1,\"say \"\"hi\"\"\",1,true\n");
}

#[test]
fn addresses_are_not_canonicalised_as_opaque_keys() {
    let trace = "0,::1\n0,0:0:0:0:0:0:0:1\n0,::ffff:10.0.0.1\n0,10.0.0.1\n";
    let rows = "1,0,::1,1,true\n2,0,0:0:0:0:0:0:0:1,1,true\n3,0,::ffff:10.0.0.1,1,true\n4,0,10.0.0.1,1,true\n";
    let summary = decisions(trace, &["--capacity", "1", "--key", "any"], rows);
    assert_eq!(summary["distinct_keys"], 4, "{summary}");
    // As addresses they are two keys, and the second of each is denied.
    let rows = "1,0,::1,1,true\n2,0,0:0:0:0:0:0:0:1,1,false\n3,0,::ffff:10.0.0.1,1,true\n4,0,10.0.0.1,1,false\n";
    let summary = decisions(trace, &["--capacity", "1", "--key", "ip"], rows);
    assert_eq!(summary["distinct_keys"], 2, "{summary}");
    assert_eq!(summary["results"][0]["top"][0]["ip"], "10.0.0.1", "{summary}");
}

#[test]
fn an_empty_key_is_malformed() {
    let dir = Dir::new();
    dir.file("trace.csv", "timestamp,ip\n1,k\n2, \t ,3\n3,k\n");
    let out = dir.run(&["replay", "trace.csv", "--key", "any"]);
    let message =
        "limiter-cli: trace.csv:3: key \"\": empty (a key must have at least one character)\n";
    check_failure(&out, 1, message);
    let out =
        dir.run(&["replay", "trace.csv", "--key", "any", "--skip-invalid", "--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, format!("limiter-cli: warning: skipped {}", &message[13..]));
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((&summary["records"], &summary["skipped"]), (&2.into(), &1.into()), "{summary}");
}

#[test]
fn a_sweep_of_opaque_keys_equals_separate_runs() {
    let mut trace = String::new();
    let mut rng = rng(0x2545_f491_4f6c_dd1d, 0);
    for i in 0..3000u64 {
        let state: u64 = rng.random();
        let key = ["sk_a", "sk_b", "user:7", "::1", "0:0:0:0:0:0:0:1", "x y"][(state % 6) as usize];
        // Every tenth record is a second early.
        let t = i * 150 + 1000 - if state.is_multiple_of(10) { 1000 } else { 0 };
        trace.push_str(&format!("{}.{:03},{key},{}\n", t / 1000, t % 1000, state % 3));
    }
    let sweep = replay(
        &trace,
        &["--key", "any", "--capacity", "2,5", "--rate", "1,30/m", "--output", "json"],
    );
    let sweep: serde_json::Value = serde_json::from_str(&sweep).unwrap();
    let results = sweep["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (i, (capacity, rate)) in
        [("2", "1"), ("2", "30/m"), ("5", "1"), ("5", "30/m")].into_iter().enumerate()
    {
        let single = replay(
            &trace,
            &["--key", "any", "--capacity", capacity, "--rate", rate, "--output", "json"],
        );
        let single: serde_json::Value = serde_json::from_str(&single).unwrap();
        assert_eq!(results[i], single["results"][0], "capacity {capacity}, rate {rate}");
        assert_eq!(sweep["distinct_keys"], single["distinct_keys"]);
        assert_eq!(sweep["out_of_order"], single["out_of_order"]);
    }
    assert_eq!(sweep["distinct_keys"], 6, "{sweep}");
    assert!(results.iter().all(|r| r["denied"].as_u64().unwrap() > 100), "{sweep}");
}

#[test]
fn access_logs_use_the_host_as_an_opaque_key() {
    let log = "\
www.example.com - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1
www.example.com - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1
::1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1
0:0:0:0:0:0:0:1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1
";
    let out = replay(log, &["--key", "any", "--capacity", "1", "--output", "json"]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["distinct_keys"], 3, "{summary}");
    assert_eq!(
        summary["results"][0]["top"],
        serde_json::json!([{ "key": "www.example.com", "allowed": 1, "denied": 1 }]),
        "{summary}"
    );
}

#[test]
fn prefixes_with_opaque_keys_are_usage_errors() {
    let dir = Dir::new();
    dir.file("trace.csv", "1,k\n");
    for flag in ["--ipv4-prefix", "--ipv6-prefix"] {
        let out = dir.run(&["replay", "trace.csv", "--key", "any", flag, "24"]);
        let message = format!(
            "limiter-cli: {flag} needs --key ip: opaque keys (--key any) have no prefixes\n"
        );
        check_failure(&out, 2, &message);
    }
    let out = dir.run(&["replay", "trace.csv", "--key", "name"]);
    assert_eq!((out.code, out.stdout.as_str()), (2, ""));
    assert!(out.stderr.contains("'name'"), "{}", out.stderr);
}
