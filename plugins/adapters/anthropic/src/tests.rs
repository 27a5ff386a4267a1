//! Golden tests: canonical request → Anthropic JSON, and Anthropic bytes
//! (messages, every stream event kind, error bodies) → canonical. Fixtures
//! follow Anthropic's public API reference.

use adapter_kit::Decode;
use adapter_kit::testing;
use adapter_kit::types::{ImageUrl, JsonSchemaFormat, Message, ResponseFormat, StreamEvent};
use serde_json::json;

use super::*;

fn target() -> Target {
    Target {
        provider: "anthropic".into(),
        base_url: "https://api.anthropic.com/v1/".into(),
        upstream_model: "claude-sonnet-4-5".into(),
        options_json: Some(r#"{"headers":{"anthropic-beta":"x"}}"#.into()),
    }
}

fn msg(role: Role, content: Option<Content>) -> Message {
    Message {
        content,
        ..testing::message(role, None)
    }
}

/// A request of the OpenAI dialect carrying one of its own fields.
fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        extra_json: Some(r#"{"logit_bias":{"1":1}}"#.into()),
        ..testing::request(messages)
    }
}

fn body(req: ChatRequest) -> Value {
    let http = Anthropic::build_request(req, target()).unwrap();
    assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
    assert!(matches!(http.auth, AuthScheme::Header(ref h) if h == "x-api-key"));
    assert!(
        http.headers
            .iter()
            .any(|(k, v)| k == "anthropic-version" && v == wire::VERSION)
    );
    assert!(
        http.headers
            .iter()
            .any(|(k, v)| k == "anthropic-beta" && v == "x")
    );
    serde_json::from_slice(&http.body).unwrap()
}

