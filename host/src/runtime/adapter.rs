//! Adapter instances and the calls into them (info, build-request,
//! parse-response, classify-error, feed, finish), each under the adapter
//! deadline; a streaming attempt's decoder lives in its instance until the
//! stream ends. An instance is made here and kept warm between calls by its
//! model's [`super::AdapterPool`]. Never sends a byte: the broker does.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::adapter_pool::{Lease, Tenant};
use super::caps::ticks;
use super::fault::{bad_return, classify_trap};
use super::plugin::Pre;
use super::{AdapterInfo, Plugin, PluginError, PluginState, Runtime};
use crate::canonical::{
    ChatRequest, ChatResponse, HttpRequest, HttpResponse, ProviderError, StreamEvent, Target,
};
use crate::wit;

impl Runtime {
    /// Instantiate an adapter that may serve `tenant`'s requests (see
    /// [`super::AdapterPool`]).
    pub async fn adapter(
        &self,
        plugin: &Arc<Plugin>,
        tenant: Tenant,
    ) -> Result<AdapterInstance, PluginError> {
        let deadline = self.caps.adapter_deadline;
        let mut store = self.store(plugin, None, deadline);
        let bindings = match &plugin.pre {
            Pre::Adapter(pre) => pre.instantiate_async(&mut store).await.map(Bindings::Now),
            Pre::AdapterV0_1(pre) => pre.instantiate_async(&mut store).await.map(Bindings::V0_1),
            _ => return Err(bad_return(plugin, "not an adapter plugin")),
        };
        match bindings {
            Ok(bindings) => Ok(AdapterInstance {
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

/// An adapter instance, and the stream decoder of the attempt it serves if
/// that attempt streams. After a trap it is never entered again.
pub struct AdapterInstance {
    store: Store<PluginState>,
    bindings: Bindings,
    plugin: Arc<Plugin>,
    deadline: Duration,
    /// Its tenant, calls and health, for its pool.
    pub(super) lease: Lease,
}

/// A stream decoder living in an [`AdapterInstance`].
#[derive(Clone, Copy)]
pub struct DecoderHandle(ResourceAny);

impl AdapterInstance {
    /// The adapter plugin this instance runs.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

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

    /// Drop the attempt's stream decoder, so the instance holds nothing of
    /// the stream and may serve another attempt.
    pub async fn drop_decoder(&mut self, decoder: DecoderHandle) -> Result<(), PluginError> {
        self.arm()?;
        let r = decoder.0.resource_drop_async(&mut self.store).await;
        r.map_err(|e| self.fail(e))
    }

    /// `adapter.info`.
    pub async fn info(&mut self) -> Result<AdapterInfo, PluginError> {
        self.arm()?;
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
        self.arm()?;
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
        self.arm()?;
        let store = &mut self.store;
        let r = guest!(self, g => g.call_parse_response(store, resp, target).await);
        r.map_err(|e| self.fail(e))
    }

    /// `adapter.classify-error`.
    pub async fn classify_error(
        &mut self,
        resp: &HttpResponse,
    ) -> Result<ProviderError, PluginError> {
        self.arm()?;
        let store = &mut self.store;
        let r = guest!(self, g => g.call_classify_error(store, resp).await);
        r.map_err(|e| self.fail(e))
    }

    /// Create the attempt's stream decoder.
    pub async fn stream_decoder(&mut self, target: &Target) -> Result<DecoderHandle, PluginError> {
        self.arm()?;
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
        self.arm()?;
        let store = &mut self.store;
        let r = guest!(self, g => g.stream_decoder().call_feed(store, decoder.0, bytes).await);
        r.map_err(|e| self.fail(e))
    }

    /// Tell the decoder the stream ended.
    pub async fn finish(
        &mut self,
        decoder: DecoderHandle,
    ) -> Result<Result<Vec<StreamEvent>, ProviderError>, PluginError> {
        self.arm()?;
        let store = &mut self.store;
        let r = guest!(self, g => g.stream_decoder().call_finish(store, decoder.0).await);
        r.map_err(|e| self.fail(e))
    }
}
