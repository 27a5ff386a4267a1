//! The Anthropic Messages API wire format as serde types.
//!
//! Shared by the host (the `/v1/messages` ingress dialect) and the `anthropic`
//! adapter. Only shapes live here; each side converts to and from its own
//! binding of the canonical WIT types. Fields not modelled are kept in `extra`
//! maps so they pass through unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `anthropic-version` header value this format follows.
pub const VERSION: &str = "2023-06-01";

/// `POST /v1/messages` request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessagesRequest {
    /// The model to answer.
    pub model: String,
    /// The cap on the answer's tokens (required by the API).
    pub max_tokens: u32,
    /// The conversation so far, oldest first, alternating user and assistant.
    pub messages: Vec<Message>,
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    /// About the request's end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Sequences at which the model stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Answer as a stream of server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling: the probability mass to sample from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sample only from the k likeliest tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Fields not modelled above (`thinking`, `service_tier`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `system`: a string or text blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System {
    /// Plain text.
    Text(String),
    /// Text blocks (which may carry `cache_control`), kept as JSON.
    Blocks(Vec<Value>),
}

impl System {
    /// The system prompt as one text (text blocks joined by blank lines).
    pub fn text(&self) -> String {
        match self {
            System::Text(t) => t.clone(),
            System::Blocks(b) => b
                .iter()
                .filter_map(|v| v.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }
}

/// `metadata`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// An opaque identifier of the end user, for Anthropic's abuse detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `user` or `assistant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The end user (tool results included).
    User,
    /// The model.
    Assistant,
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

/// Message content: a string or content blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<Block>),
}

/// A content block. Kinds not modelled (documents, thinking, server tools)
/// are kept as JSON in [`Block::Other`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// The image's bytes or URL.
        source: ImageSource,
    },
    /// A tool call of the assistant.
    ToolUse {
        /// The call's id, which the result names.
        id: String,
        /// The tool called.
        name: String,
        /// The arguments, as a JSON object.
        #[serde(default)]
        input: Value,
    },
    /// The result of a tool call, in a user message.
    ToolResult {
        /// The id of the call it answers.
        tool_use_id: String,
        /// What the tool returned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<ToolResultContent>,
        /// The tool failed; the content says how.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
    /// A block of a kind not modelled, kept as it was.
    #[serde(untagged)]
    Other(Value),
}

/// Where an image comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// The image's bytes.
    Base64 {
        /// Its media type, e.g. `image/png`.
        media_type: String,
        /// The bytes, base64-encoded.
        data: String,
    },
    /// An image Anthropic fetches.
    Url {
        /// Its `https:` URL.
        url: String,
    },
}

/// A tool result's content: a string or blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    /// Plain text.
    Text(String),
    /// Content blocks (text, images), kept as JSON.
    Blocks(Vec<Value>),
}

impl ToolResultContent {
    /// The text of the result (text blocks joined).
    pub fn text(&self) -> String {
        match self {
            ToolResultContent::Text(t) => t.clone(),
            ToolResultContent::Blocks(b) => b
                .iter()
                .filter_map(|v| v.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A tool definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema of its input.
    #[serde(default)]
    pub input_schema: Value,
    /// Fields not modelled above (`cache_control`, a server tool's `type`, …),
    /// passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolChoice {
    /// How the model may use the tools.
    #[serde(rename = "type")]
    pub kind: ToolChoiceKind,
    /// With kind `tool`: the tool to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Call at most one tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// The kinds of tool choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceKind {
    /// The model decides.
    Auto,
    /// Call some tool.
    Any,
    /// Call the named tool.
    Tool,
    /// Call no tool.
    None,
}

/// Token usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens read neither from nor into the prompt cache.
    #[serde(default)]
    pub input_tokens: u32,
    /// Tokens of the answer.
    #[serde(default)]
    pub output_tokens: u32,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u32>,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
}

/// A complete response (`type: message`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageResponse {
    /// The message's id.
    #[serde(default)]
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default = "message_type")]
    pub kind: String,
    /// Always `assistant`.
    #[serde(default = "assistant")]
    pub role: Role,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The answer's blocks: text, tool calls, thinking.
    #[serde(default)]
    pub content: Vec<Block>,
    /// Why the model stopped (see [`stop`]); `null` in a stream's
    /// `message_start`.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that ended the answer, if one did.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// The tokens the request used.
    #[serde(default)]
    pub usage: Usage,
}

fn message_type() -> String {
    "message".to_owned()
}

fn assistant() -> Role {
    Role::Assistant
}

/// `stop_reason` strings.
pub mod stop {
    /// A natural stop.
    pub const END_TURN: &str = "end_turn";
    /// The token cap was reached.
    pub const MAX_TOKENS: &str = "max_tokens";
    /// A stop sequence was generated.
    pub const STOP_SEQUENCE: &str = "stop_sequence";
    /// The model called tools.
    pub const TOOL_USE: &str = "tool_use";
    /// The model declined to answer.
    pub const REFUSAL: &str = "refusal";
}

/// One server-sent event of a stream, by its `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The stream's first event: the message, without content yet.
    MessageStart {
        /// The message so far.
        message: MessageResponse,
    },
    /// A content block begins.
    ContentBlockStart {
        /// The block's position in the message.
        index: u32,
        /// The block, without its streamed content.
        content_block: Block,
    },
    /// A piece of a content block.
    ContentBlockDelta {
        /// The block's position in the message.
        index: u32,
        /// The piece to append.
        delta: Delta,
    },
    /// A content block is complete.
    ContentBlockStop {
        /// The block's position in the message.
        index: u32,
    },
    /// The message's stop reason and usage, near the end.
    MessageDelta {
        /// Why the model stopped.
        delta: MessageDelta,
        /// The usage so far.
        #[serde(default)]
        usage: Option<DeltaUsage>,
    },
    /// The stream's last event.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// The stream failed.
    Error {
        /// What went wrong.
        error: ErrorDetail,
    },
}

