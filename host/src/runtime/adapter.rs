//! Adapter instances: one per upstream attempt, with the attempt's stream
//! decoder, and the calls into it (info, build-request, parse-response,
//! classify-error, feed, finish), each under the adapter deadline. Never
//! sends a byte: the broker does.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::caps::ticks;
use super::fault::{bad_return, classify_trap};
use super::plugin::Pre;
use super::{AdapterInfo, Plugin, PluginError, PluginState, Runtime};
use crate::canonical::{
    ChatRequest, ChatResponse, HttpRequest, HttpResponse, ProviderError, StreamEvent, Target,
};
use crate::wit;

impl Runtime {
    /// Instantiate an adapter for one upstream attempt.
    pub async fn adapter(&self, plugin: &Arc<Plugin>) -> Result<AdapterInstance, PluginError> {
        let deadline = self.caps.adapter_deadline;
        let mut store = self.store(plugin, None, deadline);
        let bindings = match &plugin.pre {
            Pre::Adapter(pre) => pre.instantiate_async(&mut store).await.map(Bindings::Now),
            Pre::AdapterV0_1(pre) => pre.instantiate_async(&mut store).await.map(Bindings::V0_1),
            _ => return Err(bad_return(plugin, "not an adapter plugin")),
        };
        match bindings {
            Ok(bindings) => Ok(AdapterInstance {
                store,
                bindings,
                plugin: plugin.clone(),
                deadline,
            }),
            Err(e) => Err(classify_trap(&plugin.name, &store, e, deadline)),
        }
    }
}

/// The bindings of an adapter of either WIT version: the same calls with the
/// same canonical types (0.1.0's `types` are mapped onto 0.2.0's).
enum Bindings {
    Now(wit::adapter::AdapterPlugin),
    V0_1(wit::v0_1::adapter::AdapterPlugin),
}

/// Run `$call` with `$g`, the guest's `adapter` export, of either version.
macro_rules! guest {
    ($self:ident, $g:ident => $call:expr) => {
        match &$self.bindings {
            Bindings::Now(b) => {
                let $g = b.switchyard_plugin_adapter();
                $call
            }
            Bindings::V0_1(b) => {
                let $g = b.switchyard_plugin_adapter();
                $call
            }
        }
    };
}

/// An adapter instance serving one upstream attempt, and the stream decoder
/// of that attempt if it streams. Dropped when the attempt ends.
pub struct AdapterInstance {
    store: Store<PluginState>,
    bindings: Bindings,
    plugin: Arc<Plugin>,
    deadline: Duration,
}

/// A stream decoder living in an [`AdapterInstance`].
#[derive(Clone, Copy)]
pub struct DecoderHandle(ResourceAny);

impl AdapterInstance {
    /// The adapter plugin this instance runs.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    fn arm(&mut self) {
        self.store.set_epoch_deadline(ticks(self.deadline));
    }

    fn fail(&self, e: wasmtime::Error) -> PluginError {
        classify_trap(&self.plugin.name, &self.store, e, self.deadline)
    }

    /// `adapter.info`.
    pub async fn info(&mut self) -> Result<AdapterInfo, PluginError> {
        self.arm();
        let r = match &self.bindings {
            Bindings::Now(b) => {
                b.switchyard_plugin_adapter()
                    .call_info(&mut self.store)
                    .await
            }
            Bindings::V0_1(b) => b
                .switchyard_plugin_adapter()
                .call_info(&mut self.store)
                .await
                .map(|i| AdapterInfo {
                    name: i.name,
                    version: i.version,
                    features: i.features,
                }),
        };
        r.map_err(|e| self.fail(e))
    }

    /// `adapter.build-request`.
    pub async fn build_request(
        &mut self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<Result<HttpRequest, ProviderError>, PluginError> {
        self.arm();
        let store = &mut self.store;
        let r = guest!(self, g => g.call_build_request(store, req, target).await);
        r.map_err(|e| self.fail(e))
    }

    /// `adapter.parse-response`.
    pub async fn parse_response(
        &mut self,
        resp: &HttpResponse,
        target: &Target,
    ) -> Result<Result<ChatResponse, ProviderError>, PluginError> {
        self.arm();
        let store = &mut self.store;
        let r = guest!(self, g => g.call_parse_response(store, resp, target).await);
        r.map_err(|e| self.fail(e))
    }

    /// `adapter.classify-error`.
    pub async fn classify_error(
        &mut self,
        resp: &HttpResponse,
    ) -> Result<ProviderError, PluginError> {
        self.arm();
        let store = &mut self.store;
        let r = guest!(self, g => g.call_classify_error(store, resp).await);
        r.map_err(|e| self.fail(e))
    }

    /// Create the attempt's stream decoder.
    pub async fn stream_decoder(&mut self, target: &Target) -> Result<DecoderHandle, PluginError> {
        self.arm();
        let store = &mut self.store;
        let r = guest!(self, g => g.stream_decoder().call_constructor(store, target).await);
        r.map(DecoderHandle).map_err(|e| self.fail(e))
    }

    /// Feed stream bytes to the decoder.
    pub async fn feed(
        &mut self,
        decoder: DecoderHandle,
        bytes: &[u8],
    ) -> Result<Result<Vec<StreamEvent>, ProviderError>, PluginError> {
        self.arm();
        let store = &mut self.store;
        let r = guest!(self, g => g.stream_decoder().call_feed(store, decoder.0, bytes).await);
        r.map_err(|e| self.fail(e))
    }

    /// Tell the decoder the stream ended.
    pub async fn finish(
        &mut self,
        decoder: DecoderHandle,
    ) -> Result<Result<Vec<StreamEvent>, ProviderError>, PluginError> {
        self.arm();
        let store = &mut self.store;
        let r = guest!(self, g => g.stream_decoder().call_finish(store, decoder.0).await);
        r.map_err(|e| self.fail(e))
    }
}
