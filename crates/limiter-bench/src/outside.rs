//! Issue #23's outside benchmark, reproduced: 100k IPv4 addresses each
//! checked once, then checks in a uniformly random order drawn from a
//! SplitMix64 sequence prepared before timing, with a fresh limiter per
//! repetition and the median of the repetitions.
//!
//! Besides that shape as the issue gives it (`RateLimiter::new(10, 5.0)`,
//! `allow_ip`, each library's default clock), [`Variant`] changes one
//! thing at a time towards the suite's "100k IPv4 uniform, 1 thread" rows,
//! so that one run shows which of them moves the ratio to governor.

use std::hash::BuildHasher;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Instant;

use governor::clock::DefaultClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use limiter_core::Nanos;
use limiter_testkit::ThreadClock;

use crate::error::BenchError;
use crate::floor::Floor;
use crate::measure::median;
use crate::quota::Quota;
use crate::shape::{Shape, Sizes, Workload};

/// How much the outside benchmark does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutsideSizes {
    /// Addresses, each checked once before timing.
    pub keys: usize,
    /// Timed checks per repetition.
    pub checks: usize,
    /// Repetitions, each with fresh limiters; the median is reported.
    pub reps: usize,
}

impl OutsideSizes {
    /// The sizes.
    pub const FULL: OutsideSizes = OutsideSizes { keys: 100_000, checks: 2_000_000, reps: 5 };

    /// Fewer, shorter repetitions over the same keys.
    pub const QUICK: OutsideSizes = OutsideSizes { checks: 500_000, reps: 3, ..Self::FULL };
}

/// One way of running the shape: the issue's, or one step towards the
/// suite's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// As the issue gives it: 10 tokens at 5/s, each key checked once (9
    /// tokens left), default clocks.
    Outside,
    /// Each key drained first (the suite's `10, 5/s` rows): every timed
    /// check is denied.
    Drained,
    /// The suite's allow-all quota: every timed check is allowed.
    AllowAll,
    /// The state, at explicit times 100 ns apart (governor through
    /// a thread-local clock).
    Explicit,
    /// The state, but the keys and the request sequence of the
    /// suite's row (`rand` addresses, a 17-byte `IpAddr` per request read
    /// in sequence, rather than a `u32` index into the keys).
    SuiteRequests,
    /// The state, timing only the first 300k checks: the suite's
    /// sample.
    Short,
    /// As [`Variant::Short`], after a 64 MiB buffer (twice the last-level
    /// cache) is written between the keys' first checks and the timing, so
    /// each limiter starts cold, as a kept limiter does in the suite after
    /// the other implementations' samples.
    ShortCold,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 7] = [
        Variant::Outside,
        Variant::Drained,
        Variant::AllowAll,
        Variant::Explicit,
        Variant::SuiteRequests,
        Variant::Short,
        Variant::ShortCold,
    ];

    /// The variant's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Outside => "as the issue: touched once, SplitMix64 order, default clocks",
            Variant::Drained => "keys drained first (all denied)",
            Variant::AllowAll => "allow-all quota (all allowed)",
            Variant::Explicit => "explicit times, 100 ns apart",
            Variant::SuiteRequests => "the suite's keys and request array",
            Variant::Short => "the first 300k checks only",
            Variant::ShortCold => "the first 300k checks, caches evicted first",
        }
    }

    fn quota(self) -> Quota {
        if self == Variant::AllowAll { Quota::ALLOW_ALL } else { Quota::SEED }
    }

    /// The cost of each key's one check before timing.
    fn first_cost(self) -> u32 {
        if self == Variant::Drained { Quota::SEED.capacity } else { 1 }
    }

    /// The checks timed, at most.
    fn checks(self) -> usize {
        if matches!(self, Variant::Short | Variant::ShortCold) { SHORT_CHECKS } else { usize::MAX }
    }
}

/// The checks [`Variant::Short`] times: the suite's sample.
const SHORT_CHECKS: usize = 300_000;

/// The bytes [`Variant::ShortCold`] writes to evict the caches.
const EVICT_BYTES: usize = 64 << 20;

/// Writes one word in every cache line of `buffer`, pushing whatever the
/// caches held before out to memory.
fn evict(buffer: &mut [u64]) {
    for word in buffer.iter_mut().step_by(8) {
        *word = word.wrapping_add(1);
    }
    black_box(buffer);
}

impl Variant {}

/// One variant's figures: ns per check and the share allowed, for ours,
/// governor, governor with foldhash and the floor.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideRow {
    /// Which variant.
    pub variant: Variant,
    /// Median ns per check of ours, governor, governor with foldhash, floor.
    pub ns: [f64; 4],
    /// The share of ours' timed checks allowed.
    pub allowed: f64,
}

/// The next value of the SplitMix64 sequence at `state`.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The keys and the timed order, as indices into the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    keys: Vec<IpAddr>,
    order: Vec<u32>,
}

