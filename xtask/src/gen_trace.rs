//! `cargo xtask gen-trace`: writes a realistic synthetic trace from a seed.
//!
//! With no arguments it rewrites `examples/trace.csv`: 4000 records over five
//! minutes from 40 clients, IPv4 and IPv6, with one abusive client sending
//! bursts, a dual-stack client that appears both as `a.b.c.d` and as
//! `::ffff:a.b.c.d`, an IPv6 client written in two spellings, a few heavy and
//! never-allowable costs, and a few records out of order, as when logs of
//! several servers are merged. The same seed always gives the same bytes.
//!
//! `--log haproxy|alb|jsonl` writes the same traffic as an HAProxy log (with
//! a syslog prefix), an AWS ALB access log or Caddy-shaped JSON lines, one
//! request of cost 1 per line, for the replay's log inputs.
//!
//! `cargo xtask bench-replay` uses the same generator for its 10M-record
//! trace, and with `--logs` for its 10M-line logs.

use std::error::Error;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// 2024-03-01T12:00:00Z, the first instant of every generated trace.
const START_SECS: u64 = 1_709_294_400;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The shape of a trace to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) records: u64,
    pub(crate) keys: u64,
    pub(crate) seed: u64,
    pub(crate) span_secs: u64,
    pub(crate) format: Format,
    pub(crate) log: Log,
}

/// What the lines are: a CSV trace or an access log of one of the replay's
/// log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Log {
    Csv,
    Haproxy,
    Alb,
    Jsonl,
}

impl Log {
    /// Every kind, by the name `--log` and `--input` give it.
    pub(crate) const ALL: [(&'static str, Log); 4] =
        [("csv", Log::Csv), ("haproxy", Log::Haproxy), ("alb", Log::Alb), ("jsonl", Log::Jsonl)];
}

/// How timestamps are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `2024-03-01T12:00:00.123Z`, millisecond resolution.
    Rfc3339,
    /// `1709294400.123456789`, nanosecond resolution.
    Decimal,
}

/// The example trace's parameters.
pub(crate) const EXAMPLE: Params = Params {
    records: 4000,
    keys: 40,
    seed: 1,
    span_secs: 300,
    format: Format::Rfc3339,
    log: Log::Csv,
};

const USAGE: &str = "\
usage: cargo xtask gen-trace [--records N] [--keys N] [--seed N] [--span SECONDS]
                             [--format rfc3339|decimal] [--log csv|haproxy|alb|jsonl]
                             [--out PATH]
with no options, rewrites examples/trace.csv";

/// Parses `gen-trace`'s arguments and writes the trace.
pub(crate) fn run(args: &[String], root: &Path) -> Result<(), Box<dyn Error>> {
    let mut params = EXAMPLE;
    let mut out = root.join("examples/trace.csv");
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number =
            || value.parse::<u64>().map_err(|_| format!("{flag}: {value:?} is not a whole number"));
        match flag.as_str() {
            "--records" => params.records = number()?,
            "--keys" => params.keys = number()?,
            "--seed" => params.seed = number()?,
            "--span" => params.span_secs = number()?,
            "--format" => {
                params.format = match value.as_str() {
                    "rfc3339" => Format::Rfc3339,
                    "decimal" => Format::Decimal,
                    _ => {
                        return Err(format!("--format: {value:?} is not rfc3339 or decimal").into());
                    }
                }
            }
            "--log" => {
                params.log = Log::ALL
                    .iter()
                    .find(|(name, _)| name == value)
                    .map(|&(_, log)| log)
                    .ok_or_else(|| {
                    format!("--log: {value:?} is not csv, haproxy, alb or jsonl")
                })?;
            }
            "--out" => out = PathBuf::from(value),
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}").into()),
        }
    }
    write_file(&params, &out)?;
    eprintln!("wrote {} records over {} keys to {}", params.records, params.keys, out.display());
    Ok(())
}

/// Writes the trace for `params` to `path`.
pub(crate) fn write_file(params: &Params, path: &Path) -> Result<(), Box<dyn Error>> {
    if params.keys < 3 || params.records == 0 || params.span_secs == 0 {
        return Err("a trace needs at least 3 keys, 1 record and a span of 1 second".into());
    }
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_trace(params, &mut out)?;
    out.flush()?;
    Ok(())
}

