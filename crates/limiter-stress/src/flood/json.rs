//! A flood run as JSON: what `--json` writes, and how a child process that
//! ran one flood case hands it to its parent.

use std::time::Duration;

use limiter_core::{Counters, Nanos};
use serde_json::{Value, json};

use super::{
    FloodResult, FloodSize, MAX_BYTES_PER_SLOT, PeakSource, Sample, Tally, check, policy_named,
};

impl FloodResult {
    /// The run as JSON: what `--json` writes, and how a child process that
    /// ran one flood hands it to its parent.
    pub(crate) fn to_json(&self) -> Value {
        let samples: Vec<Value> = self
            .samples
            .iter()
            .map(|s| {
                let c = s.counters;
                json!([s.requests, s.tracked, c.allowed, c.denied, c.created, c.evicted, s.rss])
            })
            .collect();
        json!({
            "policy": format!("{:?}", self.policy),
            "threads": self.threads,
            "per_family": self.size.per_family,
            "max_keys": self.size.max_keys,
            "established_clients": self.size.established,
            "sample_every": self.size.sample_every,
            "requests": self.requests,
            "flood_keys": self.flood_keys,
            "max_tracked": self.max_tracked(),
            "established": [self.established.allowed, self.established.denied],
            "greedy_clients": self.size.greedy,
            "greedy": [self.greedy.allowed, self.greedy.denied],
            "greedy_exact": self.greedy_exact,
            "greedy_mismatches": self.greedy_mismatches.iter()
                .map(|(ip, allowed, exact)| json!([ip.to_string(), allowed, exact]))
                .collect::<Vec<_>>(),
            "newcomers": [self.newcomers.allowed, self.newcomers.denied],
            "first_established_denial":
                self.first_established_denial.map(|(ip, at)| json!([ip.to_string(), at.as_u64()])),
            "rss_before": self.rss_before,
            "rss_peak": self.rss_peak.map(|(bytes, source)| {
                json!([bytes, if source == PeakSource::HighWaterMark { "VmHWM" } else { "sampled" }])
            }),
            "bytes_per_slot": self.bytes_per_slot(),
            "max_bytes_per_slot": MAX_BYTES_PER_SLOT,
            "elapsed_ns": u64::try_from(self.elapsed.as_nanos()).unwrap_or(u64::MAX),
            "passed": self.passed(),
            "violations": self.violations.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "samples": samples,
        })
    }

    /// A run from [`FloodResult::to_json`], with its violations checked anew.
    pub(crate) fn from_json(value: &Value) -> Option<FloodResult> {
        let u = |key: &str| value[key].as_u64();
        let pair = |key: &str| {
            Some(Tally { allowed: value[key][0].as_u64()?, denied: value[key][1].as_u64()? })
        };
        let samples = value["samples"]
            .as_array()?
            .iter()
            .map(|s| {
                let mut counters = Counters::default();
                counters.allowed = s[2].as_u64()?;
                counters.denied = s[3].as_u64()?;
                counters.created = s[4].as_u64()?;
                counters.evicted = s[5].as_u64()?;
                Some(Sample {
                    requests: s[0].as_u64()?,
                    tracked: usize::try_from(s[1].as_u64()?).ok()?,
                    counters,
                    rss: s[6].as_u64(),
                })
            })
            .collect::<Option<Vec<Sample>>>()?;
        let first_established_denial = match value["first_established_denial"].as_array() {
            Some(d) => Some((d.first()?.as_str()?.parse().ok()?, Nanos::new(d.get(1)?.as_u64()?))),
            None => None,
        };
        let rss_peak = match value["rss_peak"].as_array() {
            Some(p) => {
                let source = if p.get(1)?.as_str()? == "VmHWM" {
                    PeakSource::HighWaterMark
                } else {
                    PeakSource::Sampled
                };
                Some((p.first()?.as_u64()?, source))
            }
            None => None,
        };
        let mut result = FloodResult {
            policy: policy_named(value["policy"].as_str()?)?,
            threads: usize::try_from(u("threads")?).ok()?,
            size: FloodSize {
                per_family: u("per_family")?,
                max_keys: usize::try_from(u("max_keys")?).ok()?,
                established: u32::try_from(u("established_clients")?).ok()?,
                greedy: u32::try_from(u("greedy_clients")?).ok()?,
                sample_every: u("sample_every")?,
            },
            requests: u("requests")?,
            flood_keys: u("flood_keys")?,
            samples,
            established: pair("established")?,
            greedy: pair("greedy")?,
            greedy_exact: u("greedy_exact")?,
            greedy_mismatches: value["greedy_mismatches"]
                .as_array()?
                .iter()
                .map(|m| Some((m[0].as_str()?.parse().ok()?, m[1].as_u64()?, m[2].as_u64()?)))
                .collect::<Option<Vec<_>>>()?,
            newcomers: pair("newcomers")?,
            first_established_denial,
            rss_before: u("rss_before"),
            rss_peak,
            elapsed: Duration::from_nanos(u("elapsed_ns")?),
            violations: Vec::new(),
        };
        result.violations = check(&result);
        Some(result)
    }
}
