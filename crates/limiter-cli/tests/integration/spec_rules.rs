//! Every rule of SPEC's "Traces" and "Fine print", seen through the
//! decisions CSV and the summary.

use crate::util::{Dir, decisions};

#[test]
fn header_comments_and_blank_lines_are_skipped_but_counted() {
    let trace = "timestamp,ip\r\n# comment\r\n\r\n   \t  \r\n  # indented\n0,10.0.0.1\r\n0,10.0.0.1\n0,10.0.0.1";
    let rows = "6,0,10.0.0.1,1,true\n7,0,10.0.0.1,1,true\n8,0,10.0.0.1,1,false\n";
    decisions(trace, &["--capacity", "2", "--rate", "1"], rows);
}

#[test]
fn the_header_is_any_case_with_or_without_cost() {
    decisions("TimeStamp , IP\n5,10.0.0.1\n", &[], "2,5,10.0.0.1,1,true\n");
    decisions("\tTIMESTAMP,ip,Cost\n5,10.0.0.1,3\n", &[], "2,5,10.0.0.1,3,true\n");
}

#[test]
fn a_byte_order_mark_is_ignored() {
    decisions("\u{feff}timestamp,ip,cost\n1,10.0.0.1,2\n", &[], "2,1,10.0.0.1,2,true\n");
    decisions("\u{feff}1,10.0.0.1\r\n", &[], "1,1,10.0.0.1,1,true\n");
}

#[test]
fn fields_are_trimmed_of_spaces_and_tabs() {
    decisions(" \t1.5 \t,\t 2001:db8::1 ,\t3 \r\n", &[], "1,1.5,2001:db8::1,3,true\n");
}

#[test]
fn decimal_and_rfc3339_timestamps_are_exact() {
    let trace = "\
1700000000,10.0.0.1
2023-11-14T22:13:20.999999999Z,10.0.0.1
2023-11-14T23:13:21+01:00,10.0.0.1
1700000001.5,10.0.0.1
2023-11-14t22:13:22.5z,10.0.0.1
2023-11-14T22:13:22.5-00:00,10.0.0.1
";
    let rows = "\
1,1700000000,10.0.0.1,1,true
2,2023-11-14T22:13:20.999999999Z,10.0.0.1,1,false
3,2023-11-14T23:13:21+01:00,10.0.0.1,1,true
4,1700000001.5,10.0.0.1,1,false
5,2023-11-14t22:13:22.5z,10.0.0.1,1,true
6,2023-11-14T22:13:22.5-00:00,10.0.0.1,1,false
";
    let summary = decisions(trace, &["--capacity", "1", "--rate", "1"], rows);
    assert_eq!(summary["first"], "2023-11-14T22:13:20Z");
    assert_eq!(summary["last"], "2023-11-14T22:13:22.5Z");
    assert_eq!(summary["span_ns"], 2_500_000_000u64);
}

#[test]
fn per_period_rates_are_exact() {
    let trace = "0,10.0.0.1\n3599.999999999,10.0.0.1\n3600,10.0.0.1\n7199.999999999,10.0.0.1\n";
    let rows = "1,0,10.0.0.1,1,true\n2,3599.999999999,10.0.0.1,1,false\n3,3600,10.0.0.1,1,true\n\
                4,7199.999999999,10.0.0.1,1,false\n";
    decisions(trace, &["--capacity", "1", "--rate", "1/h"], rows);
    let trace = "0,10.0.0.1\n0,10.0.0.1\n8.571428571,10.0.0.1\n8.571428572,10.0.0.1\n";
    let rows = "1,0,10.0.0.1,1,true\n2,0,10.0.0.1,1,false\n3,8.571428571,10.0.0.1,1,false\n\
                4,8.571428572,10.0.0.1,1,true\n";
    decisions(trace, &["--capacity", "1", "--rate", "7/m"], rows);
}

#[test]
fn timestamps_span_the_whole_range() {
    let trace =
        "0,10.0.0.1\n9223372036.854775807,10.0.0.1\n2262-04-11T23:47:16.854775807Z,10.0.0.2\n";
    let rows = "1,0,10.0.0.1,1,true\n2,9223372036.854775807,10.0.0.1,1,true\n\
                3,2262-04-11T23:47:16.854775807Z,10.0.0.2,1,true\n";
    let summary = decisions(trace, &["--capacity", "1", "--rate", "0.000000001"], rows);
    assert_eq!(summary["last_ns"], 9_223_372_036_854_775_807u64);
    assert_eq!(summary["last"], "2262-04-11T23:47:16.854775807Z");
}

