//! The replay CLI's input parsers: CSV trace lines, access log lines (common
//! and combined, HAProxy, AWS ALB, JSON lines) and timestamps, exact to the
//! nanosecond.
//!
//! The `limiter-cli` binary is the product; these modules are a library only
//! so that `limiter-fuzz` can fuzz them in-process. They are not a stable API.

pub mod access_log;
pub mod address;
pub mod alb;
pub mod haproxy;
pub mod json_scan;
pub mod jsonl;
mod swar;
pub mod timestamp;
pub mod trace;
