//! `[cache]`: where the exact response cache keeps answers (this process
//! or Redis), for how long, and how much of them. Which requests are cached
//! is said per route and per model (`cache`, `cache_nondeterministic`); a
//! client key's `cache_scope` says whose answers it may see. Plain data and
//! its checks: nothing here connects to Redis.

use std::path::PathBuf;

use serde::Deserialize;

use super::KeyError;
use super::limits::{Backend, LimitsConfig, OnError};

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `memory` (this process) or `redis` (shared by replicas).
    #[serde(default)]
    pub backend: Backend,
    /// `redis://host:port[/db]` (or `rediss://`) for the redis backend;
    /// default: `[limits] url`, with its `ca_file`.
    pub url: Option<String>,
    /// With a `rediss://` url: the CA certificate(s) the server's
    /// certificate must chain to (relative to the config file).
    pub ca_file: Option<PathBuf>,
    /// Longest wait for one Redis operation; a lookup that takes longer is
    /// a miss.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Prefix of every Redis key.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// How long an answer is served from the cache, seconds.
    #[serde(default = "default_ttl_s")]
    pub ttl_s: u64,
    /// Answers kept at most (memory backend; the least recently used go
    /// first).
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Bytes of answers kept at most (memory backend).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// A larger answer is not stored (either backend).
    #[serde(default = "default_max_entry_bytes")]
    pub max_entry_bytes: u64,
}

fn default_timeout_ms() -> u64 {
    50
}
fn default_prefix() -> String {
    "switchyard:cache".into()
}
fn default_ttl_s() -> u64 {
    3600
}
fn default_max_entries() -> usize {
    10_000
}
fn default_max_bytes() -> u64 {
    256 << 20
}
fn default_max_entry_bytes() -> u64 {
    1 << 20
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            backend: Backend::Memory,
            url: None,
            ca_file: None,
            timeout_ms: default_timeout_ms(),
            prefix: default_prefix(),
            ttl_s: default_ttl_s(),
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
            max_entry_bytes: default_max_entry_bytes(),
        }
    }
}

impl CacheConfig {
    /// The Redis connection settings, as `[limits]` spells them: this
    /// section's url (and `ca_file`), else `[limits]`'s. `None` without a
    /// url anywhere.
    pub fn redis_settings(&self, limits: &LimitsConfig) -> Option<LimitsConfig> {
        let (url, ca_file) = match &self.url {
            Some(u) => (u.clone(), self.ca_file.clone()),
            None => (limits.url.clone()?, limits.ca_file.clone()),
        };
        Some(LimitsConfig {
            backend: Backend::Redis,
            url: Some(url),
            ca_file,
            on_error: OnError::Open,
            timeout_ms: self.timeout_ms,
            prefix: self.prefix.clone(),
        })
    }
}

/// Check `[cache]` (with `[limits]`, whose Redis url it may share).
pub fn validate(c: &CacheConfig, limits: &LimitsConfig) -> anyhow::Result<()> {
    let err = |key: &str, message: &str| -> anyhow::Error {
        KeyError {
            key: format!("cache.{key}"),
            message: message.into(),
        }
        .into()
    };
    if c.timeout_ms == 0 || c.timeout_ms > 10_000 {
        return Err(err("timeout_ms", "must be between 1 and 10000"));
    }
    if c.ttl_s == 0 {
        return Err(err("ttl_s", "must be at least 1"));
    }
    if c.max_entries == 0 {
        return Err(err("max_entries", "must be at least 1"));
    }
    if c.max_entry_bytes == 0 || c.max_entry_bytes > c.max_bytes {
        return Err(err(
            "max_entry_bytes",
            "must be at least 1 and at most max_bytes",
        ));
    }
    if c.ca_file.is_some() && c.url.is_none() {
        return Err(err("ca_file", "only used with url"));
    }
    match c.backend {
        Backend::Memory if c.url.is_some() => Err(err("url", "only used with backend = \"redis\"")),
        Backend::Memory => Ok(()),
        Backend::Redis => match c.redis_settings(limits) {
            None => Err(err(
                "url",
                "the redis backend needs a url like redis://127.0.0.1:6379 (here or in [limits])",
            )),
            Some(l) => super::limits::validate(&l).map_err(|e| {
                // The check speaks of `limits.*`; the keys are this section's.
                let text = format!("{e:#}").replacen("limits.", "cache.", 1);
                anyhow::anyhow!(text)
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_settings_fall_back_to_the_limits_url() {
        let limits = LimitsConfig {
            backend: Backend::Redis,
            url: Some("redis://127.0.0.1:6379".into()),
            ..LimitsConfig::default()
        };
        let c = CacheConfig {
            backend: Backend::Redis,
            ..CacheConfig::default()
        };
        let s = c.redis_settings(&limits);
        assert_eq!(
            s.as_ref().and_then(|s| s.url.as_deref()),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(s.map(|s| s.prefix), Some("switchyard:cache".into()));
        assert!(validate(&c, &limits).is_ok());
        assert!(validate(&c, &LimitsConfig::default()).is_err());
    }

    #[test]
    fn bad_sizes_name_the_key() {
        let c = CacheConfig {
            max_entry_bytes: 10,
            max_bytes: 5,
            ..CacheConfig::default()
        };
        let e = validate(&c, &LimitsConfig::default())
            .err()
            .map(|e| format!("{e:#}"));
        assert!(e.is_some_and(|e| e.contains("cache.max_entry_bytes")));
        let c = CacheConfig {
            ttl_s: 0,
            ..CacheConfig::default()
        };
        let e = validate(&c, &LimitsConfig::default())
            .err()
            .map(|e| format!("{e:#}"));
        assert!(e.is_some_and(|e| e.contains("cache.ttl_s")));
    }
}
