//! Every way a run can fail, and the exit status each one maps to.

use std::fmt;
use std::io;

use crate::args::ArgsError;
use crate::trace::TraceError;

/// Why `limiter-cli` stopped.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Arguments that parse but make no sense: exit status 2, like clap's own.
    Usage(ArgsError),
    /// An input that cannot be opened.
    Open { path: String, err: io::Error },
    /// An input that is a directory.
    IsDirectory { path: String },
    /// An input that fails while being read, a corrupt gzip stream included.
    Read { path: String, err: io::Error },
    /// A malformed record, without `--skip-invalid` (boxed: it is large,
    /// and rare).
    Trace(Box<TraceError>),
    /// The decisions file cannot be created.
    CreateDecisions { path: String, err: io::Error },
    /// Writing the decisions file or standard output failed.
    Write { path: String, err: io::Error },
    /// More distinct keys than key ids (2³²).
    TooManyKeys,
    /// `--redis`: Redis could not be reached or failed a call.
    Redis(String),
}

impl CliError {
    /// The process exit status for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Whether this is a write to a closed pipe, as when output is piped into
    /// `head`: the reader has all it wants, so the run ends quietly.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Write { err, .. } if err.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(err) => err.fmt(f),
            CliError::Open { path, err } => write!(f, "cannot open {path:?}: {}", Describe(err)),
            CliError::IsDirectory { path } => {
                write!(f, "cannot read {path:?}: is a directory, not a trace file")
            }
            CliError::Read { path, err } => write!(f, "cannot read {path:?}: {}", Describe(err)),
            CliError::Trace(err) => err.fmt(f),
            CliError::CreateDecisions { path, err } => {
                write!(f, "cannot create decisions file {path:?}: {}", Describe(err))
            }
            CliError::Write { path, err } => {
                write!(f, "cannot write {path}: {}", Describe(err))
            }
            CliError::TooManyKeys => {
                f.write_str("more than 4294967296 distinct keys: the most one replay can count")
            }
            CliError::Redis(err) => write!(f, "--redis: {err}"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Usage(err) => Some(err),
            CliError::Trace(err) => Some(&**err),
            CliError::Open { err, .. }
            | CliError::Read { err, .. }
            | CliError::CreateDecisions { err, .. }
            | CliError::Write { err, .. } => Some(err),
            CliError::IsDirectory { .. } | CliError::TooManyKeys | CliError::Redis(_) => None,
        }
    }
}

impl From<TraceError> for CliError {
    fn from(err: TraceError) -> CliError {
        CliError::Trace(Box::new(err))
    }
}

impl From<ArgsError> for CliError {
    fn from(err: ArgsError) -> CliError {
        CliError::Usage(err)
    }
}

/// An I/O error in lowercase words, without the OS's capitals and codes for
/// the common cases.
struct Describe<'a>(&'a io::Error);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.kind() {
            io::ErrorKind::NotFound => f.write_str("no such file or directory"),
            io::ErrorKind::PermissionDenied => f.write_str("permission denied"),
            io::ErrorKind::IsADirectory => f.write_str("is a directory"),
            io::ErrorKind::NotADirectory => {
                f.write_str("a component of the path is not a directory")
            }
            io::ErrorKind::BrokenPipe => f.write_str("broken pipe"),
            io::ErrorKind::StorageFull => f.write_str("no space left on device"),
            _ => {
                // OS messages start with a capital; ours do not.
                let text = self.0.to_string();
                let mut chars = text.chars();
                let first = chars.next().map(|c| c.to_lowercase().to_string()).unwrap_or_default();
                write!(f, "{first}{}", chars.as_str())
            }
        }
    }
}
