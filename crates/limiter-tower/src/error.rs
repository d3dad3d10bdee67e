//! The crate's errors.

use std::fmt;

/// A range that is not `ADDRESS/LEN` with a length that fits the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCidr {
    input: String,
    reason: &'static str,
}

impl InvalidCidr {
    pub(crate) fn new(input: impl Into<String>, reason: &'static str) -> InvalidCidr {
        InvalidCidr { input: input.into(), reason }
    }

    /// The text that was not a range.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for InvalidCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid CIDR range {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for InvalidCidr {}
