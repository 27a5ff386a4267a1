//! Embedding instances: one per upstream embeddings attempt of an adapter
//! that exports `embeddings`, and the calls into it (build and parse of the
//! embeddings request, and the `adapter` export's classify-error), each
//! under the adapter deadline. Never sends a byte: the broker does.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;

use super::caps::ticks;
use super::fault::{bad_return, classify_trap};
use super::{Plugin, PluginError, PluginState, Runtime};
use crate::canonical::{HttpRequest, HttpResponse, ProviderError, Target};
use crate::wit::{EmbeddingsRequest, EmbeddingsResponse, embed::EmbeddingAdapterPlugin};

impl Runtime {
    /// Instantiate an embedding adapter for one upstream attempt; an error
    /// if the plugin does not export `embeddings`.
    pub async fn embedder(&self, plugin: &Arc<Plugin>) -> Result<EmbedInstance, PluginError> {
        let deadline = self.caps.adapter_deadline;
        let Some(pre) = &plugin.embed else {
            return Err(bad_return(plugin, "not an embedding adapter plugin"));
        };
        let mut store = self.store(plugin, None, deadline);
        match pre.instantiate_async(&mut store).await {
            Ok(bindings) => Ok(EmbedInstance {
                store,
                bindings,
                plugin: plugin.clone(),
                deadline,
            }),
            Err(e) => Err(classify_trap(&plugin.name, &store, e, deadline)),
        }
    }
}

/// An embedding adapter instance serving one upstream attempt.
pub struct EmbedInstance {
    store: Store<PluginState>,
    bindings: EmbeddingAdapterPlugin,
    plugin: Arc<Plugin>,
    deadline: Duration,
}

impl EmbedInstance {
    fn arm(&mut self) {
        self.store.set_epoch_deadline(ticks(self.deadline));
    }

    fn fail(&self, e: wasmtime::Error) -> PluginError {
        classify_trap(&self.plugin.name, &self.store, e, self.deadline)
    }

    /// `embeddings.build-embeddings-request`.
    pub async fn build_request(
        &mut self,
        req: &EmbeddingsRequest,
        target: &Target,
    ) -> Result<Result<HttpRequest, ProviderError>, PluginError> {
        self.arm();
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
        self.arm();
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
        self.arm();
        let r = self
            .bindings
            .switchyard_plugin_adapter()
            .call_classify_error(&mut self.store, resp)
            .await;
        r.map_err(|e| self.fail(e))
    }
}
