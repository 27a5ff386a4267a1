#![allow(clippy::expect_used)]

//! Every test plugin (`plugins/test/`) is used by some test: a test plugin no
//! test loads is dead weight in every build, and usually a test that was
//! meant to exist and does not. The list comes from the build script
//! (`foreach_test_plugin!`), so a new test plugin is checked without
//! touching this file.

use std::path::Path;

#[macro_use]
mod test_plugins {
    include!(concat!(env!("OUT_DIR"), "/test_plugins.rs"));
}

/// The test sources that may load a test plugin: the host's unit and
/// integration tests, its benchmarks, and the end-to-end tests.
fn test_sources() -> Vec<(String, String)> {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = host
        .parent()
        .expect("the host crate sits in the repository");
    let mut out = Vec::new();
    let mut add = |dir: &Path, ext: &str| {
        for entry in std::fs::read_dir(dir).expect("a test directory") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == ext) && !path.ends_with("test_plugins.rs") {
                let text = std::fs::read_to_string(&path).expect("a readable test file");
                out.push((path.display().to_string(), text));
            }
        }
    };
    add(&host.join("src/runtime"), "rs");
    add(&host.join("tests"), "rs");
    add(&host.join("benches"), "rs");
    add(&repo.join("tests"), "py");
    out
}

#[test]
fn every_test_plugin_is_used_by_a_test() {
    let sources = test_sources();
    let mut unused = Vec::new();
    macro_rules! check {
        ($konst:ident, $name:literal) => {
            assert!(
                Path::new(test_plugins::$konst).is_file(),
                "{} was not built",
                $name
            );
            if !sources
                .iter()
                .any(|(_, text)| text.contains($name) || text.contains(stringify!($konst)))
            {
                unused.push($name);
            }
        };
    }
    foreach_test_plugin!(check);
    assert!(!test_plugins::TEST_PLUGINS.is_empty());
    assert!(
        unused.is_empty(),
        "test plugins no test uses (remove them or test them): {unused:?}"
    );
}
