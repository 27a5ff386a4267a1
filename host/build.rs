//! Builds the first-party plugins (Rust guest crates under `plugins/<kind>/`)
//! for `wasm32-wasip2` and generates the table that embeds them in the binary.
//!
//! Crates under `plugins/test/` (or whose name starts with `test-`) are test
//! plugins: built the same way, never embedded and never compiled into the
//! library. `test_plugins.rs` (in OUT_DIR) gives tests their paths, one
//! constant each, and a `foreach_test_plugin!` macro over them; a copy of
//! each sits in `<target>/<profile>/test-plugins/` for the end-to-end tests.
//! The guests live in a workspace of their own and build into
//! `<target>/wasm-plugins/<checkout hash>`, so the nested cargo never waits on
//! the lock of the target directory this build holds, and checkouts sharing a
//! target directory keep their guests apart.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let root = manifest_dir
        .parent()
        .ok_or("host crate has no parent directory")?
        .to_path_buf();
    let plugins = root.join("plugins");
    let wit = root.join("wit");
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-changed={}", wit.display());

    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let target_root = out_dir
        .ancestors()
        .nth(4)
        .ok_or("unexpected OUT_DIR layout")?
        .to_path_buf();
    // One guest target directory per checkout: two checkouts sharing a
    // target directory would otherwise overwrite each other's uplifted
    // `.wasm` files between a build and its copy below.
    let checkout = {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        plugins.hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let guest_target = target_root.join("wasm-plugins").join(checkout);

    // cargo-fuzz builds with `--cfg fuzzing`: the fuzz targets (fuzz/) drive
    // the ingress parsers and never load a plugin, and the nested guest build
    // would need the fuzzing toolchain (nightly) to have the wasm32-wasip2
    // target too. Embed no plugins there.
    if std::env::var_os("CARGO_CFG_FUZZING").is_some() {
        let empty = "/// No plugins: built for fuzzing (see build.rs).\n\
                     pub const EMBEDDED: &[(&str, &[u8])] = &[];\n";
        let no_tests = "/// No test plugins: built for fuzzing.\n\
                        pub const TEST_PLUGINS: &[(&str, &str)] = &[];\n\
                        #[allow(unused_macros)]\n\
                        macro_rules! foreach_test_plugin { ($m:ident) => {}; }\n";
        std::fs::write(out_dir.join("test_plugins.rs"), no_tests)
            .map_err(|e| format!("writing test_plugins.rs: {e}"))?;
        return std::fs::write(out_dir.join("plugins.rs"), empty)
            .map_err(|e| format!("writing plugins.rs: {e}"));
    }

    let crates = guest_crates(&plugins)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target=wasm32-wasip2")
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&guest_target);
    for c in &crates {
        cmd.arg("-p").arg(&c.package);
    }
    // The host's flags and profile settings are not the guests'.
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_PROFILE_")
            || k.starts_with("CARGO_BUILD_")
            || k.starts_with("CARGO_CFG_")
            || k.starts_with("CARGO_FEATURE_")
            || k.starts_with("CARGO_ENCODED_")
            || k == "RUSTFLAGS"
            || k == "CARGO_TARGET_DIR"
            || k == "CARGO_MAKEFLAGS"
            || k == "TARGET"
            || k == "OUT_DIR"
        {
            cmd.env_remove(&k);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running cargo for the plugins: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            return Err(
                "the wasm32-wasip2 target is not installed: run `rustup target add wasm32-wasip2` \
                 (scripts/setup.sh does this)"
                    .into(),
            );
        }
        return Err(format!("building the plugins failed:\n{stderr}"));
    }

    let wasm_dir = guest_target.join("wasm32-wasip2").join("release");
    // Test plugins go next to the binary (`<target>/<profile>/test-plugins/`,
    // as cargo puts examples in `examples/`), where the end-to-end tests find
    // them; the Rust tests get their paths from `test_plugins.rs`.
    let test_dir = out_dir
        .ancestors()
        .nth(3)
        .ok_or("unexpected OUT_DIR layout")?
        .join("test-plugins");
    std::fs::create_dir_all(&test_dir)
        .map_err(|e| format!("creating {}: {e}", test_dir.display()))?;
    let mut embedded =
        String::from("/// First-party plugins built into the binary: (name, component bytes).\n");
    embedded.push_str("pub const EMBEDDED: &[(&str, &[u8])] = &[\n");
    let mut tests = String::from(
        "// Generated by build.rs: the test plugins (`plugins/test/`), for tests only.\n\n\
         /// Test plugins, by name and path of their component.\n\
         #[allow(dead_code)]\n\
         pub const TEST_PLUGINS: &[(&str, &str)] = &[\n",
    );
    let mut foreach = String::from(
        "/// `foreach_test_plugin!(m)` calls `m!(const_name, \"plugin-name\")` for every\n\
         /// test plugin, so a test file can check that it covers them all.\n\
         #[allow(unused_macros)]\n\
         macro_rules! foreach_test_plugin {\n    ($m:ident) => {\n",
    );
    let mut consts = String::new();
    for Guest {
        name: c,
        package,
        test,
    } in &crates
    {
        // Cargo names the component after the package.
        let file = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        if !file.exists() {
            return Err(format!(
                "plugin `{c}` (package `{package}`) built but {} is missing",
                file.display()
            ));
        }
        // Copy into OUT_DIR so the embedded bytes are the ones of this build.
        let copy = out_dir.join(format!("{c}.wasm"));
        std::fs::copy(&file, &copy).map_err(|e| format!("copying {}: {e}", file.display()))?;
        let path = copy.display().to_string();
        if *test {
            let by_binary = test_dir.join(format!("{c}.wasm"));
            std::fs::copy(&file, &by_binary)
                .map_err(|e| format!("copying {}: {e}", file.display()))?;
            let ident = c.to_uppercase().replace('-', "_");
            tests.push_str(&format!("    ({c:?}, {path:?}),\n"));
            consts.push_str(&format!(
                "/// The component of test plugin `{c}`.\n#[allow(dead_code)]\npub const {ident}: &str = {path:?};\n"
            ));
            foreach.push_str(&format!("        $m!({ident}, {c:?});\n"));
        } else {
            embedded.push_str(&format!("    ({c:?}, include_bytes!({path:?})),\n"));
        }
    }
    embedded.push_str("];\n");
    tests.push_str("];\n");
    tests.push_str(&consts);
    foreach.push_str("    };\n}\n");
    tests.push_str(&foreach);
    std::fs::write(out_dir.join("plugins.rs"), embedded)
        .map_err(|e| format!("writing plugins.rs: {e}"))?;
    std::fs::write(out_dir.join("test_plugins.rs"), tests)
        .map_err(|e| format!("writing test_plugins.rs: {e}"))?;
    Ok(())
}

