//! The `anthropic` provider adapter: Anthropic's Messages API.
//!
//! Translation notes: system and developer messages become `system`;
//! consecutive tool results become one user message of `tool_result` blocks
//! (the API wants user/assistant turns to alternate, so same-role neighbours
//! are merged); `max_tokens` is required upstream (default from the option
//! `default_max_tokens`, else 4096); temperature is clamped to Anthropic's
//! 0–1; `n > 1` and `response_format` JSON modes are refused with a
//! bad-request error so the router can try a model that supports them.
//!
//! Provider options: `default_max_tokens`, `headers` (extra request headers,
//! e.g. `anthropic-beta`), `version` (the `anthropic-version` header).

adapter_kit::plugin!(Anthropic);

pub mod decode;

use adapter_kit::types::{
    AuthScheme, ChatRequest, ChatResponse, Choice, Content, ContentPart, ErrorKind, FinishReason,
    HttpRequest, HttpResponse, ProviderError, Role, Target, ToolCall, ToolChoice, Usage,
};
use adapter_kit::{
    assistant_message, body_message, content_text, err, features_without, option_headers,
    options_value, parse_data_url, refuse_n_and_json, retry_after_ms, tool_input, tool_schema,
};
use anthropic_wire as wire;
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};
use serde_json::{Map, Value};

/// The API, as refusals name it.
const API: &str = "the Anthropic Messages API";

struct Anthropic;

struct Options {
    default_max_tokens: u32,
    headers: Vec<(String, String)>,
    version: String,
}

fn options(target: &Target) -> Options {
    let v = options_value(target.options_json.as_deref());
    Options {
        default_max_tokens: v
            .get("default_max_tokens")
            .and_then(Value::as_u64)
            .map_or(4096, |n| n.min(u64::from(u32::MAX)) as u32),
        headers: option_headers(&v),
        version: v
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or(wire::VERSION)
            .to_owned(),
    }
}

fn image_block(url: &str) -> wire::Block {
    let source = match parse_data_url(url) {
        Some((media_type, data)) => wire::ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        },
        None => wire::ImageSource::Url {
            url: url.to_owned(),
        },
    };
    wire::Block::Image { source }
}

fn content_blocks(c: Content) -> Vec<wire::Block> {
    match c {
        Content::Text(t) if t.is_empty() => vec![],
        Content::Text(text) => vec![wire::Block::Text { text }],
        Content::Parts(parts) => parts
            .into_iter()
            .filter_map(|p| match p {
                ContentPart::Text(text) => Some(wire::Block::Text { text }),
                ContentPart::Image(i) => Some(image_block(&i.url)),
                // Kinds without an Anthropic equivalent are passed as given.
                ContentPart::OtherJson(j) => serde_json::from_str(&j).ok().map(wire::Block::Other),
            })
            .collect(),
    }
}

/// Append blocks to the conversation, merging with the previous message when
/// it has the same role.
fn push(messages: &mut Vec<wire::Message>, role: wire::Role, blocks: Vec<wire::Block>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = messages.last_mut()
        && last.role == role
    {
        let prev = std::mem::replace(&mut last.content, wire::Content::Blocks(vec![]));
        let mut merged = match prev {
            wire::Content::Text(t) => vec![wire::Block::Text { text: t }],
            wire::Content::Blocks(b) => b,
        };
        merged.extend(blocks);
        last.content = wire::Content::Blocks(merged);
        return;
    }
    messages.push(wire::Message {
        role,
        content: wire::Content::Blocks(blocks),
    });
}

