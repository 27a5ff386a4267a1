//! Every stored input of the host's fuzz targets (`fuzz/corpus/ingress_*`,
//! `fuzz/corpus/config` and their `fuzz/regressions/`) through the ingress
//! parsers and the config checks, with the fuzz targets' own checks
//! (`fuzz/src/ingress.rs`, `fuzz/src/config.rs`, compiled in here): the
//! fuzzing's findings stay fixed on stable Rust, in every test run, without
//! nightly or libFuzzer. The adapter targets' inputs are replayed by
//! `fuzz/tests/replay.rs`.

#[path = "../../fuzz/src/config.rs"]
mod config;
#[path = "../../fuzz/src/ingress.rs"]
mod ingress;
#[path = "../../fuzz/src/stored.rs"]
mod stored;

use std::path::Path;

use switchyard::canonical::ChatRequest;
use switchyard::ingress::{anthropic, openai};

type Parse = fn(&[u8]) -> Result<ChatRequest, switchyard::error::ApiError>;

/// Replay one target's inputs; how many bodies were accepted.
fn replay(target: &str, dialect: &str, parse: Parse) -> usize {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut accepted = 0;
    stored::replay(&fuzz_dir, target, |data| {
        if let Ok(req) = parse(data) {
            ingress::check_accepted(data, &req, dialect);
            accepted += 1;
        }
    });
    eprintln!("{target}: {accepted} bodies accepted and checked");
    accepted
}

#[test]
fn openai_ingress_corpus() {
    let accepted = replay("ingress_openai", "openai", openai::parse_request);
    // A corpus of refused bodies only would not exercise the check.
    assert!(accepted >= 10, "{accepted} accepted");
}

#[test]
fn anthropic_ingress_corpus() {
    let accepted = replay("ingress_anthropic", "anthropic", anthropic::parse_request);
    assert!(accepted >= 10, "{accepted} accepted");
}

#[test]
fn config_corpus() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    stored::replay(&fuzz_dir, "config", config::check);
}
