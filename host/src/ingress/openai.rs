//! The OpenAI dialect on ingress and egress: request bodies into the canonical
//! request (with errors that name the offending field), canonical responses and
//! stream events back into `chat.completion` JSON and SSE chunks.
//! It never routes or sends anything and never sees a key: it translates
//! values, nothing more.

use openai_wire as wire;
use serde_json::{Map, Value};

use crate::canonical::{
    ChatRequest, ChatResponse, Content, ContentPart, FinishReason, ImageUrl, JsonSchemaFormat,
    Message, ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::error::ApiError;

/// Parse a `POST /v1/chat/completions` body.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let parsed: wire::ChatCompletionRequest = super::body::parse_body(
        body,
        &[
            (
                "untagged enum Content",
                "expected a string or an array of content parts",
            ),
            (
                "untagged enum Stop",
                "expected a string or an array of strings",
            ),
            (
                "untagged enum ToolChoice",
                "expected \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":…}}",
            ),
        ],
        |path, hint| format!("Invalid value for `{path}`: {hint}."),
    )?;
    if parsed.messages.is_empty() {
        return Err(
            ApiError::invalid("`messages` must contain at least one message.").param("messages"),
        );
    }
    if parsed.n == Some(0) {
        return Err(ApiError::invalid("`n` must be at least 1.").param("n"));
    }
    // As the Chat Completions API: an array of content parts may not be empty.
    if let Some(i) = parsed
        .messages
        .iter()
        .position(|m| matches!(&m.content, Some(wire::Content::Parts(p)) if p.is_empty()))
    {
        return Err(ApiError::invalid(format!(
            "Invalid 'messages[{i}].content': empty array. Expected an array with minimum length 1, but got an empty array instead."
        ))
        .param(format!("messages[{i}].content")));
    }
    Ok(to_canonical(parsed))
}

fn json_text(v: Option<Value>) -> Option<String> {
    v.map(|v| v.to_string())
}

fn map_text(m: Map<String, Value>) -> Option<String> {
    (!m.is_empty()).then(|| Value::Object(m).to_string())
}

fn to_canonical(r: wire::ChatCompletionRequest) -> ChatRequest {
    let messages = r
        .messages
        .into_iter()
        .map(|m| Message {
            role: match m.role {
                wire::Role::System => Role::System,
                wire::Role::Developer => Role::Developer,
                wire::Role::User => Role::User,
                wire::Role::Assistant => Role::Assistant,
                wire::Role::Tool | wire::Role::Function => Role::Tool,
            },
            content: m.content.map(|c| match c {
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
            }),
            // A legacy `function` message names its function in `name`.
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
            tool_call_id: m.tool_call_id,
            extra_json: map_text(m.extra),
        })
        .collect();
    let tools = r
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| Tool {
            name: t.function.name,
            description: t.function.description,
            parameters_json: json_text(t.function.parameters),
            strict: t.function.strict,
        })
        .collect();
    let tool_choice = r.tool_choice.map(|c| match c {
        wire::ToolChoice::Mode(wire::ToolChoiceMode::None) => ToolChoice::None,
        wire::ToolChoice::Mode(wire::ToolChoiceMode::Auto) => ToolChoice::Auto,
        wire::ToolChoice::Mode(wire::ToolChoiceMode::Required) => ToolChoice::Required,
        wire::ToolChoice::Named(n) => ToolChoice::Function(n.function.name),
    });
    let response_format = r.response_format.map(|f| match f {
        wire::ResponseFormat::Text => ResponseFormat::Text,
        wire::ResponseFormat::JsonObject => ResponseFormat::JsonObject,
        wire::ResponseFormat::JsonSchema { json_schema } => {
            ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: json_schema.name,
                description: json_schema.description,
                schema_json: json_text(json_schema.schema),
                strict: json_schema.strict,
            })
        }
    });
    let metadata = r
        .metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    ChatRequest {
        model: r.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: r.parallel_tool_calls,
        response_format,
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: r.max_tokens,
        max_completion_tokens: r.max_completion_tokens,
        stop: r.stop.map(wire::Stop::into_vec).unwrap_or_default(),
        seed: r.seed,
        frequency_penalty: r.frequency_penalty,
        presence_penalty: r.presence_penalty,
        n: r.n,
        stream: r.stream.unwrap_or(false),
        include_usage: r
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        user: r.user,
        metadata,
        dialect: "openai".into(),
        extra_json: map_text(r.extra),
    }
}

fn finish_str(f: &FinishReason) -> String {
    match f {
        FinishReason::Stop => wire::finish::STOP.into(),
        FinishReason::Length => wire::finish::LENGTH.into(),
        FinishReason::ToolCalls => wire::finish::TOOL_CALLS.into(),
        FinishReason::ContentFilter => wire::finish::CONTENT_FILTER.into(),
        FinishReason::Other(s) => s.clone(),
    }
}