impl StreamEvent {
    /// The SSE `event:` name of this event.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Ping => "ping",
            StreamEvent::Error { .. } => "error",
        }
    }
}

/// A content block delta.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    /// Text to append to a text block.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A piece of a tool call's input JSON.
    InputJsonDelta {
        /// The JSON text to append.
        partial_json: String,
    },
    /// A delta of a kind not modelled (thinking, signatures, …), kept as it
    /// was.
    #[serde(untagged)]
    Other(Value),
}

/// The delta of `message_delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageDelta {
    /// Why the model stopped (see [`stop`]).
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that ended the answer, if one did.
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// The usage of `message_delta` (cumulative output tokens).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeltaUsage {
    /// Tokens of the answer so far.
    #[serde(default)]
    pub output_tokens: u32,
    /// Input tokens, when the event repeats them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    /// Input tokens written to the prompt cache, when the event repeats them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u32>,
    /// Input tokens read from the prompt cache, when the event repeats them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
}

/// `{"type":"error","error":{...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `error`.
    #[serde(rename = "type", default = "error_type")]
    pub kind: String,
    /// What went wrong.
    pub error: ErrorDetail,
}

fn error_type() -> String {
    "error".to_owned()
}

/// The detail of an error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The error's type (see [`errors`]).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A readable description.
    #[serde(default)]
    pub message: String,
}

/// Error `type` strings and their HTTP statuses.
pub mod errors {
    /// 400: the request is malformed or not acceptable.
    pub const INVALID_REQUEST: &str = "invalid_request_error";
    /// 401: the API key is missing or wrong.
    pub const AUTHENTICATION: &str = "authentication_error";
    /// 403: the key may not use this resource.
    pub const PERMISSION: &str = "permission_error";
    /// 404: no such resource (or model).
    pub const NOT_FOUND: &str = "not_found_error";
    /// 413: the request is larger than allowed.
    pub const REQUEST_TOO_LARGE: &str = "request_too_large";
    /// 429: a rate limit was hit.
    pub const RATE_LIMIT: &str = "rate_limit_error";
    /// 500 and other statuses: an error inside Anthropic.
    pub const API: &str = "api_error";
    /// 529 (and 503): Anthropic is overloaded.
    pub const OVERLOADED: &str = "overloaded_error";

    /// The error type Anthropic uses for an HTTP status.
    pub fn for_status(status: u16) -> &'static str {
        match status {
            400 => INVALID_REQUEST,
            401 => AUTHENTICATION,
            403 => PERMISSION,
            404 => NOT_FOUND,
            413 => REQUEST_TOO_LARGE,
            429 => RATE_LIMIT,
            529 | 503 => OVERLOADED,
            _ => API,
        }
    }
}

/// The `input` of a `tool_use` block for a tool call whose arguments are
/// JSON text (as OpenAI and the canonical contract carry them): the object
/// they spell, or `{}` when they are not a JSON object, as the API takes
/// only an object.
pub fn tool_input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_from_the_reference_parses() {
        let body = r#"{
          "model": "claude-sonnet-4-5", "max_tokens": 1024,
          "system": [{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
          "messages": [
            {"role":"user","content":[{"type":"text","text":"What is in this image?"},
              {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"15 degrees"}]}
          ],
          "tools": [{"name":"get_weather","description":"Weather","input_schema":{"type":"object"}}],
          "tool_choice": {"type":"any"},
          "thinking": {"type":"enabled","budget_tokens":2000}
        }"#;
        let r: MessagesRequest = serde_json::from_str(body).unwrap();
        assert_eq!(r.system.unwrap().text(), "Be brief.");
        assert!(r.extra.contains_key("thinking"));
        let Content::Blocks(b) = &r.messages[0].content else {
            panic!()
        };
        assert!(
            matches!(&b[1], Block::Image { source: ImageSource::Base64 { media_type, .. } } if media_type == "image/png")
        );
        let Content::Blocks(b) = &r.messages[2].content else {
            panic!()
        };
        assert!(matches!(&b[0], Block::ToolResult { tool_use_id, .. } if tool_use_id == "toolu_1"));
        assert_eq!(r.tool_choice.unwrap().kind, ToolChoiceKind::Any);
    }

    #[test]
    fn stream_events_parse() {
        for (line, name) in [
            (
                r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
                "message_start",
            ),
            (
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                "content_block_start",
            ),
            (r#"{"type":"ping"}"#, "ping"),
            (
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
                "content_block_delta",
            ),
            (
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"loc"}}"#,
                "content_block_delta",
            ),
            (
                r#"{"type":"content_block_stop","index":0}"#,
                "content_block_stop",
            ),
            (
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
                "message_delta",
            ),
            (r#"{"type":"message_stop"}"#, "message_stop"),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                "error",
            ),
        ] {
            let e: StreamEvent = serde_json::from_str(line).unwrap();
            assert_eq!(e.name(), name);
        }
    }

    #[test]
    fn tool_input_is_always_an_object() {
        assert_eq!(tool_input(r#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(tool_input("[1]"), serde_json::json!({}));
        assert_eq!(tool_input(""), serde_json::json!({}));
        assert_eq!(tool_input(r#"{"a":"#), serde_json::json!({}));
    }
}
