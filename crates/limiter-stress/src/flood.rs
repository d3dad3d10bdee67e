//! The flood workload: millions of new addresses against a limiter with a key
//! cap, in trace time, once per [`WhenFull`] policy.
//!
//! Request number `i` of the trace is stamped `(i + 1)` µs, a million requests
//! per simulated second, and sent with `check_at`, so a run's outcome does
//! not depend on how fast the machine is. The trace is made of blocks of
//! `established_every` requests: the first comes from one of a fixed set of
//! steady established clients, in turn, each of which sends four requests a
//! simulated second, under the quota's five; the middle one from one of a few
//! greedy established clients, in turn, which send far above the quota; every
//! other request comes from a flood address seen once, alternately a new IPv4
//! address and a new address in one IPv6 /64. Every established client has a
//! bucket before the flood starts. The run samples the tracked keys, the
//! counters and the resident memory every `sample_every` requests, and checks
//! the cap, the memory bound and what the policy promises each side.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use limiter_core::{Counters, Eviction, ManualClock, Nanos, Rate, RateLimiter, WhenFull};

pub(crate) use self::check::{FloodViolation, check};
use crate::workload::scramble32;

mod check;
mod json;

/// Simulated nanoseconds between two requests: a million requests a second.
pub(crate) const SPACING_NS: u64 = 1_000;
/// The flood's quota: 10 tokens refilled at 5 a second.
pub(crate) const CAPACITY: u64 = 10;
/// The flood's refill rate, tokens per second.
pub(crate) const RATE_PER_SEC: u64 = 5;
/// Simulated time between two requests of one established client: 250 ms, so
/// each sends 4 a second, under the rate of 5.
pub(crate) const CLIENT_PERIOD_NS: u64 = 250_000_000;
/// The bound the memory check holds a run to, in bytes per key the cap allows.
///
/// A tracked key is a table slot of 24 bytes (IPv4: a `u32` key and two
/// `u64` atomics) or 32 (IPv6: a 16-byte key). A shard grows by at most half
/// once 13/16 of its slots are in use, so it holds at most 16/13 · 3/2 ≈ 1.85
/// slots per key; the IPv4 and IPv6 tables are apart and may each have grown
/// for the whole cap: (24 + 32) · 1.85 ≈ 104 bytes. Growing never copies a
/// table (it adds a chunk and rehashes in place), and the list of one shard's
/// keys a rebuild makes is a small share of the cap. Under `EvictFullest`
/// the trace tables add 8 bytes per key of the cap in each family: 16. The
/// rest, to 256, is room for the allocator's headers and the resident set's
/// page granularity.
pub(crate) const MAX_BYTES_PER_SLOT: u64 = 256;
/// The policies, in the order the flood runs them.
pub(crate) const POLICIES: [WhenFull; 3] =
    [WhenFull::EvictFullest, WhenFull::DenyNewKeys, WhenFull::AdmitUntracked];
/// The IPv6 /64 every IPv6 flood address lies in.
pub(crate) const FLOOD_V6_NET: u128 = 0x2001_0db8_f10d_0001 << 64;
/// The IPv6 /48 of the established IPv6 clients, apart from the flood's.
const ESTABLISHED_V6_NET: u128 = 0x2001_0db8_00e5 << 80;

/// How big a flood is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FloodSize {
    /// New IPv4 addresses, and as many new IPv6 addresses in one /64.
    pub(crate) per_family: u64,
    /// The limiter's key cap.
    pub(crate) max_keys: usize,
    /// Clients with a bucket before the flood starts, half IPv4, half IPv6,
    /// that send 4 requests a simulated second.
    pub(crate) established: u32,
    /// Clients with a bucket before the flood starts that send far more than
    /// their quota, one request each `greedy · established_every` µs.
    pub(crate) greedy: u32,
    /// Requests between two samples of the tracked keys, counters and memory.
    pub(crate) sample_every: u64,
}

impl FloodSize {
    /// 10M IPv4 and 10M IPv6 addresses against a cap of 100k.
    pub(crate) const FULL: FloodSize = FloodSize {
        per_family: 10_000_000,
        max_keys: 100_000,
        established: 1000,
        greedy: 25,
        sample_every: 100_000,
    };
    /// 200k and 200k against a cap of 10k: a few seconds.
    pub(crate) const QUICK: FloodSize = FloodSize {
        per_family: 200_000,
        max_keys: 10_000,
        established: 100,
        greedy: 10,
        sample_every: 10_000,
    };
}

