//! Request bodies of `POST /v1/responses` into the canonical request: the
//! envelope (sampling fields, `max_output_tokens`, `metadata`, `stream`,
//! `store`), function `tools` (built-in tools are refused, naming
//! `tools[i].type`), `tool_choice` and `text.format`; [`super::items`]
//! reads the input items. Errors name the field at fault.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::items::{HINTS, Input, decode, input_messages, invalid, kind, spell};
use super::{Echo, TextConfig};
use crate::canonical::{ChatRequest, JsonSchemaFormat, ResponseFormat, Tool, ToolChoice};
use crate::error::ApiError;

/// A request body, as far as serde checks it; items, tools and the tool
/// choice are read one by one so their errors can name the item.
#[derive(Deserialize)]
struct Request {
    model: String,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    background: Option<bool>,
    /// Fields not modelled (`reasoning`, `include`, `truncation`, …): kept
    /// in the canonical request's extra fields, which no adapter forwards
    /// for this dialect.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct Text {
    #[serde(default)]
    format: Option<TextFormat>,
}

/// `text.format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        strict: Option<bool>,
    },
}

/// A function tool (the Responses API's flat shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FunctionTool {
    #[serde(rename = "type", default = "function")]
    kind: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

fn function() -> String {
    "function".into()
}

/// A parsed body: the canonical request with the input's messages only
/// (no instructions, no earlier turns), and its echo.
pub(super) struct Parsed {
    pub request: ChatRequest,
    pub echo: Echo,
}

/// Parse a body: its envelope, input items, tools and formats.
pub fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    let r: Request = crate::ingress::body::parse_body(body, HINTS, spell)?;
    if r.background == Some(true) {
        return Err(invalid(
            "background",
            "`background: true` is not supported: Switchyard keeps no running responses to poll. Leave it out (or send `stream: true`).".into(),
        ));
    }
    for (field, why) in [
        (
            "conversation",
            "Switchyard keeps no conversations; continue a stored response with `previous_response_id`, or send the whole conversation in `input`",
        ),
        (
            "prompt",
            "Switchyard has no stored prompt templates; send `instructions` and `input`",
        ),
    ] {
        if r.extra.get(field).is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                field,
                format!("`{field}` is not supported: {why}."),
            ));
        }
    }
    let mut messages = Vec::new();
    if let Some(input) = r.input {
        input_messages(input, "input", &mut messages)?;
    }
    let mut tools = Vec::new();
    for (i, v) in r.tools.unwrap_or_default().into_iter().enumerate() {
        let at = format!("tools[{i}]");
        match kind(&v, &at)? {
            Some("function") => tools.push(decode::<FunctionTool>(v, &at)?),
            Some(other) => {
                let path = format!("{at}.type");
                return Err(invalid(
                    &path,
                    format!(
                        "The tool type `{other}` in `{path}` is not supported: Switchyard serves function tools (`\"type\": \"function\"`) only. Built-in tools (web_search, file_search, code_interpreter, computer_use, image_generation, mcp, …) run on OpenAI's own servers."
                    ),
                )
                .code("unsupported_tool"));
            }
            None => {
                let path = format!("{at}.type");
                return Err(invalid(
                    &path,
                    format!("Missing required parameter: `{path}` (`\"function\"`)."),
                ));
            }
        }
    }
    let (tool_choice, tool_choice_echo) = match r.tool_choice {
        None | Some(Value::Null) => (None, json!("auto")),
        Some(v) => {
            let c = tool_choice(&v)?;
            (Some(c), v)
        }
    };
    let format = r.text.and_then(|t| t.format).unwrap_or(TextFormat::Text);
    let response_format = match &format {
        TextFormat::Text => None,
        TextFormat::JsonObject => Some(ResponseFormat::JsonObject),
        TextFormat::JsonSchema {
            name,
            schema,
            description,
            strict,
        } => Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: name.clone(),
            description: description.clone(),
            schema_json: Some(schema.to_string()),
            strict: *strict,
        })),
    };
    let metadata = r.metadata.unwrap_or_default();
    let request = ChatRequest {
        model: r.model.clone(),
        messages,
        tools: tools
            .iter()
            .map(|t| Tool {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters_json: t.parameters.as_ref().map(Value::to_string),
                strict: t.strict,
            })
            .collect(),
        tool_choice,
        parallel_tool_calls: r.parallel_tool_calls,
        response_format,
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: None,
        max_completion_tokens: r.max_output_tokens,
        stop: vec![],
        seed: None,
        frequency_penalty: None,
        presence_penalty: None,
        n: None,
        stream: r.stream.unwrap_or(false),
        // The final event carries the usage: ask every upstream for it.
        include_usage: true,
        user: r.user.clone(),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        dialect: "responses".into(),
        extra_json: (!r.extra.is_empty()).then(|| Value::Object(r.extra).to_string()),
    };
    let echo = Echo {
        id: String::new(),
        requested: r.model,
        instructions: r.instructions,
        max_output_tokens: r.max_output_tokens,
        metadata,
        parallel_tool_calls: r.parallel_tool_calls.unwrap_or(true),
        previous_response_id: r.previous_response_id,
        store: r.store.unwrap_or(true),
        temperature: r.temperature,
        text: TextConfig { format },
        tool_choice: tool_choice_echo,
        tools,
        top_p: r.top_p,
        truncation: "disabled",
        user: r.user,
    };
    Ok(Parsed { request, echo })
}

/// `tool_choice`: a mode, or a function by name.
fn tool_choice(v: &Value) -> Result<ToolChoice, ApiError> {
    let wrong = || {
        invalid(
            "tool_choice",
            spell(
                "tool_choice",
                "expected \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"name\": …}",
            ),
        )
    };
    match v {
        Value::String(s) => match s.as_str() {
            "none" => Ok(ToolChoice::None),
            "auto" => Ok(ToolChoice::Auto),
            "required" => Ok(ToolChoice::Required),
            _ => Err(wrong()),
        },
        Value::Object(o) => match kind(v, "tool_choice")? {
            Some("function") => match o.get("name") {
                Some(Value::String(name)) => Ok(ToolChoice::Function(name.clone())),
                _ => Err(invalid(
                    "tool_choice.name",
                    "Missing required parameter: `tool_choice.name` (a string).".into(),
                )),
            },
            Some(other) => Err(invalid(
                "tool_choice.type",
                format!(
                    "The tool choice `{other}` is not supported: Switchyard serves function tools only (`{{\"type\": \"function\", \"name\": …}}`, or \"none\", \"auto\", \"required\")."
                ),
            )),
            None => Err(wrong()),
        },
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests;
