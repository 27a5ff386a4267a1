//! The OpenAI chat-completions wire format as serde types.
//!
//! Shared by the host (which reads client requests and writes client responses
//! in this dialect) and the `openai` adapter (which writes upstream requests
//! and reads upstream responses in it). Only the shapes live here; each side
//! converts to and from its own binding of the canonical WIT types.
//!
//! Fields the gateway does not model are kept in `extra` maps so they pass
//! through unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// Left out when empty: Azure names the model in the path instead.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// Tools (functions) the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The shape of the answer: text, any JSON object, or JSON of a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling: the probability mass to sample from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The legacy cap on the answer's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The cap on the answer's tokens, reasoning tokens included (the newer
    /// name of `max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sequences at which the model stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Seed for best-effort deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Penalty on tokens by how often they already appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Penalty on tokens that already appeared at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// How many choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Answer as a stream of chunks (server-sent events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options of a streamed answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// An identifier of the end user, for the provider's abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Key-value tags of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Fields not modelled above, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk carrying the usage of the whole request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

/// `stop`: one string or several.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// Message roles; `function` is the legacy spelling of a tool result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the application.
    System,
    /// Instructions from the application (the newer name of `system`).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
    /// The result of a function call (legacy).
    Function,
}

/// One message of the conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said; absent or `null` on an assistant message that only calls
    /// tools.
    #[serde(default)]
    pub content: Option<Content>,
    /// The participant's name; on a `function` message, the function's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// On a `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields not modelled above (`refusal`, `audio`, …), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts (text, images, audio, …), kept as JSON; [`Part`] decodes
    /// them.
    Parts(Vec<Value>),
}

/// A content part in its decoded form. Parts are kept as JSON values in
/// [`Content::Parts`] so unknown kinds survive; this reads the known ones.
#[derive(Debug, Clone)]
pub enum Part {
    /// A text part.
    Text(String),
    /// An image part.
    Image {
        /// The image: an `https:` URL or a `data:` URL.
        url: String,
        /// The resolution the model should see it at: `low`, `high` or
        /// `auto`.
        detail: Option<String>,
    },
    /// A part of another kind, or a malformed one, kept as it was.
    Other(Value),
}

impl Part {
    /// Decode a part value; anything that is not a well-formed text or image
    /// part is kept as it is.
    pub fn from_value(v: Value) -> Part {
        let kind = v.get("type").and_then(Value::as_str);
        match kind {
            Some("text") => {
                if let Some(t) = v.get("text").and_then(Value::as_str) {
                    return Part::Text(t.to_owned());
                }
            }
            Some("image_url") => {
                let img = v.get("image_url");
                let url = img.and_then(|i| i.get("url")).and_then(Value::as_str);
                if let Some(url) = url {
                    let detail = img
                        .and_then(|i| i.get("detail"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    return Part::Image {
                        url: url.to_owned(),
                        detail,
                    };
                }
            }
            _ => {}
        }
        Part::Other(v)
    }

    /// Encode the part as the wire JSON value.
    pub fn into_value(self) -> Value {
        match self {
            Part::Text(t) => serde_json::json!({"type": "text", "text": t}),
            Part::Image { url, detail } => {
                let mut img = Map::new();
                img.insert("url".into(), Value::String(url));
                if let Some(d) = detail {
                    img.insert("detail".into(), Value::String(d));
                }
                serde_json::json!({"type": "image_url", "image_url": img})
            }
            Part::Other(v) => v,
        }
    }
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, which the tool result names.
    pub id: String,
    /// The call's type: always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function called and its arguments.
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// The function part of a tool call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments: a JSON object as a string, as the model wrote it.
    #[serde(default)]
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// The tool's type: always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function offered.
    pub function: FunctionDef,
}

/// A function definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDef {
    /// The function's name.
    pub name: String,
    /// What the function does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Hold the model to the schema exactly (structured outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode string or a named function.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(ToolChoiceMode),
    /// This one function must be called.
    Named(NamedToolChoice),
}

/// `none`, `auto` or `required`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// Call no tool.
    None,
    /// The model decides.
    Auto,
    /// Call at least one tool.
    Required,
}

