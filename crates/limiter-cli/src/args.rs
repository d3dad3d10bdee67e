//! Command-line arguments: clap's raw strings, then a validated [`ReplayConfig`].
//!
//! Capacities and rates stay text until [`ReplayConfig::try_from`] parses
//! them, rates with the core's exact `Rate::from_str`, never through `f64`.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use limiter_core::{
    Eviction, KeyedRateLimiter, MAX_CAPACITY, ManualClock, ParseRateError, Rate, RateLimiter,
};

use crate::keys::{KeyId, Prefixes};
use crate::redis::RedisTarget;

/// Replays recorded traffic through a per-IP token-bucket rate limiter.
#[derive(Debug, Parser)]
#[command(name = "limiter-cli", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once per run")]
pub(crate) enum Command {
    /// Replays traces through a limit and shows what it would allow and deny.
    ///
    /// Records are decided in trace time, not wall time, so a day of traffic
    /// replays in seconds. Give comma lists to --capacity and --rate to
    /// compare every combination in one pass.
    Replay(ReplayArgs),
    /// Reads and splits the inputs' lines and prints how many there are (a
    /// baseline for benchmarks).
    #[command(hide = true)]
    Lines {
        /// Files to read; `-` reads standard input.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
    },
}

/// The raw arguments of `replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Traces to replay, in order, as one stream; `-` reads standard input.
    /// Gzip-compressed input is decompressed.
    #[arg(required = true, value_name = "TRACE")]
    pub(crate) traces: Vec<PathBuf>,
    /// Bucket capacity in whole tokens, or a comma list for a what-if sweep.
    #[arg(
        long,
        value_name = "N[,N...]",
        value_delimiter = ',',
        default_value = "10",
        allow_negative_numbers = true
    )]
    pub(crate) capacity: Vec<String>,
    /// Refill rate in tokens per second (5, 0.5) or per period (100/s, 30/m,
    /// 1/h), or a comma list for a what-if sweep.
    #[arg(
        long,
        value_name = "R[,R...]",
        value_delimiter = ',',
        default_value = "5",
        allow_negative_numbers = true
    )]
    pub(crate) rate: Vec<String>,
    /// The input format; `auto` reads each input's first record to choose.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = InputFormat::Auto)]
    pub(crate) input: InputFormat,
    /// Writes one CSV row per replayed record to FILE (`-`: standard output,
    /// which moves the summary to standard error).
    #[arg(long, value_name = "FILE")]
    pub(crate) decisions: Option<PathBuf>,
    /// The summary's format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// How many keys to list by denials.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    /// Counts and skips malformed records instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// IPv4 addresses sharing their first LEN bits share a bucket (0 to 32;
    /// 32 by default).
    #[arg(long, value_name = "LEN", allow_negative_numbers = true)]
    pub(crate) ipv4_prefix: Option<String>,
    /// IPv6 addresses sharing their first LEN bits share a bucket (0 to 128;
    /// 128 by default; 64 groups each subscriber's network). IPv4-mapped
    /// addresses take the IPv4 prefix.
    #[arg(long, value_name = "LEN", allow_negative_numbers = true)]
    pub(crate) ipv6_prefix: Option<String>,
    /// What the second field is: an IP address, or any text as an opaque
    /// key (an API key, a user id), compared byte for byte.
    #[arg(long, value_enum, value_name = "KIND", default_value_t = KeyKind::Ip)]
    pub(crate) key: KeyKind,
    /// JSON lines: the timestamp's field, a dotted path like `request.ts`
    /// (default: the first of ts, StartUTC, time, time_iso8601, msec,
    /// time_local, start_time, timestamp, @timestamp in the first record).
    #[arg(long, value_name = "PATH")]
    pub(crate) ts_field: Option<String>,
    /// JSON lines: the client address's field, a dotted path (default: the
    /// first of request.remote_ip, request.client_ip, ClientHost,
    /// remote_addr, downstream_remote_address, client_ip, remote_ip).
    #[arg(long, value_name = "PATH")]
    pub(crate) ip_field: Option<String>,
    /// HAProxy logs: the zone of their accept dates, which carry none, as
    /// an offset east of UTC (+01:00, -05:00; Z or +00:00 by default).
    #[arg(long, value_name = "±HH:MM", allow_hyphen_values = true)]
    pub(crate) utc_offset: Option<String>,
    /// Draws an SVG chart to FILE: requests and denials over trace time for
    /// one limit, or the denied share over the capacity × rate grid for a
    /// sweep.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Decides on the Redis at URL (`redis://host:port/`) with limiter-redis,
    /// in trace time, under a fresh key prefix deleted at the end.
    #[arg(long, value_name = "URL")]
    pub(crate) redis: Option<String>,
    /// The key prefix for --redis (default: one of the run's own).
    #[arg(long, value_name = "P", requires = "redis")]
    pub(crate) redis_prefix: Option<String>,
}

