//! Integration tests: the real `limiter-cli` binary on temporary files,
//! asserting exact standard output, standard error and exit status.
//!
//! All modules build into this one test binary, to link once.

mod access_log;
mod errors;
mod hostile;
mod io;
mod logs;
mod model;
mod opaque_keys;
mod output;
mod plot;
mod prefixes;
mod readme;
mod redis;
mod spec_rules;
mod util;
