//! Fuzz entry points for the limiter, runnable on stable: `Rate` parsing,
//! address parsing, decisions against an exact model, and the replay CLI's
//! CSV trace and access log parsers, HAProxy, AWS ALB and JSON-lines logs
//! included (through `limiter-cli`'s library).
//!
//! Each target is a `fn(&[u8])` that accepts any bytes and panics only when
//! it finds a bug: a panic inside the code under test, or a broken invariant
//! that the target asserts. Bad input is never a failure.
//!
//! The cargo-fuzz crate in `fuzz/` (built with nightly, outside the workspace)
//! calls these functions from its `fuzz_target!`s, and this crate's
//! `tests/corpus.rs` feeds every checked-in corpus file through them on
//! stable, so each input the fuzzer found interesting stays a regression test.
//!
//! # Example
//!
//! ```
//! // Any bytes at all: a target returns normally unless it found a bug.
//! limiter_fuzz::rate(b"30/m");
//! limiter_fuzz::ip(b"::ffff:10.0.0.1\n10.0.0.1");
//! limiter_fuzz::decisions(&[0xff; 64]);
//! limiter_fuzz::trace(b"timestamp,ip\r\n0.5,10.0.0.1,2\nbad\n");
//! ```

mod decisions;
mod ip;
mod logs;
mod rate;
mod trace;

pub use crate::decisions::decisions;
pub use crate::ip::ip;
pub use crate::logs::{alb, haproxy, jsonl};
pub use crate::rate::rate;
pub use crate::trace::{access_log, trace};

/// A fuzz entry point: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by the name of its `fuzz/fuzz_targets/NAME.rs` and corpus
/// directory `fuzz/corpus/NAME/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("rate", rate),
    ("ip", ip),
    ("decisions", decisions),
    ("trace", trace),
    ("access_log", access_log),
    ("haproxy", haproxy),
    ("alb", alb),
    ("jsonl", jsonl),
];
