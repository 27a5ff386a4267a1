//! Golden tests: canonical request → Converse JSON, and Bedrock bytes
//! (Converse responses, ConverseStream event-stream frames of every event and
//! exception kind, error bodies) → canonical. Fixtures follow the public
//! Amazon Bedrock API reference; stream frames are encoded here with
//! `aws-smithy-eventstream`'s frame writer, so the bytes are real framing.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as Frame};

use adapter_kit::types::{ImageUrl, JsonSchemaFormat, Message, ResponseFormat, StreamEvent, Tool};
use adapter_kit::{Decode, testing};
use serde_json::json;

use super::*;

const OPTIONS: &str = r#"{"region":"us-west-2","headers":{"x-amzn-bedrock-trace":"ENABLED"},"additional_model_request_fields":{"top_k":200}}"#;

fn target(base_url: &str, options: Option<&str>) -> Target {
    Target {
        provider: "aws".into(),
        base_url: base_url.into(),
        upstream_model: "anthropic.claude-3-5-sonnet-20240620-v1:0".into(),
        options_json: options.map(str::to_owned),
    }
}

fn default_target() -> Target {
    target(
        "https://bedrock-runtime.us-east-1.amazonaws.com/",
        Some(OPTIONS),
    )
}

fn msg(role: Role, content: Option<Content>) -> Message {
    Message {
        content,
        ..testing::message(role, None)
    }
}

fn user(text: &str) -> Message {
    msg(Role::User, Some(Content::Text(text.into())))
}

/// A request of the OpenAI dialect carrying one of its own fields.
fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        extra_json: Some(r#"{"logit_bias":{"1":1}}"#.into()),
        ..testing::request(messages)
    }
}

