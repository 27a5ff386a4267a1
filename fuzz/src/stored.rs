//! The inputs kept in the repository for a target: `corpus/TARGET/` (the
//! minimized corpus) and `regressions/TARGET/` (inputs that once failed).
//! Used by the corpus replays: `tests/replay.rs` here, and the host's
//! `tests/fuzz_corpus.rs`, which compiles this file in (it needs nothing but
//! std).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
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

/// Run `check` on every stored input of `target` under `fuzz_dir` (the
/// `fuzz/` directory); panic naming each input it panicked on. The corpus
/// must hold at least 100 inputs: an empty one would test nothing.
pub fn replay(fuzz_dir: &Path, target: &str, mut check: impl FnMut(&[u8])) {
    let corpus = files(&fuzz_dir.join("corpus").join(target));
    let regressions = files(&fuzz_dir.join("regressions").join(target));
    assert!(
        corpus.len() >= 100,
        "{target}: only {} corpus inputs",
        corpus.len()
    );
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: inputs that fail: {failures:#?}"
    );
    eprintln!(
        "{target}: {} corpus and {} regression inputs replayed",
        corpus.len(),
        regressions.len()
    );
}
