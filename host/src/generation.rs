//! A **generation**: a validated config together with the plugins it loaded
//! and everything resolved from them — models as targets (provider, adapter,
//! prices, live figures), routes with their policy pools, provider secrets,
//! the client key table and its quotas. Built whole or not at all
//! ([`build_generation`], [`assemble`]); immutable once built, so a request
//! that holds one sees one consistent world. Where plugin bytes come from and
//! how they are loaded is [`plugins`]. Never swapped here: the gateway does.

pub mod plugins;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

pub use self::plugins::embedded;
use self::plugins::{LoadedPlugins, load_plugins, toml_to_json};
use crate::canonical::Target;
use crate::config::{Config, Prices, ProviderConfig, ProviderSecrets, RetryConfig, ShadowConfig};
use crate::keys::KeyTable;
use crate::limits::Quotas;
use crate::monitor::{ModelCounters, Stats};
use crate::runtime::{AdapterPool, EmbedPool, Plugin, PluginKind, PolicyPool, Runtime};

/// One model of the config, resolved for the router.
pub struct ModelTarget {
    /// The model's name in the config (what clients and policies use).
    pub name: String,
    /// The provider's name.
    pub provider_name: String,
    /// The provider's config.
    pub provider: Arc<ProviderConfig>,
    /// What the adapter needs to address the provider.
    pub target: Target,
    /// Capabilities from the config.
    pub capabilities: Vec<String>,
    /// Context window in tokens.
    pub context_window: u32,
    /// Its prices: the config's, else the built-in catalog's.
    pub prices: Prices,
    /// Quality score (0–1), when configured.
    pub quality: Option<f64>,
    /// The adapter plugin.
    pub adapter: Arc<Plugin>,
    /// Warm instances of the adapter.
    pub adapters: AdapterPool,
    /// Warm embedding instances of the adapter (a model that serves
    /// embeddings).
    pub embedders: EmbedPool,
    /// Live figures.
    pub stats: Arc<ModelCounters>,
}

/// The capability that makes a model serve `POST /v1/embeddings`.
pub const EMBEDDINGS: &str = "embeddings";

impl ModelTarget {
    fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// Whether the model serves embeddings (it declares `embeddings`).
    pub fn embeds(&self) -> bool {
        self.has(EMBEDDINGS)
    }

    /// Whether the model serves chat: unless it declares `embeddings`
    /// without `chat`, it does.
    pub fn chats(&self) -> bool {
        !self.embeds() || self.has("chat")
    }
}

/// One route of the config, resolved.
pub struct Route {
    /// The route's name.
    pub name: String,
    /// The policy plugin.
    pub policy: Arc<Plugin>,
    /// The policy's config for this route, as JSON.
    pub policy_config: Option<Arc<str>>,
    /// Warm instances of the policy with this route's config.
    pub pool: PolicyPool,
    /// Whether the policy hears each request's outcome.
    pub observe: bool,
    /// Candidate models, in their static order.
    pub models: Vec<Arc<ModelTarget>>,
    /// The order used when the policy fails.
    pub fallback: Vec<Arc<ModelTarget>>,
    /// Retries, failover and deadline.
    pub retry: RetryConfig,
    /// Evaluators scoring a sample of its answers, with their sample rates.
    pub evaluate: Vec<(Arc<Evaluator>, f64)>,
    /// The score its quality is judged by, when set in the config.
    pub quality_score: Option<String>,
    /// The shadow model compared on a sample of its traffic.
    pub shadow: Option<ShadowConfig>,
}

/// One `[evaluators.NAME]`, resolved.
pub struct Evaluator {
    /// Its name in the config.
    pub name: String,
    /// The evaluator plugin.
    pub plugin: Arc<Plugin>,
    /// Its config, as JSON.
    pub config: Option<Arc<str>>,
}

/// What a client's `model` names.
pub enum Resolved {
    /// A route: the policy decides.
    Route(Arc<Route>),
    /// A model: one target, no policy.
    Model(Arc<ModelTarget>),
}

/// A validated config and the plugins loaded for it.
pub struct Generation {
    /// Increases with every successful load.
    pub id: u64,
    /// When it was built.
    pub loaded_at: std::time::SystemTime,
    /// The config.
    pub config: Config,
    /// Every loaded plugin by name.
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    /// Plugins refused when this generation was built, with the reason.
    pub plugin_errors: BTreeMap<String, String>,
    /// Models by name.
    pub models: HashMap<String, Arc<ModelTarget>>,
    /// Routes by name.
    pub routes: HashMap<String, Arc<Route>>,
    /// Evaluators by name.
    pub evaluators: HashMap<String, Arc<Evaluator>>,
    /// Keys and AWS credentials by provider name.
    pub secrets: BTreeMap<String, ProviderSecrets>,
    /// Client keys and the admin key.
    pub keys: Arc<KeyTable>,
    /// The keys' limits and budgets under `[limits]`.
    pub quotas: Arc<Quotas>,
}

impl Generation {
    /// What a client's `model` field names, if anything.
    pub fn resolve(&self, model: &str) -> Option<Resolved> {
        if let Some(r) = self.routes.get(model) {
            return Some(Resolved::Route(r.clone()));
        }
        self.models.get(model).map(|m| Resolved::Model(m.clone()))
    }
}

