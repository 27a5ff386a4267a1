//! `switchyard plugin new`: write a plugin project that builds as it is.
//!
//! - a policy (Rust, Python, JavaScript): the same example in every language
//!   (fastest model first, by the latency the host measured; time to first
//!   token for streams; open breakers last), with sample `requests.jsonl`
//!   and `candidates.json` for `switchyard plugin test`;
//! - an evaluator (Rust, Python, JavaScript): the same keyword evaluator in
//!   every language, with sample `cases.jsonl` for `switchyard plugin eval`;
//! - an adapter (Rust): a standalone one-file OpenAI-compatible adapter
//!   derived from the first-party `openai` one, with a `gateway.toml` that
//!   reaches `switchyard mock-upstream` through it.
//!
//! Each project has a copy of the WIT files this binary was built with, a
//! build command, and a README whose "try it" command runs on the sample
//! files shipped with it. The templates are plain files with
//! `{{name}}`-style placeholders, compiled into the binary. Writing refuses
//! any existing non-empty directory, so a scaffold never overwrites
//! someone's work.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The wit-bindgen version of the first-party plugins (plugins/Cargo.toml),
/// written out in full because a scaffold is a standalone crate.
pub const WIT_BINDGEN_VERSION: &str = "0.63";

/// The componentize-qjs version of examples/policies/javascript.
pub const COMPONENTIZE_QJS_VERSION: &str = "0.4.5";

/// The WIT package, as this binary implements it.
const WIT: &[(&str, &str)] = &[
    ("adapter.wit", include_str!("../../../../wit/adapter.wit")),
    ("policy.wit", include_str!("../../../../wit/policy.wit")),
    ("types.wit", include_str!("../../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../../wit/worlds.wit")),
    (
        "evaluator.wit",
        include_str!("../../../../wit/evaluator.wit"),
    ),
    (
        "embeddings.wit",
        include_str!("../../../../wit/embeddings.wit"),
    ),
];

/// The versions the first-party guests are built with; a scaffold starts
/// from them so its first build resolves nothing new.
const PLUGINS_LOCK: &str = include_str!("../../../../plugins/Cargo.lock");

/// (path in the project, template, executable).
type Template = (&'static str, &'static str, bool);

/// The sample inputs of a policy's `plugin test`.
const POLICY_SAMPLES: &[Template] = &[
    (
        "requests.jsonl",
        include_str!("templates/samples/requests.jsonl"),
        false,
    ),
    (
        "candidates.json",
        include_str!("templates/samples/candidates.json"),
        false,
    ),
];

/// The sample input of an evaluator's `plugin eval`.
const EVALUATOR_SAMPLES: &[Template] = &[(
    "cases.jsonl",
    include_str!("templates/samples/cases.jsonl"),
    false,
)];

