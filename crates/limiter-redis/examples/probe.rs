//! Load-independent cost of one decision, limiter-redis against the
//! reference float GCRA script: the same number of calls of each, then
//! Redis's `INFO commandstats` (µs per `EVALSHA`), the server's CPU time
//! (`INFO cpu`) and this client's CPU time (every thread's, from
//! `/proc/self/task/*/schedstat`) per decision.
//!
//! Usage: `probe URL [--calls N] [--in-flight K] [--only exact|reference]`,
//! or `probe URL --interleave [--calls N]`: one request in flight, blocks of
//! 500 calls of each engine in turn on one hot key, so that both see the same
//! load; prints each one's p50 and mean latency. against a Redis it may
//! flush (start one with `redis-server --port P --save '' --appendonly no`).
//! Timings on a shared machine move with its load; CPU time per decision and
//! µs per call far less.

use std::sync::Arc;
use std::time::{Duration, Instant};

use limiter_core::Rate;
use limiter_redis::{FailurePolicy, RedisRateLimiter};
use redis::aio::ConnectionManager;

use crate::reference::Reference;

mod reference;

const KEYS: usize = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Exact,
    Reference,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().ok_or("usage: probe URL [--calls N] [--in-flight K]")?.clone();
    let flag = |name: &str, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args.get(i + 1).ok_or("a flag needs a number")?.parse()?),
            None => Ok(default),
        }
    };
    let calls = flag("--calls", 100_000)?;
    let in_flight = flag("--in-flight", 64)?;
    // `--only exact` or `--only reference`: one engine's rows.
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if args.iter().any(|a| a == "--interleave") {
        let keys = flag("--keys", 1)?;
        return runtime.block_on(interleave(&url, calls, keys));
    }
    runtime.block_on(run(&url, calls, in_flight, only.as_deref()))
}

/// Nanoseconds this process's threads have run on a CPU.
fn client_cpu() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text.split_whitespace().next().and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}

async fn info(admin: &mut ConnectionManager, section: &str) -> String {
    redis::cmd("INFO").arg(section).query_async(admin).await.unwrap_or_default()
}

fn field(text: &str, line_start: &str, name: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(line_start))?;
    let rest = line.split(name).nth(1)?;
    rest.trim_start_matches(['=', ':']).split([',', '\r']).next()?.parse().ok()
}

async fn server_cpu(admin: &mut ConnectionManager) -> f64 {
    let text = info(admin, "cpu").await;
    field(&text, "used_cpu_sys:", "used_cpu_sys").unwrap_or(0.0)
        + field(&text, "used_cpu_user:", "used_cpu_user").unwrap_or(0.0)
}

async fn run(
    url: &str,
    calls: usize,
    in_flight: usize,
    only: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = redis::Client::open(url)?;
    let mut admin = ConnectionManager::new(client.clone()).await?;
    let names: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("k{i}")).collect());
    println!("{calls} calls, {in_flight} in flight");
    println!(
        "| engine | keys | quota | script calls | evalsha µs/call | evalsha µs/decision | server CPU µs/decision | client CPU µs/decision | decisions/s |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for denying in [false, true] {
        for keys in [1, KEYS] {
            for engine in [Engine::Exact, Engine::Reference] {
                let name = format!("{engine:?}").to_lowercase();
                if only.is_some_and(|only| only != name) {
                    continue;
                }
                redis::cmd("FLUSHALL").query_async::<()>(&mut admin).await?;
                let (capacity, rate) = quota(denying);
                let limiter = Arc::new(
                    RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny)
                        .prefix("bench")
                        .deadline(Duration::from_secs(1))
                        .connect(url)
                        .await?,
                );
                let reference = Reference::new(ConnectionManager::new(client.clone()).await?);
                let keys = if keys == 1 { Arc::new(vec!["hot".to_owned()]) } else { names.clone() };
                if denying {
                    drive(&limiter, &reference, engine, denying, &keys, keys.len(), in_flight)
                        .await;
                }
                // Warm up (connections, script load), then measure.
                drive(&limiter, &reference, engine, denying, &keys, 1000, in_flight).await;
                redis::cmd("CONFIG").arg("RESETSTAT").query_async::<()>(&mut admin).await?;
                let (server0, client0, start) =
                    (server_cpu(&mut admin).await, client_cpu(), Instant::now());
                drive(&limiter, &reference, engine, denying, &keys, calls, in_flight).await;
                let (elapsed, client1) = (start.elapsed(), client_cpu());
                let server1 = server_cpu(&mut admin).await;
                let stats = info(&mut admin, "commandstats").await;
                let usec = field(&stats, "cmdstat_evalsha:", "usec_per_call").unwrap_or(f64::NAN);
                let scripts = field(&stats, "cmdstat_evalsha:", "calls").unwrap_or(f64::NAN);
                let total = field(&stats, "cmdstat_evalsha:", "usec").unwrap_or(f64::NAN);
                println!(
                    "| {engine:?} | {} | {} | {scripts} | {usec:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
                    keys.len(),
                    if denying { "denying" } else { "allow-all" },
                    total / calls as f64,
                    (server1 - server0) * 1e6 / calls as f64,
                    (client1 - client0) as f64 / 1e3 / calls as f64,
                    calls as f64 / elapsed.as_secs_f64(),
                );
            }
        }
    }
    Ok(())
}

