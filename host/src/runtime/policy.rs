//! Policy instances and the warm pool of one route: a decision takes an idle
//! instance (or makes one), runs `route` (or `observe`) under the policy
//! deadline, and gives it back unless it trapped or has served its share.
//! A pooled instance holds no reference to a request or a generation between
//! calls.
//! It never shares an instance between routes. (The guest's export is the
//! WIT `route`; host-side the call is `decide`, so that in the host `route`
//! only ever means a configured route.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceTable;

use super::caps::ticks;
use super::fault::{bad_return, classify_trap};
use super::plugin::Pre;
use super::{Completer, KvStore, Plugin, PluginError, PluginState, Runtime};
use crate::wit::{self, Candidate, Decision, ModelQuality, Outcome, RequestView};

impl Runtime {
    /// Run a policy decision in a fresh instance. `config` (the route's policy
    /// config) replaces the plugin's own config when given.
    pub async fn decide(
        &self,
        plugin: &Plugin,
        config: Option<Arc<str>>,
        view: RequestView,
        candidates: &[Candidate],
    ) -> Result<Result<Decision, String>, PluginError> {
        let mut instance = self.policy(plugin, config).await?;
        instance.decide(view, candidates).await
    }

    /// Instantiate a policy. One instance may serve several decisions (a
    /// reuse pool for heavy guests); the router uses one per decision.
    pub async fn policy(
        &self,
        plugin: &Plugin,
        config: Option<Arc<str>>,
    ) -> Result<PolicyInstance, PluginError> {
        let deadline = self.caps.policy_deadline;
        let mut store = self.store(plugin, config, deadline);
        let bindings = match &plugin.pre {
            Pre::Policy(pre) => pre.instantiate_async(&mut store).await.map(Bindings::Now),
            Pre::PolicyV0_1(pre) => pre.instantiate_async(&mut store).await.map(Bindings::V0_1),
            _ => return Err(bad_return(plugin, "not a policy plugin")),
        };
        match bindings {
            Ok(bindings) => Ok(PolicyInstance {
                store,
                bindings,
                name: plugin.name.clone(),
                deadline,
                poisoned: false,
                uses: 0,
            }),
            Err(e) => Err(classify_trap(&plugin.name, &store, e, deadline)),
        }
    }
}

/// The bindings of a policy of either WIT version. 0.1.0's exported records
/// are its own Rust types, converted at the call (`v0_1`).
enum Bindings {
    Now(wit::policy::PolicyPlugin),
    V0_1(wit::v0_1::policy::PolicyPlugin),
}

/// A policy instance. After a trap it refuses further calls: a trapped
/// instance cannot be entered again.
pub struct PolicyInstance {
    store: Store<PluginState>,
    bindings: Bindings,
    name: Arc<str>,
    deadline: Duration,
    poisoned: bool,
    uses: u32,
}

impl PolicyInstance {
    /// Give the instance its route's key-value store.
    pub fn set_state(&mut self, kv: Option<Arc<KvStore>>) {
        self.store.data_mut().kv = kv;
    }

    fn enter(
        &mut self,
        completer: Option<Arc<dyn Completer>>,
        quality: Arc<Vec<(String, ModelQuality)>>,
    ) -> Result<(), PluginError> {
        if self.poisoned {
            return Err(PluginError::Trap {
                plugin: self.name.to_string(),
                message: "instance trapped earlier and was not replaced".into(),
            });
        }
        self.uses += 1;
        self.store.set_epoch_deadline(ticks(self.deadline));
        let data = self.store.data_mut();
        data.call_started = Some(std::time::Instant::now());
        data.waited = Duration::ZERO;
        data.completer = completer;
        data.quality = quality;
        Ok(())
    }

    fn leave<T>(&mut self, result: wasmtime::Result<T>) -> Result<T, PluginError> {
        let data = self.store.data_mut();
        data.completer = None;
        data.quality = Arc::default();
        // Whatever views the guest did not drop go with the call.
        data.table = ResourceTable::new();
        result.map_err(|e| {
            self.poisoned = true;
            classify_trap(&self.name, &self.store, e, self.deadline)
        })
    }

    /// Decide the attempts for one request.
    pub async fn decide(
        &mut self,
        view: RequestView,
        candidates: &[Candidate],
    ) -> Result<Result<Decision, String>, PluginError> {
        self.decide_with(view, candidates, None, Arc::default())
            .await
    }

    /// Decide the attempts, with model calls through `completer` and the
    /// route's measured `quality` per model behind the `quality` import.
    pub async fn decide_with(
        &mut self,
        view: RequestView,
        candidates: &[Candidate],
        completer: Option<Arc<dyn Completer>>,
        quality: Arc<Vec<(String, ModelQuality)>>,
    ) -> Result<Result<Decision, String>, PluginError> {
        self.enter(completer, quality)?;
        let result = async {
            let view = self.store.data_mut().table.push(view)?;
            match &self.bindings {
                Bindings::Now(b) => {
                    b.switchyard_plugin_policy()
                        .call_route(&mut self.store, view, candidates)
                        .await
                }
                Bindings::V0_1(b) => {
                    let candidates: Vec<_> = candidates.iter().map(v0_1::candidate).collect();
                    let r = b
                        .switchyard_plugin_policy()
                        .call_route(&mut self.store, view, &candidates)
                        .await?;
                    Ok(r.map(v0_1::decision))
                }
            }
        }
        .await;
        self.leave(result)
    }

