//! `[providers.NAME]`: upstream APIs, and the secrets they name. Keys are read
//! here from the environment variables or files the config names, into
//! [`Secret`]s whose `Debug` never prints them; nothing here ever logs a key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::files::{SECRET_FILE_MAX, read_text_capped};
use super::{Config, key_err, quote};

/// `[providers.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The adapter plugin that speaks this provider's API.
    pub adapter: String,
    /// Base URL of the API, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// File holding the API key (trailing whitespace trimmed).
    pub api_key_file: Option<PathBuf>,
    /// AWS credentials for SigV4 signing (adapters that ask for it, e.g.
    /// `bedrock`): the environment variables holding them.
    pub aws_credentials: Option<AwsCredentialsConfig>,
    /// Hosts (`host` or `host:port`) requests may go to besides the base URL's.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Adapter options, handed to the adapter as JSON.
    pub options: Option<toml::Value>,
    /// Time from sending the request to the response headers (and, for a
    /// stream, to its first event).
    #[serde(default = "default_first_byte_ms")]
    pub first_byte_timeout_ms: u64,
    /// Longest silence between two pieces of a response body.
    #[serde(default = "default_idle_ms")]
    pub idle_timeout_ms: u64,
    /// Marks a provider as simulated: every response says so.
    #[serde(default)]
    pub simulated: bool,
    /// `base_url` parsed, once (the egress rule reads it on every request).
    #[serde(skip)]
    pub parsed_base: std::sync::OnceLock<Option<url::Url>>,
}

/// `[providers.NAME.aws_credentials]`: where the AWS credentials come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentialsConfig {
    /// Environment variable holding the access key id.
    #[serde(default = "default_access_key_env")]
    pub access_key_id_env: String,
    /// Environment variable holding the secret access key.
    #[serde(default = "default_secret_key_env")]
    pub secret_access_key_env: String,
    /// Environment variable holding the session token (used when set).
    #[serde(default = "default_session_token_env")]
    pub session_token_env: String,
}

fn default_access_key_env() -> String {
    "AWS_ACCESS_KEY_ID".to_owned()
}
fn default_secret_key_env() -> String {
    "AWS_SECRET_ACCESS_KEY".to_owned()
}
fn default_session_token_env() -> String {
    "AWS_SESSION_TOKEN".to_owned()
}

fn default_first_byte_ms() -> u64 {
    60_000
}
fn default_idle_ms() -> u64 {
    60_000
}

impl ProviderConfig {
    /// `base_url` parsed (`None` when it is not a URL).
    pub fn base(&self) -> Option<&url::Url> {
        self.parsed_base
            .get_or_init(|| url::Url::parse(&self.base_url).ok())
            .as_ref()
    }

    /// First-byte timeout.
    pub fn first_byte_timeout(&self) -> Duration {
        Duration::from_millis(self.first_byte_timeout_ms)
    }
    /// Idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

/// An API key. Its `Debug` does not print it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The key, for the broker to put into a request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret from a value (tests).
    #[cfg(test)]
    pub(crate) fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// AWS credentials of a provider. Its `Debug` prints none of them.
#[derive(Clone)]
pub struct AwsCredentials {
    /// The access key id (`AKIA…`, `ASIA…`).
    pub access_key_id: Secret,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCredentials(…)")
    }
}

/// Everything secret a provider has: its API key and its AWS credentials.
/// Read by the host, used by the broker, never shown to a plugin.
#[derive(Debug, Clone, Default)]
pub struct ProviderSecrets {
    /// The API key (`api_key_env` / `api_key_file`).
    pub key: Option<Secret>,
    /// AWS credentials (`aws_credentials`).
    pub aws: Option<AwsCredentials>,
}

impl Config {
    /// Read every provider's key and AWS credentials. A missing variable or
    /// file is an error that names the provider; a provider without a key
    /// reference gets none.
    pub fn secrets(&self) -> anyhow::Result<BTreeMap<String, ProviderSecrets>> {
        let mut out = BTreeMap::new();
        for (name, p) in &self.providers {
            let key = format!("providers.{}", quote(name));
            let mut secrets = ProviderSecrets::default();
            if let Some(var) = &p.api_key_env {
                match std::env::var(var) {
                    Ok(v) if !v.trim().is_empty() => {
                        secrets.key = Some(Secret(v.trim().to_owned()));
                    }
                    _ => {
                        return Err(key_err(
                            format!("{key}.api_key_env"),
                            format!("environment variable `{var}` is not set"),
                        ));
                    }
                }
            } else if let Some(file) = &p.api_key_file {
                let v = read_text_capped(file, SECRET_FILE_MAX).map_err(|e| {
                    key_err(
                        format!("{key}.api_key_file"),
                        format!("reading {}: {e}", file.display()),
                    )
                })?;
                secrets.key = Some(Secret(v.trim().to_owned()));
            }
            if let Some(aws) = &p.aws_credentials {
                let required = |field: &str, var: &str| match std::env::var(var) {
                    Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_owned())),
                    _ => Err(key_err(
                        format!("{key}.aws_credentials.{field}"),
                        format!("environment variable `{var}` is not set"),
                    )),
                };
                secrets.aws = Some(AwsCredentials {
                    access_key_id: required("access_key_id_env", &aws.access_key_id_env)?,
                    secret_access_key: required(
                        "secret_access_key_env",
                        &aws.secret_access_key_env,
                    )?,
                    session_token: std::env::var(&aws.session_token_env)
                        .ok()
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .map(Secret),
                });
            }
            if secrets.key.is_some() || secrets.aws.is_some() {
                out.insert(name.clone(), secrets);
            }
        }
        Ok(out)
    }
}

/// `host:port` of an http(s) URL (port defaulted by scheme).
pub fn url_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    Some(if has_port {
        authority.to_ascii_lowercase()
    } else {
        format!("{}:{default_port}", authority.to_ascii_lowercase())
    })
}
