//! The host side of the imports plugins see: `host` (log, clock, the
//! plugin's config), and for policies `request` (the request view resource),
//! `state` (the route's key-value store) and `models` (model calls, the only
//! import that waits: the host makes the call, the guest never touches the
//! network).

use wasmtime::component::Resource;

use super::PluginState;
use crate::wit::RequestView;
use crate::wit::adapter::switchyard::plugin::{host, types};
use crate::wit::policy::switchyard::plugin::{models, request, state};

impl types::Host for PluginState {}

impl host::Host for PluginState {
    fn log(&mut self, level: host::LogLevel, message: String) -> wasmtime::Result<()> {
        // Plugins cannot flood the log with megabyte lines.
        let message: String = message.chars().take(4096).collect();
        let plugin = &*self.plugin;
        match level {
            host::LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            host::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            host::LogLevel::Info => tracing::info!(plugin, "{message}"),
            host::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            host::LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0))
    }

    fn config_json(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.config_json.as_deref().map(str::to_owned))
    }
}

impl request::Host for PluginState {}

impl request::HostRequestView for PluginState {
    fn model(&mut self, v: Resource<RequestView>) -> wasmtime::Result<String> {
        Ok(self.table.get(&v)?.request.model.clone())
    }

    fn message_count(&mut self, v: Resource<RequestView>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&v)?.request.messages.len() as u32)
    }

    fn last_user_message(&mut self, v: Resource<RequestView>) -> wasmtime::Result<Option<String>> {
        let view = self.table.get(&v)?;
        Ok(crate::canonical::last_user_text(&view.request))
    }

    fn token_estimate(&mut self, v: Resource<RequestView>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&v)?.token_estimate)
    }

    fn max_tokens(&mut self, v: Resource<RequestView>) -> wasmtime::Result<Option<u32>> {
        let r = &self.table.get(&v)?.request;
        Ok(r.max_completion_tokens.or(r.max_tokens))
    }

    fn has_tools(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
        Ok(!self.table.get(&v)?.request.tools.is_empty())
    }

    fn has_images(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
        Ok(crate::canonical::has_images(&self.table.get(&v)?.request))
    }

    fn wants_json(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
        Ok(matches!(
            self.table.get(&v)?.request.response_format,
            Some(types::ResponseFormat::JsonObject | types::ResponseFormat::JsonSchema(_))
        ))
    }

    fn stream(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&v)?.request.stream)
    }

    fn metadata(&mut self, v: Resource<RequestView>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.table.get(&v)?.metadata.as_ref().clone())
    }

    fn drop(&mut self, v: Resource<RequestView>) -> wasmtime::Result<()> {
        self.table.delete(v)?;
        Ok(())
    }
}

impl state::Host for PluginState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.kv.as_ref().and_then(|kv| kv.get(&key)))
    }

    fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
        Ok(match &self.kv {
            Some(kv) => kv.set(key, value),
            None => Err("no state store in this call".into()),
        })
    }
}

impl models::Host for PluginState {
    async fn complete(
        &mut self,
        req: models::CompletionRequest,
    ) -> wasmtime::Result<Result<models::Completion, String>> {
        let Some(completer) = self.completer.clone() else {
            return Ok(Err("model calls are not available in this call".into()));
        };
        let started = std::time::Instant::now();
        let result = completer.complete(req).await;
        // The wait is the host's time, not the policy's.
        self.waited += started.elapsed();
        Ok(result)
    }
}
