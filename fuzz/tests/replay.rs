//! Every stored input of every adapter target (`corpus/TARGET/` and
//! `regressions/TARGET/`) run through the same function the fuzz target
//! calls: a regression check that needs neither nightly nor libFuzzer, so
//! the test suite runs it on every change (`scripts/test.sh`). Built as a
//! test, it has overflow checks and debug assertions on, like `cargo fuzz
//! -a`. The ingress targets' inputs are replayed by the host's own tests
//! (`host/tests/fuzz_corpus.rs`), which do not need this crate.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use switchyard_fuzz::targets::ADAPTERS;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_stored_input_still_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for (name, target) in ADAPTERS {
        let corpus = inputs(&root.join("corpus").join(name));
        let regressions = inputs(&root.join("regressions").join(name));
        // The corpus of every target is kept in the repository: an empty one
        // means the replay would test nothing.
        assert!(
            corpus.len() >= 100,
            "{name}: only {} corpus inputs",
            corpus.len()
        );
        for path in corpus.iter().chain(&regressions) {
            let data = match std::fs::read(path) {
                Ok(d) => d,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
        eprintln!(
            "{name}: {} corpus + {} regression inputs",
            corpus.len(),
            regressions.len()
        );
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}
