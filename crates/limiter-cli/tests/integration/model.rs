//! End to end against SPEC's token bucket computed in exact integers: random
//! traces (mixed timestamp forms, address spellings, costs and records out
//! of order) must get exactly the model's decisions, record by record.

use std::net::IpAddr;

use jiff::Timestamp;
use jiff::tz::Offset;
use limiter_testkit::{Model, RngExt, rng};

use crate::util::Dir;

/// SPEC's decisions for `records`, from the test kit's exact model.
fn model(records: &[(u64, IpAddr, u64)], capacity: u64, num: u64, den: u64) -> Vec<bool> {
    let mut model = Model::with_ratio(capacity, num, den);
    records.iter().map(|&(t, ip, cost)| model.decide(ip, t, cost).is_allowed()).collect()
}

/// Writes `t` ns as RFC 3339 with all nine fractional digits, in UTC or at
/// +01:00.
fn rfc3339(t: u64, plus_one: bool) -> String {
    let offset = Offset::constant(if plus_one { 1 } else { 0 });
    let time = Timestamp::from_nanosecond(i128::from(t)).expect("within jiff's range");
    let civil = offset.to_datetime(time).strftime("%Y-%m-%dT%H:%M:%S");
    let zone = if plus_one { "+01:00" } else { "Z" };
    format!("{civil}.{:09}{zone}", t % 1_000_000_000)
}

#[test]
fn decisions_equal_the_exact_model() {
    let mut rng = rng(0x9e37_79b9_7f4a_7c15, 0);
    let mut next = move || rng.random::<u64>();
    // Each key in several spellings.
    let spellings: [&[&str]; 6] = [
        &["10.0.0.1", "::ffff:10.0.0.1", "::FFFF:a00:1"],
        &["2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:0db8::0001"],
        &["::1", "0:0:0:0:0:0:0:1"],
        &["192.0.2.7"],
        &["::192.0.2.7"],
        &["fe80::1:2"],
    ];
    assert_eq!(rfc3339(1_700_000_000_000_000_001, false), "2023-11-14T22:13:20.000000001Z");
    assert_eq!(rfc3339(1_709_164_800_500_000_000, true), "2024-02-29T01:00:00.500000000+01:00");
    let dir = Dir::new();
    for (capacity, rate, num, den) in
        [(3, "2", 2, 1), (1, "7/m", 7, 60), (5, "0.3", 3, 10), (2, "1/h", 1, 3600)]
    {
        let mut trace = String::from("timestamp,ip,cost\n");
        let mut records = Vec::new();
        let mut t = 1_700_000_000_000_000_000u64;
        for _ in 0..1500 {
            // About one token's worth of time between records, on average.
            t += next() % (2_000_000_000 * den / num);
            let at = t - if next() % 8 == 0 { next() % 5_000_000_000 } else { 0 };
            let key = spellings[(next() % 6) as usize];
            let text = key[(next() % key.len() as u64) as usize];
            let cost = match next() % 10 {
                0 => 0,
                1 => capacity + 1,
                _ => 1 + next() % capacity,
            };
            let stamp = match next() % 3 {
                0 => format!("{}.{:09}", at / 1_000_000_000, at % 1_000_000_000),
                1 => rfc3339(at, false),
                _ => rfc3339(at, true),
            };
            trace.push_str(&format!("{stamp},{text},{cost}\n"));
            records.push((at, text.parse().unwrap(), cost));
        }
        dir.file("trace.csv", &trace);
        let capacity_arg = capacity.to_string();
        let args = [
            "replay",
            "trace.csv",
            "--capacity",
            &capacity_arg,
            "--rate",
            rate,
            "--decisions",
            "-",
        ];
        let out = dir.run(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let got: Vec<bool> = out.stdout.lines().skip(1).map(|row| row.ends_with(",true")).collect();
        let expected = model(&records, capacity, num, den);
        assert_eq!(got.len(), expected.len());
        let first_difference = got.iter().zip(&expected).position(|(g, e)| g != e);
        assert_eq!(first_difference, None, "capacity {capacity}, rate {rate}");
        let allowed = expected.iter().filter(|&&a| a).count();
        assert!(
            allowed > 300 && allowed < 1400,
            "capacity {capacity}, rate {rate}: {allowed} allowed"
        );
    }
}
