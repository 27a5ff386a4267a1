//! The OpenAI chat-completions dialect: canonical requests into wire bodies,
//! wire responses, errors and streams into canonical values. Shared by the
//! adapters of APIs that speak it (`openai` and every OpenAI-compatible
//! server, `azure-openai`); each adds its URL, auth and options.

mod stream;

pub use stream::{Chunks, Decoder};

use openai_wire as wire;
use serde_json::{Map, Value};

use crate::types::{
    ChatRequest, ChatResponse, Choice, Content, ContentPart, ErrorKind, FinishReason, ImageUrl,
    Message, ProviderError, ResponseFormat, Role, ToolCall, ToolChoice, Usage,
};
use crate::{body_message, err, option_headers, options_value, parse_json_text, retry_after_ms};

/// Options every OpenAI-dialect adapter understands (`options` in the
/// provider's config).
#[derive(Debug, Default)]
pub struct Options {
    /// `headers`: extra request headers.
    pub headers: Vec<(String, String)>,
    /// `stream_usage` (default true): ask for the usage chunk on every stream
    /// so the gateway can account cost even when the client did not ask.
    pub stream_usage: bool,
    /// `forward_metadata` (default false): send the request's `metadata`
    /// upstream (also forwarded whenever the request sets `store`).
    pub forward_metadata: bool,
    /// All options as JSON, for adapter-specific keys.
    pub raw: Value,
}

impl Options {
    /// Read the options of a target.
    pub fn parse(options_json: Option<&str>) -> Options {
        let raw = options_value(options_json);
        Options {
            headers: option_headers(&raw),
            stream_usage: raw
                .get("stream_usage")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            forward_metadata: raw
                .get("forward_metadata")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            raw,
        }
    }
}

fn to_wire_role(r: Role) -> wire::Role {
    match r {
        Role::System => wire::Role::System,
        Role::Developer => wire::Role::Developer,
        Role::User => wire::Role::User,
        Role::Assistant => wire::Role::Assistant,
        Role::Tool => wire::Role::Tool,
    }
}

