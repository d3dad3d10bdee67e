//! limiter-core's integration tests, built as one binary to save link time.

mod concurrency;
mod flood;
mod memory;
mod model;
mod next_token;
mod parse;
mod readme;
mod spec;