/// What a record's key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyKind {
    /// An IPv4 or IPv6 address, canonicalised and cut to the prefixes.
    Ip,
    /// Any non-empty text, as written (trimmed), never parsed.
    Any,
}

/// How to read the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// JSON lines, an HAProxy, ALB or common/combined log if the first
    /// record reads as one, else CSV.
    Auto,
    /// `timestamp,ip[,cost]` lines.
    Csv,
    /// Web server access logs in common or combined log format.
    #[value(alias = "common")]
    Combined,
    /// HAProxy HTTP or TCP logs, with or without a syslog prefix.
    Haproxy,
    /// AWS Application Load Balancer access logs.
    Alb,
    /// One JSON object per line (Caddy, Traefik, nginx JSON, Envoy).
    #[value(alias = "json")]
    Jsonl,
}

/// How to write the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned tables for people.
    Text,
    /// One JSON object, as documented in the README.
    Json,
}

/// One capacity and rate to replay with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) capacity: u64,
    pub(crate) rate: Rate,
}

impl Limit {
    /// A limiter for this limit with these prefixes, in trace time. It never
    /// evicts, so that it decides exactly however far out of order a trace is.
    pub(crate) fn limiter(&self, prefixes: Prefixes) -> RateLimiter<ManualClock> {
        RateLimiter::builder(self.capacity, self.rate)
            .ipv4_prefix(prefixes.v4())
            .ipv6_prefix(prefixes.v6())
            .eviction(Eviction::Never)
            .build_with_clock(ManualClock::default())
            .expect("capacity and prefixes were validated when the config was built")
    }

    /// A limiter for opaque keys, by their id in the replay's key table
    /// (ids are one-to-one with the keys' bytes), in trace time; it never
    /// evicts either.
    pub(crate) fn keyed_limiter(&self) -> KeyedRateLimiter<KeyId, ManualClock> {
        KeyedRateLimiter::builder(self.capacity, self.rate)
            .eviction(Eviction::Never)
            .build_with_clock(ManualClock::default())
            .expect("capacity was validated when the config was built")
    }
}

/// Validated `replay` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplayConfig {
    pub(crate) traces: Vec<PathBuf>,
    /// Every capacity with every rate, capacity-major, in the order given.
    pub(crate) limits: Vec<Limit>,
    pub(crate) input: InputFormat,
    pub(crate) decisions: Option<PathBuf>,
    pub(crate) output: OutputFormat,
    pub(crate) top: usize,
    pub(crate) skip_invalid: bool,
    /// How addresses are grouped into buckets.
    pub(crate) prefixes: Prefixes,
    /// What the records' keys are.
    pub(crate) key: KeyKind,
    /// JSON lines: the fields named by `--ts-field` and `--ip-field`.
    pub(crate) ts_field: Option<&'static str>,
    pub(crate) ip_field: Option<&'static str>,
    /// HAProxy accept dates' offset east of UTC, in seconds.
    pub(crate) utc_offset: i64,
    /// Where to draw the chart.
    pub(crate) plot: Option<PathBuf>,
    /// `--redis`: where to decide, if not in this process.
    pub(crate) redis: Option<RedisTarget>,
}

impl ReplayConfig {
    /// Whether the decisions CSV goes to standard output.
    pub(crate) fn decisions_on_stdout(&self) -> bool {
        self.decisions.as_deref().is_some_and(|p| p.as_os_str() == "-")
    }
}

impl TryFrom<ReplayArgs> for ReplayConfig {
    type Error = ArgsError;

