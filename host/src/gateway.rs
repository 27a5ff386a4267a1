//! The running gateway: the process-wide [`Router`] (runtime, broker, live
//! figures), the key limiter, answer-quality statistics ([`Quality`]), and
//! the current [`Generation`] behind an atomic swap, with the reload
//! pipeline that replaces it ([`reload`] is the task that triggers it on
//! file changes, SIGHUP and `POST /admin/reload`). A request loads the
//! generation once and finishes on it, whatever happens to the current one
//! meanwhile. A reload that fails any step leaves the current generation
//! serving; this module never serves a request itself.

pub mod reload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::cache::ResponseCache;
use crate::config::Config;
use crate::generation::{Generation, assemble, build_generation, plugins::load_plugins};
use crate::ledger::Ledger;
use crate::limits::Limiter;
use crate::monitor::Quality;
use crate::routing::Router;
use crate::runtime::Runtime;

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
    /// Runtime, broker, live figures: what requests are routed with.
    pub router: Arc<Router>,
    generation: ArcSwap<Generation>,
    next_id: AtomicU64,
    status: std::sync::Mutex<ReloadStatus>,
    /// Serializes reloads: one pipeline at a time.
    reload_lock: tokio::sync::Mutex<()>,
    /// The reload task, once started.
    pub reloader: std::sync::OnceLock<reload::Reloader>,
    /// Rate-limit and budget counters of client keys.
    pub limiter: Arc<Limiter>,
    /// Where finished requests' records go.
    pub ledger: Arc<Ledger>,
    /// Set when the gateway listens on a non-loopback address: a reload
    /// may then not remove every client key.
    pub public: AtomicBool,
    /// Answer-quality statistics and alerts; kept across reloads, which
    /// hand it their `[quality]`.
    pub quality: Arc<Quality>,
    /// The exact response cache, kept across reloads while `[cache]`
    /// stays the same.
    pub cache: Arc<ResponseCache>,
}

impl Gateway {
    /// Start from a config: build the first generation or fail.
    pub fn new(runtime: Arc<Runtime>, config: Config) -> anyhow::Result<Gateway> {
        let quality = Arc::new(Quality::new(config.quality.clone()));
        let router = Arc::new(Router::new(runtime, quality.clone())?);
        let evaluation = config.evaluation.clone();
        let first = build_generation(&router.runtime, &router.stats, config, 1)?;
        let status = ReloadStatus {
            plugin_generation: first.plugins.keys().map(|k| (k.clone(), 1)).collect(),
            ..ReloadStatus::default()
        };
        let limiter: Arc<Limiter> = Arc::default();
        let ledger = Arc::new(Ledger::new(router.clone(), limiter.clone(), &evaluation));
        Ok(Gateway {
            router,
            generation: ArcSwap::from_pointee(first),
            next_id: AtomicU64::new(2),
            status: std::sync::Mutex::new(status),
            reload_lock: tokio::sync::Mutex::new(()),
            reloader: std::sync::OnceLock::new(),
            limiter,
            ledger,
            public: AtomicBool::new(false),
            quality,
            cache: Arc::default(),
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
        if config.log != self.current().config.log {
            // The log's store is opened once, at start.
            tracing::warn!(
                "[log] changed: the request log keeps its settings from start until the gateway restarts"
            );
        }
        if config.evaluation != self.current().config.evaluation {
            // The evaluation queue is made once, at start.
            tracing::warn!(
                "[evaluation] changed: the evaluation queue keeps its size and concurrency from start until the gateway restarts"
            );
        }
        let prev = self.current();
        let runtime = self.router.runtime.clone();
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
            if let Err(e) = self.router.runtime.self_check(&p).await {
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
        let quality = config.quality.clone();
        let g = assemble(&self.router.stats, config, loaded, id)?;
        self.generation.store(Arc::new(g));
        self.quality.reconfigure(quality);
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
        let quality = config.quality.clone();
        let g = build_generation(&self.router.runtime, &self.router.stats, config, id)?;
        self.generation.store(Arc::new(g));
        self.quality.reconfigure(quality);
        Ok(id)
    }
}
