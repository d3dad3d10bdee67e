//! The load generator of `cargo xtask bench-redis`: limiter-redis against a
//! reference float GCRA script (like go-redis/redis_rate's) on one Redis.
//!
//! Usage: `bench [URL] [--secs S] [--row TEXT]`. Without a URL it starts a
//! `redis-server` of its own on a free loopback port (persistence off), as
//! the tests do, and stops it at the end. Prints a Markdown table and the
//! bytes per key; the xtask writes the table into BENCHMARKS.md. It flushes
//! the database it is given between rows.
//! The two engines of a row take turns in slices of an eighth of its time,
//! so that they see the same load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use limiter_core::Rate;
use limiter_redis::{FailurePolicy, RedisRateLimiter, Source};
use limiter_testkit::RedisServer;
use redis::aio::ConnectionManager;

use crate::reference::Reference;

mod reference;

/// Keys of the many-keys rows.
const KEYS: usize = 100_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Exact,
    Reference,
    ExactWithCache,
}

/// The quotas of the rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quota {
    /// 10⁹ tokens at 10⁹/s. The reference's 1 ns increment is lost in its
    /// float time (seconds since 2017, whose ulp is about 6·10⁻⁸ s), so it
    /// never stores a bucket at this rate: it reads and allows.
    AllowAll,
    /// 10⁹ tokens at 10⁶/s: allows every request too, and the reference
    /// stores its bucket on each, as an exact limiter must.
    AllowAllStored,
    /// One token an hour: denies from the first pass on.
    Denying,
}

#[derive(Clone, Copy)]
struct Row {
    engine: Engine,
    in_flight: usize,
    keys: usize,
    quota: Quota,
}

impl Default for Measured {
    fn default() -> Self {
        Measured {
            decisions: 0,
            allowed: 0,
            errors: 0,
            cache: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
        }
    }
}

struct Measured {
    decisions: u64,
    allowed: u64,
    errors: u64,
    cache: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A server of the bench's own unless a URL is given; stopped when dropped.
    let (url, _server) = match args.first().filter(|a| !a.starts_with("--")) {
        Some(url) => (url.clone(), None),
        None => {
            let server = RedisServer::start("bench-redis")
                .ok_or("redis-server is not installed (apt-get install -y redis-server)")?;
            (server.url(), Some(server))
        }
    };
    let secs: f64 = match args.iter().position(|a| a == "--secs") {
        Some(i) => args.get(i + 1).ok_or("--secs needs a number")?.parse()?,
        None => 2.0,
    };
    // `--row TEXT`: only the row pairs whose label (in flight, keys and
    // quota, as printed) contains TEXT, and nothing else; for a closer look.
    let only = args.iter().position(|a| a == "--row").and_then(|i| args.get(i + 1)).cloned();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(&url, Duration::from_secs_f64(secs), only.as_deref()))
}

async fn run(
    url: &str,
    span: Duration,
    only: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = redis::Client::open(url)?;
    let mut admin = ConnectionManager::new(client.clone()).await?;
    let names: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("k{i}")).collect());
    println!(
        "| engine | in flight | keys | quota | decisions/s | p50 µs | p99 µs | allowed | errors |"
    );
    println!("|---|---:|---|---|---:|---:|---:|---:|---:|");
    let mut round_trip_p50 = None;
    let mut cached_p50 = None;
    for quota in [Quota::AllowAll, Quota::AllowAllStored, Quota::Denying] {
        for keys in [1, KEYS] {
            for in_flight in [1, 64] {
                let rows = [Engine::Exact, Engine::Reference].map(|engine| Row {
                    engine,
                    in_flight,
                    keys,
                    quota,
                });
                if only.is_some_and(|only| !label(rows[0]).contains(only)) {
                    continue;
                }
                let measured = measure(url, &client, &mut admin, &rows, &names, span).await?;
                for (row, m) in rows.iter().zip(&measured) {
                    print_row(*row, m);
                    let denying = quota == Quota::Denying;
                    if row.engine == Engine::Exact && denying && keys == 1 && in_flight == 1 {
                        round_trip_p50 = Some(m.latency.value_at_quantile(0.5));
                    }
                }
            }
        }
    }
    if only.is_some() {
        return Ok(());
    }
    let mut notes = Vec::new();
    for in_flight in [1, 64] {
        let row = Row { engine: Engine::ExactWithCache, in_flight, keys: 1, quota: Quota::Denying };
        let m = measure(url, &client, &mut admin, &[row], &names, span).await?.remove(0);
        print_row(row, &m);
        if in_flight == 1 {
            cached_p50 = Some(m.latency.value_at_quantile(0.5));
        }
        notes.push(format!(
            "Deny cache, {in_flight} in flight: {} of {} hot-key denials answered locally.",
            m.cache, m.decisions
        ));
    }
    println!();
    for note in notes {
        println!("{note}");
    }
    if let (Some(trip), Some(cached)) = (round_trip_p50, cached_p50) {
        println!(
            "A denied hot key from the deny cache: p50 {:.3} µs against a round trip's {:.1} µs ({:.0}x).",
            cached as f64 / 1000.0,
            trip as f64 / 1000.0,
            trip as f64 / cached.max(1) as f64
        );
    }
    memory(url, &mut admin).await?;
    Ok(())
}

