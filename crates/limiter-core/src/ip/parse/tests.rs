//! Differential tests of the address parser against std's, on a table of
//! tricky cases and generated strings.

use std::net::IpAddr;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::parse;

/// Asserts that `parse_ip` agrees with std on `input` and that std's verdict
/// is `valid`, so the table below documents std's behaviour too.
#[track_caller]
fn check(input: &str, valid: bool) {
    let expected = input.parse::<IpAddr>().ok();
    assert_eq!(expected.is_some(), valid, "std's verdict on {input:?}");
    assert_eq!(parse(input), expected, "on {input:?}");
}

#[test]
fn agrees_with_std_on_tricky_ipv4() {
    for input in ["0.0.0.0", "1.2.3.4", "255.255.255.255", "192.168.1.10", "10.0.0.100"] {
        check(input, true);
    }
    for input in [
        "",
        "1",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.",
        ".1.2.3",
        "1..2.3",
        "256.0.0.1",
        "1.2.3.999",
        "010.0.0.1",
        "1.2.3.00",
        "1.2.3.0001",
        "1.2.3.1234",
        "01.1.1.1",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4\n",
        "+1.2.3.4",
        "1.2.3.-4",
        "1.2.3.4:80",
        "0x1.2.3.4",
        "1.2.3.a",
        "1.2.3.4.",
        "１.2.3.4",
        "1.2.3.٣",
    ] {
        check(input, false);
    }
}

#[test]
fn agrees_with_std_on_tricky_ipv6() {
    for input in [
        "::",
        "::1",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::1:2:3:4:5:6:7",
        "1::8",
        "1:2:3::6:7:8",
        "1:0:0:0:0:0:0:8",
        "2001:DB8::aBcD",
        "0001:0002:0003:0004:0005:0006:0007:0008",
        "ffff:FFFF:ffff:ffff:ffff:ffff:ffff:ffff",
        "::ffff:192.0.2.7",
        "::192.0.2.7",
        "64:ff9b::192.0.2.33",
        "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5::1.2.3.4",
        "::2:3:4:5:6:1.2.3.4",
        "1::1.2.3.4",
        "::0.0.0.0",
        "0:0:0:0:0:0:0:0",
    ] {
        check(input, true);
    }
    for input in [
        ":",
        ":::",
        "1:",
        ":1",
        "1:::2",
        "::1::",
        "1::2::3",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        "1:2:3:4::5:6:7:8",
        "1:2:3:4:5:6:7::8",
        "12345::",
        "::00000",
        "g::",
        "1:2:3:4:5:6:7:8:",
        ":1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5:6::1.2.3.4",
        "1:2:3:4:5:1.2.3.4",
        "1.2.3.4::",
        "1.2.3.4::1",
        "::1.2.3.4:1",
        "::1.2.3.4.5",
        "::1.2.3",
        "::256.1.2.3",
        "::01.2.3.4",
        "::a.2.3.4",
        "::1234.5.6.7",
        "::12345.6.7.8",
        ":1.2.3.4",
        "::1%eth0",
        "[::1]",
        "[::1]:80",
        "::1 ",
        " ::1",
        "0x1::",
        "::ｆ",
        "1::é",
    ] {
        check(input, false);
    }
}

#[test]
fn agrees_with_std_on_every_group_count() {
    // Every number of groups before and after `::` (or none), with and
    // without an IPv4 tail, including counts one past each limit.
    let groups = |n: usize| (1..=n).map(|g| format!("{g:x}")).collect::<Vec<_>>();
    let mut accepted = 0;
    for head in 0..=9 {
        for tail in 0..=9 {
            for gap in [false, true] {
                for v4 in [false, true] {
                    if !gap && tail > 0 {
                        continue;
                    }
                    let mut text = groups(head).join(":");
                    if gap {
                        text.push_str("::");
                        text.push_str(&groups(tail).join(":"));
                    }
                    if v4 {
                        let sep = if text.is_empty() || text.ends_with(':') { "" } else { ":" };
                        text.push_str(sep);
                        text.push_str("1.2.3.4");
                    }
                    let expected = text.parse::<IpAddr>().ok();
                    assert_eq!(parse(&text), expected, "on {text:?}");
                    accepted += usize::from(expected.is_some());
                }
            }
        }
    }
    // Without `::`: 8 groups, or 6 and a tail, or the bare IPv4 address.
    // With it: head + tail <= 7 groups, a tail counting as two.
    let with_gap = (0..=7).map(|total| total + 1).sum::<usize>()
        + (0..=5).map(|total| total + 1).sum::<usize>();
    assert_eq!(accepted, 3 + with_gap);
}