#[test]
fn the_cost_column() {
    let trace = "\
0,10.0.0.1,5
0,10.0.0.1,0
0,10.0.0.1
0,10.0.0.2,6
0,10.0.0.2,5
0,10.0.0.3,0
0,10.0.0.1,00000
0,10.0.0.3,18446744073709551615
";
    let rows = "\
1,0,10.0.0.1,5,true
2,0,10.0.0.1,0,true
3,0,10.0.0.1,1,false
4,0,10.0.0.2,6,false
5,0,10.0.0.2,5,true
6,0,10.0.0.3,0,true
7,0,10.0.0.1,0,true
8,0,10.0.0.3,18446744073709551615,false
";
    let summary = decisions(trace, &["--capacity", "5", "--rate", "1"], rows);
    let result = &summary["results"][0];
    assert_eq!((&result["allowed"], &result["denied"]), (&5.into(), &3.into()));
    assert_eq!(result["never_allowable"], 2);
    assert_eq!(summary["distinct_keys"], 3);
}

#[test]
fn ipv6_spellings_and_ipv4_mapped_addresses_share_a_bucket() {
    let trace = "\
0,::1
0,0:0:0:0:0:0:0:1
0,0000::0001
0,2001:DB8::A
0,2001:db8:0:0:0:0:0:a
0,2001:0db8::000a
0,10.0.0.1
0,::ffff:10.0.0.1
0,::FFFF:10.0.0.1
0,::ffff:a00:1
0,::10.0.0.1
";
    let rows = "\
1,0,::1,1,true
2,0,0:0:0:0:0:0:0:1,1,true
3,0,0000::0001,1,false
4,0,2001:DB8::A,1,true
5,0,2001:db8:0:0:0:0:0:a,1,true
6,0,2001:0db8::000a,1,false
7,0,10.0.0.1,1,true
8,0,::ffff:10.0.0.1,1,true
9,0,::FFFF:10.0.0.1,1,false
10,0,::ffff:a00:1,1,false
11,0,::10.0.0.1,1,true
";
    let summary = decisions(trace, &["--capacity", "2", "--rate", "1"], rows);
    assert_eq!(summary["distinct_keys"], 4);
    let top = &summary["results"][0]["top"];
    assert_eq!(top[0], serde_json::json!({"ip": "10.0.0.1", "allowed": 2, "denied": 2}));
    assert_eq!(top[1], serde_json::json!({"ip": "::1", "allowed": 2, "denied": 1}));
    assert_eq!(top[2], serde_json::json!({"ip": "2001:db8::a", "allowed": 2, "denied": 1}));
}

#[test]
fn out_of_order_records_are_decided_at_the_latest_time_and_counted() {
    let trace = "\
10,10.0.0.1
5,10.0.0.1
11,10.0.0.1
10.5,10.0.0.1,0
9,10.0.0.2
12,10.0.0.2
11,10.0.0.2
10.9,10.0.0.1,2
11,::ffff:10.0.0.1
";
    let rows = "\
1,10,10.0.0.1,1,true
2,5,10.0.0.1,1,false
3,11,10.0.0.1,1,true
4,10.5,10.0.0.1,0,true
5,9,10.0.0.2,1,true
6,12,10.0.0.2,1,true
7,11,10.0.0.2,1,false
8,10.9,10.0.0.1,2,false
9,11,::ffff:10.0.0.1,1,false
";
    let summary = decisions(trace, &["--capacity", "1", "--rate", "1"], rows);
    assert_eq!(summary["out_of_order"], 4);
    assert_eq!(summary["results"][0]["never_allowable"], 1);
    assert_eq!(summary["first"], "1970-01-01T00:00:05Z");
    assert_eq!(summary["last"], "1970-01-01T00:00:12Z");
}

#[test]
fn cost_zero_moves_the_latest_time_for_the_out_of_order_count() {
    let trace = "5,10.0.0.1,0\n4,10.0.0.1\n";
    let summary = decisions(trace, &[], "1,5,10.0.0.1,0,true\n2,4,10.0.0.1,1,true\n");
    assert_eq!(summary["out_of_order"], 1);
}

#[test]
fn several_traces_replay_as_one_stream() {
    let dir = Dir::new();
    dir.file("a.csv", "timestamp,ip\n0,10.0.0.1\n");
    dir.file("b.csv", "timestamp,ip\n0,10.0.0.1\n1,10.0.0.1\n");
    let out = dir.run(&[
        "replay",
        "a.csv",
        "b.csv",
        "--capacity",
        "1",
        "--rate",
        "1",
        "--decisions",
        "d.csv",
    ]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert!(
        out.stdout
            .starts_with("limit            capacity 1, rate 1/s\ninput            a.csv, b.csv\n")
    );
    assert_eq!(
        dir.read("d.csv"),
        "line,timestamp,ip,cost,allowed,file\n2,0,10.0.0.1,1,true,a.csv\n2,0,10.0.0.1,1,false,b.csv\n\
         3,1,10.0.0.1,1,true,b.csv\n"
    );
}
