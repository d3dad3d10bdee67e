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
//! The server and the load generator do not share a core: each server runs
//! in a child process (`--serve`) pinned with `taskset` to CPU 1, on one
//! tokio worker, and this process re-runs itself pinned to CPU 0 to generate
//! the load (on a machine with one CPU, or without `taskset`, neither is
//! pinned, and the table says so). The load generator is one thread driving
//! `N` keep-alive HTTP/1.1 connections, one request in flight on each, with
//! requests written in advance and responses read with no allocation, so
//! that it stays lighter than any server: the server's core is the
//! bottleneck, which the table shows as the server's CPU use. Each request
//! carries `X-Forwarded-For` with one client address, or one of 100,000 in
//! turn; the server trusts its loopback peer as a proxy, so each address is
//! a client key. Beside requests per second, the table gives the server's
//! CPU time per request (from `/proc/PID/task/*/schedstat`, user and
//! kernel), the limiter's cost whatever else runs on the machine. The
//! Markdown table goes to standard output, progress to standard error.
//!
//! `--in-process SERVER,QUOTA,KEYS [N]` instead drives `N` requests through
//! a server's router in this thread, without a network, for counting
//! instructions under callgrind (see `measured`).

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use limiter_core::Rate;
use limiter_tower::{HeaderMode, RateLimitLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::Layer;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::SmartIpKeyExtractor;
use tower_service::Service;

const MANY_KEYS: u32 = 100_000;

/// Set in the environment of the process re-run pinned to the load's CPU.
const PINNED_ENV: &str = "BENCH_HTTP_PINNED";
const LOAD_CPU: &str = "0";
const SERVER_CPU: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Server {
    Bare,
    /// limiter-tower as it comes: the draft's quota headers on.
    Tower,
    /// limiter-tower without quota headers, as tower_governor's default is.
    TowerNoHeaders,
    Governor,
}

impl Server {
    const ALL: [Server; 4] =
        [Server::Bare, Server::Tower, Server::TowerNoHeaders, Server::Governor];

    fn arg(self) -> &'static str {
        match self {
            Server::Bare => "bare",
            Server::Tower => "tower",
            Server::TowerNoHeaders => "tower-no-headers",
            Server::Governor => "governor",
        }
    }

    fn from_arg(arg: &str) -> Result<Server, String> {
        Server::ALL
            .into_iter()
            .find(|server| server.arg() == arg)
            .ok_or_else(|| format!("unknown server {arg:?}"))
    }

    fn name(self) -> &'static str {
        match self {
            Server::Bare => "bare axum",
            Server::Tower => "limiter-tower",
            Server::TowerNoHeaders => "limiter-tower, no headers",
            Server::Governor => "tower_governor 0.8",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Quota {
    name: &'static str,
    arg: &'static str,
    capacity: u32,
    /// Tokens per second.
    rate: u32,
}

const ALLOW_ALL: Quota =
    Quota { name: "allow-all", arg: "allow-all", capacity: 1_000_000_000, rate: 1_000_000_000 };
const SEED: Quota = Quota { name: "10 at 5/s", arg: "seed", capacity: 10, rate: 5 };

impl Quota {
    fn from_arg(arg: &str) -> Result<Quota, String> {
        [ALLOW_ALL, SEED]
            .into_iter()
            .find(|quota| quota.arg == arg)
            .ok_or_else(|| format!("unknown quota {arg:?}"))
    }
}

#[derive(Default)]
struct Stats {
    requests: u64,
    limited: u64,
    elapsed: Duration,
    /// The server's CPU time (user and kernel, all threads) while measured.
    server_cpu: Duration,
    /// This process's CPU time while measured: the load generator's.
    load_cpu: Duration,
    /// Latencies in nanoseconds, sorted.
    latencies: Vec<u64>,
}

impl Stats {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's CPU time per request, in µs.
    fn server_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }

    fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1);
        self.latencies[index] as f64 / 1000.0
    }
}

