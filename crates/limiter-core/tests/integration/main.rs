//! limiter-core's integration tests, built as one binary to save link time.

mod concurrency;
mod model;
mod spec;
