//! What a flood run must hold to: the cap, the memory bound and what each
//! policy promises established clients and newcomers.

use std::fmt;
use std::net::IpAddr;

use limiter_core::{Nanos, WhenFull};

use super::{FloodResult, MAX_BYTES_PER_SLOT, Sample};

/// A broken promise of the cap, the memory bound or a policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FloodViolation {
    /// More keys tracked than the cap allows.
    OverCap { requests: u64, tracked: u64, max_keys: usize },
    /// `created − evicted` disagrees with `len()` at the end.
    Inconsistent { tracked: usize, created: u64, evicted: u64 },
    /// The flood never filled the cap, so the run tested nothing.
    CapNotReached { max_tracked: usize, max_keys: usize },
    /// A greedy client was allowed more than an exact bucket allows it.
    GreedyOverExact { policy: WhenFull, clients: usize, first: (IpAddr, u64, u64) },
    /// A greedy client's bucket was not exact under a policy that never
    /// evicts a bucket that is not idle.
    GreedyNotExact { policy: WhenFull, clients: usize, first: (IpAddr, u64, u64) },
    /// An established client within its limit was denied.
    EstablishedDenied { denied: u64, first: Option<(IpAddr, Nanos)> },
    /// `AdmitUntracked` denied newcomers, which it admits untracked.
    NewcomersDenied { policy: WhenFull, denied: u64 },
    /// `EvictFullest` admitted no more newcomers than the cap held: it never
    /// made room.
    NeverEvicted { allowed: u64, room: u64 },
    /// `DenyNewKeys` never denied a newcomer although the cap was full.
    NewcomersNeverDenied,
    /// `DenyNewKeys` allowed a newcomer without tracking it.
    UntrackedNewcomers { allowed: u64, created: u64 },
    /// Peak memory above the stated bound.
    Memory { bytes_per_slot: f64, bound: u64 },
}

impl fmt::Display for FloodViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloodViolation::OverCap { requests, tracked, max_keys } => write!(
                f,
                "over the cap: {tracked} keys tracked after {requests} requests, at most {max_keys}"
            ),
            FloodViolation::Inconsistent { tracked, created, evicted } => write!(
                f,
                "counters disagree: {created} created - {evicted} evicted, but {tracked} tracked"
            ),
            FloodViolation::CapNotReached { max_tracked, max_keys } => {
                write!(
                    f,
                    "the flood never filled the cap: at most {max_tracked} of {max_keys} keys"
                )
            }
            FloodViolation::EstablishedDenied { denied, first } => {
                write!(f, "{denied} requests of established clients within their limit denied")?;
                if let Some((ip, at)) = first {
                    write!(f, ", first {ip} at {} ns", at.as_u64())?;
                }
                Ok(())
            }
            FloodViolation::GreedyOverExact { policy, clients, first: (ip, allowed, exact) } => {
                write!(
                    f,
                    "{policy:?} allowed {clients} greedy clients more than an exact bucket: \
                     first {ip} allowed {allowed}, an exact bucket {exact}"
                )
            }
            FloodViolation::GreedyNotExact { policy, clients, first: (ip, allowed, exact) } => {
                write!(
                    f,
                    "{policy:?} changed {clients} greedy clients' limits: first {ip} allowed \
                     {allowed}, an exact bucket {exact}"
                )
            }
            FloodViolation::NewcomersDenied { policy, denied } => {
                write!(f, "{policy:?} denied {denied} newcomers within their own limit")
            }
            FloodViolation::NeverEvicted { allowed, room } => write!(
                f,
                "EvictFullest admitted {allowed} newcomers, no more than the {room} the cap \
                 had room for"
            ),
            FloodViolation::NewcomersNeverDenied => {
                write!(f, "DenyNewKeys denied no newcomer although the cap was full")
            }
            FloodViolation::UntrackedNewcomers { allowed, created } => write!(
                f,
                "DenyNewKeys allowed {allowed} newcomers but created only {created} buckets for them"
            ),
            FloodViolation::Memory { bytes_per_slot, bound } => write!(
                f,
                "peak memory {bytes_per_slot:.1} bytes per cap slot, above the bound of {bound}"
            ),
        }
    }
}