#[test]
fn conversation_with_tools_and_images() {
    let mut assistant = msg(Role::Assistant, Some(Content::Text("Let me look.".into())));
    assistant.tool_calls = vec![
        ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        },
        ToolCall {
            id: "call_2".into(),
            name: "get_time".into(),
            arguments: "not json".into(),
        },
    ];
    let mut tool1 = msg(Role::Tool, Some(Content::Text("15C".into())));
    tool1.tool_call_id = Some("call_1".into());
    let mut tool2 = msg(Role::Tool, Some(Content::Text("noon".into())));
    tool2.tool_call_id = Some("call_2".into());
    let mut req = request(vec![
        msg(Role::System, Some(Content::Text("Be brief.".into()))),
        msg(Role::Developer, Some(Content::Text("Use tools.".into()))),
        msg(
            Role::User,
            Some(Content::Parts(vec![
                ContentPart::Text("What is this?".into()),
                ContentPart::Image(ImageUrl {
                    url: "data:image/png;base64,iVBORw0KGgo=".into(),
                    detail: None,
                }),
                ContentPart::Image(ImageUrl {
                    url: "https://example.com/a.jpg".into(),
                    detail: Some("high".into()),
                }),
            ])),
        ),
        assistant,
        tool1,
        tool2,
        msg(Role::User, Some(Content::Text("Thanks".into()))),
    ]);
    req.tools = vec![adapter_kit::types::Tool {
        name: "get_weather".into(),
        description: Some("Weather".into()),
        parameters_json: Some(
            r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into(),
        ),
        strict: None,
    }];
    req.tool_choice = Some(ToolChoice::Required);
    req.parallel_tool_calls = Some(false);
    req.temperature = Some(1.7);
    req.max_tokens = Some(300);
    req.stop = vec!["END".into()];
    req.user = Some("u-1".into());
    let b = body(req);
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["system"], "Be brief.\n\nUse tools.");
    assert_eq!(b["max_tokens"], 300);
    assert_eq!(b["temperature"], 1.0);
    assert_eq!(b["stop_sequences"], json!(["END"]));
    assert_eq!(b["metadata"]["user_id"], "u-1");
    assert!(
        b.get("logit_bias").is_none(),
        "another dialect's fields are not passed"
    );
    assert_eq!(
        b["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        b["tools"][0]["input_schema"]["properties"]["city"]["type"],
        "string"
    );
    let m = b["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3, "{m:#?}");
    assert_eq!(m[0]["role"], "user");
    assert_eq!(
        m[0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
    assert_eq!(
        m[0]["content"][2]["source"],
        json!({"type": "url", "url": "https://example.com/a.jpg"})
    );
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(
        m[1]["content"][0],
        json!({"type": "text", "text": "Let me look."})
    );
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(m[1]["content"][2]["input"], json!({}));
    // Both tool results and the next user text share one user turn.
    assert_eq!(m[2]["role"], "user");
    let blocks = m[2]["content"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        blocks[0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "15C"})
    );
    assert_eq!(blocks[2], json!({"type": "text", "text": "Thanks"}));
}

#[test]
fn defaults_and_refusals() {
    let b = body(request(vec![msg(
        Role::User,
        Some(Content::Text("hi".into())),
    )]));
    assert_eq!(b["max_tokens"], 4096);
    assert!(b.get("stream").is_none());

    let mut r = request(vec![msg(Role::User, Some(Content::Text("hi".into())))]);
    r.n = Some(2);
    let e = Anthropic::build_request(r, target()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    let mut r = request(vec![msg(Role::User, Some(Content::Text("hi".into())))]);
    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "s".into(),
        description: None,
        schema_json: None,
        strict: None,
    }));
    assert!(Anthropic::build_request(r, target()).is_err());

    // Anthropic-dialect fields pass through when the client spoke Anthropic.
    let mut r = request(vec![msg(Role::User, Some(Content::Text("hi".into())))]);
    r.dialect = "anthropic".into();
    r.extra_json = Some(r#"{"thinking":{"type":"enabled","budget_tokens":1024}}"#.into());
    r.stream = true;
    let b = body(r);
    assert_eq!(b["thinking"]["budget_tokens"], 1024);
    assert_eq!(b["stream"], true);
}

#[test]
fn message_response() {
    let resp = HttpResponse {
        status: 200,
        headers: vec![],
        body: include_bytes!("../fixtures/message.json").to_vec(),
    };
    let r = Anthropic::parse_response(resp, target()).unwrap();
    assert_eq!(r.id, "msg_01XFDUDYJgAACzvnptvVoYEL");
    let c = &r.choices[0];
    assert!(matches!(c.finish_reason, Some(FinishReason::ToolCalls)));
    assert!(
        matches!(&c.message.content, Some(Content::Text(t)) if t == "I'll check the weather in Paris.")
    );
    assert_eq!(c.message.tool_calls[0].name, "get_weather");
    let args: Value = serde_json::from_str(&c.message.tool_calls[0].arguments).unwrap();
    assert_eq!(args["unit"], "celsius");
    let u = r.usage.unwrap();
    assert_eq!(
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens
        ),
        (572, 91, 663, Some(100))
    );
}

#[test]
fn stream_of_every_event_kind() {
    let bytes = include_bytes!("../fixtures/stream.txt");
    for size in [1, 7, 64, bytes.len()] {
        let mut d = decode::Decoder::default();
        let mut events = Vec::new();
        for piece in bytes.chunks(size) {
            events.extend(d.feed(piece).unwrap());
        }
        events.extend(d.finish().unwrap());
        let mut text = String::new();
        let mut args = String::new();
        let mut saw = (false, false, false, false);
        for e in &events {
            match e {
                StreamEvent::Start(s) => {
                    saw.0 = true;
                    assert_eq!(s.id, "msg_014p7gG3wDgGV9EUtLvnow3U");
                }
                StreamEvent::Text(t) => text.push_str(&t.text),
                StreamEvent::ToolCall(t) => {
                    assert_eq!(t.index, 0);
                    if let Some(n) = &t.name {
                        assert_eq!(n, "get_weather");
                        assert_eq!(t.id.as_deref(), Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"));
                    }
                    args.push_str(&t.arguments);
                }
                StreamEvent::Finish(f) => {
                    saw.1 = true;
                    assert!(matches!(f.reason, FinishReason::ToolCalls));
                }
                StreamEvent::Usage(u) => {
                    saw.2 = true;
                    assert_eq!((u.prompt_tokens, u.completion_tokens), (472, 89));
                }
                StreamEvent::Role(_) => saw.3 = true,
            }
        }
        assert_eq!(saw, (true, true, true, true), "size {size}");
        assert_eq!(text, "Okay, let's check the weather.");
        assert_eq!(args, r#"{"location": "San Francisco, CA"}"#);
    }
}

#[test]
fn broken_stream_and_error_event() {
    let bytes = include_bytes!("../fixtures/stream.txt");
    let mut d = decode::Decoder::default();
    d.feed(&bytes[..bytes.len() / 2]).unwrap();
    let e = d
        .finish()
        .expect_err("a stream without message_stop is not complete");
    assert!(e.message.contains("message_stop"), "{}", e.message);

    let mut d = decode::Decoder::default();
    let e = d
        .feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Overloaded);
}

#[test]
fn error_bodies() {
    let cases: [(u16, &[u8], ErrorKind); 5] = [
        (529, include_bytes!("../fixtures/error_overloaded.json"), ErrorKind::Overloaded),
        (429, include_bytes!("../fixtures/error_rate_limit.json"), ErrorKind::RateLimited),
        (400, include_bytes!("../fixtures/error_prompt_too_long.json"), ErrorKind::ContextLength),
        (401, br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#, ErrorKind::Auth),
        (500, b"<html>oops</html>", ErrorKind::UpstreamStatus),
    ];
    for (status, body, kind) in cases {
        let e = Anthropic::classify_error(HttpResponse {
            status,
            headers: vec![("retry-after".into(), "12".into())],
            body: body.to_vec(),
        });
        assert_eq!(e.kind, kind, "status {status}");
        assert_eq!(e.status, Some(status));
        assert_eq!(e.retry_after_ms, Some(12_000));
    }
}

/// Found by fuzzing (fuzz/regressions/adapter_anthropic): token counts near
/// u32::MAX overflowed the prompt and total sums.
#[test]
fn huge_token_counts_saturate() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],
        "stop_reason":"end_turn","usage":{"input_tokens":4294967295,"output_tokens":1,"cache_read_input_tokens":5}}"#;
    let r = parse_response(&testing::response(200, &[], body)).unwrap();
    let u = r.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.total_tokens), (u32::MAX, u32::MAX));
    assert_eq!(u.cached_tokens, Some(5));
}