fn tool(name: &str, description: Option<&str>, params: Option<&str>) -> Tool {
    Tool {
        name: name.into(),
        description: description.map(str::to_owned),
        parameters_json: params.map(str::to_owned),
        strict: None,
    }
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn tool_result(id: &str, text: &str) -> Message {
    let mut m = msg(Role::Tool, Some(Content::Text(text.into())));
    m.tool_call_id = Some(id.into());
    m
}

fn body_of(req: ChatRequest) -> Value {
    let http = Bedrock::build_request(req, default_target()).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

#[test]
fn conversation_golden() {
    let mut assistant = msg(Role::Assistant, Some(Content::Text("Let me look.".into())));
    assistant.tool_calls = vec![
        call("call_1", "top_song", r#"{"sign":"WZPZ"}"#),
        call("call_2", "get_time", "not json"),
    ];
    let mut req = request(vec![
        msg(Role::System, Some(Content::Text("Be brief.".into()))),
        msg(Role::Developer, Some(Content::Text("Use tools.".into()))),
        msg(
            Role::User,
            Some(Content::Parts(vec![
                ContentPart::Text("What is in this image?".into()),
                ContentPart::Image(ImageUrl {
                    url: "data:image/png;base64,iVBORw0KGgo=".into(),
                    detail: Some("high".into()),
                }),
            ])),
        ),
        assistant,
        tool_result(
            "call_1",
            r#"{"song":"Elemental Hotel","artist":"8 Storey Hike"}"#,
        ),
        tool_result("call_2", "noon"),
        user("Thanks"),
    ]);
    req.tools = vec![
        tool(
            "top_song",
            Some("Get the most popular song played on a radio station."),
            Some(
                r#"{"type":"object","properties":{"sign":{"type":"string","description":"The call sign for the radio station for which you want the most popular song. Example calls signs are WZPZ and WKRP."}},"required":["sign"]}"#,
            ),
        ),
        tool("get_time", Some(""), None),
    ];
    req.tool_choice = Some(ToolChoice::Required);
    req.parallel_tool_calls = Some(false);
    req.temperature = Some(1.7);
    req.top_p = Some(0.9);
    req.max_tokens = Some(100);
    req.max_completion_tokens = Some(300);
    req.stop = vec!["END".into()];
    req.user = Some("u-1".into());
    req.seed = Some(7);

    let http = Bedrock::build_request(req, default_target()).unwrap();
    assert_eq!(http.method, "POST");
    assert_eq!(
        http.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    // The option wins over the region of the URL.
    assert!(
        matches!(&http.auth, AuthScheme::AwsSigv4(s) if s.service == "bedrock" && s.region == "us-west-2")
    );
    let has = |k: &str, v: &str| http.headers.iter().any(|(hk, hv)| hk == k && hv == v);
    assert!(has("content-type", "application/json"));
    assert!(has("accept", "application/json"));
    assert!(has("x-amzn-bedrock-trace", "ENABLED"));
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    let golden: Value =
        serde_json::from_slice(include_bytes!("../fixtures/request_conversation.json")).unwrap();
    assert_eq!(
        body,
        golden,
        "got:\n{}",
        serde_json::to_string_pretty(&body).unwrap()
    );
}

#[test]
fn endpoint_region_and_stream_path() {
    let mut r = request(vec![user("hi")]);
    r.stream = true;
    let http = Bedrock::build_request(
        r,
        target("https://bedrock-runtime.eu-central-1.amazonaws.com", None),
    )
    .unwrap();
    assert!(
        http.url
            .ends_with("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream")
    );
    assert!(matches!(&http.auth, AuthScheme::AwsSigv4(s) if s.region == "eu-central-1"));
    assert!(
        http.headers
            .iter()
            .any(|(k, v)| k == "accept" && v == "application/vnd.amazon.eventstream")
    );
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(
        body,
        json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        "no stream flag, no empty sections, no other dialect's fields"
    );

    // An inference-profile ARN stays one path segment.
    let mut t = target("https://bedrock-runtime.us-east-1.amazonaws.com", None);
    t.upstream_model =
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0".into();
    let http = Bedrock::build_request(request(vec![user("hi")]), t).unwrap();
    assert_eq!(
        http.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse"
    );

    assert_eq!(
        region_of("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com").as_deref(),
        Some("us-gov-west-1")
    );
    assert_eq!(
        region_of("https://vpce-0a1b.bedrock-runtime.ap-south-1.vpce.amazonaws.com/").as_deref(),
        Some("ap-south-1")
    );
    assert_eq!(
        region_of("https://bedrock-runtime.cn-north-1.amazonaws.com.cn").as_deref(),
        Some("cn-north-1")
    );
    assert_eq!(region_of("http://127.0.0.1:9000"), None);
    assert_eq!(region_of("https://bedrock-runtime.example.com"), None);

    // Neither an option nor a Bedrock host: a clear error.
    let e = Bedrock::build_request(
        request(vec![user("hi")]),
        target("http://127.0.0.1:9000", Some("{}")),
    )
    .unwrap_err();
    assert!(e.message.contains("region"), "{}", e.message);
}

#[test]
fn tool_choices() {
    let tools = || vec![tool("top_song", None, Some(r#"{"type":"object"}"#))];
    let cases = [
        (None, None),
        (Some(ToolChoice::Auto), Some(json!({"auto": {}}))),
        (Some(ToolChoice::Required), Some(json!({"any": {}}))),
        (
            Some(ToolChoice::Function("top_song".into())),
            Some(json!({"tool": {"name": "top_song"}})),
        ),
    ];
    for (choice, expected) in cases {
        let mut r = request(vec![user("hi")]);
        r.tools = tools();
        r.tool_choice = choice;
        let b = body_of(r);
        assert_eq!(
            b["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
            json!({"type": "object"})
        );
        assert_eq!(b["toolConfig"].get("toolChoice"), expected.as_ref());
    }

    // `none` without tool history: no tools at all.
    let mut r = request(vec![user("hi")]);
    r.tools = tools();
    r.tool_choice = Some(ToolChoice::None);
    assert!(body_of(r).get("toolConfig").is_none());

    // `none` with tool history: Converse needs the toolConfig, without a choice.
    let mut a = msg(Role::Assistant, None);
    a.tool_calls = vec![call("c1", "top_song", "{}")];
    let history = vec![user("hi"), a, tool_result("c1", "42")];
    let mut r = request(history.clone());
    r.tools = tools();
    r.tool_choice = Some(ToolChoice::None);
    let b = body_of(r);
    assert_eq!(b["toolConfig"]["tools"][0]["toolSpec"]["name"], "top_song");
    assert!(b["toolConfig"].get("toolChoice").is_none());

    // A follow-up that no longer offers tools gets specs of the called ones.
    let b = body_of(request(history));
    assert_eq!(
        b["toolConfig"]["tools"],
        json!([{"toolSpec": {"name": "top_song", "inputSchema": {"json": {"type": "object", "properties": {}}}}}])
    );
    assert_eq!(
        b["messages"][1]["content"],
        json!([{"toolUse": {"toolUseId": "c1", "name": "top_song", "input": {}}}])
    );
    assert_eq!(
        b["messages"][2]["content"],
        json!([{"toolResult": {"toolUseId": "c1", "content": [{"text": "42"}]}}])
    );
}

#[test]
fn merging_and_empty_content() {
    let b = body_of(request(vec![
        user("one"),
        msg(Role::User, Some(Content::Text(String::new()))),
        user("two"),
        msg(Role::Assistant, Some(Content::Text("a".into()))),
        msg(Role::Assistant, None),
        msg(Role::Assistant, Some(Content::Text("b".into()))),
        user("three"),
    ]));
    assert_eq!(
        b["messages"],
        json!([
            {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
            {"role": "assistant", "content": [{"text": "a"}, {"text": "b"}]},
            {"role": "user", "content": [{"text": "three"}]},
        ])
    );
}

#[test]
fn refusals_are_bad_requests() {
    let with = |f: &dyn Fn(&mut ChatRequest)| {
        let mut r = request(vec![user("hi")]);
        f(&mut r);
        Bedrock::build_request(r, default_target()).unwrap_err()
    };
    let errors = [
        with(&|r| r.n = Some(2)),
        with(&|r| r.response_format = Some(ResponseFormat::JsonObject)),
        with(&|r| {
            r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: "s".into(),
                description: None,
                schema_json: None,
                strict: None,
            }))
        }),
        with(&|r| {
            r.messages = vec![msg(
                Role::User,
                Some(Content::Parts(vec![ContentPart::Image(ImageUrl {
                    url: "https://example.com/a.jpg".into(),
                    detail: None,
                })])),
            )]
        }),
        with(&|r| {
            r.messages = vec![msg(
                Role::User,
                Some(Content::Parts(vec![ContentPart::Image(ImageUrl {
                    url: "data:image/tiff;base64,AAAA".into(),
                    detail: None,
                })])),
            )]
        }),
        with(&|r| {
            r.messages = vec![msg(
                Role::User,
                Some(Content::Parts(vec![ContentPart::OtherJson(
                    r#"{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}"#.into(),
                )])),
            )]
        }),
    ];
    for e in &errors {
        assert_eq!(e.kind, ErrorKind::BadRequest, "{}", e.message);
        assert!(e.message.contains("Bedrock"), "{}", e.message);
    }
    assert!(errors[3].message.contains("data:"));
    assert!(errors[5].message.contains("input_audio"));
    // n = 1 is fine.
    let mut r = request(vec![user("hi")]);
    r.n = Some(1);
    assert!(Bedrock::build_request(r, default_target()).is_ok());
}

fn response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    Bedrock::parse_response(
        HttpResponse {
            status: 200,
            headers: vec![("x-amzn-requestid".into(), "r-1".into())],
            body: body.to_vec(),
        },
        default_target(),
    )
}

#[test]
fn converse_responses() {
    let r = response(include_bytes!("../fixtures/response_tool_use.json")).unwrap();
    assert_eq!(r.model, "anthropic.claude-3-5-sonnet-20240620-v1:0");
    assert!(r.id.is_empty(), "the host makes the id");
    let c = &r.choices[0];
    assert!(matches!(c.finish_reason, Some(FinishReason::ToolCalls)));
    assert!(
        matches!(&c.message.content, Some(Content::Text(t)) if t == "I'll look up the most popular song played on WZPZ.")
    );
    assert_eq!(c.message.tool_calls.len(), 1);
    let t = &c.message.tool_calls[0];
    assert_eq!(
        (t.id.as_str(), t.name.as_str()),
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song")
    );
    let args: Value = serde_json::from_str(&t.arguments).unwrap();
    assert_eq!(args, json!({"sign": "WZPZ"}));
    let u = r.usage.unwrap();
    assert_eq!(
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens
        ),
        (3600, 87, 3687, Some(2825))
    );

    let r = response(include_bytes!("../fixtures/response_text.json")).unwrap();
    let c = &r.choices[0];
    assert!(matches!(c.finish_reason, Some(FinishReason::Stop)));
    assert!(
        matches!(&c.message.content, Some(Content::Text(t)) if t == "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike.")
    );
    assert!(c.message.tool_calls.is_empty());
    let u = r.usage.unwrap();
    assert_eq!(
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens
        ),
        (125, 60, 185, None)
    );

    // A 2xx that carries an error body is classified, anything else is a fault.
    let e = response(include_bytes!("../fixtures/error_throttling.json")).unwrap_err();
    assert_eq!(e.status, Some(200));
    assert!(e.message.contains("Too many requests"));
    assert_eq!(response(b"<html>").unwrap_err().kind, ErrorKind::Other);
}

#[test]
fn stop_reasons() {
    let cases = [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("guardrail_intervened", FinishReason::ContentFilter),
        ("content_filtered", FinishReason::ContentFilter),
    ];
    for (s, expected) in cases {
        assert_eq!(format!("{:?}", finish_reason(s)), format!("{expected:?}"));
    }
    assert!(
        matches!(finish_reason("malformed_tool_use"), FinishReason::Other(s) if s == "malformed_tool_use")
    );
}

// ---- event-stream frames ----

fn encode(m: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_to(m, &mut out).unwrap();
    out
}

fn event_frame(event: &str, payload: &Value) -> Vec<u8> {
    encode(
        &Frame::new(serde_json::to_vec(payload).unwrap())
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String(event.to_owned().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            )),
    )
}

fn exception_frame(kind: &str, message: &str) -> Vec<u8> {
    encode(
        &Frame::new(serde_json::to_vec(&json!({ "message": message })).unwrap())
            .add_header(Header::new(
                ":exception-type",
                HeaderValue::String(kind.to_owned().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("exception".into()),
            )),
    )
}

/// The fixture's events as real event-stream frames, with their names.
fn stream_frames() -> Vec<(String, Vec<u8>)> {
    let events: Vec<Value> =
        serde_json::from_slice(include_bytes!("../fixtures/stream_events.json")).unwrap();
    events
        .iter()
        .map(|e| {
            let name = e["event"].as_str().unwrap();
            (name.to_owned(), event_frame(name, &e["payload"]))
        })
        .collect()
}

fn stream_bytes() -> Vec<u8> {
    stream_frames().into_iter().flat_map(|(_, f)| f).collect()
}

fn decoder() -> decode::Decoder {
    decode::Decoder::new("anthropic.claude-3-5-sonnet-20240620-v1:0".into())
}

fn check_stream(events: &[StreamEvent], what: &str) {
    let mut text = String::new();
    let mut args = String::new();
    let mut kinds = Vec::new();
    for e in events {
        match e {
            StreamEvent::Start(s) => {
                kinds.push("start");
                assert_eq!(s.model, "anthropic.claude-3-5-sonnet-20240620-v1:0");
            }
            StreamEvent::Role(c) => {
                kinds.push("role");
                assert_eq!(*c, 0);
            }
            StreamEvent::Text(t) => {
                if kinds.last() != Some(&"text") {
                    kinds.push("text");
                }
                text.push_str(&t.text);
            }
            StreamEvent::ToolCall(t) => {
                assert_eq!(t.index, 0, "{what}");
                if let Some(n) = &t.name {
                    kinds.push("tool-start");
                    assert_eq!(n, "top_song");
                    assert_eq!(t.id.as_deref(), Some("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"));
                } else {
                    assert!(t.id.is_none());
                }
                args.push_str(&t.arguments);
            }
            StreamEvent::Finish(f) => {
                kinds.push("finish");
                assert!(matches!(f.reason, FinishReason::ToolCalls), "{what}");
            }
            StreamEvent::Usage(u) => {
                kinds.push("usage");
                assert_eq!(
                    (
                        u.prompt_tokens,
                        u.completion_tokens,
                        u.total_tokens,
                        u.cached_tokens
                    ),
                    (475, 42, 517, Some(100)),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(
        kinds,
        ["start", "role", "text", "tool-start", "finish", "usage"],
        "{what}"
    );
    assert_eq!(text, "Let me look up the top song. ✓", "{what}");
    assert_eq!(args, r#"{"sign": "WZPZ"}"#, "{what}");
}

#[test]
fn stream_of_every_event_kind_survives_any_split() {
    let bytes = stream_bytes();
    // Every piece size, so frames split inside the prelude, the headers, the
    // payload (inside a UTF-8 character) and the trailing CRC.
    for size in 1..=bytes.len() {
        let mut d = decoder();
        let mut events = Vec::new();
        for piece in bytes.chunks(size) {
            events.extend(d.feed(piece).unwrap());
        }
        events.extend(d.finish().unwrap());
        check_stream(&events, &format!("piece size {size}"));
    }
    // Two pieces, cut at every position.
    for cut in 0..=bytes.len() {
        let mut d = decoder();
        let mut events = d.feed(&bytes[..cut]).unwrap();
        events.extend(d.feed(&bytes[cut..]).unwrap());
        events.extend(d.finish().unwrap());
        check_stream(&events, &format!("cut at {cut}"));
    }
}

#[test]
fn broken_and_corrupt_streams() {
    // Cut anywhere before the end of messageStop: not complete.
    let frames = stream_frames();
    let stop_at = frames.iter().position(|(n, _)| n == "messageStop").unwrap();
    let before: Vec<u8> = frames[..stop_at]
        .iter()
        .flat_map(|(_, f)| f.clone())
        .collect();
    let stop_frame = &frames[stop_at].1;
    for cut in [
        0,
        before.len() / 2,
        before.len(),
        before.len() + stop_frame.len() - 1,
    ] {
        let mut bytes = before.clone();
        bytes.extend_from_slice(stop_frame);
        let mut d = decoder();
        d.feed(&bytes[..cut]).unwrap();
        let e = d.finish().unwrap_err();
        assert!(e.message.contains("messageStop"), "{}", e.message);
    }
    let stop = event_frame("messageStop", &json!({"stopReason": "tool_use"}));

    // messageStop without metadata is complete (just without usage).
    let mut d = decoder();
    let mut events = d
        .feed(&event_frame("messageStart", &json!({"role": "assistant"})))
        .unwrap();
    events.extend(d.feed(&stop).unwrap());
    events.extend(d.finish().unwrap());
    assert!(matches!(events.last(), Some(StreamEvent::Finish(_))));

    // A flipped payload byte fails the message CRC.
    let mut corrupt = event_frame(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "hello"}}),
    );
    let n = corrupt.len();
    corrupt[n - 8] ^= 0x20;
    let e = decoder().feed(&corrupt).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Other);
    assert!(e.message.contains("event-stream"), "{}", e.message);

    // A tool delta for a block that never started a tool use.
    let e = decoder()
        .feed(&event_frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Other);
}

#[test]
fn exception_frames() {
    let cases = [
        ("throttlingException", ErrorKind::RateLimited),
        ("serviceUnavailableException", ErrorKind::Overloaded),
        ("modelStreamErrorException", ErrorKind::UpstreamStatus),
        ("validationException", ErrorKind::BadRequest),
        ("internalServerException", ErrorKind::UpstreamStatus),
    ];
    for (kind, expected) in cases {
        // After some content, as a real mid-stream failure.
        let mut bytes = event_frame("messageStart", &json!({"role": "assistant"}));
        bytes.extend(event_frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ));
        bytes.extend(exception_frame(kind, "something went wrong"));
        let mut d = decoder();
        let e = d.feed(&bytes).unwrap_err();
        assert_eq!(e.kind, expected, "{kind}");
        assert_eq!(e.message, "something went wrong");
        assert_eq!(e.code.as_deref(), Some(kind));
    }
    let e = decoder()
        .feed(&exception_frame(
            "validationException",
            "Input is too long for requested model.",
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContextLength);

    // A framing-level error message.
    let frame = encode(
        &Frame::new(Vec::new())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("error".into()),
            ))
            .add_header(Header::new(
                ":error-code",
                HeaderValue::String("InternalFailure".into()),
            ))
            .add_header(Header::new(
                ":error-message",
                HeaderValue::String("An internal error occurred".into()),
            )),
    );
    let e = decoder().feed(&frame).unwrap_err();
    assert_eq!(e.message, "An internal error occurred");
    assert_eq!(e.code.as_deref(), Some("InternalFailure"));
}

#[test]
fn error_bodies() {
    let t = |s: &str| format!("{s}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    let cases: [(u16, Option<String>, &[u8], ErrorKind); 10] = [
        (
            429,
            Some(t("ThrottlingException")),
            include_bytes!("../fixtures/error_throttling.json"),
            ErrorKind::RateLimited,
        ),
        (
            400,
            Some(t("ValidationException")),
            include_bytes!("../fixtures/error_input_too_long.json"),
            ErrorKind::ContextLength,
        ),
        (
            400,
            Some(t("ValidationException")),
            include_bytes!("../fixtures/error_validation.json"),
            ErrorKind::BadRequest,
        ),
        (
            403,
            Some(t("AccessDeniedException")),
            include_bytes!("../fixtures/error_access_denied.json"),
            ErrorKind::Auth,
        ),
        (
            404,
            Some(t("ResourceNotFoundException")),
            include_bytes!("../fixtures/error_not_found.json"),
            ErrorKind::NotFound,
        ),
        (
            503,
            Some(t("ServiceUnavailableException")),
            include_bytes!("../fixtures/error_unavailable.json"),
            ErrorKind::Overloaded,
        ),
        (
            408,
            Some(t("ModelTimeoutException")),
            include_bytes!("../fixtures/error_model_timeout.json"),
            ErrorKind::Timeout,
        ),
        (
            500,
            Some(t("InternalServerException")),
            br#"{"message":"Internal server error"}"#,
            ErrorKind::UpstreamStatus,
        ),
        // Without the header: the status decides.
        (
            429,
            None,
            include_bytes!("../fixtures/error_throttling.json"),
            ErrorKind::RateLimited,
        ),
        (
            502,
            None,
            b"<html>Bad Gateway</html>",
            ErrorKind::UpstreamStatus,
        ),
    ];
    for (status, kind_header, body, kind) in cases {
        let mut headers = vec![("retry-after".to_owned(), "3".to_owned())];
        if let Some(h) = &kind_header {
            headers.push(("X-Amzn-ErrorType".into(), h.clone()));
        }
        let e = Bedrock::classify_error(HttpResponse {
            status,
            headers,
            body: body.to_vec(),
        });
        assert_eq!(e.kind, kind, "status {status} {kind_header:?}");
        assert_eq!(e.status, Some(status));
        assert_eq!(e.retry_after_ms, Some(3000));
        if let Some(h) = &kind_header {
            assert_eq!(e.code.as_deref(), h.split(':').next());
        }
        assert!(!e.message.is_empty());
    }
    // The message comes from the body; the JSON `__type` spelling works too.
    let e = Bedrock::classify_error(HttpResponse {
        status: 400,
        headers: vec![],
        body: br#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"1 validation error detected"}"#.to_vec(),
    });
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.message, "1 validation error detected");
    assert_eq!(e.code.as_deref(), Some("ValidationException"));
}
