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
    /// Quality score (0–1), when configured.
    pub quality: Option<f64>,
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
    /// Warm instances of the policy with this route's config.
    pub pool: crate::runtime::PolicyPool,
    /// Whether the policy hears each request's outcome.
    pub observe: bool,
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
    /// Plugins refused when this generation was built, with the reason.
    pub plugin_errors: BTreeMap<String, String>,
    /// Models by name.
    pub models: HashMap<String, Arc<ModelTarget>>,
    /// Routes by name.
    pub routes: HashMap<String, Arc<Route>>,
    /// Keys and AWS credentials by provider name.
    pub secrets: BTreeMap<String, ProviderSecrets>,
    /// Client keys, the admin key and the limit store.
    pub keys: Arc<crate::keys::KeyTable>,
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
            let bytes = crate::config::read_capped(&path, crate::config::PLUGIN_FILE_MAX)
                .with_context(|| format!("reading plugin {}", path.display()))?;
            out.insert(name, (PluginSource::File(path), Arc::from(bytes)));
        }
    }
    Ok(out)
}

/// Plugins loaded for a candidate generation.
pub struct LoadedPlugins {
    /// Every usable plugin by name.
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    /// Names of plugins compiled for this generation (not carried over).
    pub fresh: Vec<String>,
    /// Plugins refused, with the reason; an older version of a refused
    /// plugin keeps serving when there is one.
    pub errors: BTreeMap<String, String>,
}

/// Load the plugins of `config`. A plugin whose bytes did not change since
/// `prev` is carried over as it is (no compile, no self-check); one that
/// fails to load is refused, and `prev`'s version of it, if any, stays.
pub fn load_plugins(
    runtime: &Runtime,
    config: &Config,
    prev: Option<&Generation>,
) -> anyhow::Result<LoadedPlugins> {
    let sources = plugin_sources(config.plugins.dir.as_deref())?;
    let mut out = LoadedPlugins {
        plugins: BTreeMap::new(),
        fresh: Vec::new(),
        errors: BTreeMap::new(),
    };
    for (name, (source, bytes)) in sources {
        let cfg = config.plugins.config.get(&name).map(toml_to_json);
        let old = prev.and_then(|g| g.plugins.get(&name));
        let sha = runtime_sha(&bytes);
        if let Some(old) = old
            && old.sha256 == sha
            && old.source == source
            && old.config_json() == cfg.as_deref()
        {
            out.plugins.insert(name, old.clone());
            continue;
        }
        let loaded = runtime
            .load(&name, source.clone(), &bytes, cfg)
            .and_then(|p| match old {
                // A replacement must be of the same kind as what it replaces.
                Some(old) if old.kind != p.kind => Err(anyhow::anyhow!(
                    "`{name}` is {} {}, but the plugin it replaces is {} {}",
                    article(p.kind),
                    p.kind.as_str(),
                    article(old.kind),
                    old.kind.as_str()
                )),
                _ => Ok(p),
            });
        match loaded {
            Ok(p) => {
                if prev.is_some() {
                    tracing::info!(plugin = %name, kind = p.kind.as_str(), source = %p.source, sha256 = %p.sha256, cached = p.from_cache, "plugin loaded");
                } else {
                    tracing::debug!(plugin = %name, kind = p.kind.as_str(), source = %p.source, sha256 = %p.sha256, cached = p.from_cache, "plugin loaded");
                }
                out.fresh.push(name.clone());
                out.plugins.insert(name, Arc::new(p));
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::warn!(plugin = %name, source = %source, "plugin refused: {why}");
                out.errors.insert(name.clone(), why);
                if let Some(old) = old {
                    out.plugins.insert(name, old.clone());
                }
            }
        }
    }
    Ok(out)
}

fn article(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Adapter => "an",
        PluginKind::Policy => "a",
    }
}

fn runtime_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
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
    let keys = Arc::new(crate::keys::KeyTable::from_config(
        &config.keys,
        &config.server,
        &config.limits,
    )?);

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
                quality: m.quality,
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
        let policy_config: Option<Arc<str>> =
            r.policy_config.as_ref().map(|v| toml_to_json(v).into());
        let pool = crate::runtime::PolicyPool::new(
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
        secrets,
        keys,
    })
}

/// Outcome counters and the last error of reloads.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReloadStatus {
    /// Reloads that produced a new generation.
    pub succeeded: u64,
    /// Reloads refused (the previous generation kept serving).
    pub failed: u64,
    /// Plugins refused, over all reloads.
    pub plugins_refused: u64,
    /// Why the last reload failed, if it did.
    pub last_error: Option<String>,
    /// Plugin errors of the last reload by plugin name.
    pub plugin_errors: BTreeMap<String, String>,
    /// Generation each plugin was (re)loaded in.
    pub plugin_generation: BTreeMap<String, u64>,
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
    status: std::sync::Mutex<ReloadStatus>,
    /// Serializes reloads: one pipeline at a time.
    reload_lock: tokio::sync::Mutex<()>,
    /// The reload task, once started.
    pub reloader: std::sync::OnceLock<crate::reload::Reloader>,
    /// Recent answers of policies' model calls.
    pub completions: crate::complete::CompletionCache,
    /// Rate-limit and budget counters of client keys.
    pub limiter: Arc<crate::limits::Limiter>,
    /// Set when the gateway listens on a non-loopback address: a reload
    /// may then not remove every client key.
    pub public: std::sync::atomic::AtomicBool,
}

