//! limiter-tower through a real server on 127.0.0.1:0 and hyper-util's
//! client (tonic's, for gRPC), with a `ManualClock` so that refills happen without sleeping.

mod backends;
mod burst;
mod concurrency;
mod events;
mod grpc;
mod policies;
mod proxies;
mod redis;
mod routes;
mod util;
