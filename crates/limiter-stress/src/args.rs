//! Command-line arguments: the raw clap structs, then the validated `Config`.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use limiter_core::{ConfigError, ParseRateError, Rate, RateLimiter, WhenFull};

use crate::check::Quota;
use crate::flood::FloodSize;
use crate::workload::WorkloadKind;

/// How long each run lasts in the standard suite.
const SUITE_DURATION: Duration = Duration::from_secs(5);
/// How long each run lasts with `--quick`.
const QUICK_DURATION: Duration = Duration::from_millis(150);
/// How long each run lasts in a soak, unless `--duration` or `--ops` says.
const SOAK_RUN_DURATION: Duration = Duration::from_secs(1);
/// Keys pre-generated per thread when runs are timed; each thread cycles through them.
const SUITE_STREAM_LEN: usize = 1 << 20;
/// Keys pre-generated per thread with `--quick`.
const QUICK_STREAM_LEN: usize = 1 << 16;
/// The quota under which nothing is denied: `10⁹` tokens refilled at `10⁹` per second.
const PASS_QUOTA: (u64, &str) = (1_000_000_000, "1000000000");
/// The seed's quota, which denies most requests: 10 tokens refilled at 5 per second.
const DENY_QUOTA: (u64, &str) = (10, "5");

/// Raw arguments, as typed.
#[derive(Debug, Parser)]
#[command(
    name = "limiter-stress",
    about = "Hammers the limiter from many threads: throughput, latency, and an exact \
             check that no key was allowed more than its bucket allows.",
    after_help = "With neither --capacity nor --rate, every workload runs twice: with \
                  capacity 1000000000 and rate 1000000000 (nothing is denied) and with \
                  capacity 10 and rate 5 (most requests are denied). With either, one quota \
                  runs, the missing half taken from 10 and 5."
)]
pub(crate) struct Args {
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub(crate) threads: Option<NonZeroUsize>,
    /// Workloads to run, comma-separated: hot, uniform, zipf, churn, ipv6, flood or all.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub(crate) workload: Vec<WorkloadArg>,
    /// Bucket capacity in tokens.
    #[arg(long)]
    pub(crate) capacity: Option<u64>,
    /// Refill rate: tokens per second ("5", "0.5") or per period ("100/s", "30/m", "1/h").
    #[arg(long)]
    pub(crate) rate: Option<String>,
    /// Time per run: seconds ("2", "0.5") or with a unit ("500ms", "3s") [default: 5s, 150ms with --quick].
    #[arg(long, conflicts_with = "ops")]
    pub(crate) duration: Option<String>,
    /// Operations per run, split evenly across threads, instead of a duration.
    #[arg(long)]
    pub(crate) ops: Option<u64>,
    /// Seed for the key populations and sequences; the same seed gives the same keys.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Exponent s of the zipf and ipv6 workloads: key of rank k is drawn with weight 1/k^s.
    #[arg(long, default_value_t = 1.1)]
    pub(crate) zipf_exponent: f64,
    /// Operations per latency measurement; each op is recorded as batch time / batch.
    #[arg(long, default_value_t = 16)]
    pub(crate) batch: u32,
    /// A short smoke run (150 ms per run, shorter key sequences), as CI uses.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Also run every workload on another limiter, in the same process, and compare.
    #[arg(long, value_enum)]
    pub(crate) against: Option<Against>,
    /// Write every run's figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write one HdrHistogram percentile-distribution file per run into DIR.
    #[arg(long, value_name = "DIR")]
    pub(crate) hgrm: Option<PathBuf>,
    /// Write a latency-by-percentile plot as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) svg: Option<PathBuf>,
    /// Run the chosen workloads round after round for MINUTES ("10", "0.5"),
    /// each run on a fresh limiter and checked; 1 s per run unless --duration or --ops.
    #[arg(long, value_name = "MINUTES", conflicts_with_all = ["json", "hgrm", "svg", "against"])]
    pub(crate) soak: Option<String>,
    /// Internal: run one flood case (POLICY:THREADS) and print it as JSON, so
    /// that each case's memory is measured in a fresh process.
    #[arg(long, hide = true, value_name = "POLICY:THREADS")]
    pub(crate) flood_child: Option<String>,
}

/// A `--workload` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WorkloadArg {
    Hot,
    Uniform,
    Zipf,
    Churn,
    Ipv6,
    /// 10M new IPv4 and 10M new IPv6 addresses against a key cap, in trace time.
    Flood,
    All,
}

