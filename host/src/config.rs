//! The gateway's configuration: one TOML file (providers, models, routes,
//! plugins, limits), its validation with errors that name the bad key, and the
//! embedded default used when `switchyard serve` runs without a file.
//!
//! Secrets never live in the file: a provider names the environment variable
//! or file its key comes from, and the key is read here into a [`Secret`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7777";

/// The most a config file may hold.
pub const CONFIG_FILE_MAX: u64 = 16 << 20;
/// The most a key or secret file may hold.
pub const SECRET_FILE_MAX: u64 = 64 << 10;
/// The most a CA certificate file may hold.
pub const CA_FILE_MAX: u64 = 1 << 20;
/// The most a plugin file may hold.
pub const PLUGIN_FILE_MAX: u64 = 512 << 20;

/// Read at most `max` bytes of a file named in config: a path that turns out
/// to be a device, a pipe or a huge file is an error, never an endless read.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, max)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the gateway listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// HTTP server limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// Plugin directory, cache and limits.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// Upstream providers by name.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Models by the name clients use.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// Routes by the name clients use as `model`.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteConfig>,
    /// Circuit breaker settings, for every model.
    #[serde(default)]
    pub breaker: crate::breaker::BreakerConfig,
    /// Client keys by name. With none, the gateway is open and listens on
    /// loopback only.
    #[serde(default)]
    pub keys: BTreeMap<String, crate::keys::KeyConfig>,
    /// Where the keys' rate-limit and budget counters live.
    #[serde(default)]
    pub limits: crate::limits::LimitsConfig,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (413 beyond).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Environment variable holding the admin key (`/admin/*`).
    pub admin_key_env: Option<String>,
    /// File holding the admin key.
    pub admin_key_file: Option<PathBuf>,
    /// SHA-256 (hex) of the admin key.
    pub admin_key_sha256: Option<String>,
    /// Listen on a non-loopback `listen` address even with no client keys
    /// (e.g. behind an authenticating proxy). Off: such an address is
    /// replaced by loopback.
    #[serde(default)]
    pub allow_public_without_keys: bool,
    /// Time a client has to send a request's head (HTTP/1), counted from
    /// when the gateway starts waiting for it; the connection is closed after.
    #[serde(default = "default_header_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a request's whole body (408 after).
    #[serde(default = "default_body_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Open client connections at most; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// On SIGTERM, how long open requests and streams may take to finish.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
}

fn default_max_body() -> usize {
    16 << 20
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_body_timeout_ms() -> u64 {
    60_000
}
fn default_max_connections() -> usize {
    4096
}
fn default_drain_timeout_ms() -> u64 {
    30_000
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: default_max_body(),
            admin_key_env: None,
            admin_key_file: None,
            admin_key_sha256: None,
            allow_public_without_keys: false,
            header_read_timeout_ms: default_header_timeout_ms(),
            body_read_timeout_ms: default_body_timeout_ms(),
            max_connections: default_max_connections(),
            drain_timeout_ms: default_drain_timeout_ms(),
        }
    }
}

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
    /// Memory cap of one plugin instance, MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_limit_mb: usize,
    /// Decisions one warm policy instance serves before it is replaced by a
    /// fresh one; 1 gives every decision a fresh instance.
    #[serde(default = "default_policy_reuse")]
    pub policy_reuse: u32,
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
fn default_memory_mb() -> usize {
    64
}
fn yes() -> bool {
    true
}
fn default_policy_reuse() -> u32 {
    1000
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: None,
            cache_dir: None,
            policy_timeout_ms: default_policy_ms(),
            adapter_timeout_ms: default_adapter_ms(),
            memory_limit_mb: default_memory_mb(),
            policy_reuse: default_policy_reuse(),
            config: BTreeMap::new(),
        }
    }
}

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
    /// First-byte timeout.
    pub fn first_byte_timeout(&self) -> Duration {
        Duration::from_millis(self.first_byte_timeout_ms)
    }
    /// Idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

/// `[models."NAME"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The provider serving it.
    pub provider: String,
    /// The provider's name for the model (default: the key).
    pub upstream: Option<String>,
    /// What the model can do: `vision`, `tools`, `json` (JSON mode and
    /// schemas), or anything policies read. An empty list means undeclared:
    /// the model is not filtered out for any request.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Context window in tokens.
    #[serde(default = "default_context")]
    pub context_window: u32,
    /// USD per million input tokens.
    #[serde(default)]
    pub input_price: f64,
    /// USD per million output tokens.
    #[serde(default)]
    pub output_price: f64,
    /// Quality score (0–1) policies may weigh, when known.
    pub quality: Option<f64>,
}

