//! Memory per tracked key, from the growth of the resident set size.
//!
//! The figure is what an operator pays: the resident memory a limiter adds
//! when it learns `n` new keys, over `n`. It is measured in a fresh process
//! (the suite runs itself again with `--memory-child`), so no other table
//! has left freed memory behind, and with glibc's mmap threshold fixed at
//! 64 KiB (`GLIBC_TUNABLES`), so that every large table is its own mapping
//! and a table freed when its map grows is returned to the kernel at once.
//! `VmRSS` in `/proc/self/status` is the resident size that `/proc/self/statm`
//! gives in pages, already in kB, so no page size is needed. A counting
//! global allocator would need `unsafe impl GlobalAlloc` and would
//! count requested bytes, not the memory the process holds.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use crate::error::MemoryError;
use crate::floor::Floor;
use crate::keys::{self, Family};
use crate::quota::Quota;
use crate::subject::{FloorAt, Implementation};
use limiter_testkit::{GovernorAt, OursAt, Subject};

/// The environment a memory child runs in: glibc's mmap threshold fixed at
/// 64 KiB, which also stops glibc from raising it as large blocks are freed.
pub const CHILD_ENV: (&str, &str) = ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536");

/// This process's resident set size in bytes, from `/proc/self/status`.
///
/// # Errors
///
/// A [`MemoryError`] if the file cannot be read or has no `VmRSS` line.
pub fn resident_bytes() -> Result<u64, MemoryError> {
    let path = "/proc/self/status";
    let status = std::fs::read_to_string(path)
        .map_err(|err| MemoryError::Read { path: path.to_owned(), message: err.to_string() })?;
    parse_vm_rss(&status)
}

/// The `VmRSS` of a `/proc/PID/status` text, in bytes.
///
/// # Errors
///
/// [`MemoryError::NoVmRss`] without a `VmRSS:` line, or
/// [`MemoryError::BadVmRss`] naming it if it is not `<number> kB`.
pub fn parse_vm_rss(status: &str) -> Result<u64, MemoryError> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or(MemoryError::NoVmRss)?;
    let bad = || MemoryError::BadVmRss { line: line.to_owned() };
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    match (words.next(), words.next()) {
        (Some("kB"), None) => kib.checked_mul(1024).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// The resident bytes per key that `implementation` adds when `count`
/// distinct keys of `family` (drawn from `seed`) are checked once each in a
/// new limiter, measured in this process.
///
/// The keys are generated before the first reading, and the limiter is kept
/// until after the second. Run it in a fresh process for a clean figure:
/// see [`bytes_per_key_in_child`].
///
/// # Errors
///
/// A [`MemoryError`] if the resident size cannot be read or the limiter
/// cannot be built.
pub fn bytes_per_key(
    implementation: Implementation,
    family: Family,
    count: usize,
    seed: u64,
) -> Result<f64, MemoryError> {
    let keys = family.distinct(count, &mut keys::rng(seed, 0xE3E0));
    let quota = Quota::SEED;
    match implementation {
        Implementation::Ours => {
            grow(&keys, || quota.ours().map(OursAt).map_err(MemoryError::Config))
        }
        Implementation::Governor => grow(&keys, || Ok(GovernorAt::new(quota.governor()))),
        Implementation::Floor => grow(&keys, || Ok(FloorAt(Floor::with_keys(quota, count)))),
    }
}

fn grow<S: Subject>(
    keys: &[IpAddr],
    make: impl FnOnce() -> Result<S, MemoryError>,
) -> Result<f64, MemoryError> {
    let before = resident_bytes()?;
    let subject = make()?;
    for (i, ip) in keys.iter().enumerate() {
        black_box(subject.check(*ip, 1_000_000_000 + i as u64));
    }
    let after = resident_bytes()?;
    drop(black_box(subject));
    Ok(after.saturating_sub(before) as f64 / keys.len().max(1) as f64)
}

/// Runs `exe --memory-child IMPLEMENTATION FAMILY COUNT SEED` in the
/// [`CHILD_ENV`] and reads the bytes per key it prints.
///
/// # Errors
///
/// [`MemoryError::Child`] if the child cannot start, fails, or prints
/// something other than a number.
pub fn bytes_per_key_in_child(
    exe: &Path,
    implementation: Implementation,
    family: Family,
    count: usize,
    seed: u64,
) -> Result<f64, MemoryError> {
    let mut command = Command::new(exe);
    command
        .arg("--memory-child")
        .args([implementation.name(), family.name()])
        .args([count.to_string(), seed.to_string()])
        .env(CHILD_ENV.0, CHILD_ENV.1);
    let shown = format!("{command:?}");
    let failed = |message: String| MemoryError::Child { command: shown.clone(), message };
    let output = command.output().map_err(|err| failed(err.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!("{}: {}", output.status, stderr.trim())));
    }
    parse_child_output(&stdout).ok_or_else(|| failed(format!("printed {:?}", stdout.trim())))
}

/// The bytes per key a memory child printed: a finite, non-negative number
/// alone on its last line.
pub fn parse_child_output(stdout: &str) -> Option<f64> {
    let value: f64 = stdout.lines().last()?.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kibibytes() {
        let status = "Name:\tbench\nVmPeak:\t  9000 kB\nVmRSS:\t    4132 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Ok(4132 * 1024));
    }

    #[test]
    fn a_missing_or_malformed_vm_rss_is_an_error_naming_the_line() {
        assert_eq!(parse_vm_rss("Name:\tbench\n"), Err(MemoryError::NoVmRss));
        for line in ["VmRSS:\t  12 MB", "VmRSS:", "VmRSS:\tlots kB", "VmRSS:\t1 kB extra"] {
            assert_eq!(
                parse_vm_rss(&format!("{line}\n")),
                Err(MemoryError::BadVmRss { line: line.to_owned() })
            );
        }
    }

    #[test]
    fn this_process_has_a_plausible_resident_size() {
        let bytes = resident_bytes().unwrap();
        assert!((1 << 20..1 << 40).contains(&bytes), "{bytes}");
    }

    #[test]
    fn child_output_is_one_number() {
        assert_eq!(parse_child_output("36.5\n"), Some(36.5));
        assert_eq!(parse_child_output("note\n70\n"), Some(70.0));
        for bad in ["", "lots\n", "-3\n", "NaN\n", "inf\n"] {
            assert_eq!(parse_child_output(bad), None, "{bad:?}");
        }
    }
}
