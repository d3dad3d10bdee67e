//! The README's example outputs are the real outputs: each code block after
//! a `<!-- limiter-cli ARGS -->` line is what `limiter-cli ARGS` prints when
//! run from the workspace root.

use std::path::Path;
use std::process::Command;

#[test]
fn readme_examples_are_what_the_binary_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut lines = readme.lines();
    let mut checked = 0;
    while let Some(line) = lines.next() {
        let Some(args) =
            line.strip_prefix("<!-- limiter-cli ").and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "a code block must follow {line:?}");
        let expected: String =
            lines.by_ref().take_while(|l| *l != "```").map(|l| format!("{l}\n")).collect();
        let output = Command::new(env!("CARGO_BIN_EXE_limiter-cli"))
            .args(args.split_whitespace())
            .current_dir(&root)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{args}");
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            expected,
            "README block for `limiter-cli {args}`"
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "README examples checked");
}