/// Everything a flood run must hold to: the cap, the memory bound and the policy.
pub(crate) fn check(result: &FloodResult) -> Vec<FloodViolation> {
    let mut violations = check_cap(result.size.max_keys, &result.samples);
    violations.extend(check_policy(result));
    if let Some(bytes_per_slot) = result.bytes_per_slot()
        && bytes_per_slot > MAX_BYTES_PER_SLOT as f64
    {
        violations.push(FloodViolation::Memory { bytes_per_slot, bound: MAX_BYTES_PER_SLOT });
    }
    violations
}

/// Checks every sample against the cap: `len()` and `created − evicted` at
/// most `max_keys`, the two equal at the end, and the cap reached at all.
pub(crate) fn check_cap(max_keys: usize, samples: &[Sample]) -> Vec<FloodViolation> {
    let mut violations = Vec::new();
    for s in samples {
        let net = s.counters.created.saturating_sub(s.counters.evicted);
        let tracked = (s.tracked as u64).max(net);
        if tracked > max_keys as u64 {
            violations.push(FloodViolation::OverCap { requests: s.requests, tracked, max_keys });
        }
    }
    if let Some(last) = samples.last()
        && last.counters.created.checked_sub(last.counters.evicted) != Some(last.tracked as u64)
    {
        violations.push(FloodViolation::Inconsistent {
            tracked: last.tracked,
            created: last.counters.created,
            evicted: last.counters.evicted,
        });
    }
    let max_tracked = samples.iter().map(|s| s.tracked).max().unwrap_or(0);
    if max_tracked < max_keys {
        violations.push(FloodViolation::CapNotReached { max_tracked, max_keys });
    }
    violations
}

