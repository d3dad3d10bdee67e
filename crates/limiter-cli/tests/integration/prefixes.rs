//! `--ipv4-prefix` and `--ipv6-prefix`: addresses in one prefix share a
//! bucket, and the summary counts keys as the limiter groups them.

use crate::util::{Dir, check_failure, decisions, replay};

const V6: &str = "\
10,2001:db8::1
10,2001:db8::2
9,2001:db8:0:0:ffff:ffff:ffff:ffff
10,2001:db8:0:1::1
10,2001:db8:0:1::1
10,2001:db8:0:1::1
";

#[test]
fn addresses_in_one_64_share_a_bucket() {
    let out = replay(V6, &["--capacity", "2", "--rate", "1", "--ipv6-prefix", "64"]);
    assert_eq!(
        out,
        "\
limit            capacity 2, rate 1/s
input            trace.csv
records          6
allowed          4   66.67%
denied           2   33.33%
never allowable  0    0.00%
keys denied      2
skipped          0
distinct keys    2
out of order     1
first            1970-01-01T00:00:09Z
last             1970-01-01T00:00:10Z
span             1 s

top 2 keys by denials
ip                 allowed  denied
2001:db8::/64            2       1
2001:db8:0:1::/64        2       1
"
    );
    // Without the prefix every address is its own key and nothing is denied
    // but the third record of the last address.
    let out = replay(V6, &["--capacity", "2", "--rate", "1"]);
    assert!(
        out.contains("distinct keys    4\nout of order     0\n")
            && out
                .ends_with("ip               allowed  denied\n2001:db8:0:1::1        2       1\n"),
        "{out}"
    );
}

#[test]
fn the_decisions_csv_keeps_the_address_as_written() {
    let rows = "\
1,10,2001:db8::1,1,true
2,10,2001:db8::2,1,true
3,9,2001:db8:0:0:ffff:ffff:ffff:ffff,1,false
4,10,2001:db8:0:1::1,1,true
5,10,2001:db8:0:1::1,1,true
6,10,2001:db8:0:1::1,1,false
";
    let summary = decisions(V6, &["--capacity", "2", "--rate", "1", "--ipv6-prefix", "64"], rows);
    assert_eq!(summary["distinct_keys"], 2, "{summary}");
    assert_eq!(summary["results"][0]["top"][0]["ip"], "2001:db8::/64", "{summary}");
}

#[test]
fn addresses_in_one_24_share_a_bucket() {
    let trace = "0,192.0.2.1\n0,192.0.2.255\n0,192.0.3.1\n0,192.0.2.7\n0,10.0.0.1\n";
    let rows = "\
1,0,192.0.2.1,1,true
2,0,192.0.2.255,1,true
3,0,192.0.3.1,1,true
4,0,192.0.2.7,1,false
5,0,10.0.0.1,1,true
";
    let args = ["--capacity", "2", "--ipv4-prefix", "24"];
    let summary = decisions(trace, &args, rows);
    assert_eq!(summary["distinct_keys"], 3, "{summary}");
    assert_eq!(summary["results"][0]["top"][0]["ip"], "192.0.2.0/24", "{summary}");
    // IPv6 keys keep their whole address under an IPv4 prefix alone.
    let out = replay("0,::1\n0,::2\n0,::1\n", &["--capacity", "1", "--ipv4-prefix", "24"]);
    assert!(out.ends_with("ip   allowed  denied\n::1        1       1\n"), "{out}");
}

#[test]
fn a_zero_prefix_puts_a_whole_family_in_one_bucket() {
    let trace = "0,1.2.3.4\n0,255.0.0.1\n0,::1\n0,ffff::1\n0,::ffff:9.9.9.9\n0,2001:db8::1\n";
    let rows = "\
1,0,1.2.3.4,1,true
2,0,255.0.0.1,1,true
3,0,::1,1,true
4,0,ffff::1,1,true
5,0,::ffff:9.9.9.9,1,false
6,0,2001:db8::1,1,false
";
    let args = ["--capacity", "2", "--ipv4-prefix", "0", "--ipv6-prefix", "0"];
    let summary = decisions(trace, &args, rows);
    assert_eq!(summary["distinct_keys"], 2, "{summary}");
    let top = &summary["results"][0]["top"];
    assert_eq!((&top[0]["ip"], &top[1]["ip"]), (&"0.0.0.0/0".into(), &"::/0".into()), "{top}");
}

#[test]
fn a_mapped_address_counts_with_its_ipv4_key_under_an_ipv6_prefix() {
    // `::ffff:10.0.0.1` is 10.0.0.1, an IPv4 key: /64 does not lump it in
    // with `::ffff:10.0.0.2` (whose /64 would be `::`), nor with `::1`.
    let trace = "5,10.0.0.1\n4,::ffff:10.0.0.1\n5,::ffff:10.0.0.2\n5,::1\n5,::2\n";
    let rows = "\
1,5,10.0.0.1,1,true
2,4,::ffff:10.0.0.1,1,false
3,5,::ffff:10.0.0.2,1,true
4,5,::1,1,true
5,5,::2,1,false
";
    let summary = decisions(trace, &["--capacity", "1", "--ipv6-prefix", "64"], rows);
    assert_eq!(summary["distinct_keys"], 3, "{summary}");
    assert_eq!(summary["out_of_order"], 1, "{summary}");
    let top = &summary["results"][0]["top"];
    assert_eq!((&top[0]["ip"], &top[1]["ip"]), (&"10.0.0.1".into(), &"::/64".into()), "{top}");
}

#[test]
fn out_of_order_counts_per_bucket() {
    // Each address is in order on its own, but not within their /64.
    let trace = "5,2001:db8::1\n4,2001:db8::2\n6,2001:db8::2\n";
    let out = replay(trace, &["--ipv6-prefix", "64", "--output", "json"]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((&summary["out_of_order"], &summary["distinct_keys"]), (&1.into(), &1.into()));
    let out = replay(trace, &["--output", "json"]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((&summary["out_of_order"], &summary["distinct_keys"]), (&0.into(), &2.into()));
}

#[test]
fn bad_prefix_lengths_are_usage_errors() {
    let dir = Dir::new();
    dir.file("trace.csv", "1,10.0.0.1\n");
    for (flag, value, max) in [
        ("--ipv4-prefix", "33", 32),
        ("--ipv4-prefix", "-1", 32),
        ("--ipv4-prefix", "x", 32),
        ("--ipv6-prefix", "129", 128),
        ("--ipv6-prefix", "256", 128),
        ("--ipv6-prefix", "", 128),
    ] {
        let out = dir.run(&["replay", "trace.csv", flag, value]);
        let message = format!(
            "limiter-cli: {flag}: {value:?} is not a prefix length: expected 0 to {max} bits\n"
        );
        check_failure(&out, 2, &message);
    }
}
