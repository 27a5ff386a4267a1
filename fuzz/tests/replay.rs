//! Every stored input of every adapter target (`corpus/TARGET/` and
//! `regressions/TARGET/`) run through the same function the fuzz target
//! calls: a regression check that needs neither nightly nor libFuzzer, so
//! the test suite runs it on every change (`scripts/test.sh`). Built as a
//! test, it has overflow checks and debug assertions on, like `cargo fuzz
//! -a`. The ingress targets' inputs are replayed by the host's own tests
//! (`host/tests/fuzz_corpus.rs`), which do not need this crate.

use std::path::Path;

use switchyard_fuzz::stored::replay;
use switchyard_fuzz::targets::ADAPTERS;

#[test]
fn every_stored_input_still_passes() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, target) in ADAPTERS {
        replay(fuzz_dir, name, target);
    }
}