/// Runs `$body` with `$app` bound to `$server`'s service: the router,
/// alone or inside the limiter's layer (each arm has its own type).
///
/// The layers wrap the whole router (`layer.layer(router)`), as a
/// service-wide limit is usually set, rather than each route
/// (`Router::layer`), where axum boxes the layered route, its future and
/// its response body again on every request: a cost of axum's, the same
/// for every layer.
macro_rules! with_app {
    ($server:expr, $quota:expr, |$app:ident| $body:expr) => {{
        let (server, quota): (Server, Quota) = ($server, $quota);
        let router = Router::new().route("/", get(|| async { "hello" }));
        match server {
            Server::Bare => {
                let $app = router;
                $body
            }
            Server::Tower | Server::TowerNoHeaders => {
                let rate = Rate::per_second(u64::from(quota.rate))?;
                let mut layer = RateLimitLayer::builder(u64::from(quota.capacity), rate)
                    .trusted_proxy("127.0.0.0/8".parse()?);
                if server == Server::TowerNoHeaders {
                    layer = layer.headers(HeaderMode::None);
                }
                let $app = layer.build()?.layer(router);
                $body
            }
            Server::Governor => {
                let config = GovernorConfigBuilder::default()
                    .key_extractor(SmartIpKeyExtractor)
                    .per_nanosecond(1_000_000_000 / u64::from(quota.rate))
                    .burst_size(quota.capacity)
                    .finish()
                    .ok_or("tower_governor refused the quota")?;
                let $app = GovernorLayer::new(config).layer(router);
                $body
            }
        }
    }};
}

/// `--serve SERVER,QUOTA`: serves on a loopback port on one tokio worker,
/// prints the address, and exits when standard input closes.
fn serve(spec: &str) -> Result<(), Box<dyn Error>> {
    let (server, quota) = spec.split_once(',').ok_or("--serve SERVER,QUOTA")?;
    let (server, quota) = (Server::from_arg(server)?, Quota::from_arg(quota)?);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    println!("{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    with_app!(server, quota, |app| runtime.spawn(accept(listener, app)));
    // Until the parent closes our standard input (or dies).
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
    runtime.shutdown_background();
    Ok(())
}

/// Serves HTTP/1.1 connections from `listener` with `app`, each request
/// carrying its peer as axum's `ConnectInfo`: what `axum::serve` with
/// `into_make_service_with_connect_info` does, for any service and body.
async fn accept<S, B>(listener: tokio::net::TcpListener, app: S)
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
    S: Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

/// A server in its child process.
struct Serving {
    child: Child,
    addr: SocketAddr,
}

impl Serving {
    fn start(server: Server, quota: Quota, pinned: bool) -> Result<Serving, Box<dyn Error>> {
        let exe = std::env::current_exe()?;
        let spec = format!("{},{}", server.arg(), quota.arg);
        let mut command = if pinned {
            let mut command = Command::new("taskset");
            command.args(["--cpu-list", SERVER_CPU]).arg(exe);
            command
        } else {
            Command::new(exe)
        };
        let mut child = command
            .args(["--serve", &spec])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let addr = line.trim().parse().map_err(|_| format!("server said {line:?}"))?;
        Ok(Serving { child, addr })
    }

    /// The server's CPU time so far, all threads, user and kernel.
    fn stop(mut self) -> Result<(), Box<dyn Error>> {
        drop(self.child.stdin.take());
        self.child.wait()?;
        Ok(())
    }
}

/// The CPU time so far, user and kernel, of the thread or task whose
/// `schedstat` is at `path`.
fn cpu_time(path: &std::path::Path) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let nanos = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    nanos.map(Duration::from_nanos).ok_or_else(|| format!("{}: {stat:?}", path.display()))
}