fn build_body(req: ChatRequest, target: &Target, opts: &Options) -> Result<Vec<u8>, ProviderError> {
    refuse_n_and_json(&req, API)?;
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<wire::Message> = Vec::new();
    for m in req.messages {
        match m.role {
            Role::System | Role::Developer => {
                if let Some(c) = &m.content {
                    system.push(content_text(c, "\n"));
                }
            }
            Role::User => {
                let blocks = m.content.map(content_blocks).unwrap_or_default();
                push(&mut messages, wire::Role::User, blocks);
            }
            Role::Assistant => {
                let mut blocks = m.content.map(content_blocks).unwrap_or_default();
                for c in m.tool_calls {
                    blocks.push(wire::Block::ToolUse {
                        input: tool_input(&c.arguments),
                        id: c.id,
                        name: c.name,
                    });
                }
                push(&mut messages, wire::Role::Assistant, blocks);
            }
            Role::Tool => {
                let block = wire::Block::ToolResult {
                    tool_use_id: m.tool_call_id.unwrap_or_default(),
                    content: m
                        .content
                        .map(|c| wire::ToolResultContent::Text(content_text(&c, "\n"))),
                    is_error: None,
                };
                push(&mut messages, wire::Role::User, vec![block]);
            }
        }
    }
    let tools = (!req.tools.is_empty()).then(|| {
        req.tools
            .into_iter()
            .map(|t| wire::Tool {
                input_schema: tool_schema(t.parameters_json.as_deref()),
                name: t.name,
                description: t.description,
                extra: Map::new(),
            })
            .collect::<Vec<_>>()
    });
    let disable_parallel = req.parallel_tool_calls.map(|p| !p).filter(|d| *d);
    let tool_choice = match req.tool_choice {
        None if disable_parallel.is_some() && tools.is_some() => Some(wire::ToolChoice {
            kind: wire::ToolChoiceKind::Auto,
            name: None,
            disable_parallel_tool_use: disable_parallel,
        }),
        None => None,
        Some(c) => {
            let (kind, name) = match c {
                ToolChoice::None => (wire::ToolChoiceKind::None, None),
                ToolChoice::Auto => (wire::ToolChoiceKind::Auto, None),
                ToolChoice::Required => (wire::ToolChoiceKind::Any, None),
                ToolChoice::Function(n) => (wire::ToolChoiceKind::Tool, Some(n)),
            };
            Some(wire::ToolChoice {
                kind,
                name,
                disable_parallel_tool_use: disable_parallel
                    .filter(|_| kind != wire::ToolChoiceKind::None),
            })
        }
    };
    let extra = match req.dialect.as_str() {
        "anthropic" => req
            .extra_json
            .as_deref()
            .and_then(|e| serde_json::from_str::<Map<String, Value>>(e).ok())
            .unwrap_or_default(),
        _ => Map::new(),
    };
    let body = wire::MessagesRequest {
        model: target.upstream_model.clone(),
        max_tokens: req
            .max_completion_tokens
            .or(req.max_tokens)
            .unwrap_or(opts.default_max_tokens),
        messages,
        system: (!system.is_empty()).then(|| wire::System::Text(system.join("\n\n"))),
        metadata: req.user.map(|u| wire::Metadata { user_id: Some(u) }),
        stop_sequences: (!req.stop.is_empty()).then_some(req.stop),
        stream: req.stream.then_some(true),
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: None,
        tools,
        tool_choice,
        extra,
    };
    serde_json::to_vec(&body).map_err(|e| err(ErrorKind::Other, format!("encoding request: {e}")))
}

