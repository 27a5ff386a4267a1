//! The `openai` provider adapter: the OpenAI chat-completions wire format, for
//! OpenAI itself and every OpenAI-compatible server (Ollama, vLLM, llama.cpp,
//! Groq, Mistral, Together, DeepSeek, OpenRouter, …) through its base URL.
//!
//! Provider options (`options` in the provider's config):
//! - `headers`: extra request headers, e.g. `{"OpenAI-Organization": "org-…"}`;
//! - `stream_usage` (default true): ask for the usage chunk on every stream so
//!   the gateway can account cost even when the client did not ask for it;
//! - `forward_metadata` (default false): send the request's `metadata` upstream
//!   (OpenAI accepts it only with `store`, which also forwards it).

wit_bindgen::generate!({ world: "adapter-plugin", path: "../../wit" });

mod sse;

use std::cell::RefCell;

use exports::switchyard::plugin::adapter::{AdapterInfo, Guest, GuestStreamDecoder};
use openai_wire as wire;
use serde_json::{Map, Value};
use switchyard::plugin::types::{
    AuthScheme, ChatRequest, ChatResponse, Choice, Content, ContentPart, ErrorKind, FinishReason,
    HttpRequest, HttpResponse, ImageUrl, Message, ProviderError, ResponseFormat, Role, StreamEvent,
    Target, ToolCall, ToolChoice, Usage,
};

struct OpenAi;

#[derive(Default)]
struct Options {
    headers: Vec<(String, String)>,
    stream_usage: bool,
    forward_metadata: bool,
}

fn options(target: &Target) -> Options {
    let mut o = Options {
        stream_usage: true,
        ..Options::default()
    };
    let Some(v) = target
        .options_json
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return o;
    };
    if let Some(h) = v.get("headers").and_then(Value::as_object) {
        o.headers = h
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect();
    }
    if let Some(b) = v.get("stream_usage").and_then(Value::as_bool) {
        o.stream_usage = b;
    }
    if let Some(b) = v.get("forward_metadata").and_then(Value::as_bool) {
        o.forward_metadata = b;
    }
    o
}

fn err(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError {
        kind,
        message: message.into(),
        status: None,
        retry_after_ms: None,
        code: None,
    }
}

fn parse_json_text(text: &Option<String>, what: &str) -> Result<Option<Value>, ProviderError> {
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(t).map(Some).map_err(|e| {
            err(
                ErrorKind::BadRequest,
                format!("{what} is not valid JSON: {e}"),
            )
        }),
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

fn build_body(req: ChatRequest, target: &Target, opts: &Options) -> Result<Vec<u8>, ProviderError> {
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
        model: target.upstream_model.clone(),
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

pub(crate) fn finish_reason(s: &str) -> FinishReason {
    match s {
        wire::finish::STOP => FinishReason::Stop,
        wire::finish::LENGTH => FinishReason::Length,
        wire::finish::TOOL_CALLS | "function_call" => FinishReason::ToolCalls,
        wire::finish::CONTENT_FILTER => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(crate) fn usage(u: wire::Usage) -> Usage {
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

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Retry-After in milliseconds: `retry-after-ms`, or `retry-after` in seconds.
fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(ms.max(0.0) as u64);
    }
    header(headers, "retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| (s.max(0.0) * 1000.0) as u64)
}

/// Classify an error from its status and the dialect's error body.
pub(crate) fn classify(
    status: Option<u16>,
    headers: &[(String, String)],
    body: &[u8],
) -> ProviderError {
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
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("upstream answered {}", status.unwrap_or(0))
            } else {
                text.chars().take(500).collect()
            }
        }
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

impl Guest for OpenAi {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: [
                "stream",
                "tools",
                "images",
                "json-object",
                "json-schema",
                "n",
                "usage",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = options(&target);
        let body = build_body(req, &target, &opts)?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        headers.extend(opts.headers);
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("{}/chat/completions", target.base_url.trim_end_matches('/')),
            headers,
            body,
            auth: AuthScheme::Bearer,
        })
    }

    fn parse_response(resp: HttpResponse, _target: Target) -> Result<ChatResponse, ProviderError> {
        let parsed: wire::ChatCompletion = match serde_json::from_slice(&resp.body) {
            Ok(p) => p,
            Err(e) => {
                // A 200 whose body is an error object is still an error.
                if serde_json::from_slice::<wire::ErrorBody>(&resp.body).is_ok() {
                    return Err(classify(Some(resp.status), &resp.headers, &resp.body));
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

    fn classify_error(resp: HttpResponse) -> ProviderError {
        classify(Some(resp.status), &resp.headers, &resp.body)
    }
}

/// Decodes an OpenAI SSE stream into events.
pub struct Decoder {
    inner: RefCell<sse::Decoder>,
}

impl GuestStreamDecoder for Decoder {
    fn new(_target: Target) -> Self {
        Decoder {
            inner: RefCell::new(sse::Decoder::default()),
        }
    }

    fn feed(&self, bytes: Vec<u8>) -> Result<Vec<StreamEvent>, ProviderError> {
        self.inner.borrow_mut().feed(&bytes)
    }

    fn finish(&self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.inner.borrow_mut().finish()
    }
}

export!(OpenAi);
