//! The README's library snippets are the crate doc's quick example and the
//! builder's example, verbatim, so the README shows code that compiles and
//! runs as a doctest.

use std::path::Path;

/// The fenced blocks in `text` that open with `fence`, without the lines
/// rustdoc hides (those starting with `#`).
fn blocks(text: &str, fence: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while lines.by_ref().any(|line| line.trim() == fence) {
        let block = lines
            .by_ref()
            .take_while(|line| line.trim() != "```")
            .map(str::trim_end)
            .filter(|line| !line.trim_start().starts_with('#'))
            .map(str::to_owned)
            .collect();
        blocks.push(block);
    }
    blocks
}

/// The doc comment lines (`prefix`) of a source file, unindented.
fn doc_text(source: &str, prefix: &str) -> String {
    source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix(prefix))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn readme_snippets_are_the_doc_examples() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest.join("../../README.md")).unwrap();
    let source = |file: &str| std::fs::read_to_string(manifest.join(file)).unwrap();
    let quick = blocks(&doc_text(&source("src/lib.rs"), "//!"), "```").remove(0);
    let builder = blocks(&doc_text(&source("src/builder.rs"), "///"), "```").remove(0);
    assert!(quick.len() > 3 && builder.len() > 3, "examples missing from the docs");
    let readme = blocks(&readme, "```rust");
    assert_eq!(readme, [quick, builder], "README.md's ```rust blocks");
}
