//! Every stored input of the ingress fuzz targets (`fuzz/corpus/ingress_*`
//! and `fuzz/regressions/ingress_*`) through the ingress parsers, with the
//! fuzz targets' own check on what is accepted (`fuzz/src/ingress.rs`,
//! compiled in here): the fuzzing's findings stay fixed on stable Rust, in
//! every test run, without nightly or libFuzzer. The adapter targets' inputs
//! are replayed by `fuzz/tests/replay.rs`.

#[path = "../../fuzz/src/ingress.rs"]
mod ingress;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use switchyard::proxy::{anthropic, openai};

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

/// Replay one target's inputs; returns (accepted, refused).
fn replay(target: &str, dialect: &str) -> (usize, usize) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = inputs(&fuzz.join("corpus").join(target));
    let regressions = inputs(&fuzz.join("regressions").join(target));
    assert!(
        corpus.len() >= 100,
        "{target}: only {} corpus inputs",
        corpus.len()
    );
    assert!(!regressions.is_empty(), "{target}: no regression inputs");
    let (mut accepted, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let run = catch_unwind(AssertUnwindSafe(|| {
            let parsed = match dialect {
                "openai" => openai::parse_request(&data),
                _ => anthropic::parse_request(&data),
            };
            match parsed {
                Ok(req) => {
                    ingress::check_accepted(&data, &req, dialect);
                    true
                }
                Err(_) => false,
            }
        }));
        match run {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => failures.push(path.display().to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: inputs that fail: {failures:#?}"
    );
    (accepted, refused)
}

#[test]
fn openai_ingress_corpus() {
    let (accepted, refused) = replay("ingress_openai", "openai");
    // A corpus that only holds refused bodies would not exercise the check.
    assert!(accepted >= 10, "{accepted} accepted, {refused} refused");
}

#[test]
fn anthropic_ingress_corpus() {
    let (accepted, refused) = replay("ingress_anthropic", "anthropic");
    assert!(accepted >= 10, "{accepted} accepted, {refused} refused");
}
