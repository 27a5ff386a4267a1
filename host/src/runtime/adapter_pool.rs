//! Warm adapter instances of one model: its chat adapter instances
//! ([`AdapterPool`]) and, for a model that serves embeddings, its embedding
//! instances ([`EmbedPool`]). An attempt takes an idle instance for each
//! adapter call (or makes one) and gives it back right after, so the
//! instances in use at once are the calls running, not the requests waiting
//! on their upstreams; a streaming attempt keeps its instance until its
//! stream ends and its decoder is dropped.
//!
//! Isolation. An adapter is a translator, and a reused instance could keep
//! what it saw (a request's text left in its heap). So an instance only
//! ever serves the client key it was made for ([`Tenant`]): a warm instance
//! never carries one tenant's data into another tenant's request. Without
//! client keys the gateway has one tenant; a call made for no client (a
//! policy's or a judge's model call, a shadow) gets an instance of its own
//! that is never reused. An instance is discarded after any trap or
//! failed call, after `[plugins] adapter_reuse` calls, and when its memory
//! has grown by more than [`MAX_WARM_GROWTH`]; `adapter_reuse = 1` gives every call
//! a fresh instance. The pool belongs to a generation: a reload retires it
//! with the generation.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::Store;

use super::{AdapterInstance, EmbedInstance, Plugin, PluginError, PluginState, Runtime};

/// An instance whose linear memory grew by more than this since it was made
/// is not kept warm (a big request's heap is not held while idle).
pub const MAX_WARM_GROWTH: usize = 8 << 20;

/// Idle instances kept per model.
const MAX_IDLE: usize = 32;

/// Whose requests an adapter instance may serve.
#[derive(Debug, Clone)]
pub enum Tenant {
    /// The gateway has no client keys: every request is the one tenant's.
    Shared,
    /// The requests of this client key.
    Key(Arc<str>),
    /// This call only: the instance is never reused.
    Alone,
}

impl Tenant {
    fn shares(&self, other: &Tenant) -> bool {
        match (self, other) {
            (Tenant::Shared, Tenant::Shared) => true,
            (Tenant::Key(a), Tenant::Key(b)) => a == b,
            _ => false,
        }
    }
}

/// What a pooled instance carries for its pool: whose requests it serves,
/// how many calls it made, whether one failed, and its memory at the start.
pub struct Lease {
    /// Whose requests it may serve.
    pub(super) tenant: Tenant,
    /// Calls it has served.
    pub(super) uses: u32,
    /// A call trapped or failed: it must not serve another.
    pub(super) poisoned: bool,
    /// Its linear memory once instantiated, bytes.
    initial_memory: usize,
}

impl Lease {
    /// The lease of an instance just made in `store`.
    pub(super) fn new(tenant: Tenant, store: &Store<PluginState>) -> Lease {
        Lease {
            tenant,
            uses: 0,
            poisoned: false,
            initial_memory: store.data().limiter.size,
        }
    }

    /// Before a call: refused after a failed one, else counted.
    pub(super) fn enter(&mut self, plugin: &Plugin) -> Result<(), PluginError> {
        if self.poisoned {
            return Err(PluginError::Trap {
                plugin: plugin.name.to_string(),
                message: "instance trapped earlier and was not replaced".into(),
            });
        }
        self.uses += 1;
        Ok(())
    }

    /// How far the instance's linear memory grew since it was made, bytes.
    pub(super) fn growth(&self, store: &Store<PluginState>) -> usize {
        store
            .data()
            .limiter
            .size
            .saturating_sub(self.initial_memory)
    }
}

/// An instance a [`Pool`] can keep warm.
pub trait Warm: Sized + Send {
    /// Make one of `plugin` for `tenant`.
    fn make<'a>(
        rt: &'a Runtime,
        plugin: &'a Arc<Plugin>,
        tenant: Tenant,
    ) -> impl Future<Output = Result<Self, PluginError>> + Send + 'a;
    /// Its lease.
    fn lease(&self) -> &Lease;
    /// How far its memory grew since it was made, bytes.
    fn memory_growth(&self) -> usize;
}

/// [`Warm`] for an instance type with a `lease` field and a
/// `memory_growth` method, made by `Runtime::$make`.
macro_rules! warm {
    ($ty:ty, $make:ident) => {
        impl Warm for $ty {
            fn make<'a>(
                rt: &'a Runtime,
                plugin: &'a Arc<Plugin>,
                tenant: Tenant,
            ) -> impl Future<Output = Result<Self, PluginError>> + Send + 'a {
                rt.$make(plugin, tenant)
            }
            fn lease(&self) -> &Lease {
                &self.lease
            }
            fn memory_growth(&self) -> usize {
                self.memory_growth()
            }
        }
    };
}
warm!(AdapterInstance, adapter);
warm!(EmbedInstance, embedder);

/// The warm chat adapter instances of one model.
pub type AdapterPool = Pool<AdapterInstance>;
/// The warm embedding instances of one model.
pub type EmbedPool = Pool<EmbedInstance>;

/// The warm instances of one model's adapter.
pub struct Pool<I> {
    plugin: Arc<Plugin>,
    idle: Mutex<VecDeque<I>>,
    max_uses: u32,
    fresh: AtomicU64,
}

impl<I: Warm> Pool<I> {
    /// A pool of `plugin` instances, each serving at most `max_uses` calls.
    pub fn new(plugin: Arc<Plugin>, max_uses: u32) -> Pool<I> {
        Pool {
            plugin,
            idle: Mutex::new(VecDeque::new()),
            max_uses: max_uses.max(1),
            fresh: AtomicU64::new(0),
        }
    }

    /// How many instances it has made.
    pub fn instances_created(&self) -> u64 {
        self.fresh.load(Ordering::Relaxed)
    }

    /// An instance for `tenant`: the most recently used idle one of that
    /// tenant, else a fresh one.
    pub async fn take(&self, rt: &Runtime, tenant: &Tenant) -> Result<I, PluginError> {
        if !matches!(tenant, Tenant::Alone)
            && let Ok(mut idle) = self.idle.lock()
            && let Some(i) = idle.iter().rposition(|a| a.lease().tenant.shares(tenant))
            && let Some(inst) = idle.remove(i)
        {
            return Ok(inst);
        }
        self.fresh.fetch_add(1, Ordering::Relaxed);
        I::make(rt, &self.plugin, tenant.clone()).await
    }

    /// Give an instance back after a call; it is dropped instead if it
    /// failed, served its share, or grew too large.
    pub fn give_back(&self, inst: I) {
        let lease = inst.lease();
        if lease.poisoned
            || matches!(lease.tenant, Tenant::Alone)
            || lease.uses >= self.max_uses
            || inst.memory_growth() > MAX_WARM_GROWTH
        {
            return;
        }
        // Dropping a store returns its slot to the allocator: do it outside
        // the lock.
        let evicted = match self.idle.lock() {
            Ok(mut idle) => {
                idle.push_back(inst);
                if idle.len() > MAX_IDLE {
                    idle.pop_front()
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        drop(evicted);
    }
}
