//! The Anthropic dialect on ingress and egress (`POST /v1/messages`): request
//! bodies into the canonical request, canonical responses into `message`
//! JSON, canonical stream events into Anthropic's event sequence
//! (`message_start`, `content_block_start/delta/stop`, `message_delta`,
//! `message_stop`), and errors into Anthropic's error JSON.
//! It never routes or
//! sends anything and never sees a key: it translates values, nothing more.

use anthropic_wire as wire;
use serde_json::{Map, Value, json};

use crate::canonical::{
    ChatRequest, ChatResponse, Content, ContentPart, FinishReason, ImageUrl, Message, Role,
    StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::error::ApiError;

/// Parse a `POST /v1/messages` body.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let parsed: wire::MessagesRequest = super::body::parse_body(
        body,
        &[
            (
                "untagged enum Content",
                "expected a string or an array of content blocks",
            ),
            (
                "untagged enum System",
                "expected a string or an array of text blocks",
            ),
        ],
        |path, hint| format!("{path}: {hint}."),
    )?;
    if parsed.messages.is_empty() {
        return Err(
            ApiError::invalid("messages: at least one message is required.").param("messages"),
        );
    }
    // The Messages API's own rule: only a final assistant message (a
    // prefill) may be empty.
    let last = parsed.messages.len() - 1;
    for (i, m) in parsed.messages.iter().enumerate() {
        let empty = match &m.content {
            wire::Content::Text(t) => t.is_empty(),
            wire::Content::Blocks(b) => b.is_empty(),
        };
        if empty && !(i == last && m.role == wire::Role::Assistant) {
            return Err(ApiError::invalid(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            ))
            .param(format!("messages[{i}].content")));
        }
    }
    let req = to_canonical(parsed);
    // Blocks with no canonical form (a `tool_use` in a user message) can
    // leave nothing to send.
    if req.messages.iter().all(|m| m.role == Role::System) {
        return Err(ApiError::invalid(
            "messages: no message has content that can be sent (text, images or tool results).",
        )
        .param("messages"));
    }
    Ok(req)
}

fn text_message(role: Role, text: String) -> Message {
    Message {
        role,
        content: Some(Content::Text(text)),
        name: None,
        tool_calls: vec![],
        tool_call_id: None,
        extra_json: None,
    }
}

fn image_part(source: wire::ImageSource) -> ContentPart {
    let url = match source {
        wire::ImageSource::Base64 { media_type, data } => {
            format!("data:{media_type};base64,{data}")
        }
        wire::ImageSource::Url { url } => url,
    };
    ContentPart::Image(ImageUrl { url, detail: None })
}

