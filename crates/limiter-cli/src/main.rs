//! `limiter-cli`: replays recorded traffic through a rate limiter.

fn main() {}
