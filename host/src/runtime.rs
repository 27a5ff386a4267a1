//! The component runtime: one wasmtime `Engine` for the process, plugins
//! loaded into `InstancePre`s, and every call into a plugin under its caps
//! (epoch deadline, memory cap, host-call fuel).
//!
//! Isolation model. An **adapter** runs in a warm pool per model
//! ([`AdapterPool`]): an instance serves up to `[plugins] adapter_reuse`
//! calls, only ever for the one client key it was made for, and is
//! discarded after any trap or failed call, so no data crosses tenants (a
//! streaming attempt's decoder lives in its instance until the stream ends).
//! A **policy** runs in
//! a warm pool per route ([`PolicyPool`]): an instance serves up to
//! `[plugins] policy_reuse` decisions of that one route and is discarded after
//! any trap, so a guest may keep caches (its parsed config, compiled regexes)
//! but a trap can only ever poison the instance that trapped. Measured with
//! `cargo bench --bench runtime` on a 2-core machine (wasmtime 48, pooling
//! allocator, Rust guests): a fresh `ordered` decision costs ~20 µs against
//! ~4 µs on a reused instance, a fresh openai build-request ~25 µs (creating
//! and dropping the store took ~18% of the gateway's CPU at 64 connections
//! before adapters were pooled); Python and
//! JavaScript guests take ~1.5 ms to instantiate, which is what the pool is
//! for.
//!
//! The layout: [`caps`] (the limits of one call), [`cache`] (compiled
//! components on disk, by content hash), [`plugin`] (loading and linking a
//! component, its kind), [`store`] (what a store holds: WASI context, memory
//! limiter, the policy's key-value store and model calls), [`policy`] and
//! [`adapter`] (instances and the calls into them), [`adapter_pool`] (warm
//! adapter instances per model and tenant), [`embed`] (the same for
//! an adapter's `embeddings` export), [`evaluator`] (scoring
//! an answer off the request path), [`self_check`] (the
//! fixture call a new plugin must pass), [`fault`] (what a failed call was),
//! `host_impl` (the host functions plugins import).
//!
//! This module never does network I/O and never sees provider keys. Failures
//! of a plugin are returned as [`PluginError`] values; nothing a plugin does can
//! panic the host.

pub mod adapter;
pub mod adapter_pool;
pub mod cache;
pub mod caps;
pub mod embed;
pub mod evaluator;
pub mod fault;
mod host_impl;
pub mod plugin;
pub mod policy;
pub mod self_check;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context as _;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use self::adapter::{AdapterInstance, DecoderHandle};
pub use self::adapter_pool::{AdapterPool, EmbedPool, Tenant};
use self::caps::EPOCH_TICK;
pub use self::caps::PluginCaps;
pub use self::embed::EmbedInstance;
pub use self::fault::{PluginError, PluginFault};
pub use self::plugin::{Plugin, PluginKind, PluginSource};
pub use self::policy::{PolicyInstance, PolicyPool};
pub use self::store::{Completer, KvStore, PluginState};
use crate::wit;
pub use crate::wit::{
    AdapterInfo, Attempt, BreakerState, Candidate, Completion, CompletionRequest, Decision,
    EvalInput, ModelQuality, ModelStats, Outcome, RequestView, Score, WIT_VERSION, WIT_VERSIONS,
};

/// Options of the runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Caps of every plugin call.
    pub caps: PluginCaps,
}

/// The process's one wasmtime engine and linker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
    engine_hash: u64,
    caps: PluginCaps,
    compiles: AtomicU64,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Build the engine (pooling allocator, epoch interruption), the linker
    /// with WASI and the host interfaces, and start the epoch ticker.
    pub fn new(opts: RuntimeOptions) -> anyhow::Result<Runtime> {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        // Slots are virtual reservations, not resident memory; 1000 covers
        // ~500 concurrent requests each holding a policy and an adapter.
        pool.total_component_instances(1000);
        pool.total_core_instances(2000);
        pool.total_memories(2000);
        pool.total_tables(2000);
        pool.total_stacks(1000);
        // The memory cap is enforced per store by `MemoryLimiter`; the pool's
        // maximum only bounds the reservation.
        pool.max_memory_size(opts.caps.memory_bytes.max(1 << 20) * 2);
        // Python/JS components need larger instance metadata than Rust ones.
        pool.max_component_instance_size(4 << 20);
        pool.table_elements(100_000);
        // An instance per call makes resetting slots the dominant cost, and
        // `madvise` in a multi-threaded process costs TLB-shootdown IPIs on
        // every core. So: reset the pages a guest touched with memset (found
        // with PAGEMAP_SCAN where the kernel has it), keep stacks and tables
        // resident, and batch whatever decommits remain.
        pool.linear_memory_keep_resident(2 << 20);
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        pool.decommit_batch_size(64);
        pool.table_keep_resident(64 << 10);
        pool.async_stack_keep_resident(128 << 10);
        let mut config = wasmtime::Config::new();
        config
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .memory_init_cow(true)
            .max_wasm_stack(1 << 20)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let engine_hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            h.finish()
        };

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        // The adapter world brings `types` and `host`; the policy world adds
        // `request`, `state`, `models` and `quality` on top (its `host` is
        // the same interface), the evaluator world `evaluation`.
        wit::adapter::AdapterPlugin::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        {
            use wit::policy::switchyard::plugin as p;
            p::request::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            p::state::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            p::models::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            p::quality::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            wit::evaluator::switchyard::plugin::evaluation::add_to_linker::<
                _,
                HasSelf<PluginState>,
            >(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        }
        // The 0.1.0 package's interfaces, for plugins built against it.
        {
            use wit::v0_1::adapter::switchyard::plugin as a;
            use wit::v0_1::policy::switchyard::plugin as p;
            a::host::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            p::request::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            p::state::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
            p::models::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
                .map_err(anyhow::Error::from)?;
        }

        let stop_ticker = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop_ticker.clone();
            std::thread::Builder::new()
                .name("switchyard-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .context("starting the epoch ticker thread")?;
        }

        if let Some(dir) = &opts.cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating component cache directory {}", dir.display()))?;
        }
        Ok(Runtime {
            engine,
            linker,
            cache_dir: opts.cache_dir,
            engine_hash,
            caps: opts.caps,
            compiles: AtomicU64::new(0),
            stop_ticker,
        })
    }

    /// The caps every plugin call runs under.
    pub fn caps(&self) -> &PluginCaps {
        &self.caps
    }

    /// How many components this runtime compiled with Cranelift (cache misses).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