/// An `--against` value: a limiter to compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Against {
    /// The `governor` crate's keyed limiter with its default store and clock.
    Governor,
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// After this much time per run.
    After(Duration),
    /// After this many operations per run, across all threads.
    Ops(u64),
}

/// Validated arguments.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) threads: usize,
    pub(crate) workloads: Vec<WorkloadKind>,
    pub(crate) quotas: Vec<Quota>,
    pub(crate) stop: Stop,
    pub(crate) stream_len: usize,
    pub(crate) seed: u64,
    pub(crate) zipf_exponent: f64,
    pub(crate) batch: u32,
    pub(crate) against: Option<Against>,
    pub(crate) json: Option<PathBuf>,
    pub(crate) hgrm: Option<PathBuf>,
    pub(crate) svg: Option<PathBuf>,
    /// The flood to send, if `flood` is among the workloads.
    pub(crate) flood: Option<FloodSize>,
    /// How long to soak, if `--soak` was given.
    pub(crate) soak: Option<Duration>,
    /// The one flood case to run in this process, for a parent.
    pub(crate) flood_child: Option<(WhenFull, usize)>,
}

/// An argument that parsed but makes no sense.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArgsError {
    /// The capacity or rate is out of the limiter's range.
    Quota(ConfigError),
    /// The rate is malformed or out of range.
    Rate(ParseRateError),
    /// `--duration` is not a number of seconds or milliseconds, or is zero.
    Duration { input: String },
    /// `--ops` is smaller than the number of threads.
    TooFewOps { ops: u64, threads: usize },
    /// `--zipf-exponent` is not a positive finite number.
    ZipfExponent { exponent: f64 },
    /// `--batch` is zero.
    ZeroBatch,
    /// `--soak` is not a positive number of minutes.
    Soak { input: String },
    /// `--flood-child` is not `POLICY:THREADS`.
    FloodChild { input: String },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Quota(err) => write!(f, "{err}"),
            ArgsError::Rate(err) => write!(f, "{err}"),
            ArgsError::Duration { input } => write!(
                f,
                "invalid duration {input:?}: expected positive seconds (\"2\", \"0.5\") or \"500ms\", \"3s\""
            ),
            ArgsError::TooFewOps { ops, threads } => {
                write!(f, "--ops {ops} is fewer than one operation per thread ({threads} threads)")
            }
            ArgsError::ZipfExponent { exponent } => {
                write!(f, "invalid zipf exponent \"{exponent}\": expected a positive finite number")
            }
            ArgsError::ZeroBatch => write!(f, "invalid batch \"0\": expected at least 1"),
            ArgsError::FloodChild { input } => {
                write!(f, "invalid flood case {input:?}: expected POLICY:THREADS")
            }
            ArgsError::Soak { input } => write!(
                f,
                "invalid soak time {input:?}: expected a positive number of minutes (\"10\", \"0.5\")"
            ),
        }
    }
}

impl std::error::Error for ArgsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArgsError::Quota(err) => Some(err),
            ArgsError::Rate(err) => Some(err),
            _ => None,
        }
    }
}

impl TryFrom<Args> for Config {
    type Error = ArgsError;

    fn try_from(args: Args) -> Result<Config, ArgsError> {
        let threads = args
            .threads
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        let quotas = if args.capacity.is_none() && args.rate.is_none() {
            vec![quota(PASS_QUOTA.0, PASS_QUOTA.1)?, quota(DENY_QUOTA.0, DENY_QUOTA.1)?]
        } else {
            let capacity = args.capacity.unwrap_or(DENY_QUOTA.0);
            vec![quota(capacity, args.rate.as_deref().unwrap_or(DENY_QUOTA.1))?]
        };
        let soak = args.soak.as_deref().map(parse_minutes).transpose()?;
        let flood_child = args.flood_child.as_deref().map(parse_flood_case).transpose()?;
        let stop = match (args.ops, args.duration) {
            (Some(ops), _) if ops < threads as u64 => {
                return Err(ArgsError::TooFewOps { ops, threads });
            }
            (Some(ops), _) => Stop::Ops(ops),
            (None, Some(text)) => Stop::After(parse_duration(&text)?),
            (None, None) if args.quick => Stop::After(QUICK_DURATION),
            (None, None) if soak.is_some() => Stop::After(SOAK_RUN_DURATION),
            (None, None) => Stop::After(SUITE_DURATION),
        };
        let mut stream_len = if args.quick { QUICK_STREAM_LEN } else { SUITE_STREAM_LEN };
        if let Stop::Ops(ops) = stop {
            stream_len =
                stream_len.min(usize::try_from(ops.div_ceil(threads as u64)).unwrap_or(usize::MAX));
        }
        if !(args.zipf_exponent.is_finite() && args.zipf_exponent > 0.0) {
            return Err(ArgsError::ZipfExponent { exponent: args.zipf_exponent });
        }
        if args.batch == 0 {
            return Err(ArgsError::ZeroBatch);
        }
        let flood = args
            .workload
            .iter()
            .any(|w| matches!(w, WorkloadArg::Flood | WorkloadArg::All))
            // A soak repeats the flood every round, so it sends the short one.
            .then_some(if args.quick || soak.is_some() {
                FloodSize::QUICK
            } else {
                FloodSize::FULL
            });
        Ok(Config {
            threads,
            workloads: workloads(&args.workload),
            quotas,
            stop,
            stream_len,
            seed: args.seed,
            zipf_exponent: args.zipf_exponent,
            batch: args.batch,
            against: args.against,
            json: args.json,
            hgrm: args.hgrm,
            svg: args.svg,
            flood,
            soak,
            flood_child,
        })
    }
}

