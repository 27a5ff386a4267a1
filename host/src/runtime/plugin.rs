//! A loaded plugin: a component compiled (or taken from the cache), its kind
//! and WIT package version read from its exports (a policy or adapter of
//! 0.1.0 or 0.2.0, an evaluator of 0.2.0), and linked into an `InstancePre`
//! once per plugin generation. Never instantiates.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::{PluginState, Runtime};
use crate::wit::{
    adapter::AdapterPluginPre, embed::EmbeddingAdapterPluginPre, evaluator::EvaluatorPluginPre,
    policy::PolicyPluginPre, v0_1,
};

/// The export of an adapter that embeds text (0.2.0 on).
const EMBEDDINGS_EXPORT: &str = "switchyard:plugin/embeddings@0.2.0";

/// The exports that make a plugin, newest first: (export, kind, version).
const EXPORTS: &[(&str, PluginKind, &str)] = &[
    (
        "switchyard:plugin/policy@0.2.0",
        PluginKind::Policy,
        "0.2.0",
    ),
    (
        "switchyard:plugin/adapter@0.2.0",
        PluginKind::Adapter,
        "0.2.0",
    ),
    (
        "switchyard:plugin/evaluator@0.2.0",
        PluginKind::Evaluator,
        "0.2.0",
    ),
    (
        "switchyard:plugin/policy@0.1.0",
        PluginKind::Policy,
        "0.1.0",
    ),
    (
        "switchyard:plugin/adapter@0.1.0",
        PluginKind::Adapter,
        "0.1.0",
    ),
];

/// What kind of plugin a component is, read from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Exports `switchyard:plugin/policy`.
    Policy,
    /// Exports `switchyard:plugin/adapter`.
    Adapter,
    /// Exports `switchyard:plugin/evaluator` (0.2.0 on).
    Evaluator,
}

impl PluginKind {
    /// The name used in config, logs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Policy => "policy",
            PluginKind::Adapter => "adapter",
            PluginKind::Evaluator => "evaluator",
        }
    }
}

pub(super) enum Pre {
    Policy(PolicyPluginPre<PluginState>),
    PolicyV0_1(v0_1::policy::PolicyPluginPre<PluginState>),
    Adapter(AdapterPluginPre<PluginState>),
    AdapterV0_1(v0_1::adapter::AdapterPluginPre<PluginState>),
    Evaluator(EvaluatorPluginPre<PluginState>),
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Built into the binary.
    Embedded,
    /// A file in the plugin directory.
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Embedded => f.write_str("embedded"),
            PluginSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A loaded plugin: compiled, linked and ready to instantiate.
pub struct Plugin {
    /// The plugin's name (its file stem).
    pub name: Arc<str>,
    /// Policy, adapter or evaluator.
    pub kind: PluginKind,
    /// The WIT package version it was built against (`0.1.0`, `0.2.0`).
    pub wit_version: &'static str,
    /// The language it was written in, as far as its bytes tell
    /// ([`language_of`]).
    pub language: &'static str,
    /// Embedded or a file.
    pub source: PluginSource,
    /// sha256 of the component bytes, hex.
    pub sha256: String,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
    /// When it was loaded.
    pub loaded_at: std::time::SystemTime,
    pub(super) config_json: Option<Arc<str>>,
    pub(super) pre: Pre,
    /// The embedding adapter world's `InstancePre`, when the adapter exports
    /// `embeddings`.
    pub(super) embed: Option<EmbeddingAdapterPluginPre<PluginState>>,
}

/// The language a component was written in, from the tool chains' marks
/// in its bytes (their `producers` sections and runtimes): `python`
/// (componentize-py), `javascript` (componentize-qjs, componentize-js),
/// `rust` (rustc), else `unknown`. Python and JavaScript runtimes are
/// themselves built with rustc, so they are looked for first.
pub fn language_of(bytes: &[u8]) -> &'static str {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if has(b"componentize-py") {
        "python"
    } else if has(b"componentize-qjs")
        || has(b"componentize-js")
        || has(b"StarlingMonkey")
        || has(b"quickjs")
    {
        "javascript"
    } else if has(b"rustc") {
        "rust"
    } else {
        "unknown"
    }
}

impl Plugin {
    /// The plugin's own configuration, as JSON.
    pub fn config_json(&self) -> Option<&str> {
        self.config_json.as_deref()
    }

    /// Whether the plugin is an adapter that exports `embeddings` (read
    /// from its exports when it was loaded).
    pub fn embeds(&self) -> bool {
        self.embed.is_some()
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl Runtime {
    /// Compile and link a plugin. Fails if the bytes are not a component, if
    /// it exports neither world of this WIT version, or if its imports cannot
    /// be satisfied.
    pub fn load(
        &self,
        name: &str,
        source: PluginSource,
        bytes: &[u8],
        config_json: Option<String>,
    ) -> anyhow::Result<Plugin> {
        let (component, sha256, from_cache) = self
            .compile(bytes)
            .with_context(|| format!("compiling plugin `{name}` ({source})"))?;
        let ty = component.component_type();
        let exported: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let Some(&(_, kind, wit_version)) = EXPORTS
            .iter()
            .find(|(export, _, _)| exported.iter().any(|e| e == export))
        else {
            let wanted: Vec<&str> = EXPORTS.iter().map(|(e, _, _)| *e).collect();
            anyhow::bail!(
                "plugin `{name}` ({source}) exports none of {} (it exports: {})",
                wanted.join(", "),
                if exported.is_empty() {
                    "nothing".to_owned()
                } else {
                    exported.join(", ")
                }
            );
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking plugin `{name}` ({source}): it imports something the host does not offer"))?;
        let world = |e: wasmtime::Error| {
            anyhow::Error::from(e).context(format!(
                "plugin `{name}` does not match the {} world of WIT {wit_version}",
                kind.as_str()
            ))
        };
        let embed = if kind == PluginKind::Adapter
            && exported.iter().any(|e| e == EMBEDDINGS_EXPORT)
        {
            Some(EmbeddingAdapterPluginPre::new(pre.clone()).map_err(|e| {
                anyhow::Error::from(e).context(format!(
                    "plugin `{name}` exports `{EMBEDDINGS_EXPORT}` but does not match the embedding-adapter-plugin world"
                ))
            })?)
        } else {
            None
        };
        let pre = match (kind, wit_version) {
            (PluginKind::Policy, "0.1.0") => {
                Pre::PolicyV0_1(v0_1::policy::PolicyPluginPre::new(pre).map_err(world)?)
            }
            (PluginKind::Policy, _) => Pre::Policy(PolicyPluginPre::new(pre).map_err(world)?),
            (PluginKind::Adapter, "0.1.0") => {
                Pre::AdapterV0_1(v0_1::adapter::AdapterPluginPre::new(pre).map_err(world)?)
            }
            (PluginKind::Adapter, _) => Pre::Adapter(AdapterPluginPre::new(pre).map_err(world)?),
            (PluginKind::Evaluator, _) => {
                Pre::Evaluator(EvaluatorPluginPre::new(pre).map_err(world)?)
            }
        };
        Ok(Plugin {
            name: name.into(),
            kind,
            wit_version,
            language: language_of(bytes),
            source,
            sha256,
            from_cache,
            loaded_at: std::time::SystemTime::now(),
            config_json: config_json.map(Into::into),
            pre,
            embed,
        })
    }
}