/// The trace one flood sends: which address request `i` comes from and when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloodTrace {
    flood: u64,
    established: u32,
    greedy: u32,
    /// The length of a block: its first request is a steady client's, its
    /// middle one a greedy client's. Even, so that on two threads every
    /// greedy request falls to one of them, in order.
    established_every: u64,
}

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// Steady established client number `n`.
    Established(u32),
    /// Greedy established client number `n`.
    Greedy(u32),
    /// Flood address number `n`: IPv4 when even, IPv6 when odd.
    Flood(u64),
}

impl FloodTrace {
    pub(crate) fn new(size: FloodSize) -> FloodTrace {
        let established = size.established.max(1);
        let every = (CLIENT_PERIOD_NS / SPACING_NS / u64::from(established)).max(4);
        FloodTrace {
            flood: 2 * size.per_family,
            established,
            greedy: size.greedy.max(1),
            established_every: every & !1,
        }
    }

    /// The number of requests: every flood address once, and the established
    /// clients' requests among them, ending on a flood request.
    pub(crate) fn len(&self) -> u64 {
        // Each block holds `established_every - 2` flood requests.
        let (every, middle) = (self.established_every, self.established_every / 2);
        let (blocks, rest) = (self.flood / (every - 2), self.flood % (every - 2));
        blocks * every
            + match rest {
                0 => 0,
                rest if rest < middle => rest + 1,
                rest => rest + 2,
            }
    }

    /// Who sends request `i`.
    pub(crate) fn sender(&self, i: u64) -> Sender {
        let (every, middle) = (self.established_every, self.established_every / 2);
        let (block, at) = (i / every, i % every);
        if at == 0 {
            Sender::Established((block % u64::from(self.established)) as u32)
        } else if at == middle {
            Sender::Greedy((block % u64::from(self.greedy)) as u32)
        } else {
            Sender::Flood(block * (every - 2) + at - 1 - u64::from(at > middle))
        }
    }

    /// The numbers of the greedy clients' requests, in order.
    pub(crate) fn greedy_requests(&self) -> impl Iterator<Item = u64> + '_ {
        let len = self.len();
        (self.established_every / 2..len).step_by(self.established_every as usize)
    }

    pub(crate) fn greedy_ip(&self, n: u32) -> IpAddr {
        if n.is_multiple_of(2) {
            // Below the steady clients' numbers, still far above the flood's.
            IpAddr::V4(Ipv4Addr::from_bits(scramble32(u32::MAX - (1 << 16) - n)))
        } else {
            IpAddr::V6(Ipv6Addr::from_bits(ESTABLISHED_V6_NET | 1 << 32 | u128::from(n)))
        }
    }

    /// The time request `i` is stamped with.
    pub(crate) fn time(i: u64) -> Nanos {
        Nanos::new((i + 1) * SPACING_NS)
    }

    pub(crate) fn established_ip(&self, n: u32) -> IpAddr {
        if n.is_multiple_of(2) {
            // From the top of the bijection's range, which the flood never reaches.
            IpAddr::V4(Ipv4Addr::from_bits(scramble32(u32::MAX - n)))
        } else {
            IpAddr::V6(Ipv6Addr::from_bits(ESTABLISHED_V6_NET | u128::from(n)))
        }
    }
}

/// Requests a simulated second each greedy client sends.
pub(crate) fn greedy_rate(size: FloodSize) -> u64 {
    let trace = FloodTrace::new(size);
    1_000_000_000 / (SPACING_NS * trace.established_every * u64::from(trace.greedy))
}

/// Flood address number `n`: distinct for distinct `n`, and from every
/// established client's address.
pub(crate) fn flood_ip(n: u64) -> IpAddr {
    let number = n / 2;
    if n.is_multiple_of(2) {
        IpAddr::V4(Ipv4Addr::from_bits(scramble32(number as u32)))
    } else {
        IpAddr::V6(Ipv6Addr::from_bits(FLOOD_V6_NET | u128::from(scramble64(number))))
    }
}