/// A quota whose rate is parsed exactly and whose range the limiter accepts.
fn quota(capacity: u64, rate: &str) -> Result<Quota, ArgsError> {
    let rate: Rate = rate.parse().map_err(ArgsError::Rate)?;
    RateLimiter::with_rate(capacity, rate).map_err(ArgsError::Quota)?;
    Ok(Quota { capacity, rate })
}

/// The chosen workloads in the standard order, each once.
fn workloads(chosen: &[WorkloadArg]) -> Vec<WorkloadKind> {
    let all = chosen.contains(&WorkloadArg::All);
    WorkloadKind::ALL
        .into_iter()
        .filter(|kind| {
            all || chosen.iter().any(|arg| match arg {
                WorkloadArg::Hot => *kind == WorkloadKind::Hot,
                WorkloadArg::Uniform => *kind == WorkloadKind::Uniform,
                WorkloadArg::Zipf => *kind == WorkloadKind::Zipf,
                WorkloadArg::Churn => *kind == WorkloadKind::Churn,
                WorkloadArg::Ipv6 => *kind == WorkloadKind::Ipv6,
                WorkloadArg::Flood => false,
                WorkloadArg::All => true,
            })
        })
        .collect()
}

/// Parses `"EvictFullest:2"`.
fn parse_flood_case(input: &str) -> Result<(WhenFull, usize), ArgsError> {
    let error = || ArgsError::FloodChild { input: input.to_owned() };
    let (policy, threads) = input.split_once(':').ok_or_else(error)?;
    let threads = threads.parse::<NonZeroUsize>().map_err(|_| error())?;
    Ok((crate::flood::policy_named(policy).ok_or_else(error)?, threads.get()))
}

/// Parses `"10"` or `"0.5"` minutes into a positive duration.
fn parse_minutes(input: &str) -> Result<Duration, ArgsError> {
    let error = || ArgsError::Soak { input: input.to_owned() };
    if input.is_empty() || !input.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(error());
    }
    let minutes = input.parse::<f64>().map_err(|_| error())?;
    Duration::try_from_secs_f64(minutes * 60.0).ok().filter(|d| !d.is_zero()).ok_or_else(error)
}

