//! The self-check a newly loaded plugin must pass before it goes live: a
//! cheap call with a fixture that must instantiate and answer without
//! trapping, within its deadline and memory cap. Never touches the network.

use std::sync::Arc;

use super::fault::bad_return;
use super::{Plugin, PluginError, PluginKind, Runtime};
use crate::canonical::{ChatRequest, ChatResponse, Choice, Message, Role, Target};
use crate::wit::{Candidate, EvalInput, ModelStats, RequestView};

impl Runtime {
    /// A cheap call with a fixture, run before a newly loaded plugin goes
    /// live: it must instantiate and answer without trapping, within its
    /// deadline and memory cap. (An error *value* passes: a policy may refuse
    /// the fixture for lack of route config.)
    pub async fn self_check(&self, plugin: &Arc<Plugin>) -> Result<(), PluginError> {
        let request = ChatRequest {
            max_tokens: Some(16),
            ..ChatRequest::new("self-check", vec![Message::text(Role::User, "self-check")])
        };
        match plugin.kind {
            PluginKind::Policy => {
                let stats = ModelStats::unmeasured();
                let candidates: Vec<Candidate> = ["a", "b"]
                    .iter()
                    .map(|m| Candidate {
                        model: (*m).into(),
                        provider: "self-check".into(),
                        capabilities: vec![],
                        context_window: 8192,
                        input_price: 1.0,
                        output_price: 1.0,
                        quality: None,
                        stats,
                    })
                    .collect();
                let view = RequestView {
                    token_estimate: 4,
                    metadata: Arc::new(vec![]),
                    request: Arc::new(request),
                };
                if let Ok(d) = self.decide(plugin, None, view, &candidates).await?
                    && d.attempts
                        .iter()
                        .any(|a| a.candidate as usize >= candidates.len())
                {
                    return Err(bad_return(
                        plugin,
                        "self-check: it chose a candidate that does not exist",
                    ));
                }
                Ok(())
            }
            PluginKind::Adapter => {
                let target = Target {
                    provider: "self-check".into(),
                    base_url: "https://self-check.invalid/v1".into(),
                    upstream_model: "self-check".into(),
                    options_json: None,
                };
                let mut inst = self.adapter(plugin, super::Tenant::Alone).await?;
                inst.info().await?;
                let _ = inst.build_request(&request, &target).await?;
                let decoder = inst.stream_decoder(&target).await?;
                let _ = inst.feed(decoder, b"").await?;
                Ok(())
            }
            PluginKind::Evaluator => {
                let response = ChatResponse {
                    id: "self-check".into(),
                    model: "self-check".into(),
                    created: 0,
                    choices: vec![Choice {
                        index: 0,
                        message: Message::text(Role::Assistant, "self-check"),
                        finish_reason: None,
                    }],
                    usage: None,
                    system_fingerprint: None,
                };
                let input = EvalInput {
                    request_id: "self-check".into(),
                    request: Arc::new(request),
                    metadata: Arc::new(vec![]),
                    route: None,
                    model: "self-check".into(),
                    response: Arc::new(response),
                    other: None,
                };
                // No model calls here: a judge answers with an error value.
                let _ = self.evaluate(plugin, None, input, None).await?;
                Ok(())
            }
        }
    }
}