fn to_canonical(r: wire::MessagesRequest) -> ChatRequest {
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = &r.system {
        messages.push(text_message(Role::System, system.text()));
    }
    for m in r.messages {
        let blocks = match m.content {
            wire::Content::Text(t) => {
                let role = if m.role == wire::Role::User {
                    Role::User
                } else {
                    Role::Assistant
                };
                messages.push(text_message(role, t));
                continue;
            }
            wire::Content::Blocks(b) => b,
        };
        match m.role {
            wire::Role::User => {
                // Tool results become tool messages, ahead of the user's own
                // parts, in the order given.
                let mut parts = Vec::new();
                for b in blocks {
                    match b {
                        wire::Block::ToolResult {
                            tool_use_id,
                            content,
                            is_error,
                        } => {
                            let mut text = content.map(|c| c.text()).unwrap_or_default();
                            if is_error == Some(true) && !text.starts_with("Error") {
                                text = format!("Error: {text}");
                            }
                            messages.push(Message {
                                role: Role::Tool,
                                content: Some(Content::Text(text)),
                                name: None,
                                tool_calls: vec![],
                                tool_call_id: Some(tool_use_id),
                                extra_json: None,
                            });
                        }
                        wire::Block::Text { text } => parts.push(ContentPart::Text(text)),
                        wire::Block::Image { source } => parts.push(image_part(source)),
                        wire::Block::ToolUse { .. } => {}
                        wire::Block::Other(v) => parts.push(ContentPart::OtherJson(v.to_string())),
                    }
                }
                if !parts.is_empty() {
                    messages.push(Message {
                        role: Role::User,
                        content: Some(Content::Parts(parts)),
                        name: None,
                        tool_calls: vec![],
                        tool_call_id: None,
                        extra_json: None,
                    });
                }
            }
            wire::Role::Assistant => {
                let mut text = String::new();
                let mut tool_calls = Vec::new();
                for b in blocks {
                    match b {
                        wire::Block::Text { text: t } => text.push_str(&t),
                        wire::Block::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                            id,
                            name,
                            arguments: input.to_string(),
                        }),
                        // Thinking blocks and the like have no canonical form.
                        _ => {}
                    }
                }
                messages.push(Message {
                    role: Role::Assistant,
                    content: (!text.is_empty() || tool_calls.is_empty())
                        .then_some(Content::Text(text)),
                    name: None,
                    tool_calls,
                    tool_call_id: None,
                    extra_json: None,
                });
            }
        }
    }
    let tools = r
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| Tool {
            name: t.name,
            description: t.description,
            parameters_json: (!t.input_schema.is_null()).then(|| t.input_schema.to_string()),
            strict: None,
        })
        .collect();
    let (tool_choice, parallel) = match r.tool_choice {
        None => (None, None),
        Some(c) => {
            let choice = match c.kind {
                wire::ToolChoiceKind::Auto => ToolChoice::Auto,
                wire::ToolChoiceKind::Any => ToolChoice::Required,
                wire::ToolChoiceKind::None => ToolChoice::None,
                wire::ToolChoiceKind::Tool => ToolChoice::Function(c.name.unwrap_or_default()),
            };
            (Some(choice), c.disable_parallel_tool_use.map(|d| !d))
        }
    };
    let mut extra = r.extra;
    if let Some(k) = r.top_k {
        extra.insert("top_k".into(), json!(k));
    }
    ChatRequest {
        model: r.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: parallel,
        response_format: None,
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: Some(r.max_tokens),
        max_completion_tokens: None,
        stop: r.stop_sequences.unwrap_or_default(),
        seed: None,
        frequency_penalty: None,
        presence_penalty: None,
        n: None,
        stream: r.stream.unwrap_or(false),
        // Anthropic streams always end with usage.
        include_usage: true,
        user: r.metadata.and_then(|m| m.user_id),
        metadata: vec![],
        dialect: "anthropic".into(),
        extra_json: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
    }
}

fn stop_reason(f: &FinishReason) -> String {
    match f {
        FinishReason::Stop => wire::stop::END_TURN.into(),
        FinishReason::Length => wire::stop::MAX_TOKENS.into(),
        FinishReason::ToolCalls => wire::stop::TOOL_USE.into(),
        FinishReason::ContentFilter => wire::stop::REFUSAL.into(),
        FinishReason::Other(s) => s.clone(),
    }
}

fn wire_usage(u: Option<&Usage>) -> wire::Usage {
    let Some(u) = u else {
        return wire::Usage::default();
    };
    let cached = u.cached_tokens.unwrap_or(0);
    wire::Usage {
        input_tokens: u.prompt_tokens.saturating_sub(cached),
        output_tokens: u.completion_tokens,
        cache_creation_input_tokens: None,
        cache_read_input_tokens: u.cached_tokens,
    }
}

fn message_id(upstream: &str) -> String {
    if upstream.starts_with("msg_") {
        upstream.to_owned()
    } else {
        format!("msg_{:024x}", rand::random::<u128>() >> 32)
    }
}