impl Gateway {
    /// Start from a config: build the first generation or fail.
    pub fn new(runtime: Arc<Runtime>, config: Config) -> anyhow::Result<Gateway> {
        let stats = Stats::default();
        let first = build_generation(&runtime, &stats, config, 1)?;
        let status = ReloadStatus {
            plugin_generation: first.plugins.keys().map(|k| (k.clone(), 1)).collect(),
            ..ReloadStatus::default()
        };
        Ok(Gateway {
            runtime,
            broker: Broker::new()?,
            stats,
            generation: ArcSwap::from_pointee(first),
            next_id: AtomicU64::new(2),
            status: std::sync::Mutex::new(status),
            reload_lock: tokio::sync::Mutex::new(()),
            reloader: std::sync::OnceLock::new(),
            completions: Default::default(),
            limiter: Arc::default(),
            public: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The current generation.
    pub fn current(&self) -> Arc<Generation> {
        self.generation.load_full()
    }

    /// Record a reload refused before the pipeline ran (unreadable config).
    pub fn record_failure(&self, why: &str) {
        if let Ok(mut st) = self.status.lock() {
            st.failed += 1;
            st.last_error = Some(why.to_owned());
        }
    }

    /// Counters and errors of reloads.
    pub fn reload_status(&self) -> ReloadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The reload pipeline: compile changed plugins off the request path
    /// (cached by content hash), check their world, self-check them with a
    /// fixture call, validate `config` against them, then swap atomically.
    /// Requests in flight finish on the generation they started with. On any
    /// failure the current generation stays and the reason is recorded.
    pub async fn reload(self: &Arc<Self>, config: Config) -> anyhow::Result<u64> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let result = self.reload_inner(config).await;
        if let Ok(mut st) = self.status.lock() {
            match &result {
                Ok((id, errors)) => {
                    st.succeeded += 1;
                    st.plugins_refused += errors.len() as u64;
                    st.last_error = None;
                    st.plugin_errors = errors.clone();
                    let _ = id;
                }
                Err(e) => {
                    st.failed += 1;
                    st.last_error = Some(format!("{e:#}"));
                }
            }
        }
        match result {
            Ok((id, _)) => Ok(id),
            Err(e) => {
                tracing::warn!(
                    "reload refused, generation {} keeps serving: {e:#}",
                    self.current().id
                );
                Err(e)
            }
        }
    }

    async fn reload_inner(
        self: &Arc<Self>,
        config: Config,
    ) -> anyhow::Result<(u64, BTreeMap<String, String>)> {
        if self.public.load(Ordering::Relaxed)
            && config.keys.is_empty()
            && !config.server.allow_public_without_keys
        {
            anyhow::bail!(
                "keys: this gateway listens on a non-loopback address, and the new config has no client keys ([keys]); \
                 refusing to serve it unauthenticated (set [server] allow_public_without_keys = true to allow)"
            );
        }
        let prev = self.current();
        let runtime = self.runtime.clone();
        let cfg = config.clone();
        let prev2 = prev.clone();
        // Compiling is CPU work: keep it off the async workers.
        let mut loaded =
            tokio::task::spawn_blocking(move || load_plugins(&runtime, &cfg, Some(&prev2)))
                .await
                .map_err(|e| anyhow::anyhow!("reload task failed: {e}"))??;
        for name in std::mem::take(&mut loaded.fresh) {
            let Some(p) = loaded.plugins.get(&name).cloned() else {
                continue;
            };
            if let Err(e) = self.runtime.self_check(&p).await {
                tracing::warn!(plugin = %name, "plugin refused by its self-check: {e}");
                loaded
                    .errors
                    .insert(name.clone(), format!("self-check failed: {e}"));
                match prev.plugins.get(&name) {
                    Some(old) => {
                        loaded.plugins.insert(name, old.clone());
                    }
                    None => {
                        loaded.plugins.remove(&name);
                    }
                }
            } else {
                loaded.fresh.push(name);
            }
        }
        let fresh = loaded.fresh.clone();
        let errors = loaded.errors.clone();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let g = assemble(&self.stats, config, loaded, id)?;
        self.generation.store(Arc::new(g));
        if let Ok(mut st) = self.status.lock() {
            for name in &fresh {
                st.plugin_generation.insert(name.clone(), id);
            }
        }
        tracing::info!(generation = id, changed = ?fresh, refused = ?errors.keys().collect::<Vec<_>>(), "generation live");
        Ok((id, errors))
    }

    /// Build a new generation from `config` synchronously and make it
    /// current (no self-check; for tests and tools).
    pub fn swap(&self, config: Config) -> anyhow::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let g = build_generation(&self.runtime, &self.stats, config, id)?;
        self.generation.store(Arc::new(g));
        Ok(id)
    }
}