/// A bijection of `u64`, SplitMix64's finaliser.
fn scramble64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The tracked keys, counters and memory at one moment of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Requests sent so far.
    pub(crate) requests: u64,
    /// `len()`.
    pub(crate) tracked: usize,
    pub(crate) counters: Counters,
    /// Resident memory in bytes, if the system tells it.
    pub(crate) rss: Option<u64>,
}

/// What one flood run did.
#[derive(Debug, Clone)]
pub(crate) struct FloodResult {
    pub(crate) policy: WhenFull,
    pub(crate) threads: usize,
    pub(crate) size: FloodSize,
    pub(crate) requests: u64,
    pub(crate) flood_keys: u64,
    pub(crate) samples: Vec<Sample>,
    pub(crate) established: Tally,
    pub(crate) greedy: Tally,
    /// What an exact bucket with no cap allows the greedy clients, in all.
    pub(crate) greedy_exact: u64,
    /// Greedy clients allowed other than an exact bucket allows them:
    /// (address, allowed, exact).
    pub(crate) greedy_mismatches: Vec<(IpAddr, u64, u64)>,
    pub(crate) newcomers: Tally,
    /// The first established client denied, if any.
    pub(crate) first_established_denial: Option<(IpAddr, Nanos)>,
    /// Resident memory before the limiter was built.
    pub(crate) rss_before: Option<u64>,
    /// The highest resident memory during the run, and whether it is the
    /// kernel's high-water mark (`VmHWM`) or only the highest sample.
    pub(crate) rss_peak: Option<(u64, PeakSource)>,
    pub(crate) elapsed: Duration,
    pub(crate) violations: Vec<FloodViolation>,
}

/// Allowed and denied requests of one kind of sender.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) allowed: u64,
    pub(crate) denied: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.allowed += other.allowed;
        self.denied += other.denied;
    }
}

/// Where a run's peak memory figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeakSource {
    /// The kernel's high-water mark, reset before the run: exact.
    HighWaterMark,
    /// The highest of the samples: a transient peak between two may be missed.
    Sampled,
}

impl FloodResult {
    pub(crate) fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    pub(crate) fn max_tracked(&self) -> usize {
        self.samples.iter().map(|s| s.tracked).max().unwrap_or(0)
    }

    pub(crate) fn last(&self) -> Sample {
        *self.samples.last().expect("a run takes a final sample")
    }

    /// Peak resident memory minus resident memory before the limiter was built.
    pub(crate) fn rss_delta(&self) -> Option<u64> {
        Some(self.rss_peak?.0.saturating_sub(self.rss_before?))
    }

    pub(crate) fn bytes_per_slot(&self) -> Option<f64> {
        Some(self.rss_delta()? as f64 / self.size.max_keys as f64)
    }