fn print_row(row: Row, m: &Measured) {
    let engine = match row.engine {
        Engine::Exact => "limiter-redis",
        Engine::Reference => "reference GCRA (float)",
        Engine::ExactWithCache => "limiter-redis + deny cache",
    };
    let rate = m.decisions as f64 / m.elapsed.as_secs_f64();
    let us = |q: f64| m.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {engine} | {} | {rate:.0} | {:.1} | {:.1} | {:.1}% | {} |",
        label(row),
        us(0.5),
        us(0.99),
        100.0 * m.allowed as f64 / m.decisions.max(1) as f64,
        m.errors
    );
}

/// A row's number in flight, keys and quota, as the table's columns.
fn label(row: Row) -> String {
    let keys = if row.keys == 1 { "1 hot".to_owned() } else { format!("{}k", row.keys / 1000) };
    let quota = match row.quota {
        Quota::AllowAll => "allow-all (10⁹, 10⁹/s)",
        Quota::AllowAllStored => "allow-all (10⁹, 10⁶/s)",
        Quota::Denying => "denying (1, 1/h)",
    };
    format!("{} | {keys} | {quota}", row.in_flight)
}

/// The quota of a row: (capacity, rate).
fn quota(quota: Quota) -> (u64, Rate) {
    match quota {
        Quota::AllowAll => (1_000_000_000, Rate::MAX),
        Quota::AllowAllStored => (1_000_000_000, Rate::per_second(1_000_000).unwrap()),
        Quota::Denying => (1, Rate::per_hour(1).unwrap()),
    }
}

/// Slices of a row: the rows measured together take turns, a slice each and
/// each first in every other turn, so that a shared machine's changing load
/// falls on all of them alike.
const SLICES: u32 = 8;

/// Measures `rows` (one quota, key set and number in flight) for `span` each,
/// in turns of `span / SLICES`, on one fresh database.
async fn measure(
    url: &str,
    client: &redis::Client,
    admin: &mut ConnectionManager,
    rows: &[Row],
    names: &Arc<Vec<String>>,
    span: Duration,
) -> Result<Vec<Measured>, Box<dyn std::error::Error>> {
    redis::cmd("FLUSHALL").query_async::<()>(admin).await?;
    let (capacity, rate) = quota(rows[0].quota);
    let mut builder = RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny);
    builder.prefix("bench").deadline(Duration::from_secs(1));
    if rows.iter().any(|row| row.engine == Engine::ExactWithCache) {
        builder.deny_cache(KEYS);
    }
    let limiter = Arc::new(builder.connect(url).await?);
    let reference = Reference::new(ConnectionManager::new(client.clone()).await?);
    let keys = if rows[0].keys == 1 { Arc::new(vec!["hot".to_owned()]) } else { Arc::clone(names) };
    // A denying quota denies from the first pass on: drain every key first.
    if rows[0].quota == Quota::Denying {
        for &row in rows {
            let _ = drive(&limiter, &reference, row, &keys, Some(keys.len()), Duration::MAX).await;
        }
    }
    let errors_before = limiter.counters().errors;
    let cache_before = limiter.counters().cache_answers;
    let mut out: Vec<Measured> = rows.iter().map(|_| Measured::default()).collect();
    for slice in 0..SLICES {
        // Each goes first in every other slice.
        let mut turns: Vec<usize> = (0..rows.len()).collect();
        if slice % 2 == 1 {
            turns.reverse();
        }
        for index in turns {
            let (row, m) = (rows[index], &mut out[index]);
            let slice = drive(&limiter, &reference, row, &keys, None, span / SLICES).await;
            m.decisions += slice.decisions;
            m.allowed += slice.allowed;
            m.errors += slice.errors;
            m.elapsed += slice.elapsed;
            m.latency.add(slice.latency).unwrap();
        }
    }
    for (row, m) in rows.iter().zip(&mut out) {
        if row.engine != Engine::Reference {
            m.errors += limiter.counters().errors - errors_before;
            m.cache = limiter.counters().cache_answers - cache_before;
        }
    }
    Ok(out)
}