fn wire_usage(u: &Usage) -> wire::Usage {
    wire::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        prompt_tokens_details: u.cached_tokens.map(|c| wire::PromptTokensDetails {
            cached_tokens: Some(c),
        }),
        completion_tokens_details: u.reasoning_tokens.map(|r| wire::CompletionTokensDetails {
            reasoning_tokens: Some(r),
        }),
    }
}

/// A fresh completion id, for upstreams that do not give one.
pub fn new_id() -> String {
    format!("chatcmpl-{:024x}", rand::random::<u128>() >> 32)
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Render a canonical response as a `chat.completion` body.
pub fn render_response(resp: ChatResponse) -> Vec<u8> {
    let choices = resp
        .choices
        .into_iter()
        .map(|c| {
            let m = c.message;
            let tool_calls = (!m.tool_calls.is_empty()).then(|| {
                m.tool_calls
                    .into_iter()
                    .map(|t| wire::ToolCall {
                        id: t.id,
                        kind: "function".into(),
                        function: wire::FunctionCall {
                            name: t.name,
                            arguments: t.arguments,
                        },
                    })
                    .collect()
            });
            let mut extra = m
                .extra_json
                .and_then(|e| serde_json::from_str::<Map<String, Value>>(&e).ok())
                .unwrap_or_default();
            extra.entry("refusal").or_insert(Value::Null);
            wire::Choice {
                index: c.index,
                message: wire::Message {
                    role: wire::Role::Assistant,
                    // Only tool calls: `"content": null`, as OpenAI sends it.
                    content: m
                        .content
                        .map(|c| wire::Content::Text(crate::canonical::content_text(&c))),
                    name: None,
                    tool_calls,
                    tool_call_id: None,
                    extra,
                },
                finish_reason: c.finish_reason.as_ref().map(finish_str),
                logprobs: None,
            }
        })
        .collect();
    let body = wire::ChatCompletion {
        id: if resp.id.is_empty() {
            new_id()
        } else {
            resp.id
        },
        object: "chat.completion".into(),
        created: if resp.created == 0 {
            now_secs()
        } else {
            resp.created
        },
        model: resp.model,
        choices,
        usage: resp.usage.as_ref().map(wire_usage),
        system_fingerprint: resp.system_fingerprint,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Turns canonical stream events into the dialect's SSE chunks.
pub struct SseEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    usage: Option<Usage>,
}

impl SseEncoder {
    /// An encoder; `model` is reported until the upstream names its own.
    pub fn new(model: &str, include_usage: bool) -> SseEncoder {
        SseEncoder {
            id: new_id(),
            model: model.to_owned(),
            created: now_secs(),
            include_usage,
            usage: None,
        }
    }

    /// The usage reported by the stream, once it came.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    fn chunk(
        &self,
        choices: Vec<wire::ChunkChoice>,
        usage: Option<wire::Usage>,
        out: &mut Vec<u8>,
    ) {
        let chunk = wire::ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            system_fingerprint: None,
        };
        out.extend_from_slice(b"data: ");
        // Serializing plain structs into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &chunk);
        out.extend_from_slice(b"\n\n");
    }

    fn delta(&self, index: u32, delta: wire::Delta, finish: Option<String>, out: &mut Vec<u8>) {
        let choice = wire::ChunkChoice {
            index,
            delta,
            finish_reason: finish,
        };
        self.chunk(vec![choice], None, out);
    }

    /// Encode events into SSE chunks appended to `out`.
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
                    if s.created != 0 {
                        self.created = s.created;
                    }
                }
                StreamEvent::Role(i) => self.delta(
                    i,
                    wire::Delta {
                        role: Some(wire::Role::Assistant),
                        content: Some(String::new()),
                        tool_calls: None,
                    },
                    None,
                    out,
                ),
                StreamEvent::Text(t) => self.delta(
                    t.choice,
                    wire::Delta {
                        content: Some(t.text),
                        ..Default::default()
                    },
                    None,
                    out,
                ),
                StreamEvent::ToolCall(t) => {
                    let kind = t.id.as_ref().map(|_| "function".to_owned());
                    let call = wire::ToolCallDelta {
                        index: t.index,
                        id: t.id,
                        kind,
                        function: Some(wire::FunctionDelta {
                            name: t.name,
                            arguments: Some(t.arguments),
                        }),
                    };
                    self.delta(
                        t.choice,
                        wire::Delta {
                            tool_calls: Some(vec![call]),
                            ..Default::default()
                        },
                        None,
                        out,
                    )
                }
                StreamEvent::Finish(f) => self.delta(
                    f.choice,
                    wire::Delta::default(),
                    Some(finish_str(&f.reason)),
                    out,
                ),
                StreamEvent::Usage(u) => self.usage = Some(u),
            }
        }
    }

    /// The end of a complete stream: the usage chunk if asked for, then `[DONE]`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.include_usage
            && let Some(u) = &self.usage
        {
            self.chunk(vec![], Some(wire_usage(u)), out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// The end of a broken stream: an error event and no `[DONE]`, so clients
    /// cannot mistake a truncated answer for a complete one.
    pub fn error(&self, err: &ApiError, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&err.openai_body(None));
        out.extend_from_slice(b"\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("temperature"));
        assert!(e.message.contains("temperature"), "{}", e.message);

        let e = parse_request(br#"{"model":"m","messages":[{"role":"user","content":5}]}"#)
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].content"));

        let e = parse_request(br#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#)
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
    }

    #[test]
    fn malformed_json_is_a_400() {
        let e = parse_request(br#"{"model":"m","messages":["#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not valid JSON"));
        let e =
            parse_request(br#"{"model":"m","messages":[{"role":"user","content":"x"}]} trailing"#)
                .unwrap_err();
        assert!(e.message.contains("not valid JSON"));
        let e = parse_request(br#"{"model":"m"}"#).unwrap_err();
        assert!(e.message.contains("messages"), "{}", e.message);
    }

    /// Found by fuzzing (fuzz/regressions/ingress_openai): invalid UTF-8
    /// inside a value serde_json skips was accepted.
    #[test]
    fn an_empty_content_array_is_a_400_an_empty_string_is_not() {
        let e = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[1].content"));
        assert!(e.message.contains("empty array"), "{}", e.message);
        let ok = parse_request(br#"{"model":"m","messages":[{"role":"user","content":""}]}"#);
        assert!(ok.is_ok());
    }

    #[test]
    fn invalid_utf8_anywhere_is_a_400() {
        let e = parse_request(
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"text\",\"x\":\"\xf4\"}}",
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("UTF-8"), "{}", e.message);
    }

    #[test]
    fn everything_applications_send_is_kept() {
        let body = br#"{
            "model":"m","messages":[
              {"role":"system","content":"be brief"},
              {"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"high"}}]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"42"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "tool_choice":{"type":"function","function":{"name":"f"}},
            "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},
            "temperature":0.2,"top_p":0.9,"max_tokens":10,"max_completion_tokens":20,"stop":["x","y"],"seed":7,
            "frequency_penalty":0.1,"presence_penalty":0.2,"n":2,"stream":true,"stream_options":{"include_usage":true},
            "user":"u1","metadata":{"team":"a"},"logit_bias":{"1":2},"service_tier":"flex"}"#;
        let r = parse_request(body).unwrap();
        assert_eq!(r.messages.len(), 4);
        assert!(matches!(r.tool_choice, Some(ToolChoice::Function(ref n)) if n == "f"));
        assert!(matches!(
            r.response_format,
            Some(ResponseFormat::JsonSchema(_))
        ));
        assert_eq!(
            (r.max_tokens, r.max_completion_tokens, r.n, r.seed),
            (Some(10), Some(20), Some(2), Some(7))
        );
        assert_eq!(r.stop, vec!["x", "y"]);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.metadata, vec![("team".to_owned(), "a".to_owned())]);
        let extra: Value = serde_json::from_str(r.extra_json.as_deref().unwrap()).unwrap();
        assert_eq!(extra["service_tier"], "flex");
        assert_eq!(extra["logit_bias"]["1"], 2);
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(r.messages[2].tool_calls[0].name, "f");
    }

    #[test]
    fn stream_encoder_ends_with_usage_then_done() {
        use crate::canonical::{Finish, StreamStart, TextDelta};
        let mut enc = SseEncoder::new("m", true);
        let mut out = Vec::new();
        enc.encode(
            vec![
                StreamEvent::Start(StreamStart {
                    id: "up-1".into(),
                    model: "up-model".into(),
                    created: 5,
                }),
                StreamEvent::Role(0),
                StreamEvent::Text(TextDelta {
                    choice: 0,
                    text: "hi".into(),
                }),
                StreamEvent::Finish(Finish {
                    choice: 0,
                    reason: FinishReason::Stop,
                }),
                StreamEvent::Usage(Usage {
                    prompt_tokens: 3,
                    completion_tokens: 1,
                    total_tokens: 4,
                    cached_tokens: None,
                    reasoning_tokens: None,
                }),
            ],
            &mut out,
        );
        enc.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|s| !s.is_empty()).collect();
        assert_eq!(events.len(), 5, "{text}");
        assert!(events[0].contains(r#""role":"assistant""#) && events[0].contains("up-1"));
        assert!(events[3].contains(r#""total_tokens":4"#));
        assert_eq!(events[4], "data: [DONE]");
    }
}
