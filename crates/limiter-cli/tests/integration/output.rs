//! The summary's text and JSON forms, `--top`, and the what-if sweep.

use limiter_testkit::{RngExt, rng};

use crate::util::{Dir, replay};

const TRACE: &str = "\
timestamp,ip,cost
2023-11-14T22:13:20Z,203.0.113.66
2023-11-14T22:13:20Z,203.0.113.66
2023-11-14T22:13:20Z,203.0.113.66
2023-11-14T22:13:20.5Z,203.0.113.66
2023-11-14T22:13:21Z,2001:db8::1,3
2023-11-14T22:13:19Z,203.0.113.66
2023-11-14T23:13:20Z,198.51.100.7
";

/// Replays [`TRACE`] with `ARGS` and returns standard output of a success.
fn run(args: &[&str]) -> String {
    replay(TRACE, args)
}

#[test]
fn text_summary() {
    assert_eq!(
        run(&["--capacity", "2", "--rate", "1"]),
        "\
limit            capacity 2, rate 1/s
input            trace.csv
records          7
allowed          3   42.86%
denied           4   57.14%
never allowable  1   14.29%
keys denied      2
skipped          0
distinct keys    3
out of order     1
first            2023-11-14T22:13:19Z
last             2023-11-14T23:13:20Z
span             3601 s (1h 0m 1s)

top 2 keys by denials
ip            allowed  denied
203.0.113.66        2       3
2001:db8::1         0       1
"
    );
}

#[test]
fn top_limits_the_key_list() {
    let out = run(&["--capacity", "2", "--rate", "1", "--top", "1"]);
    assert!(out.ends_with("\ntop 1 keys by denials\nip            allowed  denied\n203.0.113.66        2       3\n"), "{out}");
    let out = run(&["--capacity", "2", "--rate", "1", "--top", "0"]);
    assert!(out.ends_with("span             3601 s (1h 0m 1s)\n\nno key was denied\n"), "{out}");
    let out = run(&["--capacity", "100"]);
    assert!(out.ends_with("\nno key was denied\n"), "{out}");
}

#[test]
fn json_summary() {
    assert_eq!(
        run(&["--capacity", "2", "--rate", "1", "--output", "json"]),
        r#"{
  "inputs": [
    "trace.csv"
  ],
  "records": 7,
  "skipped": 0,
  "distinct_keys": 3,
  "out_of_order": 1,
  "first": "2023-11-14T22:13:19Z",
  "last": "2023-11-14T23:13:20Z",
  "first_ns": 1699999999000000000,
  "last_ns": 1700003600000000000,
  "span_ns": 3601000000000,
  "results": [
    {
      "capacity": 2,
      "rate": "1",
      "allowed": 3,
      "denied": 4,
      "never_allowable": 1,
      "denied_share": 0.5714285714285714,
      "keys_denied": 2,
      "top": [
        {
          "ip": "203.0.113.66",
          "allowed": 2,
          "denied": 3
        },
        {
          "ip": "2001:db8::1",
          "allowed": 0,
          "denied": 1
        }
      ]
    }
  ]
}
"#
    );
}

#[test]
fn an_empty_trace() {
    let dir = Dir::new();
    dir.file("empty.csv", "timestamp,ip\n");
    let out = dir.run(&["replay", "empty.csv", "--capacity", "3,4"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        "\
input          empty.csv
records        0
skipped        0
distinct keys  0
out of order   0
first          -
last           -
span           -

2 limits
capacity  rate  allowed  denied  denied share  never allowable  keys denied
       3   5/s        0       0         0.00%                0            0
       4   5/s        0       0         0.00%                0            0
"
    );
    let out = dir.run(&["replay", "empty.csv", "--output", "json"]);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["first"], serde_json::Value::Null);
    assert_eq!(summary["span_ns"], serde_json::Value::Null);
    assert_eq!(summary["results"][0]["denied_share"], 0.0);
}

#[test]
fn sweep_text() {
    assert_eq!(
        run(&["--capacity", "1,2", "--rate", "1,1/h"]),
        "\
input          trace.csv
records        7
skipped        0
distinct keys  3
out of order   1
first          2023-11-14T22:13:19Z
last           2023-11-14T23:13:20Z
span           3601 s (1h 0m 1s)

4 limits
capacity  rate  allowed  denied  denied share  never allowable  keys denied
       1   1/s        2       5        71.43%                1            2
       1   1/h        2       5        71.43%                1            2
       2   1/s        3       4        57.14%                1            2
       2   1/h        3       4        57.14%                1            2
"
    );
}

/// A few thousand records over a few dozen keys, with bursts, costs and
/// records out of order, from a fixed seed.
fn busy_trace() -> String {
    let mut rng = rng(0x2545_f491_4f6c_dd1d, 0);
    let mut next = move || rng.random::<u64>();
    let mut out = String::from("timestamp,ip,cost\n");
    let mut t: u64 = 1_700_000_000_000_000_000;
    for _ in 0..3000 {
        t += next() % 400_000_000;
        let key = next() % 40;
        let ip = if key % 3 == 0 { format!("2001:db8::{key:x}") } else { format!("10.0.0.{key}") };
        let skew = if next() % 20 == 0 { next() % 30_000_000_000 } else { 0 };
        let cost = next() % 4;
        let ts = t - skew;
        out.push_str(&format!("{}.{:09},{ip},{cost}\n", ts / 1_000_000_000, ts % 1_000_000_000));
    }
    out
}

#[test]
fn every_sweep_row_equals_a_separate_single_run() {
    let dir = Dir::new();
    dir.file("busy.csv", busy_trace());
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["replay", "busy.csv", "--output", "json", "--top", "3"];
        all.extend(args);
        let out = dir.run(&all);
        assert_eq!((out.code, out.stderr.as_str()), (0, ""));
        serde_json::from_str(&out.stdout).unwrap()
    };
    let (capacities, rates) = (["1", "3", "10"], ["0.5", "2", "90/m"]);
    let sweep = json(&["--capacity", &capacities.join(","), "--rate", &rates.join(",")]);
    let results = sweep["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    let mut denied = Vec::new();
    for (i, capacity) in capacities.iter().enumerate() {
        for (j, rate) in rates.iter().enumerate() {
            let single = json(&["--capacity", capacity, "--rate", rate]);
            assert_eq!(
                results[3 * i + j],
                single["results"][0],
                "capacity {capacity}, rate {rate}"
            );
            for field in ["records", "distinct_keys", "out_of_order", "first", "last"] {
                assert_eq!(sweep[field], single[field], "{field}");
            }
            denied.push(single["results"][0]["denied"].as_u64().unwrap());
        }
    }
    // The trace is busy enough that the limits differ, and disorderly enough
    // to count out-of-order records.
    assert!(denied.windows(2).any(|w| w[0] != w[1]), "{denied:?}");
    assert!(sweep["out_of_order"].as_u64().unwrap() > 10, "{sweep}");
    assert_eq!(sweep["records"], 3000);
}
