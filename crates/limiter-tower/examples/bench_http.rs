//! The HTTP benchmark behind `cargo xtask bench-http`: a bare axum handler,
//! the same behind limiter-tower (with its default quota headers, and
//! without, as tower_governor sends none by default), and the same behind
//! tower_governor 0.8 at the same quota, loaded over keep-alive loopback
//! connections.
//!
//! ```text
//! cargo run --release -p limiter-tower --example bench_http -- [--duration SECS] [--rounds N] [--connections N]
//! ```
//!
//! The load generator runs on two threads, each a single-threaded tokio
//! runtime driving `N` keep-alive HTTP/1.1 connections (hyper's client), one
//! request in flight per connection, for a fixed time after a warm-up of a
//! tenth of it. Each request carries `X-Forwarded-For` with one client
//! address, or one of 100,000 in turn; the server (two tokio workers) trusts
//! its loopback peer as a proxy, so each address is a client key. The
//! Markdown table goes to standard output, progress to standard error.

use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use limiter_core::Rate;
use limiter_tower::{HeaderMode, RateLimitLayer};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::SmartIpKeyExtractor;

const THREADS: usize = 2;
const MANY_KEYS: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Server {
    Bare,
    /// limiter-tower as it comes: the draft's quota headers on.
    Tower,
    /// limiter-tower without quota headers, as tower_governor's default is.
    TowerNoHeaders,
    Governor,
}

#[derive(Debug, Clone, Copy)]
struct Quota {
    name: &'static str,
    capacity: u32,
    /// Tokens per second.
    rate: u32,
}

const ALLOW_ALL: Quota = Quota { name: "allow-all", capacity: 1_000_000_000, rate: 1_000_000_000 };
const SEED: Quota = Quota { name: "10 at 5/s", capacity: 10, rate: 5 };

struct Stats {
    requests: u64,
    limited: u64,
    elapsed: Duration,
    /// Latencies in nanoseconds, sorted.
    latencies: Vec<u64>,
}

impl Stats {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1);
        self.latencies[index] as f64 / 1000.0
    }
}

fn app(server: Server, quota: Quota) -> Result<Router, Box<dyn Error>> {
    let router = Router::new().route("/", get(|| async { "hello" }));
    Ok(match server {
        Server::Bare => router,
        Server::Tower | Server::TowerNoHeaders => {
            let rate = Rate::per_second(u64::from(quota.rate))?;
            let mut layer = RateLimitLayer::builder(u64::from(quota.capacity), rate)
                .trusted_proxy("127.0.0.0/8".parse()?);
            if server == Server::TowerNoHeaders {
                layer = layer.headers(HeaderMode::None);
            }
            router.layer(layer.build()?)
        }
        Server::Governor => {
            let config = GovernorConfigBuilder::default()
                .key_extractor(SmartIpKeyExtractor)
                .per_nanosecond(1_000_000_000 / u64::from(quota.rate))
                .burst_size(quota.capacity)
                .finish()
                .ok_or("tower_governor refused the quota")?;
            router.layer(GovernorLayer::new(config))
        }
    })
}

fn run(
    server: Server,
    quota: Quota,
    keys: u32,
    duration: Duration,
    connections: usize,
) -> Result<Stats, Box<dyn Error>> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = app(server, quota)?;
    runtime.spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    // The clients' addresses, in 198.18.0.0/15 (set aside for benchmarks).
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    let clients: Arc<Vec<HeaderValue>> = Arc::new(
        (0..keys)
            .map(|i| HeaderValue::from_str(&IpAddr::from(Ipv4Addr::from(base + i)).to_string()))
            .collect::<Result<_, _>>()?,
    );
    let warmup = duration / 10;
    let start = Instant::now();
    let (record_from, stop) = (start + warmup, start + warmup + duration);
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let clients = Arc::clone(&clients);
            std::thread::spawn(move || load(thread, addr, connections, &clients, record_from, stop))
        })
        .collect();
    let mut total = Stats { requests: 0, limited: 0, elapsed: duration, latencies: Vec::new() };
    for thread in threads {
        let stats = thread.join().map_err(|_| "a load thread panicked")??;
        total.requests += stats.requests;
        total.limited += stats.limited;
        total.latencies.extend(stats.latencies);
    }
    total.latencies.sort_unstable();
    runtime.shutdown_background();
    Ok(total)
}

/// One load thread: `connections` keep-alive connections, each with one
/// request in flight, until `stop`; records from `record_from` on.
fn load(
    thread: usize,
    addr: SocketAddr,
    connections: usize,
    clients: &Arc<Vec<HeaderValue>>,
    record_from: Instant,
    stop: Instant,
) -> Result<Stats, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for connection in 0..connections {
            let clients = Arc::clone(clients);
            // Each connection walks the clients from its own starting point.
            let mut next = (thread * connections + connection) * 7919;
            tasks.push(tokio::spawn(async move {
                let stream =
                    tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                let mut stats = Stats {
                    requests: 0,
                    limited: 0,
                    elapsed: Duration::ZERO,
                    latencies: Vec::new(),
                };
                loop {
                    let begin = Instant::now();
                    if begin >= stop {
                        break;
                    }
                    next = (next + 1) % clients.len();
                    let req = Request::get("/")
                        .header("host", "bench")
                        .header("x-forwarded-for", clients[next].clone())
                        .body(Empty::<Bytes>::new())
                        .map_err(|e| e.to_string())?;
                    sender.ready().await.map_err(|e| e.to_string())?;
                    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
                    let status = response.status();
                    response.into_body().collect().await.map_err(|e| e.to_string())?;
                    if begin >= record_from {
                        stats.requests += 1;
                        stats.limited += u64::from(status == StatusCode::TOO_MANY_REQUESTS);
                        stats
                            .latencies
                            .push(u64::try_from(begin.elapsed().as_nanos()).unwrap_or(u64::MAX));
                    }
                }
                Ok::<Stats, String>(stats)
            }));
        }
        let mut total =
            Stats { requests: 0, limited: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
        for task in tasks {
            let stats = task.await.map_err(|e| e.to_string())??;
            total.requests += stats.requests;
            total.limited += stats.limited;
            total.latencies.extend(stats.latencies);
        }
        Ok(total)
    })
}

