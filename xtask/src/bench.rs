//! `cargo xtask bench [--quick] [--runs N] [--outside] [--adversarial]
//! [--profile P] [--markdown]`: builds limiter-bench's suite in release
//! (cargo's bench profile, or the profile `P`, such as `release-lto`) and
//! runs it, printing one table that compares limiter-core with governor and
//! a floor, then issue #23's outside shape. `--markdown` also writes those
//! tables (the suite prints markdown) to the `bench` section of
//! BENCHMARKS.md, or to `bench-P` for another profile; `--adversarial` runs
//! only the adversarial-keys table, into `bench-adversarial`.

use std::error::Error;

use crate::markdown;

/// Runs the suite with `args`.
pub(crate) fn bench(args: &[String]) -> Result<(), Box<dyn Error>> {
    let (args, write) = markdown::take_flag(args);
    let (profile, suite_args) = check_args(&args)?;
    let mut all = vec!["bench", "--quiet", "-p", "limiter-bench", "--bench", "suite"];
    if let Some(profile) = profile {
        all.extend(["--profile", profile]);
    }
    all.push("--");
    all.extend(suite_args.iter().map(String::as_str));
    if !write {
        return super::cargo(&all);
    }
    let output = markdown::run_teed(super::cargo_command(&all))?;
    let command_line = ["cargo xtask bench"].into_iter().chain(args.iter().map(String::as_str));
    // The adversarial table alone has a section of its own.
    let section = if args.iter().any(|arg| arg == "--adversarial") {
        "bench-adversarial".to_owned()
    } else {
        profile.map_or_else(|| "bench".to_owned(), |profile| format!("bench-{profile}"))
    };
    markdown::write_section(&section, &command_line.collect::<Vec<_>>().join(" "), &output)
}

/// Rejects, before the build, arguments the suite cannot take, and splits
/// off the cargo profile: returns it and the suite's arguments. The suite
/// checks `--runs`' value itself.
fn check_args(args: &[String]) -> Result<(Option<&str>, Vec<String>), String> {
    let mut rest = args.iter();
    let (mut profile, mut suite) = (None, Vec::new());
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" | "--outside" | "--adversarial" => suite.push(arg.clone()),
            "--runs" => match rest.next() {
                Some(n) => suite.extend([arg.clone(), n.clone()]),
                None => return Err("bench: --runs needs N".to_owned()),
            },
            "--profile" => match rest.next() {
                Some(name) => profile = Some(name.as_str()),
                None => return Err("bench: --profile needs a cargo profile".to_owned()),
            },
            _ => {
                return Err(format!(
                    "bench: unknown argument {arg:?} \
                     (--quick, --runs N, --outside, --adversarial, --profile P, --markdown)"
                ));
            }
        }
    }
    Ok((profile, suite))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Result<(Option<String>, Vec<String>), String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        check_args(&args).map(|(profile, suite)| (profile.map(str::to_owned), suite))
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn arguments_are_checked_before_the_build() {
        assert_eq!(check(&[]), Ok((None, vec![])));
        assert_eq!(
            check(&["--runs", "3", "--quick"]),
            Ok((None, strings(&["--runs", "3", "--quick"])))
        );
        assert_eq!(check(&["--runs"]), Err("bench: --runs needs N".to_owned()));
        assert_eq!(
            check(&["--fast"]),
            Err("bench: unknown argument \"--fast\" \
                 (--quick, --runs N, --outside, --adversarial, --profile P, --markdown)"
                .to_owned())
        );
    }

    #[test]
    fn the_profile_goes_to_cargo_and_the_rest_to_the_suite() {
        assert_eq!(
            check(&["--quick", "--profile", "release-lto", "--outside"]),
            Ok((Some("release-lto".to_owned()), strings(&["--quick", "--outside"])))
        );
        assert_eq!(check(&["--profile"]), Err("bench: --profile needs a cargo profile".to_owned()));
    }
}
