//! The gateway's state: the process-wide parts (runtime, broker, stats) and the
//! current **generation** — a validated config together with the plugins it
//! loaded, swapped as one unit. A request loads the generation once and
//! finishes on it, whatever happens to the current one meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use arc_swap::ArcSwap;

use crate::broker::Broker;
use crate::config::{Config, ProviderConfig, ProviderSecrets};
use crate::runtime::{Plugin, PluginKind, PluginSource, Runtime, types::Target};
use crate::stats::{ModelCounters, Stats};

/// First-party plugins compiled into the binary by `build.rs`.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

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
    /// USD per million input tokens.
    pub input_price: f64,
    /// USD per million output tokens.
    pub output_price: f64,
    /// The adapter plugin.
    pub adapter: Arc<Plugin>,
    /// Live figures.
    pub stats: Arc<ModelCounters>,
}

/// One route of the config, resolved.
pub struct Route {
    /// The route's name.
    pub name: String,
    /// The policy plugin.
    pub policy: Arc<Plugin>,
    /// The policy's config for this route, as JSON.
    pub policy_config: Option<Arc<str>>,
    /// Candidate models, in their static order.
    pub models: Vec<Arc<ModelTarget>>,
    /// The order used when the policy fails.
    pub fallback: Vec<Arc<ModelTarget>>,
    /// Retries, failover and deadline.
    pub retry: crate::config::RetryConfig,
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
    /// Models by name.
    pub models: HashMap<String, Arc<ModelTarget>>,
    /// Routes by name.
    pub routes: HashMap<String, Arc<Route>>,
    /// Keys and AWS credentials by provider name.
    pub secrets: BTreeMap<String, ProviderSecrets>,
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

fn toml_to_json(v: &toml::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Plugin bytes by name, with where they came from.
pub type PluginSources = BTreeMap<String, (PluginSource, Arc<[u8]>)>;

/// Read the plugin sources: the embedded ones, overridden by `*.wasm` files
/// of the plugin directory with the same name.
pub fn plugin_sources(dir: Option<&Path>) -> anyhow::Result<PluginSources> {
    let mut out: PluginSources = embedded::EMBEDDED
        .iter()
        .map(|(n, b)| ((*n).to_owned(), (PluginSource::Embedded, Arc::from(*b))))
        .collect();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading plugin directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading plugin {}", path.display()))?;
            out.insert(name, (PluginSource::File(path), Arc::from(bytes)));
        }
    }
    Ok(out)
}

/// Load the plugins and validate the config against them.
pub fn build_generation(
    runtime: &Runtime,
    stats: &Stats,
    config: Config,
    id: u64,
) -> anyhow::Result<Generation> {
    let started = Instant::now();
    let sources = plugin_sources(config.plugins.dir.as_deref())?;
    let mut plugins = BTreeMap::new();
    for (name, (source, bytes)) in sources {
        let cfg = config.plugins.config.get(&name).map(toml_to_json);
        let p = runtime.load(&name, source, &bytes, cfg)?;
        tracing::debug!(plugin = %name, kind = p.kind.as_str(), source = %p.source, cached = p.from_cache, "plugin loaded");
        plugins.insert(name, Arc::new(p));
    }
    let has = |kind: &str, name: &str| {
        plugins
            .get(name)
            .is_some_and(|p: &Arc<Plugin>| p.kind.as_str() == kind)
    };
    config.validate(&has)?;
    let secrets = config.secrets()?;

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
                input_price: m.input_price,
                output_price: m.output_price,
                adapter,
                stats: stats.model(name),
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
        routes.insert(
            name.clone(),
            Arc::new(Route {
                name: name.clone(),
                policy,
                policy_config: r.policy_config.as_ref().map(|v| toml_to_json(v).into()),
                models: route_models,
                fallback,
                retry: r.retry.clone(),
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
        models,
        routes,
        secrets,
    })
}

/// The running gateway.
pub struct Gateway {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// Outbound HTTP.
    pub broker: Broker,
    /// Live figures.
    pub stats: Stats,
    generation: ArcSwap<Generation>,
    next_id: AtomicU64,
}

impl Gateway {
    /// Start from a config: build the first generation or fail.
    pub fn new(runtime: Arc<Runtime>, config: Config) -> anyhow::Result<Gateway> {
        let stats = Stats::default();
        let first = build_generation(&runtime, &stats, config, 1)?;
        Ok(Gateway {
            runtime,
            broker: Broker::new()?,
            stats,
            generation: ArcSwap::from_pointee(first),
            next_id: AtomicU64::new(2),
        })
    }

    /// The current generation.
    pub fn current(&self) -> Arc<Generation> {
        self.generation.load_full()
    }

    /// Build a new generation from `config` and make it current; on failure
    /// the current one stays.
    pub fn swap(&self, config: Config) -> anyhow::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let g = build_generation(&self.runtime, &self.stats, config, id)?;
        self.generation.store(Arc::new(g));
        Ok(id)
    }
}