/// Runs `row.in_flight` tasks over `keys` (in turn when `passes` is given, for
/// that many requests in all; at random otherwise, for `span`).
async fn drive(
    limiter: &Arc<RedisRateLimiter>,
    reference: &Reference,
    row: Row,
    keys: &Arc<Vec<String>>,
    passes: Option<usize>,
    span: Duration,
) -> Measured {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..row.in_flight {
        let (limiter, mut reference, keys) =
            (Arc::clone(limiter), reference.clone(), Arc::clone(keys));
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
            let (mut decisions, mut allowed, mut errors) = (0u64, 0u64, 0u64);
            let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (task as u64 + 1);
            let (capacity, rate) = quota(row.quota);
            let mut i = task;
            loop {
                let key = match passes {
                    Some(total) if i >= total => break,
                    Some(_) => &keys[i],
                    None if start.elapsed() >= span => break,
                    None => {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        &keys[(state % keys.len() as u64) as usize]
                    }
                };
                i += row.in_flight;
                let began = Instant::now();
                let ok = match row.engine {
                    Engine::Exact | Engine::ExactWithCache => {
                        let outcome = limiter.check(key.as_str()).await;
                        errors += u64::from(outcome.source == Source::Fallback);
                        outcome.decision.is_allowed()
                    }
                    Engine::Reference => {
                        reference.allow(key, capacity, rate).await.unwrap_or_else(|_| {
                            errors += 1;
                            false
                        })
                    }
                };
                latency.saturating_record(began.elapsed().as_nanos() as u64);
                decisions += 1;
                allowed += u64::from(ok);
            }
            (latency, decisions, allowed, errors)
        }));
    }
    let mut m = Measured::default();
    for task in tasks {
        let (latency, decisions, allowed, errors) = task.await.unwrap();
        m.latency.add(latency).unwrap();
        m.decisions += decisions;
        m.allowed += allowed;
        m.errors += errors;
    }
    m.elapsed = start.elapsed();
    m
}

/// Bytes per key (`MEMORY USAGE`) for a typical bucket of each kind.
async fn memory(
    url: &str,
    admin: &mut ConnectionManager,
) -> Result<(), Box<dyn std::error::Error>> {
    redis::cmd("FLUSHALL").query_async::<()>(admin).await?;
    let rate = Rate::per_second(5)?;
    let limiter = RedisRateLimiter::builder(10, rate, FailurePolicy::Deny)
        .prefix("mem")
        .deadline(Duration::from_secs(1))
        .connect(url)
        .await?;
    let _ = limiter.check_n("203.0.113.7".parse::<std::net::IpAddr>()?, 3).await;
    let _ = limiter
        .check_n_at(
            "2001:db8::7".parse::<std::net::IpAddr>()?,
            3,
            limiter_core::Nanos::from_secs(1_700_000_000),
        )
        .await;
    let wide =
        RedisRateLimiter::builder(1_000_000_000, "0.123456789".parse()?, FailurePolicy::Deny)
            .prefix("mem")
            .deadline(Duration::from_secs(1))
            .connect(url)
            .await?;
    let _ = wide
        .check_n_at(
            "198.51.100.1".parse::<std::net::IpAddr>()?,
            12_345,
            limiter_core::Nanos::from_secs(1_700_000_000),
        )
        .await;
    println!();
    for (what, key) in [
        ("IPv4, 10 at 5/s, server time", "mem:{203.0.113.7}"),
        ("IPv6, 10 at 5/s, explicit time", "mem:{2001:db8::7}"),
        ("IPv4, 10⁹ at 0.123456789/s", "mem:{198.51.100.1}"),
    ] {
        let bytes: Option<u64> =
            redis::cmd("MEMORY").arg("USAGE").arg(key).query_async(admin).await?;
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(admin).await?;
        println!(
            "Bytes per key ({what}): {} (`MEMORY USAGE`; a {}-byte value)",
            bytes.unwrap_or(0),
            value.as_ref().map_or(0, Vec::len)
        );
    }
    Ok(())
}
