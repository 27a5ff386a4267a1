//! The gateway's configuration: one TOML file (server, plugins, providers,
//! models, routes, breaker, keys, limits, log, quality) and its validation, with errors
//! that name the bad key (`routes.main.models[1]: no model named …`).
//!
//! Config is plain data plus validation: each section is a struct in its own
//! file ([`server`], [`plugins`], [`providers`], [`routes`], [`keys`],
//! [`limits`], [`log`], [`quality`]), and what is built from it (the key table, the limiter,
//! breakers, the runtime's caps) lives in the modules above that use it. This
//! module never depends on them. Secrets never live in the file: a provider
//! or a key names the environment variable or file it comes from, read at
//! load time into a [`Secret`] or a hash.

pub mod cache;
pub mod evaluators;
pub mod files;
pub mod keys;
pub mod limits;
pub mod log;
pub mod plugins;
pub mod prices;
pub mod providers;
pub mod quality;
pub mod routes;
pub mod server;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

pub use cache::CacheConfig;
pub use evaluators::{EvaluateRule, EvaluationConfig, EvaluatorConfig, ShadowConfig, sampled};
pub use files::{
    CA_FILE_MAX, CONFIG_FILE_MAX, PLUGIN_FILE_MAX, SECRET_FILE_MAX, read_capped, read_text_capped,
};
pub use keys::KeyConfig;
pub use limits::LimitsConfig;
pub use log::LogConfig;
pub use plugins::PluginsConfig;
pub use prices::Prices;
pub use providers::{
    AwsCredentials, AwsCredentialsConfig, ProviderConfig, ProviderSecrets, Secret, url_host,
};
pub use quality::QualityConfig;
pub use routes::{BreakerConfig, FailureKind, ModelConfig, RetryConfig, RouteConfig, StreamCommit};
pub use server::ServerConfig;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7777";

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
    pub breaker: BreakerConfig,
    /// Client keys by name. With none, the gateway is open and listens on
    /// loopback only.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyConfig>,
    /// Where the keys' rate-limit and budget counters live.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The exact response cache: where answers are kept and for how long
    /// (which routes and models use it: their `cache`).
    #[serde(default)]
    pub cache: CacheConfig,
    /// The request log: where finished requests are recorded.
    #[serde(default)]
    pub log: LogConfig,
    /// Answer-quality statistics, change detection and alerts.
    #[serde(default)]
    pub quality: QualityConfig,
    /// Evaluators by name: plugins that score answers.
    #[serde(default)]
    pub evaluators: BTreeMap<String, EvaluatorConfig>,
    /// How evaluations run.
    #[serde(default)]
    pub evaluation: EvaluationConfig,
}

/// `#[serde(default = "yes")]`: a flag that is on unless turned off.
fn yes() -> bool {
    true
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
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
            &mut cfg.cache.ca_file,
            &mut cfg.log.path,
            &mut cfg.log.ca_file,
            &mut cfg.server.reports_dir,
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

    /// The plugins the config names: its providers' adapters, its routes'
    /// policies and its evaluators' plugins.
    pub fn plugin_names(&self) -> std::collections::BTreeSet<&str> {
        let adapters = self.providers.values().map(|p| p.adapter.as_str());
        let policies = self.routes.values().map(|r| r.policy.as_str());
        let evaluators = self.evaluators.values().map(|e| e.plugin.as_str());
        adapters.chain(policies).chain(evaluators).collect()
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
            if [m.input_price, m.output_price, m.cached_input_price]
                .into_iter()
                .flatten()
                .any(|p| !(p.is_finite() && p >= 0.0))
            {
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
            for (i, e) in r.evaluate.iter().enumerate() {
                if !self.evaluators.contains_key(&e.evaluator) {
                    return Err(key_err(
                        format!("{key}.evaluate[{i}].evaluator"),
                        format!(
                            "no evaluator named `{}` (evaluators: {})",
                            e.evaluator,
                            names(self.evaluators.keys())
                        ),
                    ));
                }
                if !(0.0..=1.0).contains(&e.sample) {
                    return Err(key_err(
                        format!("{key}.evaluate[{i}].sample"),
                        "must be between 0 and 1",
                    ));
                }
            }
            if let Some(s) = &r.shadow {
                if !self.models.contains_key(&s.model) {
                    return Err(key_err(
                        format!("{key}.shadow.model"),
                        format!("no model named `{}`", s.model),
                    ));
                }
                if !(0.0..=1.0).contains(&s.sample) {
                    return Err(key_err(
                        format!("{key}.shadow.sample"),
                        "must be between 0 and 1",
                    ));
                }
                if !(s.max_shadow_usd_per_day.is_finite() && s.max_shadow_usd_per_day >= 0.0) {
                    return Err(key_err(
                        format!("{key}.shadow.max_shadow_usd_per_day"),
                        "must be a non-negative number",
                    ));
                }
                if let Some(c) = &s.compare
                    && !self.evaluators.contains_key(c)
                {
                    return Err(key_err(
                        format!("{key}.shadow.compare"),
                        format!("no evaluator named `{c}`"),
                    ));
                }
            }
        }
        for (name, e) in &self.evaluators {
            let key = format!("evaluators.{}", quote(name));
            if !plugin_exists("evaluator", &e.plugin) {
                return Err(key_err(
                    format!("{key}.plugin"),
                    format!("no evaluator plugin named `{}`", e.plugin),
                ));
            }
            if let Some(c) = &e.config
                && !c.is_table()
            {
                return Err(key_err(format!("{key}.config"), "must be a table"));
            }
        }
        if self.evaluation.queue == 0 || self.evaluation.concurrency == 0 {
            return Err(key_err(
                "evaluation",
                "queue and concurrency must be at least 1",
            ));
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
        for (kind, name, cache, nondeterministic) in self
            .routes
            .iter()
            .map(|(n, r)| ("routes", n, r.cache, r.cache_nondeterministic))
            .chain(
                self.models
                    .iter()
                    .map(|(n, m)| ("models", n, m.cache, m.cache_nondeterministic)),
            )
        {
            if nondeterministic && !cache {
                return Err(key_err(
                    format!("{kind}.{}.cache_nondeterministic", quote(name)),
                    "only used with cache = true",
                ));
            }
        }
        cache::validate(&self.cache, &self.limits)?;
        keys::validate(self)
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
