//! What one plugin store holds: its WASI context (no preopens, no
//! environment, no network), resource table, memory limiter, the plugin's
//! config, the policy's key-value store and the model calls of the current
//! decision; and how a store is set up (caps, host-call fuel, the epoch
//! deadline that gives back time spent waiting in the host). A store never
//! outlives its instance and never holds a provider key.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::caps::{MemoryLimiter, ticks};
use super::{Plugin, Runtime};
use crate::wit::{Completion, CompletionRequest, ModelQuality};

/// The data of one plugin store.
pub struct PluginState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) plugin: Arc<str>,
    pub(super) config_json: Option<Arc<str>>,
    /// When the current policy call started, and how long of it was spent
    /// waiting in host calls (`complete`): when the epoch deadline strikes,
    /// the wait is given back, so a policy's deadline covers its own work.
    pub(super) call_started: Option<std::time::Instant>,
    pub(super) waited: Duration,
    pub(super) budget: Duration,
    /// Model calls for the current policy call (set per call, then cleared,
    /// so a pooled instance holds no reference to a request or generation).
    pub(super) completer: Option<Arc<dyn Completer>>,
    /// The policy's key-value store on its route.
    pub(super) kv: Option<Arc<KvStore>>,
    /// The measured quality of the route's models for the current policy
    /// call (set per call, like `completer`).
    pub(super) quality: Arc<Vec<(String, ModelQuality)>>,
}

/// Runs the model calls a policy makes through the `complete` import.
pub trait Completer: Send + Sync {
    /// Ask a model; the error is a message for the policy.
    fn complete(
        &self,
        req: CompletionRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Completion, String>> + Send>>;
}

/// The bounded key-value store behind the WIT `state` import: one per
/// (route, policy), shared by all instances of that policy on that route.
#[derive(Default)]
pub struct KvStore {
    map: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl KvStore {
    /// Longest key, bytes.
    pub const MAX_KEY: usize = 256;
    /// Longest value, bytes.
    pub const MAX_VALUE: usize = 64 << 10;
    /// Most keys.
    pub const MAX_KEYS: usize = 1024;

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.map.lock().ok()?.get(key).cloned()
    }

    /// Set `key`, within the bounds.
    pub fn set(&self, key: String, value: String) -> Result<(), String> {
        if key.len() > Self::MAX_KEY {
            return Err(format!("key longer than {} bytes", Self::MAX_KEY));
        }
        if value.len() > Self::MAX_VALUE {
            return Err(format!("value longer than {} bytes", Self::MAX_VALUE));
        }
        let mut map = self
            .map
            .lock()
            .map_err(|_| "state store unavailable".to_owned())?;
        if map.len() >= Self::MAX_KEYS && !map.contains_key(&key) {
            return Err(format!("more than {} keys", Self::MAX_KEYS));
        }
        map.insert(key, value);
        Ok(())
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Runtime {
    pub(super) fn store(
        &self,
        plugin: &Plugin,
        config: Option<Arc<str>>,
        deadline: Duration,
    ) -> Store<PluginState> {
        let state = PluginState {
            // No preopens, no environment, no network: stdio only (to the
            // void), clocks and randomness.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                cap: self.caps.memory_bytes,
                hit: false,
                size: 0,
            },
            plugin: plugin.name.clone(),
            config_json: config.or_else(|| plugin.config_json.clone()),
            call_started: None,
            waited: Duration::ZERO,
            budget: deadline,
            completer: None,
            kv: None,
            quality: Arc::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // What a return value may cost the host to copy out (strings by
        // length, lists by element count × host size). Without it a guest
        // could return a million list entries that all point at one big
        // string in its memory and make the host allocate terabytes. A
        // value no larger than the guest's own memory cap is plenty for
        // anything a plugin legitimately returns.
        store.set_hostcall_fuel(self.caps.memory_bytes.max(16 << 20));
        // Past the deadline: trap, unless part of the time went to waiting
        // in the host and the guest's own time is still under its budget.
        store.epoch_deadline_callback(|ctx| {
            let d = ctx.data();
            if let Some(started) = d.call_started
                && !d.waited.is_zero()
            {
                let used = started.elapsed().saturating_sub(d.waited);
                if used < d.budget {
                    return Ok(wasmtime::UpdateDeadline::Continue(ticks(d.budget - used)));
                }
            }
            Err(wasmtime::Trap::Interrupt.into())
        });
        store.set_epoch_deadline(ticks(deadline));
        store
    }
}