/// `{"type":"function","function":{"name":…}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedToolChoice {
    /// The choice's type: always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function to call.
    pub function: NamedFunction,
}

/// The function named by a tool choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedFunction {
    /// The function's name.
    pub name: String,
}

/// `response_format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following a schema.
    JsonSchema {
        /// The schema.
        json_schema: JsonSchema,
    },
}

/// The schema of a `json_schema` response format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonSchema {
    /// The schema's name.
    pub name: String,
    /// What the answer is, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Hold the model to the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Token usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Tokens of the answer.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Prompt and answer tokens together.
    #[serde(default)]
    pub total_tokens: u32,
    /// A breakdown of the prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// A breakdown of the answer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u32>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Answer tokens spent on reasoning the client does not see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
}

/// A complete (non-streaming) response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// The completion's id.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "completion_object")]
    pub object: String,
    /// When it was created, in Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The answers, one per choice asked for (`n`).
    pub choices: Vec<Choice>,
    /// The tokens the request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

/// One choice of a complete response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    pub message: Message,
    /// Why the model stopped (see [`finish`]).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Log probabilities of the tokens, when asked for.
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// One `chat.completion.chunk` of a stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// The completion's id, the same on every chunk of the stream.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// When the completion was created, in Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answers.
    #[serde(default)]
    pub model: String,
    /// The choices' deltas; empty on the usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Present (possibly `null`) on the usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration that answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

/// One choice of a chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds to the choice's message.
    #[serde(default)]
    pub delta: Delta,
    /// Why the model stopped, on the choice's last chunk (see [`finish`]).
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The delta of a chunk choice.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delta {
    /// The message's role, on its first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Text to append to the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Pieces of tool calls to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A streamed piece of a tool call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the message this piece belongs to.
    #[serde(default)]
    pub index: u32,
    /// The call's id, on its first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The call's type (`function`), on its first piece.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function's name and a piece of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

/// The function part of a streamed tool call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FunctionDelta {
    /// The function's name, on the call's first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the arguments' JSON text, to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// `{"error": {...}}`, the error body of the dialect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The detail of an error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A readable description.
    #[serde(default)]
    pub message: String,
    /// The error's type, e.g. `invalid_request_error`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The request parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
    /// A machine-readable code, e.g. `context_length_exceeded` (a string or a
    /// number).
    #[serde(default)]
    pub code: Option<Value>,
}

/// `finish_reason` strings of the dialect.
pub mod finish {
    /// A natural stop, or a stop sequence.
    pub const STOP: &str = "stop";
    /// The token cap was reached.
    pub const LENGTH: &str = "length";
    /// The model called tools.
    pub const TOOL_CALLS: &str = "tool_calls";
    /// The provider's content filter withheld the answer.
    pub const CONTENT_FILTER: &str = "content_filter";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"hi","x_msg":1}],"logit_bias":{"50256":-100},"stop":"END"}"#;
        let req: ChatCompletionRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.extra.get("logit_bias").unwrap()["50256"], -100);
        assert_eq!(req.messages[0].extra.get("x_msg").unwrap(), 1);
        let out = serde_json::to_value(&req).unwrap();
        assert_eq!(out["logit_bias"]["50256"], -100);
        assert_eq!(out["stop"], "END");
    }

    #[test]
    fn parts_decode_and_encode() {
        let p = Part::from_value(
            serde_json::json!({"type":"image_url","image_url":{"url":"data:x","detail":"low"}}),
        );
        match p.clone() {
            Part::Image { url, detail } => {
                assert_eq!(url, "data:x");
                assert_eq!(detail.as_deref(), Some("low"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.into_value()["image_url"]["detail"], "low");
        let audio = serde_json::json!({"type":"input_audio","input_audio":{"data":"..."}});
        assert!(matches!(Part::from_value(audio), Part::Other(_)));
    }
}