#[test]
fn agrees_with_std_on_every_short_string() {
    // Every string of up to six characters over an alphabet that can
    // form addresses and break them.
    let alphabet = ['0', '1', 'f', 'g', ':', '.'];
    let mut strings = vec![String::new()];
    let mut accepted = 0;
    for _ in 0..6 {
        strings =
            strings.iter().flat_map(|s| alphabet.iter().map(move |&c| format!("{s}{c}"))).collect();
        for text in &strings {
            let expected = text.parse::<IpAddr>().ok();
            assert_eq!(parse(text), expected, "on {text:?}");
            accepted += usize::from(expected.is_some());
        }
    }
    assert!(accepted > 100, "{accepted} accepted");
}

#[test]
fn agrees_with_std_on_every_octet_spelling() {
    // Every value to 999 in every width it can be written in (so 7, 07
    // and 007), in each of the four positions: values above 255, leading
    // zeros and every octet length at every byte offset.
    let mut accepted = 0;
    for position in 0..4 {
        for value in 0..1000 {
            for width in 1..=3 {
                let spelled = format!("{value:0width$}");
                if spelled.len() != width {
                    continue;
                }
                let mut octets = ["1", "22", "255", "0"].map(str::to_owned);
                octets[position] = spelled;
                let text = octets.join(".");
                let expected = text.parse::<IpAddr>().ok();
                assert_eq!(parse(&text), expected, "on {text:?}");
                accepted += usize::from(expected.is_some());
            }
        }
    }
    assert_eq!(accepted, 4 * 256, "each position accepts 0 to 255, once each");
}

#[test]
fn agrees_with_std_on_every_seven_and_eight_byte_string() {
    // The shortest IPv4 inputs: seven bytes take their own load, eight
    // make the two words coincide. Every string of that length over
    // digits, a dot and bytes that look alike.
    let alphabet = ['0', '1', '9', '.', '/', ':'];
    let mut strings = vec![String::new()];
    let mut accepted = 0;
    for length in 1..=8 {
        strings =
            strings.iter().flat_map(|s| alphabet.iter().map(move |&c| format!("{s}{c}"))).collect();
        if length < 7 {
            continue;
        }
        for text in &strings {
            let expected = text.parse::<IpAddr>().ok();
            assert_eq!(parse(text), expected, "on {text:?}");
            accepted += usize::from(expected.is_some());
        }
    }
    // 1.2.3.4 over three digits (81) and the 8-byte shapes.
    assert!(accepted > 81, "{accepted} accepted");
}

/// Characters the generator inserts and replaces with: everything that can
/// appear in an address, the usual wrappers and suffixes, and a few
/// non-ASCII characters, including digits other than ASCII.
const ALPHABET: &[char] = &[
    '0', '1', '2', '5', '9', 'a', 'b', 'e', 'f', 'A', 'C', 'F', 'g', 'x', 'X', ':', ':', ':', '.',
    '.', '.', '%', '[', ']', ' ', 'é', '٣', '０', 'ｆ',
];

/// A random IPv4 address, spelled as std writes it.
fn ipv4(rng: &mut StdRng) -> String {
    let octet = |rng: &mut StdRng| match rng.random_range(0..4) {
        0 => 0,
        1 => 255,
        _ => rng.random::<u8>(),
    };
    let octets = [octet(rng), octet(rng), octet(rng), octet(rng)];
    format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3])
}

/// One hex group of `value`, in random case and zero-padded to a random
/// width of at most four digits.
fn hex_group(rng: &mut StdRng, value: u16) -> String {
    let digits = format!("{value:x}");
    let width = rng.random_range(digits.len()..=4);
    let padded = format!("{value:0width$x}");
    match rng.random_range(0..3) {
        0 => padded,
        1 => padded.to_ascii_uppercase(),
        _ => padded
            .chars()
            .map(|c| if rng.random_bool(0.5) { c.to_ascii_uppercase() } else { c })
            .collect(),
    }
}

