//! The host side of the imports plugins see: `host` (log, clock, the
//! plugin's config), and for policies `request` (the request view resource),
//! `state` (the route's key-value store) and `models` (model calls, the only
//! import that waits: the host makes the call, the guest never touches the
//! network), `quality` (the measured quality of the route's models), and for
//! evaluators `evaluation` (the finished request and its answer). Plugins
//! built against the 0.1.0 package get the same functions under their
//! `@0.1.0` names (`v0_1`, delegating).

use wasmtime::component::Resource;

use super::PluginState;
use crate::wit::adapter::switchyard::plugin::{host, types};
use crate::wit::evaluator::switchyard::plugin::evaluation;
use crate::wit::policy::switchyard::plugin::{models, quality, request, state};
use crate::wit::{EvalInput, RequestView};

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

impl quality::Host for PluginState {
    fn of(&mut self, model: String) -> wasmtime::Result<Option<quality::ModelQuality>> {
        Ok(self
            .quality
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, q)| q.clone()))
    }
}

impl evaluation::Host for PluginState {}

impl evaluation::HostEvalInput for PluginState {
    fn request_id(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<String> {
        Ok(self.table.get(&v)?.request_id.to_string())
    }

    fn requested(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<String> {
        Ok(self.table.get(&v)?.request.model.clone())
    }

    fn route(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&v)?.route.as_deref().map(str::to_owned))
    }

    fn model(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<String> {
        Ok(self.table.get(&v)?.model.to_string())
    }

    fn messages(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Vec<types::Message>> {
        Ok(self.table.get(&v)?.request.messages.clone())
    }

    fn last_user_message(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Option<String>> {
        Ok(crate::canonical::last_user_text(
            &self.table.get(&v)?.request,
        ))
    }

    fn metadata(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.table.get(&v)?.metadata.as_ref().clone())
    }

    fn tools(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Vec<types::Tool>> {
        Ok(self.table.get(&v)?.request.tools.clone())
    }

    fn response_format(
        &mut self,
        v: Resource<EvalInput>,
    ) -> wasmtime::Result<Option<types::ResponseFormat>> {
        Ok(self.table.get(&v)?.request.response_format.clone())
    }

    fn answer(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<String> {
        Ok(crate::canonical::answer_text(&self.table.get(&v)?.response))
    }

    fn tool_calls(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Vec<types::ToolCall>> {
        let resp = &self.table.get(&v)?.response;
        Ok(resp
            .choices
            .first()
            .map(|c| c.message.tool_calls.clone())
            .unwrap_or_default())
    }

    fn finish_reason(
        &mut self,
        v: Resource<EvalInput>,
    ) -> wasmtime::Result<Option<types::FinishReason>> {
        let resp = &self.table.get(&v)?.response;
        Ok(resp.choices.first().and_then(|c| c.finish_reason.clone()))
    }

    fn prompt_tokens(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Option<u32>> {
        let resp = &self.table.get(&v)?.response;
        Ok(resp.usage.as_ref().map(|u| u.prompt_tokens))
    }

    fn completion_tokens(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Option<u32>> {
        let resp = &self.table.get(&v)?.response;
        Ok(resp.usage.as_ref().map(|u| u.completion_tokens))
    }

    fn upstream_model(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<String> {
        Ok(self.table.get(&v)?.response.model.clone())
    }

    fn other_answer(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&v)?.other.as_deref().map(str::to_owned))
    }

    fn drop(&mut self, v: Resource<EvalInput>) -> wasmtime::Result<()> {
        self.table.delete(v)?;
        Ok(())
    }
}

/// The 0.1.0 interfaces with functions, delegating to 0.2.0's: a plugin
/// built against 0.1.0 gets exactly the same host.
mod v0_1 {
    use wasmtime::component::Resource;

    use super::super::PluginState;
    use crate::wit::RequestView;
    use crate::wit::adapter::switchyard::plugin as now;
    use crate::wit::policy::switchyard::plugin as now_policy;
    use crate::wit::v0_1::adapter::switchyard::plugin::host;
    use crate::wit::v0_1::policy::switchyard::plugin::{models, request, state};

    impl host::Host for PluginState {
        fn log(&mut self, level: host::LogLevel, message: String) -> wasmtime::Result<()> {
            let level = match level {
                host::LogLevel::Trace => now::host::LogLevel::Trace,
                host::LogLevel::Debug => now::host::LogLevel::Debug,
                host::LogLevel::Info => now::host::LogLevel::Info,
                host::LogLevel::Warn => now::host::LogLevel::Warn,
                host::LogLevel::Error => now::host::LogLevel::Error,
            };
            now::host::Host::log(self, level, message)
        }

        fn now_ms(&mut self) -> wasmtime::Result<u64> {
            now::host::Host::now_ms(self)
        }

        fn config_json(&mut self) -> wasmtime::Result<Option<String>> {
            now::host::Host::config_json(self)
        }
    }

    impl request::Host for PluginState {}

    impl request::HostRequestView for PluginState {
        fn model(&mut self, v: Resource<RequestView>) -> wasmtime::Result<String> {
            now_policy::request::HostRequestView::model(self, v)
        }
        fn message_count(&mut self, v: Resource<RequestView>) -> wasmtime::Result<u32> {
            now_policy::request::HostRequestView::message_count(self, v)
        }
        fn last_user_message(
            &mut self,
            v: Resource<RequestView>,
        ) -> wasmtime::Result<Option<String>> {
            now_policy::request::HostRequestView::last_user_message(self, v)
        }
        fn token_estimate(&mut self, v: Resource<RequestView>) -> wasmtime::Result<u32> {
            now_policy::request::HostRequestView::token_estimate(self, v)
        }
        fn max_tokens(&mut self, v: Resource<RequestView>) -> wasmtime::Result<Option<u32>> {
            now_policy::request::HostRequestView::max_tokens(self, v)
        }
        fn has_tools(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
            now_policy::request::HostRequestView::has_tools(self, v)
        }
        fn has_images(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
            now_policy::request::HostRequestView::has_images(self, v)
        }
        fn wants_json(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
            now_policy::request::HostRequestView::wants_json(self, v)
        }
        fn stream(&mut self, v: Resource<RequestView>) -> wasmtime::Result<bool> {
            now_policy::request::HostRequestView::stream(self, v)
        }
        fn metadata(
            &mut self,
            v: Resource<RequestView>,
        ) -> wasmtime::Result<Vec<(String, String)>> {
            now_policy::request::HostRequestView::metadata(self, v)
        }
        fn drop(&mut self, v: Resource<RequestView>) -> wasmtime::Result<()> {
            now_policy::request::HostRequestView::drop(self, v)
        }
    }

    impl state::Host for PluginState {
        fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
            now_policy::state::Host::get(self, key)
        }

        fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
            now_policy::state::Host::set(self, key, value)
        }
    }

    impl models::Host for PluginState {
        async fn complete(
            &mut self,
            req: models::CompletionRequest,
        ) -> wasmtime::Result<Result<models::Completion, String>> {
            let req = now_policy::models::CompletionRequest {
                model: req.model,
                system: req.system,
                prompt: req.prompt,
                max_tokens: req.max_tokens,
                timeout_ms: req.timeout_ms,
                cache_ttl_ms: req.cache_ttl_ms,
            };
            let result = now_policy::models::Host::complete(self, req).await?;
            Ok(result.map(|c| models::Completion {
                text: c.text,
                cached: c.cached,
            }))
        }
    }
}
