//! Feeds every checked-in corpus file through its target's entry point.
//!
//! `fuzz/corpus/TARGET/` holds the seeds and the inputs libFuzzer found
//! interesting, so each is a regression test on stable, without nightly.

use std::fs;
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

#[test]
fn every_corpus_file_passes_its_target() {
    for &(target, entry_point) in limiter_fuzz::TARGETS {
        let dir = corpus_dir(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| entry_point(&data));
            assert!(outcome.is_ok(), "{target}: {} found a bug", path.display());
            count += 1;
        }
        assert!(count > 0, "{target}: {} has no corpus files", dir.display());
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for &(target, _) in limiter_fuzz::TARGETS {
        let source = dir.join(format!("{target}.rs"));
        let text =
            fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("limiter_fuzz::{target}(")),
            "{} calls another entry point",
            source.display()
        );
    }
}
