//! Host bindings of the `switchyard:plugin` WIT package. The adapter world is
//! generated first (it holds the `types` and `host` interfaces); the policy
//! world reuses its `host` through `with`, so both share one set of Rust types.

#![allow(missing_docs)]

/// The adapter world; its `types` module is the host's canonical vocabulary.
pub mod adapter {
    wasmtime::component::bindgen!({
        world: "adapter-plugin",
        path: "../wit",
        imports: { default: trappable },
        exports: { default: async },
    });
}

/// The policy world, sharing the adapter world's host interface.
pub mod policy {
    wasmtime::component::bindgen!({
        world: "policy-plugin",
        path: "../wit",
        // `complete` waits on an upstream call: the one async import.
        imports: {
            "switchyard:plugin/models.complete": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "switchyard:plugin/host": super::adapter::switchyard::plugin::host,
            "switchyard:plugin/request.request-view": crate::runtime::RequestView,
        },
    });
}

pub use adapter::switchyard::plugin::types;

impl types::Message {
    /// A message of plain text.
    pub fn text(role: types::Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(types::Content::Text(text.into())),
            name: None,
            tool_calls: vec![],
            tool_call_id: None,
            extra_json: None,
        }
    }
}

impl types::ChatRequest {
    /// A non-streaming request for `model` with these messages and nothing
    /// else set: what the host itself sends (a policy's `models.complete`,
    /// a plugin's self-check).
    pub fn new(model: impl Into<String>, messages: Vec<types::Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            tools: vec![],
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            max_completion_tokens: None,
            stop: vec![],
            seed: None,
            frequency_penalty: None,
            presence_penalty: None,
            n: None,
            stream: false,
            include_usage: false,
            user: None,
            metadata: vec![],
            dialect: "openai".into(),
            extra_json: None,
        }
    }
}
