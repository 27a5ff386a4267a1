//! The `bedrock` provider adapter: Amazon Bedrock's Converse API
//! (`POST /model/{modelId}/converse`) and ConverseStream
//! (`/converse-stream`, answered in AWS event-stream framing).
//!
//! Auth is AWS SigV4 (`service = bedrock`); the host signs the finished
//! request with the provider's AWS credentials (or sends a Bedrock API key as
//! a bearer token), so the adapter only names the region: the provider option
//! `region`, else the one in a `bedrock-runtime.{region}.amazonaws.com` base
//! URL.
//!
//! Translation notes: system and developer messages become `system` blocks;
//! same-role neighbours are merged (Converse wants user and assistant turns to
//! alternate), so consecutive tool results share one user turn of
//! `toolResult` blocks (a result that is a JSON object goes as `json`, any
//! other as `text`); images must be `data:` URLs, since Converse takes image
//! bytes, not links; temperature is clamped to 0–1; `tool_choice: none`
//! drops the tools unless the conversation already carries tool blocks
//! (Converse then requires a `toolConfig`); `n > 1`, `response_format` JSON
//! modes and content parts Converse has no block for are refused with a
//! bad-request error so the router can try a model that supports them.
//!
//! Embeddings (Titan Text Embeddings and Cohere Embed models) go through
//! InvokeModel instead (the `embed` module).
//!
//! Provider options: `region`, `headers` (extra request headers),
//! `additional_model_request_fields` (a table passed as
//! `additionalModelRequestFields`, for model-specific parameters).

adapter_kit::plugin!(Bedrock, embeddings);

pub mod decode;
mod embed;
mod wire;

use adapter_kit::types::{
    AuthScheme, AwsSigning, ChatRequest, ChatResponse, Choice, Content, ContentPart, ErrorKind,
    FinishReason, HttpRequest, HttpResponse, ProviderError, Role, Target, ToolCall, ToolChoice,
    Usage,
};
use adapter_kit::{
    assistant_message, body_message, content_text, encode_component, err, features_without, header,
    option_headers, options_value, parse_data_url, refuse_n_and_json, retry_after_ms, tool_input,
    tool_schema,
};
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};
use serde_json::Value;

/// The API, as refusals name it.
const API: &str = "the Amazon Bedrock Converse API";

struct Bedrock;

/// The signing name of the Bedrock runtime.
const SERVICE: &str = "bedrock";

struct Options {
    region: Option<String>,
    headers: Vec<(String, String)>,
    additional: Option<Value>,
}

fn options(target: &Target) -> Options {
    let v = options_value(target.options_json.as_deref());
    Options {
        region: v
            .get("region")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        headers: option_headers(&v),
        additional: v
            .get("additional_model_request_fields")
            .filter(|a| a.is_object())
            .cloned(),
    }
}

/// The region of a Bedrock runtime endpoint URL:
/// `https://bedrock-runtime[-fips].{region}.amazonaws.com[.cn]` (also behind a
/// VPC endpoint prefix).
fn region_of(base_url: &str) -> Option<String> {
    let rest = base_url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = authority.split(':').next()?.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels
        .iter()
        .position(|l| l.starts_with("bedrock-runtime"))?;
    let region = *labels.get(at + 1)?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.contains('-')
        && labels[at + 2..].contains(&"amazonaws");
    valid.then(|| region.to_owned())
}

fn unsupported(what: &str) -> ProviderError {
    adapter_kit::unsupported(API, what)
}

/// `data:image/png;base64,…` → an image block. Converse takes the bytes
/// themselves; a link is refused.
fn image_block(url: &str) -> Result<wire::Block, ProviderError> {
    let Some((media_type, data)) = parse_data_url(url) else {
        return Err(unsupported(
            "an image given by URL (Converse takes image bytes: send a base64 `data:` URL)",
        ));
    };
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => return Err(unsupported(&format!("an image of type `{other}`"))),
    };
    Ok(wire::Block::Image(wire::ImageBlock {
        format: format.into(),
        source: wire::ImageSource {
            bytes: data.to_owned(),
        },
    }))
}