    pub(crate) fn records_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends the flood of `size` to a fresh limiter under `policy` from `threads`
/// threads, and checks the outcome.
///
/// Thread `t` of `n` sends the requests whose number is `t` modulo `n`, in
/// order, so each thread's times rise; the threads meet at a barrier every
/// `sample_every` requests, where one of them takes the sample while the
/// others wait, so a sample sees no request half done. No thread runs ahead
/// of another by more than one sample interval (100 ms of trace in the full
/// flood), under the 250 ms between two requests of one steady client, so
/// each steady client's requests arrive in order whichever thread sends them.
/// Greedy requests sit at the middle of blocks of even length, so on one or
/// two threads they all fall to one thread, in order, as `exact_greedy`
/// replays them.
pub(crate) fn run(size: FloodSize, policy: WhenFull, threads: usize) -> FloodResult {
    let trace = FloodTrace::new(size);
    let threads = threads.max(1);
    let rss_before = memory::resident();
    let hwm_reset = memory::reset_peak();
    let started = Instant::now();
    let limiter = RateLimiter::builder(CAPACITY, Rate::per_second(RATE_PER_SEC).expect("5/s"))
        .max_keys(size.max_keys)
        .when_full(policy)
        .build_with_clock(ManualClock::default())
        .expect("the flood's settings are valid");
    // The established clients take their first request before the flood.
    let mut established = Tally::default();
    for n in 0..trace.established {
        count(
            &mut established,
            limiter.check_at(trace.established_ip(n), Nanos::ZERO).is_allowed(),
        );
    }
    let mut greedy_allowed = vec![0; trace.greedy as usize];
    let mut greedy = Tally::default();
    for (n, allowed) in (0..trace.greedy).zip(&mut greedy_allowed) {
        let ok = limiter.check_at(trace.greedy_ip(n), Nanos::ZERO).is_allowed();
        *allowed += u64::from(ok);
        count(&mut greedy, ok);
    }
    let requests = trace.len();
    let mut samples = vec![sample(&limiter, 0)];
    let barrier = Barrier::new(threads);
    let chunks = requests.div_ceil(size.sample_every.max(1));
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads as u64)
            .map(|thread| {
                let (limiter, barrier) = (&limiter, &barrier);
                scope.spawn(move || {
                    let mut outcome = Outcome {
                        greedy_allowed: vec![0; trace.greedy as usize],
                        ..Outcome::default()
                    };
                    for chunk in 0..chunks {
                        let end = ((chunk + 1) * size.sample_every).min(requests);
                        let first = chunk * size.sample_every;
                        // The first request of this chunk that is this thread's.
                        let mut i = first
                            + (thread + threads as u64 - first % threads as u64) % threads as u64;
                        while i < end {
                            outcome.send(limiter, &trace, i);
                            i += threads as u64;
                        }
                        let leader = barrier.wait().is_leader();
                        if leader {
                            outcome.samples.push(sample(limiter, end));
                        }
                        barrier.wait();
                    }
                    outcome
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("flood workers do not panic")).collect()
    });
    let elapsed = started.elapsed();
    let mut result = FloodResult {
        policy,
        threads,
        size,
        requests: requests + u64::from(trace.established + trace.greedy),
        flood_keys: trace.flood,
        samples: Vec::new(),
        established,
        greedy,
        greedy_exact: 0,
        greedy_mismatches: Vec::new(),
        newcomers: Tally::default(),
        first_established_denial: None,
        rss_before,
        rss_peak: None,
        elapsed,
        violations: Vec::new(),
    };
    for outcome in outcomes {
        result.established += outcome.established;
        result.greedy += outcome.greedy;
        result.newcomers += outcome.newcomers;
        for (total, allowed) in greedy_allowed.iter_mut().zip(&outcome.greedy_allowed) {
            *total += allowed;
        }
        result.first_established_denial =
            result.first_established_denial.or(outcome.first_established_denial);
        samples.extend(outcome.samples);
    }
    samples.sort_by_key(|s| s.requests);
    let sampled_peak = samples.iter().filter_map(|s| s.rss).max();
    result.rss_peak = match (hwm_reset, memory::peak()) {
        (true, Some(hwm)) => Some((hwm.max(sampled_peak.unwrap_or(0)), PeakSource::HighWaterMark)),
        _ => sampled_peak.map(|peak| (peak, PeakSource::Sampled)),
    };
    result.samples = samples;
    drop(limiter);
    let exact = exact_greedy(&trace);
    result.greedy_exact = exact.iter().sum();
    result.greedy_mismatches = (0..trace.greedy)
        .zip(greedy_allowed.iter().zip(&exact))
        .filter(|(_, (allowed, exact))| allowed != exact)
        .map(|(n, (&allowed, &exact))| (trace.greedy_ip(n), allowed, exact))
        .collect();
    result.violations = check(&result);
    result
}

/// What an exact bucket allows each greedy client over the trace: the same
/// requests, in the same order, on a limiter with no cap that evicts nothing.
fn exact_greedy(trace: &FloodTrace) -> Vec<u64> {
    let limiter = RateLimiter::builder(CAPACITY, Rate::per_second(RATE_PER_SEC).expect("5/s"))
        .eviction(Eviction::Never)
        .build_with_clock(ManualClock::default())
        .expect("the flood's settings are valid");
    let mut allowed = vec![0; trace.greedy as usize];
    for (n, count) in (0..trace.greedy).zip(&mut allowed) {
        *count += u64::from(limiter.check_at(trace.greedy_ip(n), Nanos::ZERO).is_allowed());
    }
    for i in trace.greedy_requests() {
        let Sender::Greedy(n) = trace.sender(i) else { unreachable!("request {i} is greedy") };
        allowed[n as usize] +=
            u64::from(limiter.check_at(trace.greedy_ip(n), FloodTrace::time(i)).is_allowed());
    }
    allowed
}

/// One thread's tallies and samples.
#[derive(Debug, Default)]
struct Outcome {
    established: Tally,
    greedy: Tally,
    /// Per greedy client.
    greedy_allowed: Vec<u64>,
    newcomers: Tally,
    first_established_denial: Option<(IpAddr, Nanos)>,
    samples: Vec<Sample>,
}

impl Outcome {
    #[inline]
    fn send(&mut self, limiter: &RateLimiter<ManualClock>, trace: &FloodTrace, i: u64) {
        let at = FloodTrace::time(i);
        match trace.sender(i) {
            Sender::Established(n) => {
                let ip = trace.established_ip(n);
                let allowed = limiter.check_at(ip, at).is_allowed();
                count(&mut self.established, allowed);
                if !allowed {
                    self.first_established_denial.get_or_insert((ip, at));
                }
            }
            Sender::Greedy(n) => {
                let allowed = limiter.check_at(trace.greedy_ip(n), at).is_allowed();
                count(&mut self.greedy, allowed);
                self.greedy_allowed[n as usize] += u64::from(allowed);
            }
            Sender::Flood(n) => {
                count(&mut self.newcomers, limiter.check_at(flood_ip(n), at).is_allowed());
            }
        }
    }
}

fn count(tally: &mut Tally, allowed: bool) {
    if allowed {
        tally.allowed += 1;
    } else {
        tally.denied += 1;
    }
}

fn sample(limiter: &RateLimiter<ManualClock>, requests: u64) -> Sample {
    Sample {
        requests,
        tracked: limiter.len(),
        counters: limiter.counters(),
        rss: memory::resident(),
    }
}

/// The policy named `name` as `{:?}` prints it.
pub(crate) fn policy_named(name: &str) -> Option<WhenFull> {
    POLICIES.into_iter().find(|p| format!("{p:?}") == name)
}

/// Resident memory in bytes, if the system tells it.
pub(crate) fn resident_memory() -> Option<u64> {
    memory::resident()
}

/// Resident memory, from Linux's `/proc/self/status`.
mod memory {
    /// The resident set (`VmRSS`) in bytes.
    pub(crate) fn resident() -> Option<u64> {
        field("VmRSS:")
    }

