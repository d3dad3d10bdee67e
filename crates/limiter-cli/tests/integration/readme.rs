//! The READMEs' example outputs are the real outputs: each code block after
//! a `<!-- limiter-cli ARGS -->` line is what `limiter-cli ARGS` prints when
//! run from the workspace root.

use std::path::Path;
use std::process::Command;

/// Checks every example of the Markdown file at `path` (from the workspace
/// root) and returns how many there were.
#[track_caller]
fn check_examples(path: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join(path)).unwrap();
    let mut lines = readme.lines();
    let mut checked = 0;
    while let Some(line) = lines.next() {
        let Some(args) =
            line.strip_prefix("<!-- limiter-cli ").and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "{path}: a code block must follow {line:?}");
        let expected: String =
            lines.by_ref().take_while(|l| *l != "```").map(|l| format!("{l}\n")).collect();
        let output = Command::new(env!("CARGO_BIN_EXE_limiter-cli"))
            .args(args.split_whitespace())
            .current_dir(&root)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{path}: {args}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{path}: {args}");
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            expected,
            "{path}: block for `limiter-cli {args}`"
        );
        checked += 1;
    }
    checked
}

#[test]
fn the_workspace_readme_example_is_what_the_binary_prints() {
    assert_eq!(check_examples("README.md"), 1, "README.md examples checked");
}

#[test]
fn the_cli_manual_examples_are_what_the_binary_prints() {
    let manual = "crates/limiter-cli/README.md";
    assert_eq!(check_examples(manual), 2, "{manual} examples checked");
}