fn content_blocks(c: Content) -> Result<Vec<wire::Block>, ProviderError> {
    match c {
        Content::Text(t) if t.is_empty() => Ok(vec![]),
        Content::Text(text) => Ok(vec![wire::Block::Text(text)]),
        Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match p {
                    ContentPart::Text(t) if t.is_empty() => {}
                    ContentPart::Text(t) => out.push(wire::Block::Text(t)),
                    ContentPart::Image(i) => out.push(image_block(&i.url)?),
                    ContentPart::OtherJson(j) => {
                        let kind = serde_json::from_str::<Value>(&j)
                            .ok()
                            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
                            .unwrap_or_else(|| "unknown".into());
                        return Err(unsupported(&format!("a content part of type `{kind}`")));
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Append blocks to the conversation, merging with the previous message when
/// it has the same role.
fn push(messages: &mut Vec<wire::Message>, role: wire::Role, blocks: Vec<wire::Block>) {
    if blocks.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => messages.push(wire::Message {
            role,
            content: blocks,
        }),
    }
}

fn tool_result_content(text: String) -> wire::ToolResultContent {
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => wire::ToolResultContent::Json(v),
        _ => wire::ToolResultContent::Text(text),
    }
}

fn build_body(req: ChatRequest, opts: &Options) -> Result<Vec<u8>, ProviderError> {
    refuse_n_and_json(&req, API)?;
    let mut system = Vec::new();
    let mut messages: Vec<wire::Message> = Vec::new();
    // Names of the tools the conversation has called, in order.
    let mut called: Vec<String> = Vec::new();
    let mut has_tool_blocks = false;
    for m in req.messages {
        match m.role {
            Role::System | Role::Developer => {
                if let Some(c) = &m.content {
                    let text = content_text(c, "\n");
                    if !text.is_empty() {
                        system.push(wire::SystemBlock { text });
                    }
                }
            }
            Role::User => {
                let blocks = m.content.map(content_blocks).transpose()?;
                push(&mut messages, wire::Role::User, blocks.unwrap_or_default());
            }
            Role::Assistant => {
                let mut blocks = m
                    .content
                    .map(content_blocks)
                    .transpose()?
                    .unwrap_or_default();
                for c in m.tool_calls {
                    has_tool_blocks = true;
                    let input = tool_input(&c.arguments);
                    if !called.contains(&c.name) {
                        called.push(c.name.clone());
                    }
                    blocks.push(wire::Block::ToolUse(wire::ToolUse {
                        tool_use_id: c.id,
                        name: c.name,
                        input,
                    }));
                }
                push(&mut messages, wire::Role::Assistant, blocks);
            }
            Role::Tool => {
                has_tool_blocks = true;
                let text = m
                    .content
                    .as_ref()
                    .map(|c| content_text(c, "\n"))
                    .unwrap_or_default();
                let block = wire::Block::ToolResult(wire::ToolResult {
                    tool_use_id: m.tool_call_id.unwrap_or_default(),
                    content: vec![tool_result_content(text)],
                    status: None,
                });
                push(&mut messages, wire::Role::User, vec![block]);
            }
        }
    }
    let disabled = matches!(req.tool_choice, Some(ToolChoice::None));
    let mut tools: Vec<wire::Tool> = req
        .tools
        .into_iter()
        .map(|t| {
            wire::Tool::ToolSpec(wire::ToolSpec {
                input_schema: wire::InputSchema {
                    json: tool_schema(t.parameters_json.as_deref()),
                },
                name: t.name,
                description: t.description.filter(|d| !d.is_empty()),
            })
        })
        .collect();
    // Converse refuses toolUse/toolResult blocks without a toolConfig: a
    // follow-up that no longer offers the tools gets minimal specs of the
    // ones it called.
    if tools.is_empty() && has_tool_blocks {
        tools = called
            .into_iter()
            .map(|name| {
                wire::Tool::ToolSpec(wire::ToolSpec {
                    name,
                    description: None,
                    input_schema: wire::InputSchema {
                        json: tool_schema(None),
                    },
                })
            })
            .collect();
    }
    let tool_config = if tools.is_empty() || (disabled && !has_tool_blocks) {
        None
    } else {
        let tool_choice = match req.tool_choice {
            None | Some(ToolChoice::None) => None,
            Some(ToolChoice::Auto) => Some(wire::ToolChoice::Auto(wire::Empty {})),
            Some(ToolChoice::Required) => Some(wire::ToolChoice::Any(wire::Empty {})),
            Some(ToolChoice::Function(name)) => Some(wire::ToolChoice::Tool(wire::Named { name })),
        };
        Some(wire::ToolConfig { tools, tool_choice })
    };
    let inference = wire::InferenceConfig {
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        stop_sequences: req.stop,
    };
    let body = wire::ConverseRequest {
        messages,
        system,
        inference_config: (!inference.is_empty()).then_some(inference),
        tool_config,
        additional_model_request_fields: opts.additional.clone(),
    };
    serde_json::to_vec(&body).map_err(|e| err(ErrorKind::Other, format!("encoding request: {e}")))
}

pub(crate) fn finish_reason(s: &str) -> FinishReason {
    match s {
        wire::stop::END_TURN | wire::stop::STOP_SEQUENCE => FinishReason::Stop,
        wire::stop::MAX_TOKENS | wire::stop::CONTEXT_WINDOW_EXCEEDED => FinishReason::Length,
        wire::stop::TOOL_USE => FinishReason::ToolCalls,
        wire::stop::GUARDRAIL_INTERVENED | wire::stop::CONTENT_FILTERED => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Bedrock counts cached prompt tokens apart from `inputTokens`; canonical
/// usage counts them in.
pub(crate) fn usage(u: &wire::TokenUsage) -> Usage {
    let prompt = u
        .input_tokens
        .saturating_add(u.cache_read_input_tokens.unwrap_or(0))
        .saturating_add(u.cache_write_input_tokens.unwrap_or(0));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
        cached_tokens: u.cache_read_input_tokens,
        reasoning_tokens: None,
    }
}

/// The bare error type of `x-amzn-ErrorType` (`ThrottlingException:http://…`)
/// or a JSON `__type` (`com.amazon.coral.validate#ValidationException`).
fn error_type(raw: &str) -> String {
    let t = raw.split(':').next().unwrap_or(raw);
    let t = t.rsplit('#').next().unwrap_or(t);
    t.trim().to_owned()
}

/// Classify an error from its status, Bedrock's error type (the
/// `x-amzn-ErrorType` header, or the event-stream exception type) and
/// message.
pub(crate) fn classify_parts(
    status: Option<u16>,
    error_type: &str,
    message: &str,
    retry_after_ms: Option<u64>,
) -> ProviderError {
    // Event-stream exception types are spelled lowerCamelCase.
    let t = error_type.to_ascii_lowercase();
    let lower = message.to_ascii_lowercase();
    let context = lower.contains("input is too long")
        || lower.contains("too many tokens")
        || lower.contains("too many input tokens")
        || lower.contains("prompt is too long")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("max_tokens")
        || lower.contains("maxtokens")
        || lower.contains("max tokens")
        || lower.contains("maximum tokens");
    let kind = match (t.as_str(), status) {
        ("throttlingexception" | "servicequotaexceededexception", _) => ErrorKind::RateLimited,
        ("serviceunavailableexception" | "modelnotreadyexception", _) => ErrorKind::Overloaded,
        (
            "accessdeniedexception"
            | "unrecognizedclientexception"
            | "invalidsignatureexception"
            | "expiredtokenexception"
            | "incompletesignatureexception"
            | "missingauthenticationtokenexception",
            _,
        ) => ErrorKind::Auth,
        ("resourcenotfoundexception", _) => ErrorKind::NotFound,
        ("modeltimeoutexception", _) => ErrorKind::Timeout,
        ("validationexception", _) => {
            if context {
                ErrorKind::ContextLength
            } else {
                ErrorKind::BadRequest
            }
        }
        ("internalserverexception" | "modelerrorexception" | "modelstreamerrorexception", _) => {
            ErrorKind::UpstreamStatus
        }
        (_, Some(429)) => ErrorKind::RateLimited,
        (_, Some(503)) => ErrorKind::Overloaded,
        (_, Some(401 | 403)) => ErrorKind::Auth,
        (_, Some(404)) => ErrorKind::NotFound,
        (_, Some(408 | 504)) => ErrorKind::Timeout,
        (_, Some(413)) => ErrorKind::ContextLength,
        (_, Some(400)) if context => ErrorKind::ContextLength,
        (_, Some(400 | 422)) => ErrorKind::BadRequest,
        (_, Some(_)) => ErrorKind::UpstreamStatus,
        (_, None) => ErrorKind::Other,
    };
    ProviderError {
        kind,
        message: message.to_owned(),
        status,
        retry_after_ms,
        code: (!error_type.is_empty()).then(|| error_type.to_owned()),
    }
}

/// Classify an HTTP error response.
pub fn classify(status: u16, headers: &[(String, String)], body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<wire::ErrorBody>(body).ok();
    let kind = header(headers, "x-amzn-errortype")
        .map(error_type)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|b| b.kind.as_deref())
                .map(error_type)
        })
        .unwrap_or_default();
    let message = parsed
        .and_then(|b| b.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| body_message(Some(status), body));
    classify_parts(Some(status), &kind, &message, retry_after_ms(headers))
}