pub(crate) fn finish_reason(s: &str) -> FinishReason {
    match s {
        wire::stop::END_TURN | wire::stop::STOP_SEQUENCE => FinishReason::Stop,
        wire::stop::MAX_TOKENS => FinishReason::Length,
        wire::stop::TOOL_USE => FinishReason::ToolCalls,
        wire::stop::REFUSAL => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic counts cached prompt tokens apart; canonical usage counts them in.
/// The counts are the upstream's word: sums saturate rather than overflow
/// (a panic in the guest, a wrapped and far too small count in a release
/// build, which would undercount cost and budgets).
pub(crate) fn usage(
    input: u32,
    output: u32,
    cache_write: Option<u32>,
    cache_read: Option<u32>,
) -> Usage {
    let prompt = input
        .saturating_add(cache_write.unwrap_or(0))
        .saturating_add(cache_read.unwrap_or(0));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: output,
        total_tokens: prompt.saturating_add(output),
        cached_tokens: cache_read,
        reasoning_tokens: None,
    }
}

/// Classify an error from its status and Anthropic's error body.
pub fn classify(status: Option<u16>, headers: &[(String, String)], body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let kind_str = detail.as_ref().map(|d| d.kind.clone()).unwrap_or_default();
    let message = match &detail {
        Some(d) if !d.message.is_empty() => d.message.clone(),
        _ => body_message(status, body),
    };
    let lower = message.to_ascii_lowercase();
    let kind = match (kind_str.as_str(), status) {
        (wire::errors::RATE_LIMIT, _) | (_, Some(429)) => ErrorKind::RateLimited,
        (wire::errors::OVERLOADED, _) | (_, Some(529)) | (_, Some(503)) => ErrorKind::Overloaded,
        (wire::errors::AUTHENTICATION | wire::errors::PERMISSION, _) | (_, Some(401 | 403)) => {
            ErrorKind::Auth
        }
        (wire::errors::NOT_FOUND, _) | (_, Some(404)) => ErrorKind::NotFound,
        (wire::errors::REQUEST_TOO_LARGE, _) | (_, Some(413)) => ErrorKind::ContextLength,
        (wire::errors::INVALID_REQUEST, _) | (_, Some(400)) => {
            if lower.contains("prompt is too long")
                || lower.contains("context window")
                || lower.contains("too many tokens")
            {
                ErrorKind::ContextLength
            } else {
                ErrorKind::BadRequest
            }
        }
        (_, Some(504)) => ErrorKind::Timeout,
        (_, Some(_)) => ErrorKind::UpstreamStatus,
        (_, None) => ErrorKind::Other,
    };
    ProviderError {
        kind,
        message,
        status,
        retry_after_ms: retry_after_ms(headers),
        code: (!kind_str.is_empty()).then_some(kind_str),
    }
}

/// Parse a complete 2xx response (a `message`, or an error body sent with a
/// 2xx status).
pub fn parse_response(resp: &HttpResponse) -> Result<ChatResponse, ProviderError> {
    let parsed: wire::MessageResponse = match serde_json::from_slice(&resp.body) {
        Ok(p) => p,
        Err(e) => {
            if serde_json::from_slice::<wire::ErrorBody>(&resp.body).is_ok() {
                return Err(classify(Some(resp.status), &resp.headers, &resp.body));
            }
            return Err(err(
                ErrorKind::Other,
                format!("upstream response is not a message: {e}"),
            ));
        }
    };
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for b in parsed.content {
        match b {
            wire::Block::Text { text: t } => text.push_str(&t),
            wire::Block::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
            }),
            _ => {}
        }
    }
    let u = parsed.usage;
    Ok(ChatResponse {
        id: parsed.id,
        model: parsed.model,
        created: 0,
        choices: vec![Choice {
            index: 0,
            message: assistant_message(text, tool_calls),
            finish_reason: parsed.stop_reason.as_deref().map(finish_reason),
        }],
        usage: Some(usage(
            u.input_tokens,
            u.output_tokens,
            u.cache_creation_input_tokens,
            u.cache_read_input_tokens,
        )),
        system_fingerprint: None,
    })
}

impl Guest for Anthropic {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "anthropic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: features_without(&["json-object", "json-schema", "n"]),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = options(&target);
        let body = build_body(req, &target, &opts)?;
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("anthropic-version".to_owned(), opts.version.clone()),
        ];
        headers.extend(opts.headers);
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("{}/messages", target.base_url.trim_end_matches('/')),
            headers,
            body,
            auth: AuthScheme::Header("x-api-key".into()),
        })
    }

    fn parse_response(resp: HttpResponse, _target: Target) -> Result<ChatResponse, ProviderError> {
        parse_response(&resp)
    }

    fn classify_error(resp: HttpResponse) -> ProviderError {
        classify(Some(resp.status), &resp.headers, &resp.body)
    }
}

adapter_kit::stream_decoder!(decode::Decoder, |_target| decode::Decoder::default());

#[cfg(test)]
mod tests;
