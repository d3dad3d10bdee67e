//! The suite's errors.

use std::fmt;

use limiter_core::ConfigError;

/// Why the suite could not run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BenchError {
    /// limiter-core rejected a quota.
    Config(ConfigError),
    /// A memory figure could not be measured.
    Memory(MemoryError),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Config(err) => write!(f, "limiter-core rejected a quota: {err}"),
            BenchError::Memory(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Config(err) => Some(err),
            BenchError::Memory(err) => Some(err),
        }
    }
}

impl From<ConfigError> for BenchError {
    fn from(err: ConfigError) -> BenchError {
        BenchError::Config(err)
    }
}

impl From<MemoryError> for BenchError {
    fn from(err: MemoryError) -> BenchError {
        BenchError::Memory(err)
    }
}

/// Why a memory figure could not be measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MemoryError {
    /// A file under `/proc` could not be read.
    Read {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// `/proc/self/status` has no `VmRSS` line.
    NoVmRss,
    /// The `VmRSS` line is not `VmRSS: <number> kB`.
    BadVmRss {
        /// The line as read.
        line: String,
    },
    /// A memory child process could not start, failed, or printed no number.
    Child {
        /// The command, as `Debug` shows it.
        command: String,
        /// What went wrong.
        message: String,
    },
    /// limiter-core rejected the quota.
    Config(ConfigError),
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::Read { path, message } => write!(f, "cannot read {path:?}: {message}"),
            MemoryError::NoVmRss => f.write_str("no \"VmRSS\" line in /proc/self/status"),
            MemoryError::BadVmRss { line } => write!(f, "unreadable resident size {line:?}"),
            MemoryError::Child { command, message } => {
                write!(f, "memory child {command} failed: {message}")
            }
            MemoryError::Config(err) => write!(f, "limiter-core rejected a quota: {err}"),
        }
    }
}

impl std::error::Error for MemoryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_quote_the_value() {
        let err = MemoryError::BadVmRss { line: "VmRSS: 12 MB".to_owned() };
        assert_eq!(err.to_string(), "unreadable resident size \"VmRSS: 12 MB\"");
        let err = BenchError::from(MemoryError::NoVmRss);
        assert_eq!(err.to_string(), "no \"VmRSS\" line in /proc/self/status");
        let err =
            MemoryError::Read { path: "/proc/self/status".to_owned(), message: "gone".to_owned() };
        assert_eq!(err.to_string(), "cannot read \"/proc/self/status\": gone");
    }
}