/// The CPU time so far of process `pid`, every thread of it.
fn process_cpu(pid: u32) -> Result<Duration, String> {
    let tasks = format!("/proc/{pid}/task");
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))? {
        total += cpu_time(&task.map_err(|e| format!("{tasks}: {e}"))?.path().join("schedstat"))?;
    }
    Ok(total)
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Result<Duration, String> {
    cpu_time("/proc/thread-self/schedstat".as_ref())
}

/// One round of one server: a fresh server process, sent every client's
/// request once, then loaded for `duration` after a warm-up of a tenth of it.
fn run(
    server: Server,
    quota: Quota,
    requests: &Arc<Vec<Box<[u8]>>>,
    duration: Duration,
    connections: usize,
    pinned: bool,
) -> Result<Stats, Box<dyn Error>> {
    let serving = Serving::start(server, quota, pinned)?;
    prime(serving.addr, connections, requests)?;
    let warmup = duration / 10;
    let start = Instant::now();
    let (record_from, stop) = (start + warmup, start + warmup + duration);
    let mut stats =
        load(serving.addr, serving.child.id(), connections, requests, record_from, stop)?;
    serving.stop()?;
    stats.elapsed = duration;
    stats.latencies.sort_unstable();
    Ok(stats)
}

/// Sends every client's request once, spread over `connections` connections,
/// so that the measured window sees the keys a long-running server knows
/// rather than each key's first request (a new bucket) with 100k clients.
fn prime(
    addr: SocketAddr,
    connections: usize,
    requests: &Arc<Vec<Box<[u8]>>>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for connection in 0..connections.min(requests.len()) {
            let requests = Arc::clone(requests);
            tasks.push(tokio::spawn(async move {
                let mut stream =
                    tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let mut buf = vec![0; 16 * 1024];
                for request in requests.iter().skip(connection).step_by(connections) {
                    stream.write_all(request).await.map_err(|e| e.to_string())?;
                    read_response(&mut stream, &mut buf).await?;
                }
                Ok::<(), String>(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        Ok(())
    })
}

/// The load: `connections` keep-alive connections on this thread, each with
/// one request in flight, until `stop`; counts from `record_from` on, and
/// reads the CPU time of the server (process `server`) at both ends.
fn load(
    addr: SocketAddr,
    server: u32,
    connections: usize,
    requests: &Arc<Vec<Box<[u8]>>>,
    record_from: Instant,
    stop: Instant,
) -> Result<Stats, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        // The load's own CPU time (this thread's) and the server's from
        // `record_from` on.
        let start_cpu = tokio::spawn(async move {
            tokio::time::sleep_until(record_from.into()).await;
            Ok::<_, String>((thread_cpu()?, process_cpu(server)?))
        });
        let end_cpu = tokio::spawn(async move {
            tokio::time::sleep_until(stop.into()).await;
            process_cpu(server)
        });
        let mut tasks = Vec::new();
        for connection in 0..connections {
            let requests = Arc::clone(requests);
            // Each connection walks the clients from its own starting point.
            let first = connection * 7919;
            tasks.push(tokio::spawn(async move {
                connect_and_load(addr, &requests, first, record_from, stop).await
            }));
        }
        let mut total = Stats::default();
        for task in tasks {
            let stats = task.await.map_err(|e| e.to_string())??;
            total.requests += stats.requests;
            total.limited += stats.limited;
            total.latencies.extend(stats.latencies);
        }
        let (load_start, server_start) = start_cpu.await.map_err(|e| e.to_string())??;
        let server_end = end_cpu.await.map_err(|e| e.to_string())??;
        total.load_cpu = thread_cpu()?.saturating_sub(load_start);
        total.server_cpu = server_end.saturating_sub(server_start);
        Ok(total)
    })
}

