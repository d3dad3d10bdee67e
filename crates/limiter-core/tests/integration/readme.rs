//! The README's library snippet is the crate doc's quick example, verbatim,
//! so the README shows code that compiles and runs as a doctest.

use std::path::Path;

/// The first fenced block in `text` that opens with `fence`, without the
/// lines rustdoc hides (those starting with `#`).
fn first_block(text: &str, fence: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| line.trim() != fence)
        .skip(1)
        .take_while(|line| line.trim() != "```")
        .map(str::trim_end)
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn readme_snippet_is_the_crate_doc_example() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest.join("../../README.md")).unwrap();
    let lib = std::fs::read_to_string(manifest.join("src/lib.rs")).unwrap();
    let doc: String = lib
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let from_doc = first_block(&doc, "```");
    assert!(from_doc.len() > 3, "no example in the crate doc");
    assert_eq!(first_block(&readme, "```rust"), from_doc, "README.md's ```rust block");
}
