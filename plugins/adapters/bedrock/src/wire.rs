//! The JSON of Amazon Bedrock's Converse and ConverseStream APIs, as the
//! public API reference spells it (camelCase fields; content blocks and tool
//! choices are unions: an object with exactly one member).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /model/{modelId}/converse` (and `/converse-stream`) body.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

/// A request content block (a union: one member per block).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Block {
    Text(String),
    Image(ImageBlock),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
}

#[derive(Debug, Serialize)]
pub struct ImageBlock {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    pub source: ImageSource,
}

#[derive(Debug, Serialize)]
pub struct ImageSource {
    /// The image bytes, base64 (a blob in the JSON protocol).
    pub bytes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    pub tool_use_id: String,
    pub name: String,
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    Text(String),
    Json(Value),
}

#[derive(Debug, Serialize)]
pub struct SystemBlock {
    pub text: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

impl InferenceConfig {
    pub fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    ToolSpec(ToolSpec),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: InputSchema,
}

#[derive(Debug, Serialize)]
pub struct InputSchema {
    pub json: Value,
}

/// An empty structure (`{}`), the value of the `auto` and `any` choices.
#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
pub struct Named {
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto(Empty),
    Any(Empty),
    Tool(Named),
}

/// The Converse response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: Output,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

#[derive(Debug, Deserialize)]
pub struct Output {
    #[serde(default)]
    pub message: Option<OutMessage>,
}

#[derive(Debug, Deserialize)]
pub struct OutMessage {
    #[serde(default)]
    pub content: Vec<OutBlock>,
}

/// A response content block: the members Switchyard reads (reasoning,
/// citations and other kinds are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutBlock {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_use: Option<ToolUse>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u32,
    #[serde(default)]
    pub output_tokens: u32,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u32>,
    #[serde(default)]
    pub cache_write_input_tokens: Option<u32>,
}

/// Stop reasons.
pub mod stop {
    pub const END_TURN: &str = "end_turn";
    pub const STOP_SEQUENCE: &str = "stop_sequence";
    pub const MAX_TOKENS: &str = "max_tokens";
    pub const TOOL_USE: &str = "tool_use";
    pub const GUARDRAIL_INTERVENED: &str = "guardrail_intervened";
    pub const CONTENT_FILTERED: &str = "content_filtered";
    pub const CONTEXT_WINDOW_EXCEEDED: &str = "model_context_window_exceeded";
}

/// Payloads of the ConverseStream events (`:event-type` names the event).
pub mod event {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContentBlockStart {
        #[serde(default)]
        pub content_block_index: u32,
        #[serde(default)]
        pub start: Start,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Start {
        #[serde(default)]
        pub tool_use: Option<ToolUseStart>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ToolUseStart {
        pub tool_use_id: String,
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContentBlockDelta {
        #[serde(default)]
        pub content_block_index: u32,
        #[serde(default)]
        pub delta: Delta,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Delta {
        #[serde(default)]
        pub text: Option<String>,
        #[serde(default)]
        pub tool_use: Option<ToolUseDelta>,
    }

    #[derive(Debug, Deserialize)]
    pub struct ToolUseDelta {
        #[serde(default)]
        pub input: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct MessageStop {
        #[serde(default)]
        pub stop_reason: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Metadata {
        #[serde(default)]
        pub usage: Option<TokenUsage>,
    }
}

/// Bedrock's error body: `{"message": "…"}` (some front ends spell it
/// `Message`, and JSON-protocol errors add `__type`).
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
    #[serde(default, rename = "__type")]
    pub kind: Option<String>,
}