/// Drives `requests` requests through `server`'s router in this thread,
/// without a network, as the server's own per-request work: for counting
/// instructions (`valgrind --tool=callgrind --toggle-collect='*measured*'`).
fn in_process(spec: &str, requests: u64) -> Result<(), Box<dyn Error>> {
    let mut parts = spec.split(',');
    let mut next = || parts.next().ok_or("--in-process SERVER,QUOTA,KEYS");
    let server = match next()? {
        "bare" => Server::Bare,
        "tower" => Server::Tower,
        "tower-no-headers" => Server::TowerNoHeaders,
        "governor" => Server::Governor,
        other => return Err(format!("unknown server {other:?}").into()),
    };
    let quota = match next()? {
        "allow-all" => ALLOW_ALL,
        "seed" => SEED,
        other => return Err(format!("unknown quota {other:?}").into()),
    };
    let keys: u32 = next()?.parse()?;
    let clients = clients(keys)?;
    let router = app(server, quota)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Every key once before counting, as the load's warm-up does.
    runtime.block_on(drive(&router, &clients, u64::from(keys)))?;
    let limited = measured(&runtime, &router, &clients, requests)?;
    eprintln!("{requests} requests, {limited} limited");
    Ok(())
}

/// The requests counted: `--toggle-collect='*measured*'`.
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    router: &Router,
    clients: &[HeaderValue],
    requests: u64,
) -> Result<u64, Box<dyn Error>> {
    runtime.block_on(drive(router, clients, requests))
}

#[inline(never)]
async fn drive(
    router: &Router,
    clients: &[HeaderValue],
    requests: u64,
) -> Result<u64, Box<dyn Error>> {
    use tower::ServiceExt;
    let peer = axum::extract::ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
    let mut limited = 0;
    for i in 0..requests {
        let mut req = Request::get("/")
            .header("host", "bench")
            .header("x-forwarded-for", clients[i as usize % clients.len()].clone())
            .body(axum::body::Body::empty())?;
        req.extensions_mut().insert(peer);
        let response = router.clone().oneshot(req).await?;
        limited += u64::from(response.status() == StatusCode::TOO_MANY_REQUESTS);
        response.into_body().collect().await?;
    }
    Ok(limited)
}

/// The clients' addresses, in 198.18.0.0/15 (set aside for benchmarks).
fn clients(keys: u32) -> Result<Vec<HeaderValue>, Box<dyn Error>> {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    Ok((0..keys)
        .map(|i| HeaderValue::from_str(&IpAddr::from(Ipv4Addr::from(base + i)).to_string()))
        .collect::<Result<_, _>>()?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let (mut duration, mut rounds, mut connections) = (Duration::from_secs(2), 3, 32);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--in-process" => {
                let requests = match args.next() {
                    Some(n) => n.parse()?,
                    None => 100_000,
                };
                return in_process(&value, requests);
            }
            "--duration" => duration = Duration::from_secs_f64(value.parse()?),
            "--rounds" => rounds = value.parse::<usize>()?.max(1),
            "--connections" => connections = value.parse::<usize>()?.max(1),
            _ => return Err(format!("unknown argument {flag:?}").into()),
        }
    }
    println!(
        "{THREADS} load threads x {connections} keep-alive connections; each row is the median of \
         {rounds} rounds of {:.1} s (after a {:.1} s warm-up), the servers taking turns \
         within a round; server: axum 0.8 on 2 tokio workers.\n",
        duration.as_secs_f64(),
        duration.as_secs_f64() / 10.0,
    );
    println!("| client keys | quota | server | requests/s | vs bare | p50 µs | p99 µs | 429s |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    let servers = [Server::Bare, Server::Tower, Server::TowerNoHeaders, Server::Governor];
    for keys in [1, MANY_KEYS] {
        for quota in [ALLOW_ALL, SEED] {
            let mut results: [Vec<Stats>; 4] = Default::default();
            for round in 0..rounds {
                for (server, results) in servers.iter().zip(&mut results) {
                    eprintln!(
                        "bench-http: {keys} keys, {}, {server:?}, round {} ...",
                        quota.name,
                        round + 1
                    );
                    results.push(run(*server, quota, keys, duration, connections)?);
                }
            }
            let medians = results.map(|mut stats| {
                stats.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
                stats.swap_remove(stats.len() / 2)
            });
            let bare = medians[0].per_second();
            for (server, stats) in servers.iter().zip(&medians) {
                let name = match server {
                    Server::Bare => "bare axum",
                    Server::Tower => "limiter-tower",
                    Server::TowerNoHeaders => "limiter-tower, no headers",
                    Server::Governor => "tower_governor 0.8",
                };
                println!(
                    "| {keys} | {} | {name} | {:.0} | {:.3} | {:.1} | {:.1} | {} |",
                    quota.name,
                    stats.per_second(),
                    stats.per_second() / bare,
                    stats.percentile_us(0.50),
                    stats.percentile_us(0.99),
                    stats.limited,
                );
            }
        }
    }
    Ok(())
}