const RUST_POLICY: &[Template] = &[
    (
        "Cargo.toml",
        include_str!("templates/rust/Cargo.toml.tmpl"),
        false,
    ),
    (
        "src/lib.rs",
        include_str!("templates/rust/lib.rs.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("templates/rust/README.md.tmpl"),
        false,
    ),
    (".gitignore", "/target\n", false),
];

const PYTHON_POLICY: &[Template] = &[
    (
        "app.py",
        include_str!("templates/python/app.py.tmpl"),
        false,
    ),
    (
        "build.sh",
        include_str!("templates/python/build.sh.tmpl"),
        true,
    ),
    (
        "README.md",
        include_str!("templates/python/README.md.tmpl"),
        false,
    ),
    (".gitignore", "*.wasm\n__pycache__/\n", false),
];

const JS_POLICY: &[Template] = &[
    (
        "{{name}}.js",
        include_str!("templates/js/policy.js.tmpl"),
        false,
    ),
    (
        "build.mjs",
        include_str!("templates/js/build.mjs.tmpl"),
        false,
    ),
    (
        "package.json",
        include_str!("templates/js/package.json.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("templates/js/README.md.tmpl"),
        false,
    ),
    (".gitignore", "*.wasm\nnode_modules/\n", false),
];

const RUST_EVALUATOR: &[Template] = &[
    (
        "Cargo.toml",
        include_str!("templates/evaluator/rust/Cargo.toml.tmpl"),
        false,
    ),
    (
        "src/lib.rs",
        include_str!("templates/evaluator/rust/lib.rs.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("templates/evaluator/rust/README.md.tmpl"),
        false,
    ),
    (".gitignore", "/target\n", false),
];

const PYTHON_EVALUATOR: &[Template] = &[
    (
        "app.py",
        include_str!("templates/evaluator/python/app.py.tmpl"),
        false,
    ),
    (
        "build.sh",
        include_str!("templates/evaluator/python/build.sh.tmpl"),
        true,
    ),
    (
        "README.md",
        include_str!("templates/evaluator/python/README.md.tmpl"),
        false,
    ),
    (".gitignore", "*.wasm\n__pycache__/\n", false),
];

const JS_EVALUATOR: &[Template] = &[
    (
        "{{name}}.js",
        include_str!("templates/evaluator/js/evaluator.js.tmpl"),
        false,
    ),
    (
        "build.mjs",
        include_str!("templates/evaluator/js/build.mjs.tmpl"),
        false,
    ),
    (
        "package.json",
        include_str!("templates/evaluator/js/package.json.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("templates/evaluator/js/README.md.tmpl"),
        false,
    ),
    (".gitignore", "*.wasm\nnode_modules/\n", false),
];

const RUST_ADAPTER: &[Template] = &[
    (
        "Cargo.toml",
        include_str!("templates/adapter/rust/Cargo.toml.tmpl"),
        false,
    ),
    (
        "src/lib.rs",
        include_str!("templates/adapter/rust/lib.rs.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("templates/adapter/rust/README.md.tmpl"),
        false,
    ),
    (
        "gateway.toml",
        include_str!("templates/samples/gateway.toml"),
        false,
    ),
    (".gitignore", "/target\n/plugins\n", false),
];

/// What kind of plugin to scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A routing policy (world `policy-plugin`).
    Policy,
    /// An evaluator (world `evaluator-plugin`): scores answers.
    Evaluator,
    /// A provider adapter (world `adapter-plugin`); Rust only.
    Adapter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Evaluator => "evaluator",
            Kind::Adapter => "adapter",
        }
    }
}

/// The language of the scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with wit-bindgen, built with cargo for wasm32-wasip2.
    Rust,
    /// Python, built with componentize-py.
    #[value(alias = "py")]
    Python,
    /// JavaScript, built with componentize-qjs (QuickJS).
    #[value(alias = "javascript")]
    Js,
}

/// `switchyard plugin new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and `-`. It is also the
    /// name of the component file, and so the name routes use.
    pub name: String,
    /// What kind of plugin.
    #[arg(long, value_enum, default_value = "policy")]
    pub kind: Kind,
    /// The language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The directory to create the project in (it goes to DIR/NAME).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// Check a plugin name: it becomes a file name, a crate name and a config
/// value, so only lowercase letters, digits and inner single dashes.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "invalid plugin name `{name}`: use lowercase letters, digits and single `-` \
             (starting with a letter, at most 64 characters), e.g. `my-policy`"
        );
    }
    Ok(())
}

fn fill(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{wit_bindgen}}", WIT_BINDGEN_VERSION)
        .replace("{{componentize_qjs}}", COMPONENTIZE_QJS_VERSION)
}

/// The templates of a project, and the crates a Rust one depends on; an
/// error for a combination that is not scaffolded.
fn templates(kind: Kind, lang: Lang) -> anyhow::Result<(Vec<Template>, &'static [&'static str])> {
    let (own, samples, deps): (&[Template], &[Template], &'static [&'static str]) =
        match (kind, lang) {
            (Kind::Policy, Lang::Rust) => (RUST_POLICY, POLICY_SAMPLES, &["wit-bindgen"]),
            (Kind::Policy, Lang::Python) => (PYTHON_POLICY, POLICY_SAMPLES, &[]),
            (Kind::Policy, Lang::Js) => (JS_POLICY, POLICY_SAMPLES, &[]),
            (Kind::Evaluator, Lang::Rust) => (
                RUST_EVALUATOR,
                EVALUATOR_SAMPLES,
                &["wit-bindgen", "serde_json"],
            ),
            (Kind::Evaluator, Lang::Python) => (PYTHON_EVALUATOR, EVALUATOR_SAMPLES, &[]),
            (Kind::Evaluator, Lang::Js) => (JS_EVALUATOR, EVALUATOR_SAMPLES, &[]),
            (Kind::Adapter, Lang::Rust) => (RUST_ADAPTER, &[], &["wit-bindgen", "serde_json"]),
            (Kind::Adapter, _) => bail!(
                "adapters are scaffolded in Rust only (`--kind adapter --lang rust`): an adapter \
                 runs on every request, where Rust's instances are the cheapest"
            ),
        };
    Ok((own.iter().chain(samples).copied().collect(), deps))
}

/// The files of a project: (relative path, contents, executable).
pub fn files(kind: Kind, lang: Lang, name: &str) -> anyhow::Result<Vec<(PathBuf, String, bool)>> {
    let (templates, deps) = templates(kind, lang)?;
    let mut out: Vec<(PathBuf, String, bool)> = templates
        .iter()
        .map(|(path, t, exec)| (PathBuf::from(fill(path, name)), fill(t, name), *exec))
        .collect();
    for (file, text) in WIT {
        out.push((Path::new("wit").join(file), (*text).to_owned(), false));
    }
    if lang == Lang::Rust
        && let Some(lock) = rust_lock(name, deps)
    {
        out.push((PathBuf::from("Cargo.lock"), lock, false));
    }
    Ok(out)
}