/// Parse a complete 2xx Converse response; `model` names the model (Converse
/// answers do not).
pub fn parse_response(resp: &HttpResponse, model: String) -> Result<ChatResponse, ProviderError> {
    let parsed: wire::ConverseResponse = match serde_json::from_slice(&resp.body) {
        Ok(p) => p,
        Err(e) => {
            if serde_json::from_slice::<wire::ErrorBody>(&resp.body)
                .is_ok_and(|b| b.message.is_some())
            {
                return Err(classify(resp.status, &resp.headers, &resp.body));
            }
            return Err(err(
                ErrorKind::Other,
                format!("upstream response is not a Converse response: {e}"),
            ));
        }
    };
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for b in parsed.output.message.map(|m| m.content).unwrap_or_default() {
        if let Some(t) = b.text {
            text.push_str(&t);
        }
        if let Some(t) = b.tool_use {
            tool_calls.push(ToolCall {
                id: t.tool_use_id,
                name: t.name,
                arguments: if t.input.is_null() {
                    "{}".into()
                } else {
                    t.input.to_string()
                },
            });
        }
    }
    Ok(ChatResponse {
        // Converse answers carry no id: the host makes one.
        id: String::new(),
        model,
        created: 0,
        choices: vec![Choice {
            index: 0,
            message: assistant_message(text, tool_calls),
            finish_reason: parsed.stop_reason.as_deref().map(finish_reason),
        }],
        usage: parsed.usage.as_ref().map(usage),
        system_fingerprint: None,
    })
}