    fn try_from(args: ReplayArgs) -> Result<ReplayConfig, ArgsError> {
        let capacities =
            args.capacity.iter().map(|text| parse_capacity(text)).collect::<Result<Vec<_>, _>>()?;
        let rates = args
            .rate
            .iter()
            .map(|text| text.parse::<Rate>().map_err(ArgsError::Rate))
            .collect::<Result<Vec<_>, _>>()?;
        let limits: Vec<Limit> = capacities
            .iter()
            .flat_map(|&capacity| rates.iter().map(move |&rate| Limit { capacity, rate }))
            .collect();
        let ipv4_prefix = match &args.ipv4_prefix {
            Some(text) => parse_prefix("--ipv4-prefix", text, 32)?,
            None => 32,
        };
        let ipv6_prefix = match &args.ipv6_prefix {
            Some(text) => parse_prefix("--ipv6-prefix", text, 128)?,
            None => 128,
        };
        if args.key == KeyKind::Any {
            let given =
                [("--ipv4-prefix", &args.ipv4_prefix), ("--ipv6-prefix", &args.ipv6_prefix)];
            if let Some((flag, _)) = given.iter().find(|(_, value)| value.is_some()) {
                return Err(ArgsError::PrefixWithOpaqueKeys { flag });
            }
        }
        if limits.len() > 1 && args.decisions.is_some() {
            return Err(ArgsError::DecisionsWithSweep);
        }
        let ts_field = json_field("--ts-field", args.ts_field.as_deref(), args.input)?;
        let ip_field = json_field("--ip-field", args.ip_field.as_deref(), args.input)?;
        let utc_offset = match &args.utc_offset {
            Some(text) => parse_utc_offset(text)
                .ok_or_else(|| ArgsError::UtcOffset { input: text.clone() })?,
            None => 0,
        };
        Ok(ReplayConfig {
            traces: args.traces,
            limits,
            input: args.input,
            decisions: args.decisions,
            output: args.output,
            top: args.top,
            skip_invalid: args.skip_invalid,
            prefixes: Prefixes::new(ipv4_prefix, ipv6_prefix),
            key: args.key,
            ts_field,
            ip_field,
            utc_offset,
            plot: args.plot,
            redis: args.redis.map(|url| RedisTarget::new(url, args.redis_prefix)),
        })
    }
}

/// Arguments that clap accepts but that do not make a valid replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgsError {
    /// A capacity that is not unsigned decimal digits.
    CapacityNotANumber { input: String },
    /// A capacity outside `1..=10⁹`.
    CapacityOutOfRange { input: String },
    /// A rate the core's `Rate::from_str` rejects.
    Rate(ParseRateError),
    /// `--decisions` with more than one limit: the CSV has one `allowed` column.
    DecisionsWithSweep,
    /// `--decisions` names one of the inputs, which creating it would wipe.
    DecisionsOverwriteInput { path: String },
    /// A prefix length that is not a whole number from 0 to the family's
    /// address length.
    PrefixOutOfRange { flag: &'static str, input: String, max: u8 },
    /// An address prefix with `--key any`, whose keys are not addresses.
    PrefixWithOpaqueKeys { flag: &'static str },
    /// `--ts-field` or `--ip-field` with an input format other than JSON
    /// lines (or `auto`).
    JsonFieldWithoutJsonl { flag: &'static str },
    /// A field path that is empty or has an empty segment (`a..b`).
    FieldPath { flag: &'static str, input: String },
    /// A `--utc-offset` that is not `Z` or `±HH:MM` within a day.
    UtcOffset { input: String },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::CapacityNotANumber { input } => {
                write!(f, "--capacity: {input:?} is not a whole number of tokens")
            }
            ArgsError::CapacityOutOfRange { input } => write!(
                f,
                "--capacity: {input:?} is out of range: expected 1 to {MAX_CAPACITY} tokens"
            ),
            ArgsError::Rate(err) => write!(f, "--rate: {err}"),
            ArgsError::DecisionsOverwriteInput { path } => {
                write!(f, "--decisions {path:?} is one of the traces; it would be overwritten")
            }
            ArgsError::PrefixOutOfRange { flag, input, max } => {
                write!(f, "{flag}: {input:?} is not a prefix length: expected 0 to {max} bits")
            }
            ArgsError::PrefixWithOpaqueKeys { flag } => {
                write!(f, "{flag} needs --key ip: opaque keys (--key any) have no prefixes")
            }
            ArgsError::JsonFieldWithoutJsonl { flag } => {
                write!(f, "{flag} needs --input jsonl (or auto): only JSON lines have fields")
            }
            ArgsError::FieldPath { flag, input } => write!(
                f,
                "{flag}: {input:?} is not a field path: expected names joined by dots, like request.remote_ip"
            ),
            ArgsError::UtcOffset { input } => write!(
                f,
                "--utc-offset: {input:?} is not an offset: expected Z or ±HH:MM, at most 23:59"
            ),
            ArgsError::DecisionsWithSweep => {
                f.write_str("--decisions needs a single capacity and rate, not a sweep of several")
            }
        }
    }
}

impl std::error::Error for ArgsError {}

fn parse_capacity(text: &str) -> Result<u64, ArgsError> {
    let not_a_number = || ArgsError::CapacityNotANumber { input: text.to_owned() };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number());
    }
    text.parse::<u64>()
        .ok()
        .filter(|capacity| (1..=MAX_CAPACITY).contains(capacity))
        .ok_or_else(|| ArgsError::CapacityOutOfRange { input: text.to_owned() })
}

