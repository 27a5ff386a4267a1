//! `[limits]`: where the counters of client keys' rate limits and budgets
//! live (this process or Redis) and what to do when Redis cannot answer.
//! Plain data and its checks (the Redis URL is parsed into a client, which
//! does not connect); nothing here ever connects to Redis.

use serde::Deserialize;

use super::KeyError;
use super::files::{CA_FILE_MAX, read_capped, read_text_capped};

/// `[limits]`: where counters live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// `memory` (this process) or `redis` (shared by replicas).
    #[serde(default)]
    pub backend: Backend,
    /// `redis://host:port[/db]` for the redis backend (`rediss://` for TLS).
    pub url: Option<String>,
    /// With a `rediss://` url: a PEM file of the CA certificate(s) the Redis
    /// server's certificate must chain to, instead of the system's trust
    /// store (relative to the config file).
    pub ca_file: Option<std::path::PathBuf>,
    /// What to do when Redis cannot answer: `open` admits the request,
    /// `closed` answers 503.
    #[serde(default)]
    pub on_error: OnError,
    /// Longest wait for one Redis operation.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Prefix of every Redis key.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_timeout_ms() -> u64 {
    100
}
fn default_prefix() -> String {
    "switchyard".into()
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            backend: Backend::Memory,
            url: None,
            ca_file: None,
            on_error: OnError::Open,
            timeout_ms: default_timeout_ms(),
            prefix: default_prefix(),
        }
    }
}

/// `[limits] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// In-process counters.
    #[default]
    Memory,
    /// Redis.
    Redis,
}

/// `[limits] on_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Admit requests while the store is unreachable.
    #[default]
    Open,
    /// Refuse them (503).
    Closed,
}

/// Check `[limits]`.
pub fn validate(l: &LimitsConfig) -> anyhow::Result<()> {
    let err = |key: &str, message: &str| -> anyhow::Error {
        KeyError {
            key: format!("limits.{key}"),
            message: message.into(),
        }
        .into()
    };
    if l.timeout_ms == 0 || l.timeout_ms > 10_000 {
        return Err(err("timeout_ms", "must be between 1 and 10000"));
    }
    match (&l.backend, &l.url) {
        (Backend::Redis, None) => Err(err(
            "url",
            "the redis backend needs a url like redis://127.0.0.1:6379",
        )),
        (Backend::Redis, Some(u)) => {
            if let Some(f) = &l.ca_file {
                if !u.starts_with("rediss://") {
                    return Err(err(
                        "ca_file",
                        "only used with a TLS url (rediss://host:port)",
                    ));
                }
                match read_text_capped(f, CA_FILE_MAX) {
                    Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
                    Ok(_) => {
                        return Err(err(
                            "ca_file",
                            &format!("{} holds no PEM certificate", f.display()),
                        ));
                    }
                    Err(e) => {
                        return Err(err("ca_file", &format!("reading {}: {e}", f.display())));
                    }
                }
            }
            match redis_client(l) {
                Ok(_) => Ok(()),
                Err(e) => Err(err("url", &format!("not a usable Redis URL: {e}"))),
            }
        }
        (Backend::Memory, Some(_)) => Err(err("url", "only used with backend = \"redis\"")),
        (Backend::Memory, None) => Ok(()),
    }
}

/// The Redis client of `[limits]`: plain or TLS (`rediss://`), trusting
/// `ca_file` when given, else the system's trust store.
pub fn redis_client(l: &LimitsConfig) -> Result<::redis::Client, String> {
    let Some(url) = l.url.as_deref() else {
        return Err("no url".into());
    };
    match &l.ca_file {
        None => ::redis::Client::open(url).map_err(|e| e.to_string()),
        Some(f) => {
            let pem =
                read_capped(f, CA_FILE_MAX).map_err(|e| format!("reading {}: {e}", f.display()))?;
            let certs = ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            ::redis::Client::build_with_tls(url, certs).map_err(|e| e.to_string())
        }
    }
}
