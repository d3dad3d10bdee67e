//! End to end against SPEC's token bucket computed in exact integers: random
//! traces (mixed timestamp forms, address spellings, costs and records out
//! of order) must get exactly the model's decisions, record by record.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::util::Dir;

/// One bucket of the model: its time and its tokens in units of
/// `1 / (den · 10⁹)` token, so a nanosecond at `num / den` tokens per second
/// refills exactly `num` units.
struct Bucket {
    last: u64,
    units: u128,
}

/// SPEC's rules, literally: created full on the first request of nonzero
/// cost, refilled then decided at `max(t, last)`, cost 0 always allowed and
/// changing nothing, a cost above the capacity never allowed.
fn model(records: &[(u64, IpAddr, u64)], capacity: u64, num: u128, den: u128) -> Vec<bool> {
    let unit = den * 1_000_000_000;
    let full = u128::from(capacity) * unit;
    let mut buckets: HashMap<IpAddr, Bucket> = HashMap::new();
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    records
        .iter()
        .map(|&(t, ip, cost)| {
            if cost == 0 {
                return true;
            }
            let bucket = buckets.entry(canonical(ip)).or_insert(Bucket { last: t, units: full });
            let now = t.max(bucket.last);
            bucket.units = (bucket.units + u128::from(now - bucket.last) * num).min(full);
            bucket.last = now;
            let need = u128::from(cost) * unit;
            let allowed = cost <= capacity && bucket.units >= need;
            if allowed {
                bucket.units -= need;
            }
            allowed
        })
        .collect()
}

/// Writes `t` ns as RFC 3339, in UTC or at +01:00.
fn rfc3339(t: u64, plus_one: bool) -> String {
    let (secs, nanos) = (t / 1_000_000_000 + if plus_one { 3600 } else { 0 }, t % 1_000_000_000);
    // Howard Hinnant's civil_from_days.
    let z = secs / 86_400 + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let zone = if plus_one { "+01:00" } else { "Z" };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{nanos:09}{zone}")
}

#[test]
fn decisions_equal_the_exact_model() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
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
            t += next() % (2_000_000_000 * den as u64 / num as u64);
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