/// Render a canonical response as a `message` body (first choice).
pub fn render_response(resp: ChatResponse) -> Vec<u8> {
    let mut content = Vec::new();
    let mut stop = None;
    if let Some(c) = resp.choices.into_iter().next() {
        if let Some(c) = &c.message.content {
            let text = crate::canonical::content_text(c);
            if !text.is_empty() {
                content.push(wire::Block::Text { text });
            }
        }
        for t in c.message.tool_calls {
            content.push(wire::Block::ToolUse {
                input: wire::tool_input(&t.arguments),
                id: t.id,
                name: t.name,
            });
        }
        stop = c.finish_reason.as_ref().map(stop_reason);
    }
    let body = wire::MessageResponse {
        id: message_id(&resp.id),
        kind: "message".into(),
        role: wire::Role::Assistant,
        model: resp.model,
        content,
        stop_reason: stop,
        stop_sequence: None,
        usage: wire_usage(resp.usage.as_ref()),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The dialect's error body.
pub fn error_body(e: &ApiError, request_id: Option<&str>) -> Vec<u8> {
    let mut body = json!({
        "type": "error",
        "error": {"type": wire::errors::for_status(e.status.as_u16()), "message": e.message},
    });
    // Anthropic's own errors name the request at the top level.
    if let (Some(id), Some(b)) = (request_id, body.as_object_mut()) {
        b.insert("request_id".into(), id.into());
    }
    body.to_string().into_bytes()
}

#[derive(Clone, Copy, PartialEq)]
enum Open {
    None,
    Text,
    Tool(u32),
}

/// Turns canonical stream events into Anthropic's event sequence.
pub struct SseEncoder {
    id: String,
    model: String,
    started: bool,
    block: u32,
    open: Open,
    stop: Option<String>,
    usage: Option<Usage>,
    /// The prompt's token estimate: `message_start`'s input tokens when
    /// the upstream has reported none by then.
    prompt_estimate: u32,
}

fn event(out: &mut Vec<u8>, e: &wire::StreamEvent) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(e.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, e);
    out.extend_from_slice(b"\n\n");
}

impl SseEncoder {
    /// An encoder; `model` is reported until the upstream names its own.
    /// `prompt_estimate` (the gateway's count of the prompt's tokens) is
    /// `message_start`'s `usage.input_tokens` unless the upstream reported
    /// its own count before the first content, as Anthropic's API fills it
    /// there and clients read it there; `message_delta` carries the final
    /// counts.
    pub fn new(model: &str, prompt_estimate: u32) -> SseEncoder {
        SseEncoder {
            id: String::new(),
            model: model.to_owned(),
            started: false,
            block: 0,
            open: Open::None,
            stop: None,
            usage: None,
            prompt_estimate,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = wire::MessageResponse {
            id: message_id(&self.id),
            kind: "message".into(),
            role: wire::Role::Assistant,
            model: self.model.clone(),
            content: vec![],
            stop_reason: None,
            stop_sequence: None,
            usage: match &self.usage {
                Some(u) => wire::Usage {
                    output_tokens: 0,
                    ..wire_usage(Some(u))
                },
                None => wire::Usage {
                    input_tokens: self.prompt_estimate,
                    ..wire::Usage::default()
                },
            },
        };
        event(out, &wire::StreamEvent::MessageStart { message });
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open != Open::None {
            event(
                out,
                &wire::StreamEvent::ContentBlockStop { index: self.block },
            );
            self.block += 1;
            self.open = Open::None;
        }
    }

    fn open(&mut self, kind: Open, block: wire::Block, out: &mut Vec<u8>) {
        self.close(out);
        event(
            out,
            &wire::StreamEvent::ContentBlockStart {
                index: self.block,
                content_block: block,
            },
        );
        self.open = kind;
    }

    /// Encode events into SSE appended to `out`.
    pub fn encode(&mut self, events: Vec<StreamEvent>, out: &mut Vec<u8>) {
        for e in events {
            match e {
                StreamEvent::Start(s) => {
                    if !s.id.is_empty() {
                        self.id = s.id;
                    }
                    if !s.model.is_empty() {
                        self.model = s.model;
                    }
                }
                StreamEvent::Role(_) => {}
                // Anthropic has one choice; others are not rendered.
                StreamEvent::Text(t) if t.choice == 0 => {
                    self.start(out);
                    if self.open != Open::Text {
                        self.open(
                            Open::Text,
                            wire::Block::Text {
                                text: String::new(),
                            },
                            out,
                        );
                    }
                    let delta = wire::Delta::TextDelta { text: t.text };
                    event(
                        out,
                        &wire::StreamEvent::ContentBlockDelta {
                            index: self.block,
                            delta,
                        },
                    );
                }
                StreamEvent::ToolCall(t) if t.choice == 0 => {
                    self.start(out);
                    if t.id.is_some() || t.name.is_some() || self.open != Open::Tool(t.index) {
                        let block = wire::Block::ToolUse {
                            id: t.id.unwrap_or_else(|| format!("toolu_{}", t.index)),
                            name: t.name.unwrap_or_default(),
                            input: Value::Object(Map::new()),
                        };
                        self.open(Open::Tool(t.index), block, out);
                    }
                    if !t.arguments.is_empty() {
                        let delta = wire::Delta::InputJsonDelta {
                            partial_json: t.arguments,
                        };
                        event(
                            out,
                            &wire::StreamEvent::ContentBlockDelta {
                                index: self.block,
                                delta,
                            },
                        );
                    }
                }
                StreamEvent::Finish(f) if f.choice == 0 => self.stop = Some(stop_reason(&f.reason)),
                StreamEvent::Usage(u) => self.usage = Some(u),
                _ => {}
            }
        }
    }

    /// The end of a complete stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.close(out);
        let u = wire_usage(self.usage.as_ref());
        event(
            out,
            &wire::StreamEvent::MessageDelta {
                delta: wire::MessageDelta {
                    stop_reason: Some(
                        self.stop
                            .clone()
                            .unwrap_or_else(|| wire::stop::END_TURN.into()),
                    ),
                    stop_sequence: None,
                },
                usage: Some(wire::DeltaUsage {
                    output_tokens: u.output_tokens,
                    input_tokens: Some(u.input_tokens),
                    cache_creation_input_tokens: None,
                    cache_read_input_tokens: u.cache_read_input_tokens,
                }),
            },
        );
        event(out, &wire::StreamEvent::MessageStop);
    }

    /// The end of a broken stream: an `error` event and no `message_stop`.
    pub fn error(&self, err: &ApiError, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: error\ndata: ");
        out.extend_from_slice(&error_body(err, None));
        out.extend_from_slice(b"\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Finish, StreamStart, TextDelta, ToolCallDelta};

    #[test]
    fn message_start_carries_the_upstreams_count_when_it_came_first() {
        let mut enc = SseEncoder::new("m", 42);
        let mut out = Vec::new();
        enc.encode(
            vec![
                StreamEvent::Usage(Usage {
                    prompt_tokens: 17,
                    completion_tokens: 0,
                    total_tokens: 17,
                    cached_tokens: None,
                    reasoning_tokens: None,
                }),
                StreamEvent::Text(TextDelta {
                    choice: 0,
                    text: "hi".into(),
                }),
            ],
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let start = text.lines().find(|l| l.starts_with("data:")).unwrap();
        assert!(start.contains(r#""input_tokens":17"#), "{start}");
    }

    #[test]
    fn request_with_tool_results_and_images() {
        let body = br#"{
          "model": "route", "max_tokens": 100, "system": "Be brief.", "top_k": 5,
          "messages": [
            {"role":"user","content":[{"type":"text","text":"Look"},
              {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]},
            {"role":"assistant","content":[{"type":"text","text":"Calling."},
              {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"42"}]},
              {"type":"text","text":"and?"}]}],
          "tools":[{"name":"f","input_schema":{"type":"object"}}],
          "tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},
          "metadata":{"user_id":"u"}, "stop_sequences":["X"], "stream": true}"#;
        let r = parse_request(body).unwrap();
        assert_eq!(r.dialect, "anthropic");
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            vec![
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User
            ]
        );
        match &r.messages[1].content {
            Some(Content::Parts(p)) => assert!(
                matches!(&p[1], ContentPart::Image(i) if i.url == "data:image/png;base64,AAA")
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.messages[2].tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert!(matches!(&r.messages[3].content, Some(Content::Text(t)) if t == "42"));
        assert!(matches!(r.tool_choice, Some(ToolChoice::Function(ref n)) if n == "f"));
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.max_tokens, Some(100));
        assert_eq!(r.user.as_deref(), Some("u"));
        assert!(r.stream);
        assert!(r.extra_json.unwrap().contains("top_k"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_request(br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#)
            .unwrap_err();
        assert!(e.message.contains("max_tokens"), "{}", e.message);
        let e = parse_request(br#"{"model":"m","max_tokens":"many","messages":[]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        let e = parse_request(
            br#"{"model":"m","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        let body = String::from_utf8(error_body(&e, None)).unwrap();
        assert!(body.contains(r#""type":"invalid_request_error""#), "{body}");
    }

    #[test]
    fn empty_content_is_refused_except_a_final_assistant_prefill() {
        for (body, param) in [
            (
                r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[]}]}"#,
                "messages[0].content",
            ),
            (
                r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":""}]}"#,
                "messages[0].content",
            ),
            (
                r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[]},{"role":"user","content":"b"}]}"#,
                "messages[1].content",
            ),
            (
                r#"{"model":"m","max_tokens":5,"system":"s","messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}"#,
                "messages",
            ),
        ] {
            let e = parse_request(body.as_bytes()).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
            assert_eq!(e.status.as_u16(), 400);
        }
        let ok = parse_request(
            br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":""}]}"#,
        )
        .unwrap();
        assert_eq!(ok.messages.len(), 2);
    }

    #[test]
    fn stream_sequence() {
        let mut enc = SseEncoder::new("route", 42);
        let mut out = Vec::new();
        enc.encode(
            vec![
                StreamEvent::Start(StreamStart {
                    id: "chatcmpl-1".into(),
                    model: "gpt".into(),
                    created: 1,
                }),
                StreamEvent::Role(0),
                StreamEvent::Text(TextDelta {
                    choice: 0,
                    text: "Hi".into(),
                }),
                StreamEvent::ToolCall(ToolCallDelta {
                    choice: 0,
                    index: 0,
                    id: Some("call_1".into()),
                    name: Some("f".into()),
                    arguments: String::new(),
                }),
                StreamEvent::ToolCall(ToolCallDelta {
                    choice: 0,
                    index: 0,
                    id: None,
                    name: None,
                    arguments: "{\"a\":".into(),
                }),
                StreamEvent::ToolCall(ToolCallDelta {
                    choice: 0,
                    index: 0,
                    id: None,
                    name: None,
                    arguments: "1}".into(),
                }),
                StreamEvent::Finish(Finish {
                    choice: 0,
                    reason: FinishReason::ToolCalls,
                }),
                StreamEvent::Usage(Usage {
                    prompt_tokens: 10,
                    completion_tokens: 3,
                    total_tokens: 13,
                    cached_tokens: None,
                    reasoning_tokens: None,
                }),
            ],
            &mut out,
        );
        enc.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            vec![
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(text.contains(r#""stop_reason":"tool_use""#));
        assert!(text.contains(r#""output_tokens":3"#));
        // The prompt's estimate in message_start (the upstream's count came
        // only at the end), the upstream's count in message_delta.
        let start = text
            .lines()
            .find(|l| l.contains("message_start") && l.starts_with("data:"))
            .unwrap();
        assert!(start.contains(r#""input_tokens":42"#), "{start}");
        assert!(text.contains(r#""input_tokens":10"#));
        assert!(text.contains(
            r#""index":1,"content_block":{"type":"tool_use","id":"call_1","name":"f","input":{}}"#
        ));
    }
}