/// Parses `"2"`, `"0.5"`, `"3s"` or `"500ms"` into a positive duration.
fn parse_duration(input: &str) -> Result<Duration, ArgsError> {
    let error = || ArgsError::Duration { input: input.to_owned() };
    let (number, scale) = if let Some(ms) = input.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (input.strip_suffix('s').unwrap_or(input), 1.0)
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(error());
    }
    let seconds = number.parse::<f64>().map_err(|_| error())? * scale;
    Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero()).ok_or_else(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, ArgsError> {
        let args =
            Args::try_parse_from(std::iter::once("limiter-stress").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        Config::try_from(args)
    }

    #[test]
    fn defaults_run_every_workload_under_both_quotas() {
        let config = config(&[]).unwrap();
        assert_eq!(config.workloads, WorkloadKind::ALL.to_vec());
        let quotas: Vec<(u64, String)> =
            config.quotas.iter().map(|q| (q.capacity, q.rate.to_string())).collect();
        assert_eq!(quotas, [(1_000_000_000, "1000000000".to_owned()), (10, "5".to_owned())]);
        assert_eq!(config.stop, Stop::After(SUITE_DURATION));
        assert!(config.threads >= 1);
    }

    #[test]
    fn workload_lists_keep_the_standard_order() {
        let config = config(&["--workload", "churn,hot,churn"]).unwrap();
        assert_eq!(config.workloads, [WorkloadKind::Hot, WorkloadKind::Churn]);
    }

    #[test]
    fn one_quota_when_either_half_is_given() {
        let config = config(&["--rate", "30/m"]).unwrap();
        assert_eq!(config.quotas, [Quota { capacity: 10, rate: Rate::per_minute(30).unwrap() }]);
        let config = config_ok(&["--capacity", "3"]);
        assert_eq!(config.quotas, [Quota { capacity: 3, rate: Rate::per_second(5).unwrap() }]);
    }

    fn config_ok(args: &[&str]) -> Config {
        config(args).unwrap()
    }

    #[test]
    fn durations_and_ops() {
        assert_eq!(
            config_ok(&["--duration", "500ms"]).stop,
            Stop::After(Duration::from_millis(500))
        );
        assert_eq!(config_ok(&["--duration", "2"]).stop, Stop::After(Duration::from_secs(2)));
        assert_eq!(
            config_ok(&["--duration", "1.5s"]).stop,
            Stop::After(Duration::from_millis(1500))
        );
        assert_eq!(config_ok(&["--quick"]).stop, Stop::After(QUICK_DURATION));
        let ops = config_ok(&["--ops", "1000", "--threads", "2"]);
        assert_eq!((ops.stop, ops.stream_len), (Stop::Ops(1000), 500));
    }

    #[test]
    fn bad_values_are_named() {
        let cases: [(&[&str], &str); 7] = [
            (&["--rate", "0"], "rate \"0\""),
            (&["--rate", "5/d"], "\"5/d\""),
            (&["--capacity", "0"], "capacity 0 is out of range"),
            (&["--duration=-1"], "invalid duration \"-1\""),
            (&["--duration", "0ms"], "invalid duration \"0ms\""),
            (&["--ops", "1", "--threads", "2"], "--ops 1 is fewer"),
            (&["--zipf-exponent=-1"], "invalid zipf exponent \"-1\""),
        ];
        for (args, message) in cases {
            let err = config(args).expect_err(&format!("{args:?} should fail"));
            assert!(err.to_string().contains(message), "{args:?}: {err}");
        }
        let err = config(&["--capacity", "5000000000", "--against", "governor"]).unwrap_err();
        assert_eq!(
            err,
            ArgsError::Quota(ConfigError::CapacityOutOfRange { capacity: 5_000_000_000 })
        );
        assert_eq!(config(&["--batch", "0"]).unwrap_err(), ArgsError::ZeroBatch);
    }

    #[test]
    fn flood_is_chosen_by_name_or_all_and_shrinks_with_quick_or_soak() {
        let config = config_ok(&["--workload", "flood"]);
        assert_eq!((config.workloads.len(), config.flood), (0, Some(FloodSize::FULL)));
        assert_eq!(config_ok(&["--workload", "flood", "--quick"]).flood, Some(FloodSize::QUICK));
        assert_eq!(config_ok(&[]).flood, Some(FloodSize::FULL));
        assert_eq!(config_ok(&["--workload", "hot"]).flood, None);
        assert_eq!(config_ok(&["--soak", "1"]).flood, Some(FloodSize::QUICK));
    }

    #[test]
    fn soak_takes_positive_minutes() {
        let soak = config_ok(&["--soak", "10"]);
        assert_eq!(soak.soak, Some(Duration::from_secs(600)));
        assert_eq!(soak.stop, Stop::After(SOAK_RUN_DURATION));
        assert_eq!(config_ok(&["--soak", "0.5"]).soak, Some(Duration::from_secs(30)));
        assert_eq!(config_ok(&[]).soak, None);
        let soak = config_ok(&["--soak", "2", "--duration", "200ms"]);
        assert_eq!(soak.stop, Stop::After(Duration::from_millis(200)));
        for bad in ["0", "-1", "ten", "", "1e3", "0.0000000000000000001"] {
            let err = config(&[&format!("--soak={bad}")]).expect_err(bad);
            assert_eq!(err, ArgsError::Soak { input: bad.to_owned() });
            assert!(err.to_string().starts_with(&format!("invalid soak time {bad:?}")), "{err}");
        }
        let output = Args::try_parse_from(["limiter-stress", "--soak", "1", "--json", "out.json"]);
        assert!(output.is_err(), "a soak writes no JSON");
    }
}