fn quota(denying: bool) -> (u64, Rate) {
    if denying { (1, Rate::per_hour(1).unwrap()) } else { (1_000_000_000, Rate::MAX) }
}

/// `total` calls over `in_flight` tasks, keys in turn.
async fn drive(
    limiter: &Arc<RedisRateLimiter>,
    reference: &Reference,
    engine: Engine,
    denying: bool,
    keys: &Arc<Vec<String>>,
    total: usize,
    in_flight: usize,
) {
    let mut tasks = Vec::new();
    for task in 0..in_flight {
        let (limiter, mut reference, keys) =
            (Arc::clone(limiter), reference.clone(), Arc::clone(keys));
        tasks.push(tokio::spawn(async move {
            let (capacity, rate) = quota(denying);
            let mut i = task;
            while i < total {
                // Keys in a shuffled order (a multiplicative step), as the
                // bench's random choice, not in turn.
                let key = &keys[(i.wrapping_mul(40_503)) % keys.len()];
                i += in_flight;
                match engine {
                    Engine::Exact => {
                        let _ = limiter.check(key.as_str()).await;
                    }
                    Engine::Reference => {
                        let _ = reference.allow(key, capacity, rate).await;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// One in flight on one hot key (or `keys` keys in a shuffled order), both
/// engines in turn, `calls` each.
async fn interleave(
    url: &str,
    calls: usize,
    keys: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<String> = (0..keys).map(|i| format!("k{i}")).collect();
    let client = redis::Client::open(url)?;
    let mut admin = ConnectionManager::new(client.clone()).await?;
    println!("| quota | engine | p50 µs | p90 µs | mean µs | max µs |");
    println!("|---|---|---:|---:|---:|---:|");
    for denying in [false, true] {
        redis::cmd("FLUSHALL").query_async::<()>(&mut admin).await?;
        let (capacity, rate) = quota(denying);
        let limiter = RedisRateLimiter::builder(capacity, rate, FailurePolicy::Deny)
            .prefix("bench")
            .deadline(Duration::from_secs(1))
            .connect(url)
            .await?;
        let mut reference = Reference::new(ConnectionManager::new(client.clone()).await?);
        let mut latency = [Vec::new(), Vec::new()];
        let mut turn = 0usize;
        for round in 0..calls.div_ceil(500) + 1 {
            for (engine, samples) in latency.iter_mut().enumerate() {
                for _ in 0..500 {
                    turn += 1;
                    let key =
                        if keys == 1 { "hot" } else { &names[turn.wrapping_mul(40_503) % keys] };
                    let began = Instant::now();
                    if engine == 0 {
                        let _ = limiter.check(key).await;
                    } else {
                        let _ = reference.allow(key, capacity, rate).await;
                    }
                    // The first round warms up.
                    if round > 0 {
                        samples.push(began.elapsed().as_nanos() as u64);
                    }
                }
            }
        }
        for (engine, samples) in latency.iter_mut().enumerate() {
            samples.sort_unstable();
            let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] as f64 / 1e3;
            let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1e3;
            println!(
                "| {} | {} | {:.1} | {:.1} | {mean:.1} | {:.1} |",
                if denying { "denying" } else { "allow-all" },
                if engine == 0 { "Exact" } else { "Reference" },
                at(0.5),
                at(0.9),
                at(1.0),
            );
        }
    }
    Ok(())
}