fn env(k: &str) -> Result<String, String> {
    std::env::var(k).map_err(|_| format!("{k} is not set"))
}

/// The directories under `plugins/` that group the guest crates by kind
/// (the members of plugins/Cargo.toml).
const KINDS: &[&str] = &["adapters", "policies", "evaluators", "kits", "test"];

/// The kind directory whose plugins are test plugins.
const TEST_KIND: &str = "test";

/// A plugin crate to build.
struct Guest {
    /// The plugin's name: its directory's (`match`).
    name: String,
    /// The crate's package name, usually the same; it differs where the
    /// directory's name cannot be a package's (`match` is a Rust keyword, so
    /// its package is `match-evaluator`). The component file is named after
    /// the package.
    package: String,
    /// A test plugin: exposed to tests by path, not embedded.
    test: bool,
}

/// Plugin crates: directories under `plugins/<kind>/` whose manifest builds a
/// cdylib.
fn guest_crates(plugins: &Path) -> Result<Vec<Guest>, String> {
    let mut out = Vec::new();
    for kind in KINDS {
        let dir = plugins.join(kind);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else {
                continue;
            };
            if text.contains("cdylib") {
                let name = entry.file_name().to_string_lossy().into_owned();
                let package = package_name(&text)
                    .ok_or_else(|| format!("{}: no [package] name", manifest.display()))?;
                let test = *kind == TEST_KIND || name.starts_with("test-");
                out.push(Guest {
                    name,
                    package,
                    test,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The `name` of a manifest's `[package]` table (a plain `name = "…"` line,
/// as every guest manifest writes it).
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        if let Some(rest) = line.strip_prefix("name")
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            let value = value.trim();
            return Some(value.strip_prefix('"')?.strip_suffix('"')?.to_owned());
        }
    }
    None
}