/// A Cargo.lock for a crate `name` depending on `deps` (names of crates in
/// the first-party plugins' lock): the part of that lock they need, so a
/// scaffold builds with the very versions Switchyard's own guests use.
/// `None` (no lock: cargo resolves afresh) if that lock cannot be read.
fn rust_lock(name: &str, deps: &[&str]) -> Option<String> {
    let lock: toml::Table = toml::from_str(PLUGINS_LOCK).ok()?;
    let packages = lock.get("package")?.as_array()?;
    // A dependency is written "name" (one version in the lock) or
    // "name version" (several).
    let matches = |p: &toml::Value, dep: &str| {
        let mut it = dep.split(' ');
        let (n, v) = (it.next(), it.next());
        p.get("name").and_then(|x| x.as_str()) == n
            && v.is_none_or(|v| p.get("version").and_then(|x| x.as_str()) == Some(v))
    };
    let mut keep: Vec<usize> = Vec::new();
    let mut todo: Vec<String> = deps.iter().map(|d| (*d).to_owned()).collect();
    while let Some(dep) = todo.pop() {
        for (i, p) in packages.iter().enumerate() {
            if keep.contains(&i) || !matches(p, &dep) {
                continue;
            }
            keep.push(i);
            if let Some(deps) = p.get("dependencies").and_then(|d| d.as_array()) {
                todo.extend(deps.iter().filter_map(|d| d.as_str()).map(str::to_owned));
            }
        }
    }
    if keep.is_empty() {
        return None;
    }
    let mut root = toml::Table::new();
    root.insert("name".into(), name.into());
    root.insert("version".into(), "0.1.0".into());
    root.insert(
        "dependencies".into(),
        toml::Value::Array(deps.iter().map(|d| (*d).into()).collect()),
    );
    let mut pkgs: Vec<&toml::Value> = keep.iter().map(|&i| &packages[i]).collect();
    let root = toml::Value::Table(root);
    pkgs.push(&root);
    let field = |p: &toml::Value, k: &str| p.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    pkgs.sort_by_key(|p| (field(p, "name"), field(p, "version")));
    // Written the way cargo writes it. (Cargo may still drop a package or
    // two that only other features of the plugins' graph needed.)
    let mut out = format!(
        "# This file is automatically @generated by Cargo.\n\
         # It is not intended for manual editing.\nversion = {}\n",
        lock.get("version")?.as_integer()?
    );
    for p in pkgs {
        out.push_str("\n[[package]]\n");
        for k in ["name", "version", "source", "checksum"] {
            if let Some(v) = field(p, k) {
                out.push_str(&format!("{k} = {v:?}\n"));
            }
        }
        if let Some(deps) = p.get("dependencies").and_then(|d| d.as_array()) {
            out.push_str("dependencies = [\n");
            for d in deps.iter().filter_map(|d| d.as_str()) {
                out.push_str(&format!(" {d:?},\n"));
            }
            out.push_str("]\n");
        }
    }
    Some(out)
}

/// Create the project directory, refusing one that exists and holds anything.
fn create_empty_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; not overwriting it (pick another name or --dir)",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
        }
        Err(e) if dir.exists() => Err(e).with_context(|| {
            format!(
                "{} exists and is not a readable directory; not overwriting it",
                dir.display()
            )
        }),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Write the project; returns its directory.
pub fn write(args: &NewArgs) -> anyhow::Result<PathBuf> {
    validate_name(&args.name)?;
    // Checked before anything is created.
    let files = files(args.kind, args.lang, &args.name)?;
    let dir = args.dir.join(&args.name);
    create_empty_dir(&dir)?;
    for (rel, text, exec) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if exec {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
        #[cfg(not(unix))]
        let _ = exec;
    }
    Ok(dir)
}

/// The command that builds a project and the component it writes.
pub fn build_command(lang: Lang, name: &str) -> (&'static str, String) {
    match lang {
        Lang::Rust => (
            "cargo build --release --target wasm32-wasip2",
            format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
        ),
        Lang::Python => ("./build.sh", format!("{name}.wasm")),
        Lang::Js => ("npm install && node build.mjs", format!("{name}.wasm")),
    }
}

