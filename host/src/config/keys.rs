//! `[keys.NAME]` and the admin key's fields of `[server]`: where each key
//! comes from, checked without reading any key ([`validate`]) and read and
//! hashed at load time ([`KeySource::resolve`]). A key is kept only as its
//! SHA-256; nothing here ever logs or echoes a key, errors name the key's
//! config name at most.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::Digest as _;

use super::files::{SECRET_FILE_MAX, read_text_capped};
use super::{Config, KeyError, ServerConfig, quote};

/// `[keys.NAME]`: one client key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Environment variable holding the key.
    pub key_env: Option<String>,
    /// File holding the key (trailing whitespace trimmed; relative to the
    /// config file).
    pub key_file: Option<PathBuf>,
    /// The key's SHA-256, hex (`printf %s KEY | sha256sum`).
    pub key_sha256: Option<String>,
    /// Routes and models the key may name as `model` (empty: all).
    #[serde(default)]
    pub models: Vec<String>,
    /// Requests per minute (sliding).
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt + completion, as reported by the upstream) per minute
    /// (sliding).
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once (a stream counts until it ends).
    pub max_parallel_requests: Option<u64>,
    /// Spend per UTC day, USD, from the models' prices.
    pub daily_budget_usd: Option<f64>,
    /// Spend per UTC calendar month, USD.
    pub monthly_budget_usd: Option<f64>,
    /// Whose cached answers the key may be served: keys with the same
    /// scope share them (default: the key's own name, so no key sees
    /// another's answers).
    pub cache_scope: Option<String>,
}

pub(crate) fn parse_hash(hex_text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_text.trim()).ok()?;
    bytes.try_into().ok()
}

/// Where a key (client or admin) comes from, as the config says it.
pub struct KeySource<'a> {
    /// Dotted config path of the table, for errors.
    pub at: String,
    /// `…_env`.
    pub env: Option<&'a str>,
    /// `…_file`.
    pub file: Option<&'a std::path::Path>,
    /// `…_sha256`.
    pub sha256: Option<&'a str>,
    /// The fields' common prefix (`key` or `admin_key`).
    pub field: &'a str,
}

impl KeySource<'_> {
    fn err(&self, suffix: &str, message: impl Into<String>) -> anyhow::Error {
        KeyError {
            key: format!("{}.{}{suffix}", self.at, self.field),
            message: message.into(),
        }
        .into()
    }

    /// Check that exactly one source is set and a given hash is well formed.
    pub fn validate(&self) -> anyhow::Result<()> {
        let n = [
            self.env.is_some(),
            self.file.is_some(),
            self.sha256.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        let f = self.field;
        if n != 1 {
            return Err(KeyError {
                key: self.at.clone(),
                message: format!("set exactly one of {f}_env, {f}_file or {f}_sha256"),
            }
            .into());
        }
        if let Some(h) = self.sha256
            && parse_hash(h).is_none()
        {
            return Err(self.err(
                "_sha256",
                "must be 64 hex digits (the SHA-256 of the key, e.g. `printf %s KEY | sha256sum`)",
            ));
        }
        Ok(())
    }

    /// Read the key and hash it.
    pub fn resolve(&self) -> anyhow::Result<[u8; 32]> {
        self.validate()?;
        if let Some(h) = self.sha256 {
            return parse_hash(h).ok_or_else(|| self.err("_sha256", "must be 64 hex digits"));
        }
        let text = if let Some(var) = self.env {
            std::env::var(var)
                .map_err(|_| self.err("_env", format!("environment variable `{var}` is not set")))?
        } else if let Some(file) = self.file {
            read_text_capped(file, SECRET_FILE_MAX)
                .map_err(|e| self.err("_file", format!("reading {}: {e}", file.display())))?
        } else {
            String::new()
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(self.err(
                if self.env.is_some() { "_env" } else { "_file" },
                "the key is empty",
            ));
        }
        Ok(hash_key(text))
    }
}

pub(crate) fn source_of<'a>(name: &str, k: &'a KeyConfig) -> KeySource<'a> {
    KeySource {
        at: format!("keys.{}", quote(name)),
        env: k.key_env.as_deref(),
        file: k.key_file.as_deref(),
        sha256: k.key_sha256.as_deref(),
        field: "key",
    }
}

pub(crate) fn admin_source(s: &ServerConfig) -> KeySource<'_> {
    KeySource {
        at: "server".into(),
        env: s.admin_key_env.as_deref(),
        file: s.admin_key_file.as_deref(),
        sha256: s.admin_key_sha256.as_deref(),
        field: "admin_key",
    }
}

/// Check `[keys]` and the admin key fields of a config (references, numbers,
/// one key source each) without reading any key.
pub fn validate(cfg: &Config) -> anyhow::Result<()> {
    let err = |key: String, message: String| -> anyhow::Error { KeyError { key, message }.into() };
    for (name, k) in &cfg.keys {
        let src = source_of(name, k);
        src.validate()?;
        let at = src.at;
        for (i, m) in k.models.iter().enumerate() {
            if !cfg.models.contains_key(m) && !cfg.routes.contains_key(m) {
                return Err(err(
                    format!("{at}.models[{i}]"),
                    format!("no route or model named `{m}`"),
                ));
            }
        }
        for (field, v) in [
            ("requests_per_minute", k.requests_per_minute),
            ("tokens_per_minute", k.tokens_per_minute),
            ("max_parallel_requests", k.max_parallel_requests),
        ] {
            if v == Some(0) {
                return Err(err(
                    format!("{at}.{field}"),
                    "must be at least 1 (leave it out for no limit)".into(),
                ));
            }
        }
        for (field, v) in [
            ("daily_budget_usd", k.daily_budget_usd),
            ("monthly_budget_usd", k.monthly_budget_usd),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(err(
                    format!("{at}.{field}"),
                    "must be a non-negative number of USD".into(),
                ));
            }
        }
    }
    let admin = admin_source(&cfg.server);
    if admin.env.is_some() || admin.file.is_some() || admin.sha256.is_some() {
        admin.validate()?;
    }
    super::limits::validate(&cfg.limits)?;
    super::log::validate(&cfg.log)?;
    super::quality::validate(&cfg.quality)
}

/// The SHA-256 of a key's text.
pub fn hash_key(key: &str) -> [u8; 32] {
    sha2::Sha256::digest(key.as_bytes()).into()
}