async fn connect_and_load(
    addr: SocketAddr,
    requests: &[Box<[u8]>],
    first: usize,
    record_from: Instant,
    stop: Instant,
) -> Result<Stats, String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stats = Stats { latencies: Vec::with_capacity(1 << 16), ..Stats::default() };
    let mut buf = vec![0; 16 * 1024];
    let mut next = first;
    loop {
        let begin = Instant::now();
        if begin >= stop {
            break;
        }
        next = (next + 1) % requests.len();
        stream.write_all(&requests[next]).await.map_err(|e| e.to_string())?;
        let status = read_response(&mut stream, &mut buf).await?;
        if begin >= record_from {
            stats.requests += 1;
            stats.limited += u64::from(status == 429);
            stats.latencies.push(u64::try_from(begin.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
    }
    Ok(stats)
}

/// Reads one whole response (the servers send `content-length`, never
/// chunks); returns its status.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut [u8]) -> Result<u16, String> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            return Err("a response too long for the buffer".to_owned());
        }
        let read = stream.read(&mut buf[len..]).await.map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the server closed the connection".to_owned());
        }
        len += read;
        let Some(head) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head_len = head + 4;
        let body = content_length(&buf[..head]).ok_or("a response without content-length")?;
        if len >= head_len + body {
            if len > head_len + body {
                return Err("more than one response".to_owned());
            }
            let status = std::str::from_utf8(buf.get(9..12).ok_or("a short status line")?)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("a malformed status line")?;
            return Ok(status);
        }
    }
}

/// The `content-length` of a response head.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

/// The requests, one per client key, written out in advance.
fn requests(keys: u32) -> Vec<Box<[u8]>> {
    clients(keys)
        .map(|ip| format!("GET / HTTP/1.1\r\nhost: bench\r\nx-forwarded-for: {ip}\r\n\r\n"))
        .map(|request| request.into_bytes().into_boxed_slice())
        .collect()
}

/// The clients' addresses, in 198.18.0.0/15 (set aside for benchmarks).
fn clients(keys: u32) -> impl Iterator<Item = IpAddr> {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    (0..keys).map(move |i| IpAddr::from(Ipv4Addr::from(base + i)))
}

/// Drives `requests` requests through `server`'s router in this thread,
/// without a network, as the server's own per-request work: for counting
/// instructions (`valgrind --tool=callgrind --toggle-collect='*measured*'`).
fn in_process(spec: &str, requests: u64) -> Result<(), Box<dyn Error>> {
    let mut parts = spec.split(',');
    let mut next = || parts.next().ok_or("--in-process SERVER,QUOTA,KEYS");
    let server = Server::from_arg(next()?)?;
    let quota = Quota::from_arg(next()?)?;
    let keys: u32 = next()?.parse()?;
    let clients: Vec<HeaderValue> =
        clients(keys).map(|ip| HeaderValue::from_str(&ip.to_string())).collect::<Result<_, _>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let limited = with_app!(server, quota, |app| {
        // Every key once before counting, as the load's warm-up does.
        runtime.block_on(drive(&app, &clients, u64::from(keys)))?;
        measured(&runtime, &app, &clients, requests)?
    });
    eprintln!("{requests} requests, {limited} limited");
    Ok(())
}

/// The requests counted: `--toggle-collect='*measured*'`.
#[inline(never)]
fn measured<S, B>(
    runtime: &tokio::runtime::Runtime,
    app: &S,
    clients: &[HeaderValue],
    requests: u64,
) -> Result<u64, Box<dyn Error>>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: Error + Send + Sync + 'static,
{
    runtime.block_on(drive(app, clients, requests))
}

async fn drive<S, B>(app: &S, clients: &[HeaderValue], requests: u64) -> Result<u64, Box<dyn Error>>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: Error + Send + Sync + 'static,
{
    use tower::ServiceExt;
    let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
    let mut limited = 0;
    for i in 0..requests {
        let mut req = Request::get("/")
            .header("host", "bench")
            .header("x-forwarded-for", clients[i as usize % clients.len()].clone())
            .body(Body::empty())?;
        req.extensions_mut().insert(peer);
        let response = app.clone().oneshot(req).await?;
        limited += u64::from(response.status() == StatusCode::TOO_MANY_REQUESTS);
        response.into_body().collect().await?;
    }
    Ok(limited)
}

