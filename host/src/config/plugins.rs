//! `[plugins]`: where plugins come from, where compiled components are
//! cached, and the caps every plugin call runs under. Plain data; the runtime
//! turns it into its caps and never writes back.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[plugins]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// A directory of `.wasm` components; a file named like an embedded plugin
    /// overrides it. Relative to the config file.
    pub dir: Option<PathBuf>,
    /// Where compiled components are cached (default: the user cache dir).
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock budget of one policy decision.
    #[serde(default = "default_policy_ms")]
    pub policy_timeout_ms: u64,
    /// Wall-clock budget of one adapter call.
    #[serde(default = "default_adapter_ms")]
    pub adapter_timeout_ms: u64,
    /// Wall-clock budget of one evaluator call, not counting the time it
    /// waits on model calls (a judge's).
    #[serde(default = "default_evaluator_ms")]
    pub evaluator_timeout_ms: u64,
    /// Memory cap of one plugin instance, MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_limit_mb: usize,
    /// Decisions one warm policy instance serves before it is replaced by a
    /// fresh one; 1 gives every decision a fresh instance.
    #[serde(default = "default_policy_reuse")]
    pub policy_reuse: u32,
    /// Calls one warm adapter instance serves (only ever for one client
    /// key) before it is replaced by a fresh one; 1 gives every call a fresh
    /// instance.
    #[serde(default = "default_adapter_reuse")]
    pub adapter_reuse: u32,
    /// Per-plugin configuration, handed to the plugin as JSON.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

fn default_policy_ms() -> u64 {
    50
}
fn default_adapter_ms() -> u64 {
    100
}
fn default_evaluator_ms() -> u64 {
    500
}
fn default_memory_mb() -> usize {
    64
}
fn default_policy_reuse() -> u32 {
    1000
}
fn default_adapter_reuse() -> u32 {
    1000
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: None,
            cache_dir: None,
            policy_timeout_ms: default_policy_ms(),
            adapter_timeout_ms: default_adapter_ms(),
            evaluator_timeout_ms: default_evaluator_ms(),
            memory_limit_mb: default_memory_mb(),
            policy_reuse: default_policy_reuse(),
            adapter_reuse: default_adapter_reuse(),
            config: BTreeMap::new(),
        }
    }
}