/// `switchyard plugin new`: write the project and say how to build it.
pub fn new_plugin(args: NewArgs) -> anyhow::Result<()> {
    let dir = write(&args)?;
    let name = &args.name;
    let (build, out) = build_command(args.lang, name);
    println!(
        "created {} (a {:?} {})",
        dir.display(),
        args.lang,
        args.kind.as_str()
    );
    println!("build:   cd {} && {build}", dir.display());
    println!("output:  {out}");
    match args.kind {
        Kind::Policy => {
            println!(
                "try it:  switchyard plugin test {out} --requests requests.jsonl --candidates candidates.json"
            );
            println!(
                "deploy:  copy it to the plugin directory as {name}.wasm and set `policy = \"{name}\"` on a route"
            );
        }
        Kind::Evaluator => {
            println!(
                "try it:  switchyard plugin eval {out} --cases cases.jsonl --config '{{\"keywords\": [\"paris\", \"france\"]}}'"
            );
            println!("deploy:  copy it to the plugin directory as {name}.wasm");
        }
        Kind::Adapter => {
            println!(
                "try it:  against `switchyard mock-upstream` with gateway.toml: see README.md"
            );
            println!(
                "deploy:  copy it to the plugin directory as {name}.wasm and set `adapter = \"{name}\"` on a provider"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "my-policy", "p2", "latency-first-v2"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "My", "-a", "a-", "a--b", "2a", "a_b", "a.b", "a/b", "../x", "é",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wit_bindgen_matches_the_plugins_workspace() {
        let ws = include_str!("../../../../plugins/Cargo.toml");
        assert!(
            ws.contains(&format!(
                "wit-bindgen = {{ version = \"{WIT_BINDGEN_VERSION}\""
            )),
            "plugins/Cargo.toml pins another wit-bindgen than {WIT_BINDGEN_VERSION}"
        );
        let pkg = include_str!("../../../../examples/policies/javascript/package.json");
        assert!(pkg.contains(&format!(
            "\"componentize-qjs\": \"{COMPONENTIZE_QJS_VERSION}\""
        )));
    }

    #[test]
    fn no_placeholder_left() {
        for kind in [Kind::Policy, Kind::Evaluator, Kind::Adapter] {
            for lang in [Lang::Rust, Lang::Python, Lang::Js] {
                let Ok(files) = files(kind, lang, "my-plugin") else {
                    assert_eq!(kind, Kind::Adapter, "{lang:?}");
                    continue;
                };
                for (path, text, _) in files {
                    assert!(!text.contains("{{"), "{kind:?} {lang:?} {}", path.display());
                    assert!(!path.display().to_string().contains("{{"));
                }
            }
        }
    }

    #[test]
    fn every_readme_names_only_files_the_project_has() {
        for kind in [Kind::Policy, Kind::Evaluator, Kind::Adapter] {
            for lang in [Lang::Rust, Lang::Python, Lang::Js] {
                let Ok(files) = files(kind, lang, "my-plugin") else {
                    continue;
                };
                let names: Vec<String> = files
                    .iter()
                    .map(|(p, _, _)| p.display().to_string())
                    .collect();
                let readme = &files
                    .iter()
                    .find(|(p, _, _)| p == Path::new("README.md"))
                    .unwrap()
                    .1;
                for sample in [
                    "requests.jsonl",
                    "candidates.json",
                    "cases.jsonl",
                    "gateway.toml",
                ] {
                    if readme.contains(sample) {
                        assert!(
                            names.iter().any(|n| n == sample),
                            "{kind:?} {lang:?}: {sample} missing"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_lock_holds_wit_bindgen_and_what_it_needs() {
        let lock = rust_lock("my-policy", &["wit-bindgen"]).unwrap();
        let parsed: toml::Table = toml::from_str(&lock).unwrap();
        let names: Vec<&str> = parsed["package"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for n in [
            "my-policy",
            "wit-bindgen",
            "wit-bindgen-rust-macro",
            "wit-parser",
        ] {
            assert!(names.contains(&n), "{n} missing: {names:?}");
        }
        // Nothing of the first-party plugins themselves or their other deps.
        for n in ["ordered", "task-router", "regex"] {
            assert!(!names.contains(&n), "{n} in the lock");
        }
        let lock = rust_lock("my-adapter", &["wit-bindgen", "serde_json"]).unwrap();
        assert!(lock.contains("name = \"serde_json\""), "{lock}");
        assert!(lock.contains(" \"serde_json\",\n"), "{lock}");
    }

    #[test]
    fn refuses_a_non_empty_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let args = NewArgs {
            name: "p".into(),
            kind: Kind::Policy,
            lang: Lang::Python,
            dir: tmp.path().to_path_buf(),
        };
        let dir = write(&args).unwrap();
        assert!(dir.join("app.py").exists());
        let err = write(&args).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        // An empty directory is fine.
        std::fs::create_dir(tmp.path().join("q")).unwrap();
        write(&NewArgs {
            name: "q".into(),
            ..args
        })
        .unwrap();
    }
}