/// Whether the server and the load can have a CPU each: two or more CPUs
/// and `taskset`.
fn can_pin() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus >= 2
        && Command::new("taskset")
            .args(["--cpu-list", LOAD_CPU, "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut duration, mut rounds, mut connections) = (Duration::from_secs(2), 3, 32);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--serve" => return serve(value),
            "--in-process" => {
                let requests = match rest.next() {
                    Some(n) => n.parse()?,
                    None => 100_000,
                };
                return in_process(value, requests);
            }
            "--duration" => duration = Duration::from_secs_f64(value.parse()?),
            "--rounds" => rounds = value.parse::<usize>()?.max(1),
            "--connections" => connections = value.parse::<usize>()?.max(1),
            _ => return Err(format!("unknown argument {flag:?}").into()),
        }
    }
    let pinned = std::env::var_os(PINNED_ENV).is_some();
    if !pinned && can_pin() {
        // Again, on the load's CPU: the servers get the other.
        let status = Command::new("taskset")
            .args(["--cpu-list", LOAD_CPU])
            .arg(std::env::current_exe()?)
            .args(&args)
            .env(PINNED_ENV, "1")
            .status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let placement = if pinned {
        format!("server pinned to CPU {SERVER_CPU}, load generator to CPU {LOAD_CPU} (taskset)")
    } else {
        "not pinned (one CPU, or no taskset): server and load generator share the CPUs".to_owned()
    };
    println!(
        "Server: axum 0.8 on 1 tokio worker, a child process per round. Load: 1 thread x \
         {connections} keep-alive connections, one request in flight each. {placement}. Each \
         row is the median of {rounds} rounds of {:.1} s (after every client's request once, so \
         that every key is known, and a {:.1} s warm-up), the servers \
         taking turns within a round. server µs/req: the server's CPU time (user and kernel, \
         every thread) per request; CPU use: the server's and the load generator's CPU time \
         over the wall time.\n",
        duration.as_secs_f64(),
        duration.as_secs_f64() / 10.0,
    );
    println!(
        "| client keys | quota | server | requests/s | vs bare | server µs/req | vs bare | \
         CPU use server / load | p50 µs | p99 µs | 429s |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for keys in [1, MANY_KEYS] {
        let requests = Arc::new(requests(keys));
        for quota in [ALLOW_ALL, SEED] {
            let mut results: [Vec<Stats>; 4] = Default::default();
            for round in 0..rounds {
                for (server, results) in Server::ALL.iter().zip(&mut results) {
                    eprintln!(
                        "bench-http: {keys} keys, {}, {}, round {} ...",
                        quota.name,
                        server.name(),
                        round + 1
                    );
                    results.push(run(*server, quota, &requests, duration, connections, pinned)?);
                }
            }
            let medians = results.map(|mut stats| {
                stats.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
                stats.swap_remove(stats.len() / 2)
            });
            let (bare, bare_us) = (medians[0].per_second(), medians[0].server_us());
            for (server, stats) in Server::ALL.iter().zip(&medians) {
                let wall = stats.elapsed.as_secs_f64();
                println!(
                    "| {keys} | {} | {} | {:.0} | {:.3} | {:.2} | {:.3} | {:.0}% / {:.0}% | \
                     {:.1} | {:.1} | {} |",
                    quota.name,
                    server.name(),
                    stats.per_second(),
                    stats.per_second() / bare,
                    stats.server_us(),
                    stats.server_us() / bare_us,
                    stats.server_cpu.as_secs_f64() / wall * 100.0,
                    stats.load_cpu.as_secs_f64() / wall * 100.0,
                    stats.percentile_us(0.50),
                    stats.percentile_us(0.99),
                    stats.limited,
                );
            }
        }
    }
    Ok(())
}