/// Load the plugins and validate the config against them, refusing any
/// plugin that fails to load (used at start-up and by `check`).
pub fn build_generation(
    runtime: &Runtime,
    stats: &Stats,
    config: Config,
    id: u64,
) -> anyhow::Result<Generation> {
    let loaded = load_plugins(runtime, &config, None)?;
    if let Some((name, why)) = loaded.errors.iter().next() {
        anyhow::bail!("plugin `{name}`: {why}");
    }
    assemble(stats, config, loaded, id)
}

/// Validate `config` against loaded plugins and resolve models and routes.
pub fn assemble(
    stats: &Stats,
    config: Config,
    loaded: LoadedPlugins,
    id: u64,
) -> anyhow::Result<Generation> {
    let started = Instant::now();
    let LoadedPlugins {
        plugins, errors, ..
    } = loaded;
    let has = |kind: &str, name: &str| {
        plugins
            .get(name)
            .is_some_and(|p: &Arc<Plugin>| p.kind.as_str() == kind)
    };
    config.validate(&has)?;
    let secrets = config.secrets()?;
    let keys = Arc::new(KeyTable::from_config(&config.keys, &config.server)?);
    let quotas = Arc::new(Quotas::new(keys.clone(), config.limits.clone()));

    let mut models = HashMap::new();
    for (name, m) in &config.models {
        let provider = config
            .providers
            .get(&m.provider)
            .with_context(|| format!("models.{name}.provider"))?;
        let adapter = plugins
            .get(&provider.adapter)
            .filter(|p| p.kind == PluginKind::Adapter)
            .with_context(|| format!("providers.{}.adapter", m.provider))?
            .clone();
        if m.capabilities.iter().any(|c| c == EMBEDDINGS) && !adapter.embeds() {
            anyhow::bail!(
                "models.{name}.capabilities: `embeddings` is declared, but adapter `{}` of provider `{}` does not export the embeddings interface",
                provider.adapter,
                m.provider
            );
        }
        let target = Target {
            provider: m.provider.clone(),
            base_url: provider.base_url.clone(),
            upstream_model: m.upstream.clone().unwrap_or_else(|| name.clone()),
            options_json: provider.options.as_ref().map(toml_to_json),
        };
        models.insert(
            name.clone(),
            Arc::new(ModelTarget {
                name: name.clone(),
                provider_name: m.provider.clone(),
                provider: Arc::new(provider.clone()),
                target,
                capabilities: m.capabilities.clone(),
                context_window: m.context_window,
                prices: Prices::of(name, m),
                quality: m.quality,
                adapters: AdapterPool::new(adapter.clone(), config.plugins.adapter_reuse),
                embedders: EmbedPool::new(adapter.clone(), config.plugins.adapter_reuse),
                adapter,
                stats: stats.model(name),
            }),
        );
    }
    let mut evaluators = HashMap::new();
    for (name, e) in &config.evaluators {
        let plugin = plugins
            .get(&e.plugin)
            .filter(|p| p.kind == PluginKind::Evaluator)
            .with_context(|| format!("evaluators.{name}.plugin"))?
            .clone();
        evaluators.insert(
            name.clone(),
            Arc::new(Evaluator {
                name: name.clone(),
                plugin,
                config: e.config.as_ref().map(|v| toml_to_json(v).into()),
            }),
        );
    }
    let mut routes = HashMap::new();
    for (name, r) in &config.routes {
        let pick = |list: &[String]| -> anyhow::Result<Vec<Arc<ModelTarget>>> {
            list.iter()
                .map(|m| {
                    models
                        .get(m)
                        .cloned()
                        .with_context(|| format!("routes.{name}: model `{m}`"))
                })
                .collect()
        };
        let route_models = pick(&r.models)?;
        let fallback = match &r.fallback {
            Some(f) => pick(f)?,
            None => route_models.clone(),
        };
        let policy = plugins
            .get(&r.policy)
            .filter(|p| p.kind == PluginKind::Policy)
            .with_context(|| format!("routes.{name}.policy"))?
            .clone();
        let policy_config: Option<Arc<str>> =
            r.policy_config.as_ref().map(|v| toml_to_json(v).into());
        let pool = PolicyPool::new(
            policy.clone(),
            policy_config.clone(),
            stats.policy_state(name, &policy.name),
            config.plugins.policy_reuse,
            16,
        );
        routes.insert(
            name.clone(),
            Arc::new(Route {
                name: name.clone(),
                policy,
                policy_config,
                pool,
                observe: r.observe,
                models: route_models,
                fallback,
                retry: r.retry.clone(),
                evaluate: r
                    .evaluate
                    .iter()
                    .map(|e| {
                        evaluators
                            .get(&e.evaluator)
                            .map(|ev| (ev.clone(), e.sample))
                            .with_context(|| format!("routes.{name}.evaluate: `{}`", e.evaluator))
                    })
                    .collect::<anyhow::Result<_>>()?,
                quality_score: r.quality_score.clone(),
                shadow: r.shadow.clone(),
            }),
        );
    }
    tracing::info!(
        generation = id,
        plugins = plugins.len(),
        models = models.len(),
        routes = routes.len(),
        ms = started.elapsed().as_millis() as u64,
        "configuration loaded"
    );
    Ok(Generation {
        id,
        loaded_at: std::time::SystemTime::now(),
        config,
        plugins,
        plugin_errors: errors,
        models,
        routes,
        evaluators,
        secrets,
        keys,
        quotas,
    })
}
