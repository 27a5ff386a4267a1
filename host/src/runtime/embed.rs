//! Embedding instances of an adapter that exports `embeddings`, kept warm
//! per model and client key like the chat instances
//! ([`super::EmbedPool`]), and the calls into them (build and parse of the
//! embeddings request, and the `adapter` export's classify-error), each
//! under the adapter deadline. Never sends a byte: the broker does.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;

use super::adapter_pool::{Lease, Tenant};
use super::caps::ticks;
use super::fault::{bad_return, classify_trap};
use super::{Plugin, PluginError, PluginState, Runtime};
use crate::canonical::{HttpRequest, HttpResponse, ProviderError, Target};
use crate::wit::{EmbeddingsRequest, EmbeddingsResponse, embed::EmbeddingAdapterPlugin};

impl Runtime {
    /// Instantiate an embedding adapter that may serve `tenant`'s requests;
    /// an error if the plugin does not export `embeddings`.
    pub async fn embedder(
        &self,
        plugin: &Arc<Plugin>,
        tenant: Tenant,
    ) -> Result<EmbedInstance, PluginError> {
        let deadline = self.caps.adapter_deadline;
        let Some(pre) = &plugin.embed else {
            return Err(bad_return(plugin, "not an embedding adapter plugin"));
        };
        let mut store = self.store(plugin, None, deadline);
        match pre.instantiate_async(&mut store).await {
            Ok(bindings) => Ok(EmbedInstance {
                lease: Lease::new(tenant, &store),
                store,
                bindings,
                plugin: plugin.clone(),
                deadline,
            }),
            Err(e) => Err(classify_trap(&plugin.name, &store, e, deadline)),
        }
    }
}

/// An embedding adapter instance. After a trap it is never entered again.
pub struct EmbedInstance {
    store: Store<PluginState>,
    bindings: EmbeddingAdapterPlugin,
    plugin: Arc<Plugin>,
    deadline: Duration,
    /// Its tenant, calls and health, for its pool.
    pub(super) lease: Lease,
}

impl EmbedInstance {
    /// How far its linear memory grew since it was instantiated, bytes.
    pub(super) fn memory_growth(&self) -> usize {
        self.lease.growth(&self.store)
    }

    fn arm(&mut self) -> Result<(), PluginError> {
        self.lease.enter(&self.plugin)?;
        self.store.set_epoch_deadline(ticks(self.deadline));
        Ok(())
    }

    fn fail(&mut self, e: wasmtime::Error) -> PluginError {
        self.lease.poisoned = true;
        classify_trap(&self.plugin.name, &self.store, e, self.deadline)
    }

    /// `embeddings.build-embeddings-request`.
    pub async fn build_request(
        &mut self,
        req: &EmbeddingsRequest,
        target: &Target,
    ) -> Result<Result<HttpRequest, ProviderError>, PluginError> {
        self.arm()?;
        let r = self
            .bindings
            .switchyard_plugin_embeddings()
            .call_build_embeddings_request(&mut self.store, req, target)
            .await;
        r.map_err(|e| self.fail(e))
    }

    /// `embeddings.parse-embeddings-response`.
    pub async fn parse_response(
        &mut self,
        resp: &HttpResponse,
        req: &EmbeddingsRequest,
        target: &Target,
    ) -> Result<Result<EmbeddingsResponse, ProviderError>, PluginError> {
        self.arm()?;
        let r = self
            .bindings
            .switchyard_plugin_embeddings()
            .call_parse_embeddings_response(&mut self.store, resp, req, target)
            .await;
        r.map_err(|e| self.fail(e))
    }

    /// `adapter.classify-error`.
    pub async fn classify_error(
        &mut self,
        resp: &HttpResponse,
    ) -> Result<ProviderError, PluginError> {
        self.arm()?;
        let r = self
            .bindings
            .switchyard_plugin_adapter()
            .call_classify_error(&mut self.store, resp)
            .await;
        r.map_err(|e| self.fail(e))
    }
}