impl Guest for Bedrock {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "bedrock".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: features_without(&["json-object", "json-schema", "n"]),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = options(&target);
        let Some(region) = opts.region.clone().or_else(|| region_of(&target.base_url)) else {
            return Err(err(
                ErrorKind::Other,
                format!(
                    "provider `{}`: set the option `region` (the base URL `{}` does not name one)",
                    target.provider, target.base_url
                ),
            ));
        };
        let stream = req.stream;
        let body = build_body(req, &opts)?;
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                if stream {
                    "application/vnd.amazon.eventstream"
                } else {
                    "application/json"
                }
                .to_owned(),
            ),
        ];
        headers.extend(opts.headers);
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!(
                "{}/model/{}/{}",
                target.base_url.trim_end_matches('/'),
                encode_component(&target.upstream_model),
                if stream {
                    "converse-stream"
                } else {
                    "converse"
                }
            ),
            headers,
            body,
            auth: AuthScheme::AwsSigv4(AwsSigning {
                service: SERVICE.into(),
                region,
            }),
        })
    }

    fn parse_response(resp: HttpResponse, target: Target) -> Result<ChatResponse, ProviderError> {
        parse_response(&resp, target.upstream_model)
    }

    fn classify_error(resp: HttpResponse) -> ProviderError {
        classify(resp.status, &resp.headers, &resp.body)
    }
}

adapter_kit::embeddings!(Bedrock, embed::embed_request, embed::embed_parse);

adapter_kit::stream_decoder!(decode::Decoder, |target| decode::Decoder::new(
    target.upstream_model
));

#[cfg(test)]
mod tests;