    /// Tell the policy how a request it routed ended.
    pub async fn observe(&mut self, outcome: &Outcome) -> Result<(), PluginError> {
        self.enter(None, Arc::default())?;
        let result = match &self.bindings {
            Bindings::Now(b) => {
                b.switchyard_plugin_policy()
                    .call_observe(&mut self.store, outcome)
                    .await
            }
            Bindings::V0_1(b) => {
                b.switchyard_plugin_policy()
                    .call_observe(&mut self.store, &v0_1::outcome(outcome))
                    .await
            }
        };
        self.leave(result)
    }

    /// Whether it can serve another call.
    pub fn usable(&self) -> bool {
        !self.poisoned
    }
}

/// Warm instances of one policy on one route. A decision takes an idle
/// instance (or makes a fresh one) and gives it back afterwards unless it
/// trapped or has served `max_uses` calls; `max_uses = 1` means a fresh
/// instance for every call. A guest may therefore keep caches (its parsed
/// config, compiled regexes) between calls of the same route. The pool
/// belongs to a generation: a reload retires it with the generation, once
/// the last request holding that generation is done.
pub struct PolicyPool {
    plugin: Arc<Plugin>,
    config: Option<Arc<str>>,
    kv: Arc<KvStore>,
    idle: std::sync::Mutex<Vec<PolicyInstance>>,
    max_idle: usize,
    max_uses: u32,
    fresh: AtomicU64,
}

impl PolicyPool {
    /// A pool for `plugin` with the route's `config`.
    pub fn new(
        plugin: Arc<Plugin>,
        config: Option<Arc<str>>,
        kv: Arc<KvStore>,
        max_uses: u32,
        max_idle: usize,
    ) -> PolicyPool {
        PolicyPool {
            plugin,
            config,
            kv,
            idle: std::sync::Mutex::new(Vec::new()),
            max_idle,
            max_uses: max_uses.max(1),
            fresh: AtomicU64::new(0),
        }
    }

    /// The policy plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The route's policy config (JSON).
    pub fn config(&self) -> Option<&Arc<str>> {
        self.config.as_ref()
    }

    /// How many instances it has created.
    pub fn instances_created(&self) -> u64 {
        self.fresh.load(Ordering::Relaxed)
    }

    async fn take(&self, rt: &Runtime) -> Result<PolicyInstance, PluginError> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        if let Some(inst) = idle {
            return Ok(inst);
        }
        self.fresh.fetch_add(1, Ordering::Relaxed);
        let mut inst = rt.policy(&self.plugin, self.config.clone()).await?;
        inst.set_state(Some(self.kv.clone()));
        Ok(inst)
    }

    fn give_back(&self, inst: PolicyInstance) {
        if !inst.usable() || inst.uses >= self.max_uses {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(inst);
        }
    }

    /// Decide the attempts for one request.
    pub async fn decide(
        &self,
        rt: &Runtime,
        view: RequestView,
        candidates: &[Candidate],
        completer: Option<Arc<dyn Completer>>,
        quality: Arc<Vec<(String, ModelQuality)>>,
    ) -> Result<Result<Decision, String>, PluginError> {
        let mut inst = self.take(rt).await?;
        let result = inst.decide_with(view, candidates, completer, quality).await;
        self.give_back(inst);
        result
    }

    /// Tell the policy how a request ended.
    pub async fn observe(&self, rt: &Runtime, outcome: &Outcome) -> Result<(), PluginError> {
        let mut inst = self.take(rt).await?;
        let result = inst.observe(outcome).await;
        self.give_back(inst);
        result
    }
}

/// The policy records of 0.1.0: the same fields as 0.2.0's, their own types.
mod v0_1 {
    use crate::wit::policy::exports::switchyard::plugin::policy as now;
    use crate::wit::v0_1::policy::exports::switchyard::plugin::policy as old;

    pub(super) fn candidate(c: &now::Candidate) -> old::Candidate {
        let s = &c.stats;
        old::Candidate {
            model: c.model.clone(),
            provider: c.provider.clone(),
            capabilities: c.capabilities.clone(),
            context_window: c.context_window,
            input_price: c.input_price,
            output_price: c.output_price,
            quality: c.quality,
            stats: old::ModelStats {
                requests: s.requests,
                latency_ewma_ms: s.latency_ewma_ms,
                latency_p95_ms: s.latency_p95_ms,
                ttft_ewma_ms: s.ttft_ewma_ms,
                error_rate: s.error_rate,
                in_flight: s.in_flight,
                breaker: match s.breaker {
                    now::BreakerState::Closed => old::BreakerState::Closed,
                    now::BreakerState::Open => old::BreakerState::Open,
                    now::BreakerState::HalfOpen => old::BreakerState::HalfOpen,
                },
            },
        }
    }

    pub(super) fn decision(d: old::Decision) -> now::Decision {
        now::Decision {
            attempts: d
                .attempts
                .into_iter()
                .map(|a| now::Attempt {
                    candidate: a.candidate,
                    timeout_ms: a.timeout_ms,
                    max_tokens: a.max_tokens,
                    temperature: a.temperature,
                })
                .collect(),
            labels: d.labels,
        }
    }

    pub(super) fn outcome(o: &now::Outcome) -> old::Outcome {
        old::Outcome {
            model: o.model.clone(),
            attempts: o.attempts,
            success: o.success,
            error: o.error.clone(),
            latency_ms: o.latency_ms,
            prompt_tokens: o.prompt_tokens,
            completion_tokens: o.completion_tokens,
            labels: o.labels.clone(),
        }
    }
}