fn default_context() -> u32 {
    128_000
}

/// `[routes.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The policy plugin deciding the attempts.
    #[serde(default = "default_policy")]
    pub policy: String,
    /// The models this route may use, in their static order.
    pub models: Vec<String>,
    /// The order used when the policy fails (default: `models`).
    pub fallback: Option<Vec<String>>,
    /// Configuration handed to the policy as JSON.
    pub policy_config: Option<toml::Value>,
    /// Call the policy's `observe` hook after each request (off the request
    /// path). Off saves a policy call per request when the policy does not
    /// learn.
    #[serde(default = "yes")]
    pub observe: bool,
    /// Retries, failover and the request deadline.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// Kinds of attempt failure, as `retry_on` and `failover_on` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// 429 or the provider's equivalent.
    RateLimited,
    /// The provider said it is overloaded (503, 529).
    Overloaded,
    /// No answer (or no first token) in time.
    Timeout,
    /// Connection errors, 5xx, broken streams before content.
    Upstream,
    /// The provider refused the key.
    Auth,
    /// The provider does not know the model.
    NotFound,
    /// The adapter cannot express the request for its provider.
    Refused,
    /// The adapter plugin failed (trap, deadline, bad value).
    Plugin,
}

impl FailureKind {
    /// The name config files and policies use.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Overloaded => "overloaded",
            FailureKind::Timeout => "timeout",
            FailureKind::Upstream => "upstream",
            FailureKind::Auth => "auth",
            FailureKind::NotFound => "not_found",
            FailureKind::Refused => "refused",
            FailureKind::Plugin => "plugin",
        }
    }
}

/// `[routes.NAME.retry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Tries of one target before moving to the next (1 = no retry).
    #[serde(default = "default_attempts_per_target")]
    pub attempts_per_target: u32,
    /// Base of the exponential backoff between tries of one target; each
    /// wait is drawn uniformly from 0..base·2ⁿ (full jitter).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Cap of one backoff wait.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// A Retry-After longer than this moves on to the next target instead
    /// of waiting.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_ms: u64,
    /// Failures worth retrying on the same target.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<FailureKind>,
    /// Failures that move on to the next target; others end the request.
    #[serde(default = "default_failover_on")]
    pub failover_on: Vec<FailureKind>,
    /// Total time budget of a request, all attempts and waits included.
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

fn default_attempts_per_target() -> u32 {
    1
}
fn default_backoff() -> u64 {
    100
}
fn default_max_backoff() -> u64 {
    2_000
}
fn default_max_retry_after() -> u64 {
    2_000
}
fn default_retry_on() -> Vec<FailureKind> {
    vec![
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::Timeout,
        FailureKind::Upstream,
    ]
}
fn default_failover_on() -> Vec<FailureKind> {
    vec![
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::Timeout,
        FailureKind::Upstream,
        FailureKind::Auth,
        FailureKind::NotFound,
        FailureKind::Refused,
        FailureKind::Plugin,
    ]
}
fn default_deadline() -> u64 {
    600_000
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts_per_target: default_attempts_per_target(),
            backoff_ms: default_backoff(),
            max_backoff_ms: default_max_backoff(),
            max_retry_after_ms: default_max_retry_after(),
            retry_on: default_retry_on(),
            failover_on: default_failover_on(),
            deadline_ms: default_deadline(),
        }
    }
}

fn default_policy() -> String {
    "ordered".to_owned()
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

/// A config error that names the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// The dotted key path, e.g. `models."gpt-4o".provider`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn key_err(key: impl Into<String>, message: impl Into<String>) -> anyhow::Error {
    KeyError {
        key: key.into(),
        message: message.into(),
    }
    .into()
}

