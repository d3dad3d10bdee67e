//! The bench binary's command line.

use std::fmt;

use crate::keys::Family;
use crate::subject::Implementation;

/// The usage text.
pub const USAGE: &str = "\
usage: suite [--quick] [--runs N] [--outside] [--adversarial]
       suite --memory-child IMPLEMENTATION FAMILY KEYS SEED

  --quick          fewer, shorter samples (same keys and shapes)
  --adversarial    only the adversarial-keys table (structured key sets
                   against random ones), not the suite
  --runs N         run the whole suite N times; print the last run's table,
                   then how often each target was met and its figure's range
  --outside        run only issue #23's outside shape and its variants
  --memory-child   internal: print the resident bytes per key that
                   IMPLEMENTATION (ours, governor, floor) adds for KEYS
                   distinct FAMILY (IPv4, IPv6) keys drawn from SEED
";

/// What the bench binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run the suite and print the table.
    Suite {
        /// The short version.
        quick: bool,
        /// How many times to run it (at least 1).
        runs: usize,
        /// Only the outside shape's table, not the suite's.
        outside_only: bool,
    },
    /// Run only the adversarial-keys table.
    Adversarial {
        /// The short version.
        quick: bool,
    },
    /// Measure one memory figure in this process and print it.
    MemoryChild {
        /// Whose memory.
        implementation: Implementation,
        /// Which keys.
        family: Family,
        /// How many keys.
        keys: usize,
        /// The keys' seed.
        seed: u64,
    },
}

/// A command line the bench binary cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgsError {
    /// An argument it does not know.
    Unknown {
        /// The argument.
        arg: String,
    },
    /// A flag without all its values.
    MissingValue {
        /// The flag, such as `--memory-child`.
        flag: &'static str,
        /// The value missing, such as `KEYS`.
        name: &'static str,
    },
    /// A value that is not what its place needs.
    BadValue {
        /// The value's name, such as `FAMILY`.
        name: &'static str,
        /// The value given.
        value: String,
    },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown { arg } => write!(f, "unknown argument {arg:?}"),
            ArgsError::MissingValue { flag, name } => write!(f, "{flag} needs {name}"),
            ArgsError::BadValue { name, value } => write!(f, "invalid {name} {value:?}"),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Reads the arguments after the program name. `--bench`, which `cargo
/// bench` passes to every bench target, is ignored.
///
/// # Errors
///
/// An [`ArgsError`] naming the first argument it cannot use.
pub fn parse(args: &[String]) -> Result<Command, ArgsError> {
    let mut args = args.iter().map(String::as_str).filter(|a| *a != "--bench");
    let (mut quick, mut runs, mut outside_only, mut adversarial) = (false, 1, false, false);
    while let Some(arg) = args.next() {
        match arg {
            "--quick" => quick = true,
            "--outside" => outside_only = true,
            "--adversarial" => adversarial = true,
            "--runs" => {
                let value =
                    args.next().ok_or(ArgsError::MissingValue { flag: "--runs", name: "N" })?;
                runs = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| ArgsError::BadValue { name: "N", value: value.to_owned() })?;
            }
            "--memory-child" => return memory_child(&mut args),
            _ => return Err(ArgsError::Unknown { arg: arg.to_owned() }),
        }
    }
    if adversarial {
        return Ok(Command::Adversarial { quick });
    }
    Ok(Command::Suite { quick, runs, outside_only })
}

fn memory_child<'a>(args: &mut impl Iterator<Item = &'a str>) -> Result<Command, ArgsError> {
    let mut value =
        |name| args.next().ok_or(ArgsError::MissingValue { flag: "--memory-child", name });
    let bad = |name, value: &str| ArgsError::BadValue { name, value: value.to_owned() };
    let implementation = value("IMPLEMENTATION")?;
    let implementation = Implementation::from_name(implementation)
        .ok_or_else(|| bad("IMPLEMENTATION", implementation))?;
    let family = value("FAMILY")?;
    let family = Family::from_name(family).ok_or_else(|| bad("FAMILY", family))?;
    let keys = value("KEYS")?;
    let keys = keys.parse().ok().filter(|&n| n > 0).ok_or_else(|| bad("KEYS", keys))?;
    let seed = value("SEED")?;
    let seed = seed.parse().map_err(|_| bad("SEED", seed))?;
    if let Some(extra) = args.next() {
        return Err(ArgsError::Unknown { arg: extra.to_owned() });
    }
    Ok(Command::MemoryChild { implementation, family, keys, seed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(args: &[&str], expected: Result<Command, ArgsError>) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        assert_eq!(parse(&args), expected);
    }

    #[test]
    fn suite_flags() {
        let suite = |quick, runs, outside_only| Ok(Command::Suite { quick, runs, outside_only });
        check(&[], suite(false, 1, false));
        check(&["--bench"], suite(false, 1, false));
        check(&["--quick", "--bench"], suite(true, 1, false));
        check(&["--runs", "5", "--quick"], suite(true, 5, false));
        check(&["--outside", "--quick"], suite(true, 1, true));
        check(&["--adversarial", "--quick"], Ok(Command::Adversarial { quick: true }));
        check(&["--fast"], Err(ArgsError::Unknown { arg: "--fast".to_owned() }));
        check(&["--runs"], Err(ArgsError::MissingValue { flag: "--runs", name: "N" }));
        for bad in ["0", "-1", "five"] {
            check(&["--runs", bad], Err(ArgsError::BadValue { name: "N", value: bad.to_owned() }));
        }
    }

    #[test]
    fn memory_child_values() {
        check(
            &["--memory-child", "governor", "IPv6", "1000000", "7"],
            Ok(Command::MemoryChild {
                implementation: Implementation::Governor,
                family: Family::V6,
                keys: 1_000_000,
                seed: 7,
            }),
        );
        check(
            &["--memory-child", "ours", "v4"],
            Err(ArgsError::MissingValue { flag: "--memory-child", name: "KEYS" }),
        );
        let bad = |name, value: &str| Err(ArgsError::BadValue { name, value: value.to_owned() });
        check(&["--memory-child", "redis", "v4", "1", "1"], bad("IMPLEMENTATION", "redis"));
        check(&["--memory-child", "ours", "v5", "1", "1"], bad("FAMILY", "v5"));
        check(&["--memory-child", "ours", "v4", "0", "1"], bad("KEYS", "0"));
        check(&["--memory-child", "ours", "v4", "1", "-1"], bad("SEED", "-1"));
        check(
            &["--memory-child", "ours", "v4", "1", "1", "more"],
            Err(ArgsError::Unknown { arg: "more".to_owned() }),
        );
    }

    #[test]
    fn errors_quote_the_value() {
        let err = ArgsError::BadValue { name: "FAMILY", value: "v5".to_owned() };
        assert_eq!(err.to_string(), "invalid FAMILY \"v5\"");
        assert_eq!(
            ArgsError::MissingValue { flag: "--memory-child", name: "SEED" }.to_string(),
            "--memory-child needs SEED"
        );
    }
}
