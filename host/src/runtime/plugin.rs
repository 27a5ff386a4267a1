//! A loaded plugin: a component compiled (or taken from the cache), its kind
//! read from its exports (policy or adapter of this WIT version), and linked
//! into an `InstancePre` once per plugin generation. Never instantiates.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::{PluginState, Runtime};
use crate::wit::{adapter::AdapterPluginPre, policy::PolicyPluginPre};

const POLICY_EXPORT: &str = "switchyard:plugin/policy@0.1.0";
const ADAPTER_EXPORT: &str = "switchyard:plugin/adapter@0.1.0";

/// What kind of plugin a component is, read from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Exports `switchyard:plugin/policy`.
    Policy,
    /// Exports `switchyard:plugin/adapter`.
    Adapter,
}

impl PluginKind {
    /// The name used in config, logs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Policy => "policy",
            PluginKind::Adapter => "adapter",
        }
    }
}

pub(super) enum Pre {
    Policy(PolicyPluginPre<PluginState>),
    Adapter(AdapterPluginPre<PluginState>),
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
    /// Policy or adapter.
    pub kind: PluginKind,
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
}

impl Plugin {
    /// The plugin's own configuration, as JSON.
    pub fn config_json(&self) -> Option<&str> {
        self.config_json.as_deref()
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
        let mut kind = None;
        for (export, _) in ty.exports(&self.engine) {
            match export {
                POLICY_EXPORT => kind = Some(PluginKind::Policy),
                ADAPTER_EXPORT => kind = Some(PluginKind::Adapter),
                _ => {}
            }
        }
        let Some(kind) = kind else {
            let exports: Vec<String> = ty
                .exports(&self.engine)
                .map(|(n, _)| n.to_owned())
                .collect();
            anyhow::bail!(
                "plugin `{name}` ({source}) exports neither `{POLICY_EXPORT}` nor `{ADAPTER_EXPORT}` (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                }
            );
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking plugin `{name}` ({source}): it imports something the host does not offer"))?;
        let pre = match kind {
            PluginKind::Policy => Pre::Policy(
                PolicyPluginPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("plugin `{name}` does not match the policy world"))?,
            ),
            PluginKind::Adapter => Pre::Adapter(
                AdapterPluginPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("plugin `{name}` does not match the adapter world"))?,
            ),
        };
        Ok(Plugin {
            name: name.into(),
            kind,
            source,
            sha256,
            from_cache,
            loaded_at: std::time::SystemTime::now(),
            config_json: config_json.map(Into::into),
            pre,
        })
    }
}