impl Plan {
    /// `sizes.keys` distinct IPv4 addresses and `sizes.checks` indices,
    /// all from one SplitMix64 sequence started at `seed`.
    fn new(sizes: &OutsideSizes, seed: u64) -> Plan {
        let mut state = seed;
        let mut seen = std::collections::HashSet::with_capacity(sizes.keys);
        let mut keys = Vec::with_capacity(sizes.keys);
        while keys.len() < sizes.keys {
            let bits = splitmix64(&mut state) as u32;
            if seen.insert(bits) {
                keys.push(IpAddr::V4(Ipv4Addr::from_bits(bits)));
            }
        }
        let n = keys.len() as u64;
        let order = (0..sizes.checks).map(|_| (splitmix64(&mut state) % n) as u32).collect();
        Plan { keys, order }
    }
}

/// governor's keyed limiter with foldhash's hasher, on its default clock.
type GovernorFold = governor::RateLimiter<
    IpAddr,
    DashMapStateStore<IpAddr, foldhash::fast::RandomState>,
    DefaultClock,
    NoOpMiddleware<<DefaultClock as governor::clock::Clock>::Instant>,
>;

/// Measures every variant; `progress` gets a line per variant.
///
/// # Errors
///
/// A [`BenchError`] if limiter-core rejects a quota.
pub fn run_outside(
    sizes: &OutsideSizes,
    seed: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<OutsideRow>, BenchError> {
    let plan = Plan::new(sizes, seed);
    let suite_sizes = Sizes { requests: sizes.checks, uniform_keys: sizes.keys, ..Sizes::FULL };
    let suite = Workload::new(Shape::Uniform { threads: 1 }, &suite_sizes, seed);
    let mut rows = Vec::new();
    for variant in Variant::ALL {
        let row = if variant == Variant::SuiteRequests {
            let requests = &suite.requests[0];
            measure(variant, sizes.reps, &suite.keys, || requests.iter().copied())?
        } else {
            measure(variant, sizes.reps, &plan.keys, || {
                plan.order.iter().map(|&i| plan.keys[i as usize])
            })?
        };
        progress(&format!(
            "outside | {}: ours {:.1} ns, governor {:.1} ns, governor+foldhash {:.1} ns, floor {:.1} ns",
            variant.label(),
            row.ns[0],
            row.ns[1],
            row.ns[2],
            row.ns[3],
        ));
        rows.push(row);
    }
    Ok(rows)
}

/// Times the four implementations on `variant`, `reps` times each with
/// fresh limiters, in rotating order.
fn measure<I: Iterator<Item = IpAddr>>(
    variant: Variant,
    reps: usize,
    keys: &[IpAddr],
    all: impl Fn() -> I,
) -> Result<OutsideRow, BenchError> {
    let order = || all().take(variant.checks());
    let mut buffer = (variant == Variant::ShortCold).then(|| vec![0u64; EVICT_BYTES / 8]);
    let mut cold = || {
        if let Some(buffer) = buffer.as_mut() {
            evict(buffer);
        }
    };
    let quota = variant.quota();
    let first = variant.first_cost();
    let explicit = variant == Variant::Explicit;
    let mut ns: [Vec<f64>; 4] = Default::default();
    let (mut allowed, mut sent) = (0, 0);
    for rep in 0..reps {
        for k in 0..4 {
            let which = (rep + k) % 4;
            let (time, passed) = match which {
                0 => {
                    let ours = quota.ours()?;
                    let cost = u64::from(first);
                    if explicit {
                        for &ip in keys {
                            let _ = ours.check_n_at(ip, cost, Nanos::new(START_NS));
                        }
                        timed(order(), &mut cold, |ip, now| {
                            ours.check_n_at(ip, 1, Nanos::new(now)).is_allowed()
                        })
                    } else {
                        for &ip in keys {
                            let _ = ours.check_n(ip, cost);
                        }
                        timed(order(), &mut cold, |ip, _| ours.allow_ip(ip))
                    }
                }
                1 if explicit => {
                    ThreadClock::set(0);
                    let governor =
                        governor::RateLimiter::dashmap_with_clock(quota.governor(), ThreadClock);
                    let first = NonZeroU32::new(first).expect("a cost of at least 1");
                    ThreadClock::set(START_NS);
                    for ip in keys {
                        let _ = governor.check_key_n(ip, first);
                    }
                    timed(order(), &mut cold, |ip, now| {
                        ThreadClock::set(now);
                        governor.check_key(&ip).is_ok()
                    })
                }
                1 => {
                    let governor =
                        governor::DefaultKeyedRateLimiter::<IpAddr>::keyed(quota.governor());
                    touch_governor(&governor, keys, first);
                    timed(order(), &mut cold, |ip, _| governor.check_key(&ip).is_ok())
                }
                2 => {
                    // At explicit times too, governor with foldhash reads its
                    // default clock: the row compares the hasher, not clocks.
                    let governor: GovernorFold = governor::RateLimiter::dashmap_with_hasher(
                        quota.governor(),
                        foldhash::fast::RandomState::default(),
                    );
                    touch_governor(&governor, keys, first);
                    timed(order(), &mut cold, |ip, _| governor.check_key(&ip).is_ok())
                }
                _ => {
                    let floor = Floor::with_keys(quota, keys.len());
                    for &ip in keys {
                        floor.check_n_at(ip, u64::from(first), START_NS);
                    }
                    timed(order(), &mut cold, |ip, now| floor.check_n_at(ip, 1, now))
                }
            };
            ns[which].push(time);
            if which == 0 {
                allowed += passed;
                sent += order().count() as u64;
            }
        }
    }
    Ok(OutsideRow {
        variant,
        ns: ns.map(|samples| median(&samples)),
        allowed: allowed as f64 / sent.max(1) as f64,
    })
}

/// Where explicit times start; each timed check is 100 ns after the last.
const START_NS: u64 = 1_000_000_000;

/// Checks each key once at `cost` on a governor limiter with hasher `S`.
fn touch_governor<S: BuildHasher + Clone + Default>(
    governor: &governor::RateLimiter<
        IpAddr,
        DashMapStateStore<IpAddr, S>,
        DefaultClock,
        NoOpMiddleware<<DefaultClock as governor::clock::Clock>::Instant>,
    >,
    keys: &[IpAddr],
    cost: u32,
) {
    let cost = NonZeroU32::new(cost).expect("a cost of at least 1");
    for ip in keys {
        let _ = governor.check_key_n(ip, cost);
    }
}

/// Calls `before`, then sends every address of `order` to `check` with its
/// explicit time; returns ns per check and how many were allowed.
#[inline(never)]
fn timed(
    order: impl Iterator<Item = IpAddr>,
    before: &mut dyn FnMut(),
    mut check: impl FnMut(IpAddr, u64) -> bool,
) -> (f64, u64) {
    before();
    let mut allowed = 0;
    let mut sent = 0u64;
    let mut now = START_NS;
    let begin = Instant::now();
    for ip in order {
        now += 100;
        allowed += u64::from(black_box(check(ip, now)));
        sent += 1;
    }
    let elapsed = begin.elapsed();
    (elapsed.as_secs_f64() * 1e9 / sent.max(1) as f64, allowed)
}

/// The outside benchmark's table, in markdown.
pub fn render_outside(rows: &[OutsideRow], sizes: &OutsideSizes) -> String {
    let mut out = format!(
        "Issue #23's outside shape: {} IPv4 addresses checked once each, then {} checks in a \
         SplitMix64-uniform order prepared before timing; fresh limiters per repetition, median \
         of {}. Governor with foldhash reads its default clock in every row; the floor reads no \
         clock (explicit times).\n\n",
        crate::shape::count(sizes.keys),
        crate::shape::count(sizes.checks),
        sizes.reps,
    );
    out.push_str(
        "| variant | ours | governor | gov+foldhash | floor | ours/gov | ours/gov+fh | ours/floor | ours allowed |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let [ours, gov, fold, floor] = row.ns;
        out.push_str(&format!(
            "| {} | {ours:.1} ns | {gov:.1} ns | {fold:.1} ns | {floor:.1} ns | {:.2}× | {:.2}× | {:.2}× | {:.1}% |\n",
            row.variant.label(),
            ours / gov,
            ours / fold,
            ours / floor,
            row.allowed * 100.0,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_its_reference_values() {
        // The first outputs from state 0 in Vigna's reference code.
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut state), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn a_plan_has_distinct_keys_and_indices_within_them() {
        let sizes = OutsideSizes { keys: 1_000, checks: 5_000, reps: 1 };
        let plan = Plan::new(&sizes, 7);
        let distinct: std::collections::HashSet<_> = plan.keys.iter().collect();
        assert_eq!((distinct.len(), plan.order.len()), (1_000, 5_000));
        assert!(plan.order.iter().all(|&i| (i as usize) < 1_000));
        assert_eq!(plan, Plan::new(&sizes, 7));
    }

    #[test]
    fn every_variant_decides_alike_across_implementations() {
        let sizes = OutsideSizes { keys: 200, checks: 2_000, reps: 1 };
        let rows = run_outside(&sizes, 3, &mut |_| {}).unwrap();
        assert_eq!(rows.len(), Variant::ALL.len());
        for row in &rows {
            assert!(row.ns.iter().all(|ns| ns.is_finite() && *ns > 0.0), "{row:?}");
            match row.variant {
                Variant::Drained => assert_eq!(row.allowed, 0.0),
                Variant::AllowAll => assert_eq!(row.allowed, 1.0),
                // 9 tokens left per key, 10 checks per key on average: most
                // pass, not all (2000 checks take well under 200 ms).
                _ => assert!(row.allowed > 0.5 && row.allowed < 1.0, "{row:?}"),
            }
        }
        let table = render_outside(&rows, &sizes);
        assert_eq!(table.lines().filter(|l| l.starts_with("| ")).count(), 1 + rows.len());
    }
}