/// Writes a header, a comment and `params.records` records.
///
/// Arrivals are a Poisson process over the span. During three abuse windows
/// most requests come from client 0; otherwise clients are picked with
/// Zipf-like weights `1/rank`, so a few are busy and most are quiet.
pub(crate) fn write_trace(params: &Params, out: &mut impl Write) -> io::Result<()> {
    let mut rng = SplitMix64(params.seed);
    let Params { records, keys, seed, span_secs, .. } = *params;
    if params.log == Log::Csv {
        writeln!(out, "timestamp,ip,cost")?;
        writeln!(
            out,
            "# cargo xtask gen-trace --records {records} --keys {keys} --seed {seed} --span {span_secs}"
        )?;
    }
    let mut address = Vec::new();
    let span = span_secs * NANOS_PER_SEC;
    let mean_gap = span as f64 / records as f64;
    // Cumulative weights of clients 1.. for picking by binary search.
    let mut cumulative = Vec::with_capacity(keys as usize - 1);
    let mut total = 0.0;
    for rank in 1..keys {
        total += 1.0 / rank as f64;
        cumulative.push(total);
    }
    let windows = [(0.20, 0.30), (0.55, 0.62), (0.80, 0.90)];
    let mut elapsed = 0.0f64;
    for index in 0..records {
        elapsed += -mean_gap * (1.0 - rng.unit()).ln();
        let at = (elapsed as u64).min(span);
        let fraction = at as f64 / span as f64;
        let abusing = windows.iter().any(|&(from, to)| (from..to).contains(&fraction));
        let client = if (abusing && rng.unit() < 0.75) || rng.unit() < 0.01 {
            0
        } else {
            let x = rng.unit() * total;
            1 + cumulative.partition_point(|&c| c < x).min(cumulative.len() - 1) as u64
        };
        let cost = match rng.below(1000) {
            0..=2 => 20,
            3..=60 => 2 + rng.below(4),
            _ => 1,
        };
        let mut nanos = START_SECS * NANOS_PER_SEC + at;
        if rng.below(500) == 0 {
            // Merged logs: a record stamped up to two seconds early.
            nanos -= rng.below(2 * NANOS_PER_SEC);
        }
        if params.log != Log::Csv {
            address.clear();
            write_address(&mut address, &mut rng, client, keys)?;
            let address = std::str::from_utf8(&address).expect("addresses are ASCII");
            write_log_line(out, params.log, nanos, address, 1024 + index * 7919 % 60_000)?;
            continue;
        }
        write_timestamp(out, params.format, nanos)?;
        out.write_all(b",")?;
        write_address(out, &mut rng, client, keys)?;
        if cost == 1 {
            out.write_all(b"\n")?;
        } else {
            writeln!(out, ",{cost}")?;
        }
    }
    Ok(())
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Writes one request from `address:port` at `nanos` as a line of `log`:
/// HAProxy's accept date keeps milliseconds, ALB's times microseconds and
/// the JSON `ts` every nanosecond.
fn write_log_line(
    out: &mut impl Write,
    log: Log,
    nanos: u64,
    address: &str,
    port: u64,
) -> io::Result<()> {
    let (secs, frac) = (nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let time = secs % 86_400;
    let (hour, minute, second) = (time / 3600, time / 60 % 60, time % 60);
    let clock = format!("{hour:02}:{minute:02}:{second:02}");
    let mon = MONTHS[month as usize - 1];
    match log {
        Log::Csv => unreachable!("CSV records are written by write_trace"),
        Log::Haproxy => writeln!(
            out,
            "{mon} {day:>2} {clock} lb1 haproxy[4242]: {address}:{port} \
             [{day:02}/{mon}/{year}:{clock}.{:03}] www~ app/srv1 0/0/1/2/3 200 612 - - ---- \
             12/12/1/1/0 0/0 \"GET /index.html HTTP/1.1\"",
            frac / 1_000_000
        ),
        Log::Alb => {
            let iso = format!("{year:04}-{month:02}-{day:02}T{clock}.{:06}Z", frac / 1000);
            writeln!(
                out,
                "https {iso} app/my-lb/50dc6c495c0c9188 {address}:{port} 10.0.0.1:80 0.000 0.001 \
                 0.000 200 200 34 366 \"GET https://www.example.com:443/ HTTP/1.1\" \"curl/8.4.0\" \
                 ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:\
                 123456789012:targetgroup/my-targets/73e2d6bc24d8a067 \"Root=1-65f1c2a0-0123456789abcdef\" \
                 \"www.example.com\" \"-\" 0 {iso} \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\""
            )
        }
        Log::Jsonl => writeln!(
            out,
            "{{\"level\":\"info\",\"ts\":{secs}.{frac:09},\"logger\":\"http.log.access\",\
             \"msg\":\"handled request\",\"request\":{{\"remote_ip\":\"{address}\",\
             \"remote_port\":\"{port}\",\"proto\":\"HTTP/1.1\",\"method\":\"GET\",\
             \"host\":\"example.com\",\"uri\":\"/index.html\"}},\"status\":200,\"size\":612}}"
        ),
    }
}

fn write_timestamp(out: &mut impl Write, format: Format, nanos: u64) -> io::Result<()> {
    let (secs, frac) = (nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC);
    match format {
        Format::Decimal => write!(out, "{secs}.{frac:09}"),
        Format::Rfc3339 => {
            let (year, month, day) = civil_from_days((secs / 86_400) as i64);
            let time = secs % 86_400;
            let (hour, minute, second) = (time / 3600, time / 60 % 60, time % 60);
            let millis = frac / 1_000_000;
            write!(
                out,
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
            )
        }
    }
}

/// Writes client `client`'s address: documentation ranges for small traces,
/// wider private and documentation ranges for large ones; every fourth
/// client is IPv6.
fn write_address(
    out: &mut impl Write,
    rng: &mut SplitMix64,
    client: u64,
    keys: u64,
) -> io::Result<()> {
    match client {
        0 => out.write_all(b"203.0.113.66"),
        // A dual-stack server reports this IPv4 client both ways.
        1 if rng.below(2) == 0 => out.write_all(b"::ffff:198.51.100.23"),
        1 => out.write_all(b"198.51.100.23"),
        // One IPv6 client, in two spellings of the same address.
        2 if rng.below(2) == 0 => out.write_all(b"2001:db8:0:0:0:0:0:42"),
        2 => out.write_all(b"2001:db8::42"),
        _ if client % 4 == 3 => write!(out, "2001:db8:{:x}:{:x}::1", client >> 16, client & 0xffff),
        _ if keys <= 200 => {
            let prefix = ["192.0.2", "198.51.100", "192.0.2"][(client % 3) as usize];
            let prefix = if client.is_multiple_of(7) { "203.0.113" } else { prefix };
            write!(out, "{prefix}.{}", (client * 37) % 250 + 1)
        }
        _ => write!(out, "10.{}.{}.{}", client >> 16 & 255, client >> 8 & 255, client & 255),
    }
}

/// The civil date of a day number counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Sebastiano Vigna's splitmix64: tiny, fast and good enough for test data.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(params: &Params) -> String {
        let mut out = Vec::new();
        write_trace(params, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs for seed 1234567 of Vigna's splitmix64.c.
        let mut rng = SplitMix64(1_234_567);
        let got: Vec<u64> = (0..3).map(|_| rng.next()).collect();
        assert_eq!(
            got,
            [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423]
        );
    }

    #[test]
    fn the_shipped_example_is_what_gen_trace_writes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let shipped = std::fs::read_to_string(root.join("examples/trace.csv")).unwrap();
        assert!(shipped == generate(&EXAMPLE), "run `cargo xtask gen-trace` to regenerate it");
    }

    #[test]
    fn the_same_seed_gives_the_same_trace() {
        let small = Params { records: 500, ..EXAMPLE };
        assert_eq!(generate(&small), generate(&small));
        assert_ne!(generate(&small), generate(&Params { seed: 2, ..small }));
    }

    #[test]
    fn the_example_has_what_its_doc_promises() {
        let trace = generate(&EXAMPLE);
        let records: Vec<Vec<&str>> =
            trace.lines().skip(2).map(|line| line.split(',').collect()).collect();
        assert_eq!(records.len(), 4000);
        assert!(trace.starts_with("timestamp,ip,cost\n# cargo xtask gen-trace"));
        assert_eq!(records[0][0].len(), "2024-03-01T12:00:00.000Z".len());
        assert!(records[0][0].starts_with("2024-03-01T12:00:0"));
        let count = |ip: &str| records.iter().filter(|r| r[1] == ip).count();
        assert!(count("203.0.113.66") > 600, "the abuser sends a lot");
        assert!(count("::ffff:198.51.100.23") > 50 && count("198.51.100.23") > 50);
        assert!(count("2001:db8::42") > 20 && count("2001:db8:0:0:0:0:0:42") > 20);
        let ips: std::collections::HashSet<&str> = records.iter().map(|r| r[1]).collect();
        assert_eq!(ips.len(), 42, "40 keys, two of them in two spellings");
        assert!(records.iter().any(|r| r.get(2) == Some(&"20")), "a never-allowable cost");
        let backwards = records.windows(2).filter(|w| w[1][0] < w[0][0]).count();
        assert!((3..30).contains(&backwards), "{backwards} records earlier than the one before");
    }

    #[test]
    fn decimal_timestamps_and_many_keys() {
        let params = Params { records: 20_000, keys: 100_000, format: Format::Decimal, ..EXAMPLE };
        let trace = generate(&params);
        let first = trace.lines().nth(2).unwrap();
        assert!(first.starts_with("1709294400."), "{first}");
        assert!(trace.contains("\n1709294400.") && trace.contains(",10."), "wide IPv4 range");
    }

    #[test]
    fn logs_carry_the_same_traffic() {
        let csv = generate(&Params { records: 300, ..EXAMPLE });
        let first_ip = csv.lines().nth(2).unwrap().split(',').nth(1).unwrap().to_owned();
        for (name, log) in &Log::ALL[1..] {
            let text = generate(&Params { records: 300, log: *log, ..EXAMPLE });
            assert_eq!(text.lines().count(), 300, "{name}");
            let first = text.lines().next().unwrap();
            assert!(first.contains(first_ip.as_str()), "{name}: {first}");
        }
        let haproxy = generate(&Params { log: Log::Haproxy, ..EXAMPLE });
        assert!(haproxy.starts_with("Mar  1 12:00:00 lb1 haproxy[4242]: "), "{haproxy}");
        assert!(haproxy.contains(":1024 [01/Mar/2024:12:00:00."), "{haproxy}");
        let jsonl = generate(&Params { log: Log::Jsonl, ..EXAMPLE });
        assert!(jsonl.starts_with("{\"level\":\"info\",\"ts\":1709294400."), "{jsonl}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