    /// The resident set's high-water mark (`VmHWM`) in bytes.
    pub(crate) fn peak() -> Option<u64> {
        field("VmHWM:")
    }

    /// Resets the high-water mark to the current resident set; false if the
    /// system does not allow it (Linux before 4.0, or no `/proc`).
    pub(crate) fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// A `kB` field of `/proc/self/status`, in bytes.
    fn field(name: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib * 1024)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::check::{check_cap, check_policy};
    use super::*;

    /// A flood small enough for a debug build, long enough (0.3 s of trace)
    /// for every established client to send twice after its first request.
    const SMALL: FloodSize = FloodSize {
        per_family: 150_000,
        max_keys: 2000,
        established: 100,
        greedy: 5,
        sample_every: 5000,
    };

    #[test]
    fn flood_addresses_are_distinct_and_ipv6_ones_share_one_64() {
        let trace = FloodTrace::new(FloodSize::QUICK);
        let established: HashSet<IpAddr> = (0..FloodSize::QUICK.established)
            .map(|n| trace.established_ip(n))
            .chain((0..FloodSize::QUICK.greedy).map(|n| trace.greedy_ip(n)))
            .collect();
        assert_eq!(established.len(), 110);
        let mut seen = HashSet::new();
        for n in 0..2 * FloodSize::QUICK.per_family {
            let ip = flood_ip(n);
            assert!(seen.insert(ip), "flood address {n} ({ip}) repeats");
            assert!(!established.contains(&ip), "flood address {n} is an established client's");
            match ip {
                IpAddr::V4(_) => assert!(n.is_multiple_of(2), "{n}"),
                IpAddr::V6(v6) => {
                    assert_eq!(v6.to_bits() >> 64, FLOOD_V6_NET >> 64, "{ip} is outside the /64");
                    assert!(v6.to_ipv4_mapped().is_none(), "{ip} would be an IPv4 key");
                }
            }
        }
        // The high flood numbers, up to the full flood's, stay distinct too.
        let top = 2 * FloodSize::FULL.per_family;
        assert!((top - 1000..top).all(|n| seen.insert(flood_ip(n))));
        let v6_established = established.iter().filter(|ip| ip.is_ipv6()).count();
        assert_eq!(v6_established, 55, "half the established clients are IPv6");
    }