/// A random IPv6 address in a random valid spelling: zero-heavy groups, an
/// optional IPv4 tail (which also yields the mapped and compatible forms),
/// and `::` over a random run of zero groups or none.
fn ipv6(rng: &mut StdRng) -> String {
    let with_v4 = rng.random_bool(0.25);
    let hex_count = if with_v4 { 6 } else { 8 };
    let groups: Vec<u16> = (0..hex_count)
        .map(|_| match rng.random_range(0..8) {
            0..=3 => 0,
            4 => 0xffff,
            5 => rng.random_range(0..16),
            _ => rng.random(),
        })
        .collect();
    let mut tokens: Vec<String> = groups.iter().map(|&g| hex_group(rng, g)).collect();
    if with_v4 {
        tokens.push(ipv4(rng));
    }
    // Runs [start, end) of zero groups, any of which `::` may replace.
    let mut runs = Vec::new();
    for start in 0..hex_count {
        for end in start + 1..=hex_count {
            if groups[start..end].iter().all(|&g| g == 0) {
                runs.push((start, end));
            }
        }
    }
    if runs.is_empty() || rng.random_bool(0.2) {
        return tokens.join(":");
    }
    let (start, end) = runs[rng.random_range(0..runs.len())];
    format!("{}::{}", tokens[..start].join(":"), tokens[end..].join(":"))
}

/// A random valid address of either family.
fn valid(rng: &mut StdRng) -> String {
    if rng.random_bool(0.3) { ipv4(rng) } else { ipv6(rng) }
}

/// `text` changed by one to three edits that usually leave it nearly valid.
fn mutate(rng: &mut StdRng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.random_range(1..=3) {
        let at = rng.random_range(0..=chars.len());
        let pick = ALPHABET[rng.random_range(0..ALPHABET.len())];
        let insert = |chars: &mut Vec<char>, piece: &str| {
            chars.splice(at..at, piece.chars());
        };
        match rng.random_range(0..11) {
            0 => chars.insert(at, pick),
            1 if at < chars.len() => drop(chars.remove(at)),
            2 if at < chars.len() => chars[at] = pick,
            // Duplicate or drop a separator.
            3 | 4 => {
                let seps: Vec<usize> =
                    (0..chars.len()).filter(|&i| ":.".contains(chars[i])).collect();
                if let Some(&sep) = seps.get(rng.random_range(0..seps.len().max(1))) {
                    if rng.random_bool(0.5) {
                        chars.insert(sep, chars[sep]);
                    } else {
                        chars.remove(sep);
                    }
                }
            }
            5 => insert(&mut chars, ["12345", "fffff", "00000", "0000", "1234"][at % 5]),
            6 => insert(&mut chars, ["256", "999", "01", "00", "300", "0255"][at % 6]),
            7 => insert(&mut chars, [":1", "1:", ":0:", ":ffff"][at % 4]),
            8 => insert(&mut chars, ["::", ":::", "::1"][at % 3]),
            9 => insert(&mut chars, [".1", "1.", ".1.2.3.4", "1.2.3.4"][at % 4]),
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

/// A random string of length 0 to 60 over [`ALPHABET`].
fn junk(rng: &mut StdRng) -> String {
    let len = rng.random_range(0..=60);
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect()
}

/// How many generated strings the differential test runs:
/// `LIMITER_PARSE_CASES` if set, else a count that keeps the default debug
/// run to a few seconds.
fn case_count() -> u64 {
    match std::env::var("LIMITER_PARSE_CASES") {
        Ok(text) => text.parse().expect("LIMITER_PARSE_CASES must be a whole number"),
        Err(_) => 400_000,
    }
}

#[test]
fn agrees_with_std_on_generated_strings() {
    let mut rng = StdRng::seed_from_u64(0x1b_5eed);
    let cases = case_count();
    let (mut v4, mut v6, mut rejected) = (0u64, 0u64, 0u64);
    for case in 0..cases {
        let input = match case % 8 {
            0..=2 => valid(&mut rng),
            3..=6 => {
                let base = valid(&mut rng);
                mutate(&mut rng, &base)
            }
            _ => junk(&mut rng),
        };
        let expected = input.parse::<IpAddr>().ok();
        assert_eq!(parse(&input), expected, "case {case}: {input:?}");
        match expected {
            Some(IpAddr::V4(_)) => v4 += 1,
            Some(IpAddr::V6(_)) => v6 += 1,
            None => rejected += 1,
        }
    }
    // The generator must exercise both families and both verdicts, or the
    // agreement above proves little.
    assert!(v4 * 20 > cases, "{v4} IPv4 accepted of {cases}");
    assert!(v6 * 5 > cases, "{v6} IPv6 accepted of {cases}");
    assert!(rejected * 3 > cases, "{rejected} rejected of {cases}");
}