/// A config table name as a dotted path writes it (quoted when needed).
pub(crate) fn quote(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

impl Config {
    /// Parse TOML text; errors name the key and line.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let de = toml::Deserializer::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.to_string();
            anyhow::anyhow!(
                "{}: {}",
                if path == "." {
                    "config".to_owned()
                } else {
                    path
                },
                msg.trim()
            )
        })?;
        Ok(cfg)
    }

    /// Read and parse a file; relative plugin paths are made relative to it.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = read_text_capped(path, CONFIG_FILE_MAX)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let mut cfg =
            Config::parse(&text).with_context(|| format!("in config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let key_files = cfg.keys.values_mut().map(|k| &mut k.key_file);
        for dir in [
            &mut cfg.plugins.dir,
            &mut cfg.plugins.cache_dir,
            &mut cfg.server.admin_key_file,
            &mut cfg.limits.ca_file,
        ]
        .into_iter()
        .chain(key_files)
        .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        Ok(cfg)
    }

    /// Check references between sections. `plugin_exists(kind, name)` says
    /// whether a plugin of that kind is available.
    pub fn validate(&self, plugin_exists: &dyn Fn(&str, &str) -> bool) -> anyhow::Result<()> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(key_err(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:7777", self.listen),
            ));
        }
        for (name, p) in &self.providers {
            let key = format!("providers.{}", quote(name));
            match url_host(&p.base_url) {
                Some(_) => {}
                None => {
                    return Err(key_err(
                        format!("{key}.base_url"),
                        format!("`{}` is not an http(s) URL", p.base_url),
                    ));
                }
            }
            if !plugin_exists("adapter", &p.adapter) {
                return Err(key_err(
                    format!("{key}.adapter"),
                    format!("no adapter plugin named `{}`", p.adapter),
                ));
            }
            if p.api_key_env.is_some() && p.api_key_file.is_some() {
                return Err(key_err(key, "set api_key_env or api_key_file, not both"));
            }
            if p.adapter == "bedrock"
                && p.aws_credentials.is_none()
                && p.api_key_env.is_none()
                && p.api_key_file.is_none()
            {
                return Err(key_err(
                    key,
                    "a bedrock provider needs aws_credentials (SigV4) or api_key_env (a Bedrock API key)",
                ));
            }
            if let Some(o) = &p.options
                && !o.is_table()
            {
                return Err(key_err(format!("{key}.options"), "must be a table"));
            }
        }
        for (name, m) in &self.models {
            let key = format!("models.{}", quote(name));
            if !self.providers.contains_key(&m.provider) {
                return Err(key_err(
                    format!("{key}.provider"),
                    format!(
                        "no provider named `{}` (providers: {})",
                        m.provider,
                        names(self.providers.keys())
                    ),
                ));
            }
            if m.input_price < 0.0 || m.output_price < 0.0 {
                return Err(key_err(key, "prices cannot be negative"));
            }
            if m.quality.is_some_and(|q| !(0.0..=1.0).contains(&q)) {
                return Err(key_err(key, "quality must be between 0 and 1"));
            }
            // Adapters put the upstream name into URL paths.
            let upstream = m.upstream.as_deref().unwrap_or(name);
            if upstream
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
                || upstream.split('/').any(|s| s == ".." || s == ".")
            {
                return Err(key_err(
                    format!("{key}.upstream"),
                    format!(
                        "`{}` holds control characters, whitespace or a `.`/`..` path segment; adapters put it into upstream URLs",
                        upstream.escape_debug()
                    ),
                ));
            }
        }
        for (name, r) in &self.routes {
            let key = format!("routes.{}", quote(name));
            if self.models.contains_key(name) {
                return Err(key_err(key, "a route cannot have the name of a model"));
            }
            if r.models.is_empty() {
                return Err(key_err(
                    format!("{key}.models"),
                    "a route needs at least one model",
                ));
            }
            for (field, list) in [
                ("models", Some(&r.models)),
                ("fallback", r.fallback.as_ref()),
            ] {
                for (i, m) in list.into_iter().flatten().enumerate() {
                    if !self.models.contains_key(m) {
                        return Err(key_err(
                            format!("{key}.{field}[{i}]"),
                            format!("no model named `{m}`"),
                        ));
                    }
                }
            }
            if r.retry.attempts_per_target == 0 || r.retry.attempts_per_target > 10 {
                return Err(key_err(
                    format!("{key}.retry.attempts_per_target"),
                    "must be between 1 and 10",
                ));
            }
            if r.retry.deadline_ms == 0 {
                return Err(key_err(
                    format!("{key}.retry.deadline_ms"),
                    "must be at least 1",
                ));
            }
            if !plugin_exists("policy", &r.policy) {
                return Err(key_err(
                    format!("{key}.policy"),
                    format!("no policy plugin named `{}`", r.policy),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.breaker.error_rate) || self.breaker.error_rate == 0.0 {
            return Err(key_err("breaker.error_rate", "must be in (0, 1]"));
        }
        if self.plugins.memory_limit_mb == 0 || self.plugins.memory_limit_mb > 4096 {
            return Err(key_err(
                "plugins.memory_limit_mb",
                "must be between 1 and 4096",
            ));
        }
        if self.plugins.policy_timeout_ms == 0 || self.plugins.adapter_timeout_ms == 0 {
            return Err(key_err("plugins", "plugin timeouts must be at least 1 ms"));
        }
        crate::keys::validate(self)
    }

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

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_named_in_config_are_read_up_to_a_cap() {
        // A device that never ends is an error, not an endless read.
        let e = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(e.to_string().contains("larger than 1024 bytes"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "sk-test\n").unwrap();
        assert_eq!(read_text_capped(&f, 8).unwrap(), "sk-test\n");
        assert!(read_text_capped(&f, 7).is_err());
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(read_text_capped(&f, 8).is_err());
    }

    const GOOD: &str = r#"
        [providers.up]
        adapter = "openai"
        base_url = "http://127.0.0.1:9/v1"
        [models."m-1"]
        provider = "up"
        [routes.main]
        models = ["m-1"]
    "#;

    fn all_plugins(_: &str, _: &str) -> bool {
        true
    }

    #[test]
    fn good_config_validates() {
        let c = Config::parse(GOOD).unwrap();
        c.validate(&all_plugins).unwrap();
        assert_eq!(c.routes["main"].policy, "ordered");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse(&GOOD.replace("adapter =", "adaptr = \"x\"\nadapter =")).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("adaptr"), "{msg}");
        let e = Config::parse(&GOOD.replace("provider = \"up\"", "provider = 3")).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("provider"), "{msg}");
    }

    #[test]
    fn bad_references_name_the_key() {
        let c = Config::parse(&GOOD.replace("provider = \"up\"", "provider = \"nope\"")).unwrap();
        let e = c.validate(&all_plugins).unwrap_err().to_string();
        assert!(e.starts_with("models.m-1.provider"), "{e}");
        let c = Config::parse(&GOOD.replace("[\"m-1\"]", "[\"m-1\", \"m-2\"]")).unwrap();
        let e = c.validate(&all_plugins).unwrap_err().to_string();
        assert!(e.starts_with("routes.main.models[1]"), "{e}");
        let c = Config::parse(GOOD).unwrap();
        let e = c
            .validate(&|kind, _| kind != "policy")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("routes.main.policy"), "{e}");
    }

    #[test]
    fn aws_credentials() {
        let bedrock = |extra: &str| {
            GOOD.replace(
                "adapter = \"openai\"",
                &format!("adapter = \"bedrock\"\n{extra}"),
            )
        };
        // A bedrock provider needs credentials of some kind.
        let c = Config::parse(&bedrock("")).unwrap();
        let e = c.validate(&all_plugins).unwrap_err().to_string();
        assert!(
            e.starts_with("providers.up") && e.contains("aws_credentials"),
            "{e}"
        );
        let c = Config::parse(&bedrock("api_key_env = \"PATH\"")).unwrap();
        c.validate(&all_plugins).unwrap();

        // The table's keys default to the standard variables.
        let c = Config::parse(&bedrock("aws_credentials = {}")).unwrap();
        c.validate(&all_plugins).unwrap();
        let a = c.providers["up"].aws_credentials.as_ref().unwrap();
        assert_eq!(
            (
                a.access_key_id_env.as_str(),
                a.secret_access_key_env.as_str(),
                a.session_token_env.as_str()
            ),
            (
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN"
            )
        );
        assert!(Config::parse(&bedrock("aws_credentials = { access_key = \"X\" }")).is_err());

        // Values come from the named variables (PATH is always set); the
        // session token is optional; nothing secret is Debug-printed.
        let c = Config::parse(&bedrock(
            "aws_credentials = { access_key_id_env = \"PATH\", secret_access_key_env = \"PATH\", \
             session_token_env = \"SWITCHYARD_TEST_SURELY_UNSET\" }",
        ))
        .unwrap();
        let s = c.secrets().unwrap();
        let aws = s["up"].aws.as_ref().unwrap();
        let path = std::env::var("PATH").unwrap();
        assert_eq!(aws.access_key_id.expose(), path.trim());
        assert!(aws.session_token.is_none());
        assert!(s["up"].key.is_none());
        assert!(!format!("{:?}", s["up"]).contains(path.trim()));

        let c = Config::parse(&bedrock(
            "aws_credentials = { access_key_id_env = \"SWITCHYARD_TEST_SURELY_UNSET\" }",
        ))
        .unwrap();
        let e = c.secrets().unwrap_err().to_string();
        assert!(
            e.starts_with("providers.up.aws_credentials.access_key_id_env"),
            "{e}"
        );
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://api.openai.com/v1").as_deref(),
            Some("api.openai.com:443")
        );
        assert_eq!(
            url_host("http://127.0.0.1:8080/v1").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(url_host("http://u:p@h/x").as_deref(), Some("h:80"));
        assert_eq!(url_host("ftp://h"), None);
    }
}