    #[test]
    fn the_trace_sends_every_flood_address_once_between_established_turns() {
        let trace = FloodTrace::new(SMALL);
        let (mut flood, mut turns) = (Vec::new(), vec![0u32; SMALL.established as usize]);
        let mut last_turn: Vec<Option<u64>> = vec![None; SMALL.established as usize];
        let mut greedy = Vec::new();
        for i in 0..trace.len() {
            match trace.sender(i) {
                Sender::Greedy(n) => greedy.push((i, n)),
                Sender::Flood(n) => flood.push(n),
                Sender::Established(n) => {
                    let at = FloodTrace::time(i).as_u64();
                    if let Some(before) = last_turn[n as usize] {
                        assert_eq!(at - before, CLIENT_PERIOD_NS, "client {n}'s period");
                    }
                    last_turn[n as usize] = Some(at);
                    turns[n as usize] += 1;
                }
            }
        }
        assert_eq!(flood, (0..2 * SMALL.per_family).collect::<Vec<_>>());
        assert!(matches!(trace.sender(trace.len() - 1), Sender::Flood(_)), "no trailing turn");
        assert!(turns.iter().all(|&t| t >= 1), "{turns:?}");
        assert!(turns.iter().filter(|&&t| t >= 2).count() >= 10, "{turns:?}");
        // Greedy clients take the middle of each block, in turn: 5 clients, a
        // block of 2500 µs, so each sends every 12.5 ms, 80 a second.
        let expected: Vec<(u64, u32)> = trace.greedy_requests().zip((0..5).cycle()).collect();
        assert_eq!(greedy, expected);
        assert_eq!(greedy[5].0 - greedy[0].0, 12_500);
        // Four requests per simulated second per client, under the rate of five.
        assert_eq!(CLIENT_PERIOD_NS * RATE_PER_SEC, 1_250_000_000);
    }

    #[test]
    fn real_floods_keep_the_cap_and_each_policy_on_one_and_two_threads() {
        for threads in [1, 2] {
            for policy in POLICIES {
                let result = run(SMALL, policy, threads);
                let what = format!("{policy:?} on {threads}");
                assert_eq!(check_cap(SMALL.max_keys, &result.samples), [], "{what}");
                assert_eq!(check_policy(&result), [], "{what}");
                assert_eq!(result.max_tracked(), SMALL.max_keys, "{what}");
                assert_eq!(result.newcomers.allowed + result.newcomers.denied, 300_000, "{what}");
                // The first request of each client, then its turns in the trace.
                let turns = FloodTrace::new(SMALL).len().div_ceil(2500);
                assert_eq!(result.established, Tally { allowed: 100 + turns, denied: 0 }, "{what}");
                // Evicted buckets leave traces: greedy clients stay exact.
                assert_eq!(result.greedy_mismatches, [], "{what}");
                let greedy_turns = FloodTrace::new(SMALL).greedy_requests().count() as u64;
                let greedy = result.greedy.allowed + result.greedy.denied;
                assert_eq!(greedy, 5 + greedy_turns, "{what}");
                assert!(result.greedy.denied > 0, "{what}: greedy clients are limited");
                // One sample before the flood, then one per 5000 requests, the last at the end.
                let trace_len = result.requests - 105;
                assert_eq!(result.samples.len() as u64, 1 + trace_len.div_ceil(5000), "{what}");
                let round_trip = FloodResult::from_json(&result.to_json()).expect("readable");
                assert_eq!(round_trip.samples, result.samples, "{what}");
                assert_eq!(
                    (round_trip.policy, round_trip.threads, round_trip.size),
                    (policy, threads, SMALL)
                );
                assert_eq!(
                    (round_trip.established, round_trip.newcomers, round_trip.rss_peak),
                    (result.established, result.newcomers, result.rss_peak)
                );
                assert_eq!(
                    (round_trip.greedy, round_trip.greedy_exact, &round_trip.greedy_mismatches),
                    (result.greedy, result.greedy_exact, &result.greedy_mismatches)
                );
                assert_eq!(round_trip.violations, result.violations, "{what}");
            }
        }
    }
}
