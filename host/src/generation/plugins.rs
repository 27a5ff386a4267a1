//! Plugin bytes and their loading for a candidate generation: the embedded
//! first-party plugins the config names, and every `*.wasm` file of the
//! plugin directory (one named like an embedded plugin overrides it). An
//! embedded plugin the config does not name is not compiled (start-up
//! compiles only what serves); a reload that names it loads it then. A
//! plugin whose bytes, source and config did not change
//! is carried over as it is (no compile, no self-check), one that fails to
//! load is refused and the previous version of it, if any, stays. Never
//! validates the config (see [`super::assemble`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use super::Generation;
use crate::config::Config;
use crate::runtime::{Plugin, PluginKind, PluginSource, Runtime};

/// First-party plugins compiled into the binary by `build.rs`.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

/// A TOML value as JSON, the form plugins receive their config in.
pub(crate) fn toml_to_json(v: &toml::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Plugin bytes by name, with where they came from.
pub type PluginSources = BTreeMap<String, (PluginSource, Arc<[u8]>)>;

/// Read the plugin sources: the embedded ones `wanted` names (the others'
/// bytes are never touched, so they take no memory), overridden by `*.wasm`
/// files of the plugin directory with the same name.
pub fn plugin_sources(
    dir: Option<&Path>,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<PluginSources> {
    let mut out: PluginSources = embedded::EMBEDDED
        .iter()
        .filter(|(n, _)| wanted(n))
        .map(|(n, b)| ((*n).to_owned(), (PluginSource::Embedded, Arc::from(*b))))
        .collect();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading plugin directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let bytes = crate::config::read_capped(&path, crate::config::PLUGIN_FILE_MAX)
                .with_context(|| format!("reading plugin {}", path.display()))?;
            out.insert(name, (PluginSource::File(path), Arc::from(bytes)));
        }
    }
    Ok(out)
}

/// Plugins loaded for a candidate generation.
pub struct LoadedPlugins {
    /// Every usable plugin by name.
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    /// Names of plugins compiled for this generation (not carried over).
    pub fresh: Vec<String>,
    /// Plugins refused, with the reason; an older version of a refused
    /// plugin keeps serving when there is one.
    pub errors: BTreeMap<String, String>,
}

/// Load the plugins of `config`: the embedded ones it names and all of the
/// plugin directory's. A plugin whose bytes did not change since
/// `prev` is carried over as it is (no compile, no self-check); one that
/// fails to load is refused, and `prev`'s version of it, if any, stays.
pub fn load_plugins(
    runtime: &Runtime,
    config: &Config,
    prev: Option<&Generation>,
) -> anyhow::Result<LoadedPlugins> {
    let named = config.plugin_names();
    let sources = plugin_sources(config.plugins.dir.as_deref(), &|n| named.contains(n))?;
    let mut out = LoadedPlugins {
        plugins: BTreeMap::new(),
        fresh: Vec::new(),
        errors: BTreeMap::new(),
    };
    for (name, (source, bytes)) in sources {
        let cfg = config.plugins.config.get(&name).map(toml_to_json);
        let old = prev.and_then(|g| g.plugins.get(&name));
        let sha = runtime_sha(&bytes);
        if let Some(old) = old
            && old.sha256 == sha
            && old.source == source
            && old.config_json() == cfg.as_deref()
        {
            out.plugins.insert(name, old.clone());
            continue;
        }
        let loaded = runtime
            .load(&name, source.clone(), &bytes, cfg)
            .and_then(|p| match old {
                // A replacement must be of the same kind as what it replaces.
                Some(old) if old.kind != p.kind => Err(anyhow::anyhow!(
                    "`{name}` is {} {}, but the plugin it replaces is {} {}",
                    article(p.kind),
                    p.kind.as_str(),
                    article(old.kind),
                    old.kind.as_str()
                )),
                _ => Ok(p),
            });
        match loaded {
            Ok(p) => {
                if prev.is_some() {
                    tracing::info!(plugin = %name, kind = p.kind.as_str(), source = %p.source, sha256 = %p.sha256, cached = p.from_cache, "plugin loaded");
                } else {
                    tracing::debug!(plugin = %name, kind = p.kind.as_str(), source = %p.source, sha256 = %p.sha256, cached = p.from_cache, "plugin loaded");
                }
                out.fresh.push(name.clone());
                out.plugins.insert(name, Arc::new(p));
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::warn!(plugin = %name, source = %source, "plugin refused: {why}");
                out.errors.insert(name.clone(), why);
                if let Some(old) = old {
                    out.plugins.insert(name, old.clone());
                }
            }
        }
    }
    Ok(out)
}

fn article(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Adapter | PluginKind::Evaluator => "an",
        PluginKind::Policy => "a",
    }
}

fn runtime_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