fn to_wire_message(m: Message) -> Result<wire::Message, ProviderError> {
    let content = m.content.map(|c| match c {
        Content::Text(t) => wire::Content::Text(t),
        Content::Parts(parts) => wire::Content::Parts(
            parts
                .into_iter()
                .map(|p| match p {
                    ContentPart::Text(t) => wire::Part::Text(t).into_value(),
                    ContentPart::Image(ImageUrl { url, detail }) => {
                        wire::Part::Image { url, detail }.into_value()
                    }
                    ContentPart::OtherJson(j) => {
                        serde_json::from_str(&j).unwrap_or(Value::String(j))
                    }
                })
                .collect(),
        ),
    });
    let tool_calls = if m.tool_calls.is_empty() {
        None
    } else {
        Some(
            m.tool_calls
                .into_iter()
                .map(|c| wire::ToolCall {
                    id: c.id,
                    kind: "function".into(),
                    function: wire::FunctionCall {
                        name: c.name,
                        arguments: c.arguments,
                    },
                })
                .collect(),
        )
    };
    let extra = match parse_json_text(&m.extra_json, "message extra fields")? {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    Ok(wire::Message {
        role: to_wire_role(m.role),
        content,
        name: m.name,
        tool_calls,
        tool_call_id: m.tool_call_id,
        extra,
    })
}

/// The request body. `model` is the upstream model, or `None` where the API
/// names it elsewhere (Azure's deployment path) and the field is left out.
pub fn build_body(
    req: ChatRequest,
    model: Option<&str>,
    opts: &Options,
) -> Result<Vec<u8>, ProviderError> {
    let messages = req
        .messages
        .into_iter()
        .map(to_wire_message)
        .collect::<Result<Vec<_>, _>>()?;
    let tools = if req.tools.is_empty() {
        None
    } else {
        let mut out = Vec::with_capacity(req.tools.len());
        for t in req.tools {
            out.push(wire::Tool {
                kind: "function".into(),
                function: wire::FunctionDef {
                    parameters: parse_json_text(&t.parameters_json, "tool parameters")?,
                    name: t.name,
                    description: t.description,
                    strict: t.strict,
                },
            });
        }
        Some(out)
    };
    let tool_choice = req.tool_choice.map(|c| match c {
        ToolChoice::None => wire::ToolChoice::Mode(wire::ToolChoiceMode::None),
        ToolChoice::Auto => wire::ToolChoice::Mode(wire::ToolChoiceMode::Auto),
        ToolChoice::Required => wire::ToolChoice::Mode(wire::ToolChoiceMode::Required),
        ToolChoice::Function(name) => wire::ToolChoice::Named(wire::NamedToolChoice {
            kind: "function".into(),
            function: wire::NamedFunction { name },
        }),
    });
    let response_format = match req.response_format {
        None => None,
        Some(ResponseFormat::Text) => Some(wire::ResponseFormat::Text),
        Some(ResponseFormat::JsonObject) => Some(wire::ResponseFormat::JsonObject),
        Some(ResponseFormat::JsonSchema(s)) => Some(wire::ResponseFormat::JsonSchema {
            json_schema: wire::JsonSchema {
                schema: parse_json_text(&s.schema_json, "response_format schema")?,
                name: s.name,
                description: s.description,
                strict: s.strict,
            },
        }),
    };
    // Fields the gateway does not model pass through only when the client
    // spoke this dialect; another dialect's spelling would be refused here.
    let mut extra = match req.dialect.as_str() {
        "openai" => match parse_json_text(&req.extra_json, "request extra fields")? {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    let forward_metadata = opts.forward_metadata || extra.contains_key("store");
    let metadata = (forward_metadata && !req.metadata.is_empty()).then(|| {
        req.metadata
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect::<Map<_, _>>()
    });
    // Never let a pass-through field override what the gateway decided.
    for k in ["model", "stream", "stream_options"] {
        extra.remove(k);
    }
    let stream_options =
        (req.stream && (req.include_usage || opts.stream_usage)).then_some(wire::StreamOptions {
            include_usage: Some(true),
        });
    let body = wire::ChatCompletionRequest {
        model: model.unwrap_or_default().to_owned(),
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        temperature: req.temperature,
        top_p: req.top_p,
        max_tokens: req.max_tokens,
        max_completion_tokens: req.max_completion_tokens,
        stop: (!req.stop.is_empty()).then_some(wire::Stop::Many(req.stop)),
        seed: req.seed,
        frequency_penalty: req.frequency_penalty,
        presence_penalty: req.presence_penalty,
        n: req.n,
        stream: req.stream.then_some(true),
        stream_options,
        user: req.user,
        metadata,
        extra,
    };
    serde_json::to_vec(&body).map_err(|e| err(ErrorKind::Other, format!("encoding request: {e}")))
}

/// A `finish_reason` of the dialect.
pub fn finish_reason(s: &str) -> FinishReason {
    match s {
        wire::finish::STOP => FinishReason::Stop,
        wire::finish::LENGTH => FinishReason::Length,
        wire::finish::TOOL_CALLS | "function_call" => FinishReason::ToolCalls,
        wire::finish::CONTENT_FILTER => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Usage of the dialect.
pub fn usage(u: wire::Usage) -> Usage {
    Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        cached_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
        reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens),
    }
}

fn from_wire_message(m: wire::Message) -> Message {
    let content = m.content.map(|c| match c {
        wire::Content::Text(t) => Content::Text(t),
        wire::Content::Parts(parts) => Content::Parts(
            parts
                .into_iter()
                .map(|p| match wire::Part::from_value(p) {
                    wire::Part::Text(t) => ContentPart::Text(t),
                    wire::Part::Image { url, detail } => {
                        ContentPart::Image(ImageUrl { url, detail })
                    }
                    wire::Part::Other(v) => ContentPart::OtherJson(v.to_string()),
                })
                .collect(),
        ),
    });
    Message {
        role: Role::Assistant,
        content,
        name: m.name,
        tool_calls: m
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|c| ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
            })
            .collect(),
        tool_call_id: None,
        extra_json: (!m.extra.is_empty()).then(|| Value::Object(m.extra).to_string()),
    }
}

/// Parse a complete 2xx response.
pub fn parse_response(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let parsed: wire::ChatCompletion = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => {
            // A 200 whose body is an error object is still an error.
            if serde_json::from_slice::<wire::ErrorBody>(body).is_ok() {
                return Err(classify(Some(status), headers, body));
            }
            return Err(err(
                ErrorKind::Other,
                format!("upstream response is not a chat completion: {e}"),
            ));
        }
    };
    Ok(ChatResponse {
        id: parsed.id,
        model: parsed.model,
        created: parsed.created,
        choices: parsed
            .choices
            .into_iter()
            .map(|c| Choice {
                index: c.index,
                message: from_wire_message(c.message),
                finish_reason: c.finish_reason.as_deref().map(finish_reason),
            })
            .collect(),
        usage: parsed.usage.map(usage),
        system_fingerprint: parsed.system_fingerprint,
    })
}

/// Classify an error from its status and the dialect's error body.
pub fn classify(status: Option<u16>, headers: &[(String, String)], body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let code = detail.as_ref().and_then(|d| match &d.code {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => d.kind.clone(),
    });
    let message = match &detail {
        Some(d) if !d.message.is_empty() => d.message.clone(),
        _ => body_message(status, body),
    };
    let code_is = |c: &str| code.as_deref() == Some(c);
    let kind = if code_is("context_length_exceeded") || code_is("string_above_max_length") {
        ErrorKind::ContextLength
    } else if code_is("content_filter") || code_is("content_policy_violation") {
        ErrorKind::ContentFilter
    } else {
        match status {
            Some(429) => ErrorKind::RateLimited,
            Some(401) | Some(403) => ErrorKind::Auth,
            Some(404) => ErrorKind::NotFound,
            Some(408) | Some(504) => ErrorKind::Timeout,
            Some(413) => ErrorKind::ContextLength,
            Some(503) | Some(529) => ErrorKind::Overloaded,
            Some(s) if (400..500).contains(&s) => ErrorKind::BadRequest,
            Some(_) => ErrorKind::UpstreamStatus,
            None => ErrorKind::Other,
        }
    };
    ProviderError {
        kind,
        message,
        status,
        retry_after_ms: retry_after_ms(headers),
        code,
    }
}