/// Checks a JSON field path and keeps it for the rest of the run (the
/// parsers name it in errors).
fn json_field(
    flag: &'static str,
    path: Option<&str>,
    input: InputFormat,
) -> Result<Option<&'static str>, ArgsError> {
    let Some(path) = path else { return Ok(None) };
    if !matches!(input, InputFormat::Auto | InputFormat::Jsonl) {
        return Err(ArgsError::JsonFieldWithoutJsonl { flag });
    }
    if path.split('.').any(str::is_empty) {
        return Err(ArgsError::FieldPath { flag, input: path.to_owned() });
    }
    Ok(Some(Box::leak(path.into())))
}

/// Reads `Z`, `z` or `±HH:MM` (hours at most 23) as seconds east of UTC.
fn parse_utc_offset(text: &str) -> Option<i64> {
    if text.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let &[sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] = text.as_bytes() else { return None };
    let hours = crate::timestamp::digits(&[h1, h2])?;
    let minutes = crate::timestamp::digits(&[m1, m2])?;
    crate::timestamp::signed_offset(sign, hours, minutes).ok()
}

/// Reads a prefix length: unsigned decimal digits, at most `max`.
fn parse_prefix(flag: &'static str, text: &str, max: u8) -> Result<u8, ArgsError> {
    let err = || ArgsError::PrefixOutOfRange { flag, input: text.to_owned(), max };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    text.parse::<u8>().ok().filter(|len| *len <= max).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<ReplayConfig, String> {
        let cli = Cli::try_parse_from(["limiter-cli", "replay", "t.csv"].iter().chain(args))
            .map_err(|e| e.to_string())?;
        let Command::Replay(args) = cli.command else { unreachable!("replay was given") };
        ReplayConfig::try_from(args).map_err(|e| e.to_string())
    }

    #[track_caller]
    fn check_limits(args: &[&str], expected: &[(u64, &str)]) {
        let limits = config(args).unwrap().limits;
        let expected: Vec<Limit> = expected
            .iter()
            .map(|&(capacity, rate)| Limit { capacity, rate: rate.parse().unwrap() })
            .collect();
        assert_eq!(limits, expected, "{args:?}");
    }

    #[track_caller]
    fn check_err(args: &[&str], message: &str) {
        assert_eq!(config(args).unwrap_err(), message, "{args:?}");
    }

    #[test]
    fn limits_are_every_capacity_with_every_rate() {
        check_limits(&[], &[(10, "5")]);
        check_limits(&["--capacity", "3", "--rate", "1/h"], &[(3, "1/h")]);
        check_limits(&["--capacity", "007"], &[(7, "5")]);
        check_limits(
            &["--capacity", "5,10", "--rate", "1,0.5,30/m"],
            &[(5, "1"), (5, "0.5"), (5, "0.5"), (10, "1"), (10, "0.5"), (10, "0.5")],
        );
        check_limits(
            &["--capacity", "1000000000", "--rate", "0.000000001"],
            &[(1_000_000_000, "0.000000001")],
        );
    }

    #[test]
    fn prefixes_default_to_whole_addresses() {
        assert_eq!(config(&[]).unwrap().prefixes, Prefixes::WHOLE);
        let prefixes = config(&["--ipv4-prefix", "0", "--ipv6-prefix", "064"]).unwrap().prefixes;
        assert_eq!(prefixes, Prefixes::new(0, 64));
        let prefixes = config(&["--ipv4-prefix", "32", "--ipv6-prefix", "128"]).unwrap().prefixes;
        assert_eq!(prefixes, Prefixes::WHOLE);
        assert_eq!(config(&[]).unwrap().key, KeyKind::Ip);
        assert_eq!(config(&["--key", "any"]).unwrap().key, KeyKind::Any);
        assert_eq!(config(&["--key", "ip", "--ipv6-prefix", "64"]).unwrap().key, KeyKind::Ip);
    }

    #[test]
    fn bad_limits_name_the_value() {
        check_err(
            &["--capacity", "0"],
            r#"--capacity: "0" is out of range: expected 1 to 1000000000 tokens"#,
        );
        check_err(
            &["--capacity", "1000000001"],
            r#"--capacity: "1000000001" is out of range: expected 1 to 1000000000 tokens"#,
        );
        check_err(
            &["--capacity", "99999999999999999999999"],
            r#"--capacity: "99999999999999999999999" is out of range: expected 1 to 1000000000 tokens"#,
        );
        check_err(&["--capacity", "+5"], r#"--capacity: "+5" is not a whole number of tokens"#);
        check_err(&["--capacity", "5,,6"], r#"--capacity: "" is not a whole number of tokens"#);
        check_err(&["--capacity", "1.5"], r#"--capacity: "1.5" is not a whole number of tokens"#);
        check_err(
            &["--rate", "fast"],
            r#"--rate: invalid rate "fast": expected a decimal number of tokens per second like 5 or 0.5, or N/s, N/m or N/h"#,
        );
        check_err(
            &["--rate", "0"],
            r#"--rate: rate "0" is out of range: expected 0.000000001 to 1000000000 tokens per second"#,
        );
        check_err(
            &["--ipv4-prefix", "33"],
            r#"--ipv4-prefix: "33" is not a prefix length: expected 0 to 32 bits"#,
        );
        check_err(
            &["--ipv6-prefix", "129"],
            r#"--ipv6-prefix: "129" is not a prefix length: expected 0 to 128 bits"#,
        );
        check_err(
            &["--ipv6-prefix", "-1"],
            r#"--ipv6-prefix: "-1" is not a prefix length: expected 0 to 128 bits"#,
        );
        check_err(
            &["--ipv6-prefix", "99999"],
            r#"--ipv6-prefix: "99999" is not a prefix length: expected 0 to 128 bits"#,
        );
        check_err(
            &["--ipv4-prefix", "/24"],
            r#"--ipv4-prefix: "/24" is not a prefix length: expected 0 to 32 bits"#,
        );
        check_err(
            &["--key", "any", "--ipv6-prefix", "64"],
            "--ipv6-prefix needs --key ip: opaque keys (--key any) have no prefixes",
        );
        check_err(
            &["--ipv4-prefix", "32", "--key", "any"],
            "--ipv4-prefix needs --key ip: opaque keys (--key any) have no prefixes",
        );
        check_err(
            &["--rate", "1,2", "--decisions", "d.csv"],
            "--decisions needs a single capacity and rate, not a sweep of several",
        );
        check_err(
            &["--input", "csv", "--ts-field", "ts"],
            "--ts-field needs --input jsonl (or auto): only JSON lines have fields",
        );
        check_err(
            &["--ip-field", "request..ip"],
            r#"--ip-field: "request..ip" is not a field path: expected names joined by dots, like request.remote_ip"#,
        );
        check_err(
            &["--utc-offset", "+24:00"],
            r#"--utc-offset: "+24:00" is not an offset: expected Z or ±HH:MM, at most 23:59"#,
        );
        check_err(
            &["--utc-offset", "0100"],
            r#"--utc-offset: "0100" is not an offset: expected Z or ±HH:MM, at most 23:59"#,
        );
    }

    #[test]
    fn log_options() {
        let c = config(&["--input", "jsonl", "--ts-field", "a.b", "--ip-field", "c"]).unwrap();
        assert_eq!((c.input, c.ts_field, c.ip_field), (InputFormat::Jsonl, Some("a.b"), Some("c")));
        assert_eq!(config(&["--utc-offset", "-05:30"]).unwrap().utc_offset, -19_800);
        assert_eq!(config(&["--utc-offset", "+01:00"]).unwrap().utc_offset, 3600);
        assert_eq!(config(&["--utc-offset", "Z"]).unwrap().utc_offset, 0);
        assert_eq!(config(&[]).unwrap().utc_offset, 0);
        assert_eq!(config(&["--input", "json"]).unwrap().input, InputFormat::Jsonl);
    }
}
