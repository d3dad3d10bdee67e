//! `limiter-stress`: hammers limiter-core from many threads.

fn main() {}