/// Checks what `result.policy` promises each side of the flood.
///
/// Every established client sends under its rate from a full bucket, so an
/// exact bucket never denies it. `DenyNewKeys` and `AdmitUntracked` never
/// touch a tracked bucket that is not idle, so its decisions stay exact.
/// `EvictFullest` may evict an established client's bucket, but the bucket
/// leaves a trace its key is decided from, so a client within its limit is
/// still never denied. Greedy clients send every few milliseconds, so their
/// buckets never turn idle: under every policy none may be allowed more
/// than an exact uncapped bucket allows it, and under `DenyNewKeys` and
/// `AdmitUntracked` each must be allowed exactly that. Every flood address
/// sends one request, within its own limit: `AdmitUntracked` allows them
/// all; `EvictFullest` admits them while it can evict without losing a
/// trace, so more than the cap held; `DenyNewKeys` denies newcomers while
/// the cap is full and tracks every one it allows.
pub(crate) fn check_policy(result: &FloodResult) -> Vec<FloodViolation> {
    let mut violations = Vec::new();
    if result.established.denied > 0 {
        violations.push(FloodViolation::EstablishedDenied {
            denied: result.established.denied,
            first: result.first_established_denial,
        });
    }
    let over: Vec<_> = result.greedy_mismatches.iter().filter(|(_, a, exact)| a > exact).collect();
    if let Some(&&first) = over.first() {
        violations.push(FloodViolation::GreedyOverExact {
            policy: result.policy,
            clients: over.len(),
            first,
        });
    }
    // Greedy clients send every few milliseconds, so their buckets are never
    // idle: only `EvictFullest` may evict one, and then only to a trace that
    // may be stricter if its fingerprint collides.
    if result.policy != WhenFull::EvictFullest
        && let Some(&first) = result.greedy_mismatches.first()
    {
        violations.push(FloodViolation::GreedyNotExact {
            policy: result.policy,
            clients: result.greedy_mismatches.len(),
            first,
        });
    }
    match result.policy {
        WhenFull::DenyNewKeys => {
            if result.newcomers.denied == 0 {
                violations.push(FloodViolation::NewcomersNeverDenied);
            }
            let created = result.samples.last().map_or(0, |s| s.counters.created);
            let established = u64::from(result.size.established + result.size.greedy);
            let for_newcomers = created.saturating_sub(established);
            if result.newcomers.allowed != for_newcomers {
                violations.push(FloodViolation::UntrackedNewcomers {
                    allowed: result.newcomers.allowed,
                    created: for_newcomers,
                });
            }
        }
        WhenFull::EvictFullest => {
            let established = u64::from(result.size.established + result.size.greedy);
            let room = (result.size.max_keys as u64).saturating_sub(established);
            if result.newcomers.allowed <= room {
                violations
                    .push(FloodViolation::NeverEvicted { allowed: result.newcomers.allowed, room });
            }
        }
        policy => {
            if result.newcomers.denied > 0 {
                violations.push(FloodViolation::NewcomersDenied {
                    policy,
                    denied: result.newcomers.denied,
                });
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use limiter_core::Counters;

    use super::*;
    use crate::flood::{FloodSize, PeakSource, Tally};

    /// A flood small enough for the checks' tests.
    const TINY: FloodSize = FloodSize {
        per_family: 3000,
        max_keys: 500,
        established: 10,
        greedy: 2,
        sample_every: 500,
    };

    fn counters(created: u64, evicted: u64) -> Counters {
        let mut counters = Counters::default();
        counters.created = created;
        counters.evicted = evicted;
        counters
    }

    fn sample(requests: u64, tracked: usize, created: u64, evicted: u64) -> Sample {
        Sample { requests, tracked, counters: counters(created, evicted), rss: None }
    }

    #[test]
    fn the_cap_check_catches_every_kind_of_breach() {
        let good = [sample(0, 10, 10, 0), sample(100, 100, 150, 50), sample(200, 100, 300, 200)];
        assert_eq!(check_cap(100, &good), []);

        let over = [sample(0, 10, 10, 0), sample(100, 101, 101, 0), sample(200, 100, 300, 200)];
        assert_eq!(
            check_cap(100, &over),
            [FloodViolation::OverCap { requests: 100, tracked: 101, max_keys: 100 }]
        );
        // The counters alone can show the breach, between two looks at len().
        let counted =
            [sample(0, 100, 100, 0), sample(100, 100, 160, 50), sample(200, 100, 300, 200)];
        assert_eq!(
            check_cap(100, &counted),
            [FloodViolation::OverCap { requests: 100, tracked: 110, max_keys: 100 }]
        );
        let inconsistent = [sample(0, 100, 100, 0), sample(100, 99, 300, 200)];
        assert_eq!(
            check_cap(100, &inconsistent),
            [FloodViolation::Inconsistent { tracked: 99, created: 300, evicted: 200 }]
        );
        let short = [sample(0, 10, 10, 0), sample(100, 60, 60, 0)];
        assert_eq!(
            check_cap(100, &short),
            [FloodViolation::CapNotReached { max_tracked: 60, max_keys: 100 }]
        );
        assert_eq!(
            check_cap(100, &over)[0].to_string(),
            "over the cap: 101 keys tracked after 100 requests, at most 100"
        );
    }

    fn fake(policy: WhenFull, established: Tally, newcomers: Tally, created: u64) -> FloodResult {
        FloodResult {
            policy,
            threads: 1,
            size: TINY,
            requests: 6000,
            flood_keys: 6000,
            samples: vec![sample(6000, 500, created, created.saturating_sub(500))],
            established,
            greedy: Tally { allowed: 20, denied: 100 },
            greedy_exact: 20,
            greedy_mismatches: Vec::new(),
            newcomers,
            first_established_denial: None,
            rss_before: Some(1 << 20),
            rss_peak: Some((1 << 20, PeakSource::HighWaterMark)),
            elapsed: Duration::from_millis(1),
            violations: Vec::new(),
        }
    }

    #[test]
    fn the_policy_check_holds_each_policy_to_its_promise() {
        let fine = Tally { allowed: 60, denied: 0 };
        let all_in = Tally { allowed: 6000, denied: 0 };
        let shut_out = Tally { allowed: 490, denied: 5510 };
        assert_eq!(check_policy(&fake(WhenFull::EvictFullest, fine, all_in, 6010)), []);
        assert_eq!(check_policy(&fake(WhenFull::AdmitUntracked, fine, all_in, 510)), []);
        assert_eq!(check_policy(&fake(WhenFull::DenyNewKeys, fine, shut_out, 502)), []);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for policy in [WhenFull::DenyNewKeys, WhenFull::AdmitUntracked] {
            let mut result = fake(policy, fine, shut_out, 502);
            result.greedy_mismatches = vec![(ip, 12, 11)];
            assert_eq!(
                check_policy(&result)[..2],
                [
                    FloodViolation::GreedyOverExact { policy, clients: 1, first: (ip, 12, 11) },
                    FloodViolation::GreedyNotExact { policy, clients: 1, first: (ip, 12, 11) }
                ]
            );
            result.greedy_mismatches = vec![(ip, 10, 11)];
            assert_eq!(
                check_policy(&result)[0],
                FloodViolation::GreedyNotExact { policy, clients: 1, first: (ip, 10, 11) }
            );
        }
        let mut result = fake(WhenFull::EvictFullest, fine, all_in, 6010);
        result.greedy_mismatches = vec![(ip, 12, 11), (ip, 10, 11)];
        let violations = check_policy(&result);
        let policy = WhenFull::EvictFullest;
        assert_eq!(
            violations,
            [FloodViolation::GreedyOverExact { policy, clients: 1, first: (ip, 12, 11) }],
            "EvictFullest may be stricter than an exact bucket, never looser"
        );
        assert_eq!(
            violations[0].to_string(),
            "EvictFullest allowed 1 greedy clients more than an exact bucket: first 192.0.2.9 \
             allowed 12, an exact bucket 11"
        );

        let hurt = Tally { allowed: 58, denied: 2 };
        let mut result = fake(WhenFull::DenyNewKeys, hurt, shut_out, 502);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        result.first_established_denial = Some((ip, Nanos::new(7000)));
        let violations = check_policy(&result);
        assert_eq!(
            violations,
            [FloodViolation::EstablishedDenied { denied: 2, first: Some((ip, Nanos::new(7000))) }]
        );
        assert_eq!(
            violations[0].to_string(),
            "2 requests of established clients within their limit denied, first 192.0.2.1 at 7000 ns"
        );
        let some_out = Tally { allowed: 5990, denied: 10 };
        assert_eq!(
            check_policy(&fake(WhenFull::AdmitUntracked, fine, some_out, 510)),
            [FloodViolation::NewcomersDenied { policy: WhenFull::AdmitUntracked, denied: 10 }]
        );
        // EvictFullest denies newcomers once no bucket can leave a trace, but
        // must have evicted to admit more than the cap held (500 - 12).
        assert_eq!(check_policy(&fake(WhenFull::EvictFullest, fine, some_out, 6000)), []);
        assert_eq!(check_policy(&fake(WhenFull::EvictFullest, fine, shut_out, 502)), []);
        let never = Tally { allowed: 488, denied: 5512 };
        assert_eq!(
            check_policy(&fake(WhenFull::EvictFullest, fine, never, 500)),
            [FloodViolation::NeverEvicted { allowed: 488, room: 488 }]
        );
        assert_eq!(
            check_policy(&fake(WhenFull::DenyNewKeys, fine, all_in, 6012)),
            [FloodViolation::NewcomersNeverDenied]
        );
        assert_eq!(
            check_policy(&fake(WhenFull::DenyNewKeys, fine, shut_out, 402)),
            [FloodViolation::UntrackedNewcomers { allowed: 490, created: 390 }]
        );
    }

    #[test]
    fn the_memory_check_holds_the_stated_bound() {
        let fine = Tally { allowed: 60, denied: 0 };
        let all_in = Tally { allowed: 6000, denied: 0 };
        let mut result = fake(WhenFull::EvictFullest, fine, all_in, 6010);
        result.rss_peak = Some(((1 << 20) + 500 * MAX_BYTES_PER_SLOT, PeakSource::Sampled));
        assert_eq!(check(&result), []);
        result.rss_peak = Some(((1 << 20) + 500 * MAX_BYTES_PER_SLOT + 500, PeakSource::Sampled));
        assert_eq!(
            check(&result),
            [FloodViolation::Memory { bytes_per_slot: 257.0, bound: MAX_BYTES_PER_SLOT }]
        );
    }
}
