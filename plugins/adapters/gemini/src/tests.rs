//! Golden tests: canonical requests into Gemini bodies, and Gemini bodies,
//! streams and errors (shaped as in Google's API reference, under
//! `fixtures/`) into canonical values.

use adapter_kit::fixture;
use adapter_kit::testing::{self, Decoded, request};
use adapter_kit::types::{
    AuthScheme, ChatRequest, Content, ContentPart, ErrorKind, FinishReason, HttpResponse, ImageUrl,
    JsonSchemaFormat, Message, ProviderError, ResponseFormat, Role, Target, Tool, ToolCall,
    ToolChoice,
};
use serde_json::{Value, json};

use crate::exports::switchyard::plugin::adapter::Guest;
use crate::{Gemini, stream};

fn target(options: Option<Value>) -> Target {
    Target {
        provider: "google".into(),
        base_url: "https://generativelanguage.googleapis.com/v1beta/".into(),
        upstream_model: "gemini-2.5-flash".into(),
        options_json: options.map(|o| o.to_string()),
    }
}

fn msg(role: Role, text: &str) -> Message {
    testing::message(role, Some(text))
}

fn calls(text: Option<&str>, calls: &[(&str, &str, &str)]) -> Message {
    Message {
        content: text.map(|t| Content::Text(t.into())),
        tool_calls: calls
            .iter()
            .map(|(id, name, args)| ToolCall {
                id: (*id).into(),
                name: (*name).into(),
                arguments: (*args).into(),
            })
            .collect(),
        ..msg(Role::Assistant, "")
    }
}

fn result(id: &str, content: Content) -> Message {
    Message {
        content: Some(content),
        tool_call_id: Some(id.into()),
        ..msg(Role::Tool, "")
    }
}

fn body_of(req: ChatRequest, options: Option<Value>) -> Value {
    let http = Gemini::build_request(req, target(options)).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

fn build_error(req: ChatRequest) -> ProviderError {
    Gemini::build_request(req, target(None)).unwrap_err()
}

#[test]
fn info_names_the_adapter() {
    let info = Gemini::info();
    assert_eq!(info.name, "gemini");
    assert!(info.features.iter().any(|f| f == "tools"));
}

#[test]
fn chat_request_goes_to_generate_content() {
    let mut user = msg(Role::User, "");
    user.content = Some(Content::Parts(vec![
        ContentPart::Text("Now describe these pictures.".into()),
        ContentPart::Image(ImageUrl {
            url: "data:image/png;base64,iVBORw0KGgo=".into(),
            detail: Some("high".into()),
        }),
        ContentPart::Image(ImageUrl {
            url: "https://example.com/photos/cat.JPG?size=large".into(),
            detail: None,
        }),
        ContentPart::OtherJson(
            json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}})
                .to_string(),
        ),
    ]));
    let mut req = request(vec![
        msg(Role::System, "You are a poet."),
        msg(Role::User, "Write a haiku about the sea."),
        msg(Role::Assistant, "Grey waves fold and break"),
        msg(Role::Developer, "Answer in English."),
        user,
    ]);
    req.temperature = Some(0.7);
    req.top_p = Some(0.9);
    req.max_tokens = Some(1000);
    req.max_completion_tokens = Some(256);
    req.stop = vec!["END".into()];
    req.n = Some(2);
    req.seed = Some(42);
    req.presence_penalty = Some(0.5);
    req.frequency_penalty = Some(0.25);
    // Nothing Gemini has a field for: not forwarded.
    req.user = Some("u-1".into());
    req.metadata = vec![("team".into(), "a".into())];
    req.parallel_tool_calls = Some(true);
    req.extra_json = Some(json!({"logit_bias": {"1": 2}, "service_tier": "flex"}).to_string());
    let options = json!({
        "headers": {"x-goog-user-project": "my-project"},
        "generation_config": {"temperature": 0.1, "thinkingConfig": {"thinkingBudget": 0}},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
    });

    let http = Gemini::build_request(req, target(Some(options))).unwrap();
    assert_eq!(http.method, "POST");
    assert_eq!(
        http.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert!(matches!(&http.auth, AuthScheme::Header(h) if h == "x-goog-api-key"));
    assert_eq!(
        http.headers,
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-goog-user-project".to_owned(), "my-project".to_owned()),
        ]
    );
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body, testing::json(fixture!("request_chat.json")));
}

#[test]
fn streams_and_model_names_pick_the_url() {
    let mut req = request(vec![msg(Role::User, "hi")]);
    req.stream = true;
    req.include_usage = true;
    let http = Gemini::build_request(req.clone(), target(None)).unwrap();
    assert_eq!(
        http.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert!(body.get("stream").is_none() && body.get("generationConfig").is_none());

    let mut t = target(None);
    t.upstream_model = "tunedModels/my-model-42".into();
    req.stream = false;
    let http = Gemini::build_request(req, t).unwrap();
    assert!(
        http.url
            .ends_with("/v1beta/tunedModels/my-model-42:generateContent"),
        "{}",
        http.url
    );
}

#[test]
fn tool_conversation_becomes_function_calls_and_responses() {
    let mut req = request(vec![
        msg(Role::User, "What is the weather in Boston and in Paris?"),
        calls(
            Some("Let me look both up."),
            &[
                ("call_0_0", "get_weather", r#"{"location":"Boston, MA"}"#),
                ("call_0_1", "get_weather", r#"{"location":"Paris"}"#),
            ],
        ),
        result(
            "call_0_0",
            Content::Text(r#"{"temperature": 21, "unit": "celsius"}"#.into()),
        ),
        result(
            "call_0_1",
            Content::Parts(vec![ContentPart::Text("sunny, 25 degrees".into())]),
        ),
        // Ids repeat across turns: a result answers the latest call of its id.
        calls(None, &[("call_0_0", "get_time", "")]),
        result("call_0_0", Content::Text("12:00".into())),
        msg(Role::User, "Thanks. Any more?"),
    ]);
    req.tools = vec![
        Tool {
            name: "get_weather".into(),
            description: Some("Get the current weather in a given location".into()),
            parameters_json: Some(
                json!({
                    "type": "object",
                    "properties": {
                        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]}
                    },
                    "required": ["location"],
                    "additionalProperties": false
                })
                .to_string(),
            ),
            strict: Some(true),
        },
        Tool {
            name: "get_time".into(),
            description: None,
            parameters_json: Some(json!({"type": "object", "properties": {}}).to_string()),
            strict: None,
        },
    ];
    req.tool_choice = Some(ToolChoice::Function("get_weather".into()));
    assert_eq!(
        body_of(req, None),
        testing::json(fixture!("request_tools.json"))
    );
}

#[test]
fn json_schema_is_cut_to_what_gemini_takes() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Order",
        "type": "object",
        "additionalProperties": false,
        "$defs": {
            "Address": {
                "title": "Address", "type": "object", "additionalProperties": false,
                "properties": {"city": {"type": "string"}}, "required": ["city"]
            },
            "Customer": {
                "title": "Customer", "type": "object", "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "maxLength": 80},
                    "address": {"$ref": "#/$defs/Address"}
                },
                "required": ["name"]
            }
        },
        "properties": {
            "id": {"type": "integer", "format": "int64"},
            "email": {"type": "string", "format": "email"},
            "status": {"type": "string", "enum": ["open", "closed"]},
            "kind": {"const": "order"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "customer": {"$ref": "#/$defs/Customer", "description": "Who ordered"},
            "items": {"type": "array", "minItems": 1, "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
            "parent": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}
        },
        "required": ["id", "email", "status", "customer", "items"]
    });
    let mut req = request(vec![msg(Role::User, "Extract the order.")]);
    req.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "order".into(),
        description: None,
        schema_json: Some(schema.to_string()),
        strict: Some(true),
    }));
    assert_eq!(
        body_of(req, None),
        testing::json(fixture!("request_json_schema.json"))
    );
}

#[test]
fn tool_choice_modes_json_mode_and_max_tokens() {
    for (choice, mode) in [
        (ToolChoice::None, "NONE"),
        (ToolChoice::Auto, "AUTO"),
        (ToolChoice::Required, "ANY"),
    ] {
        let mut req = request(vec![msg(Role::User, "hi")]);
        req.tool_choice = Some(choice);
        req.response_format = Some(ResponseFormat::JsonObject);
        req.max_tokens = Some(64);
        let body = body_of(req, None);
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": mode}})
        );
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json", "maxOutputTokens": 64})
        );
    }
    let mut req = request(vec![msg(Role::User, "hi")]);
    req.response_format = Some(ResponseFormat::Text);
    assert!(body_of(req, None).get("generationConfig").is_none());
}

#[test]
fn thought_signatures_can_be_left_out() {
    let req = request(vec![
        msg(Role::User, "time?"),
        calls(None, &[("c1", "get_time", "{}")]),
        result("c1", Content::Text("12:00".into())),
    ]);
    let body = body_of(req, Some(json!({"thought_signatures": false})));
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {}}}]})
    );
}

#[test]
fn untranslatable_requests_are_bad_requests() {
    let orphan = request(vec![
        msg(Role::User, "hi"),
        result("nope", Content::Text("42".into())),
    ]);
    let e = build_error(orphan);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("no earlier tool call"), "{}", e.message);

    // A legacy result that names its function needs no call.
    let mut named = result("nope", Content::Text("42".into()));
    named.name = Some("get_answer".into());
    let body = body_of(request(vec![msg(Role::User, "hi"), named]), None);
    assert_eq!(
        body["contents"][1]["parts"][0]["functionResponse"]["name"],
        "get_answer"
    );

    let bad_args = request(vec![
        msg(Role::User, "hi"),
        calls(None, &[("c", "f", "[1, 2")]),
    ]);
    assert_eq!(build_error(bad_args).kind, ErrorKind::BadRequest);

    for part in [
        ContentPart::Image(ImageUrl {
            url: "data:image/png,%89PNG".into(),
            detail: None,
        }),
        ContentPart::OtherJson(json!({"type": "refusal", "refusal": "no"}).to_string()),
        ContentPart::OtherJson(json!({"type": "file", "file": {"file_id": "file-1"}}).to_string()),
    ] {
        let mut user = msg(Role::User, "");
        user.content = Some(Content::Parts(vec![part]));
        assert_eq!(build_error(request(vec![user])).kind, ErrorKind::BadRequest);
    }

    let mut req = request(vec![msg(Role::User, "hi")]);
    req.tools = vec![Tool {
        name: "f".into(),
        description: None,
        parameters_json: Some("{".into()),
        strict: None,
    }];
    assert_eq!(build_error(req).kind, ErrorKind::BadRequest);
}

fn ok(body: &[u8]) -> HttpResponse {
    testing::response(200, &[("content-type", "application/json")], body)
}

fn text(m: &Message) -> Option<&str> {
    match &m.content {
        Some(Content::Text(t)) => Some(t),
        _ => None,
    }
}

#[test]
fn text_response_leaves_thoughts_out_and_counts_them() {
    let r = Gemini::parse_response(ok(fixture!("response_text.json")), target(None)).unwrap();
    assert_eq!(r.id, "mJ4maMSOHbOFz7IP8Ye5oQQ");
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.created, 0, "the host stamps the time");
    assert_eq!(r.choices.len(), 1);
    let c = &r.choices[0];
    assert_eq!(c.index, 0);
    assert!(matches!(c.message.role, Role::Assistant));
    assert_eq!(
        text(&c.message),
        Some(
            "Grey waves fold and break,\nsalt wind carries gull voices,\nthe tide keeps its time."
        )
    );
    assert!(c.message.tool_calls.is_empty());
    assert!(matches!(c.finish_reason, Some(FinishReason::Stop)));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (9, 143, 152)
    );
    assert_eq!((u.cached_tokens, u.reasoning_tokens), (Some(4), Some(124)));
}

#[test]
fn function_calls_are_tool_calls() {
    let r =
        Gemini::parse_response(ok(fixture!("response_function_call.json")), target(None)).unwrap();
    assert_eq!(
        (r.id.as_str(), r.model.as_str()),
        ("fc-response-1", "gemini-2.5-pro")
    );
    let c = &r.choices[0];
    assert!(matches!(c.finish_reason, Some(FinishReason::ToolCalls)));
    assert!(c.message.content.is_none());
    let got: Vec<(&str, &str, &str)> = c
        .message
        .tool_calls
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str(), t.arguments.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("call_0_0", "get_weather", r#"{"location":"Boston, MA"}"#),
            ("call_0_1", "get_weather", r#"{"location":"Paris"}"#),
            ("fc-7", "get_time", "{}"),
        ]
    );
    let u = r.usage.unwrap();
    assert_eq!((u.completion_tokens, u.reasoning_tokens), (30, None));
}

#[test]
fn candidates_are_choices_with_their_finish_reasons() {
    let r = Gemini::parse_response(ok(fixture!("response_candidates.json")), target(None)).unwrap();
    assert_eq!(r.id, "");
    assert_eq!(r.choices.len(), 3);
    assert_eq!(
        r.choices.iter().map(|c| c.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        text(&r.choices[0].message),
        Some("Once upon a time, in a land far")
    );
    assert!(matches!(
        r.choices[0].finish_reason,
        Some(FinishReason::Length)
    ));
    assert_eq!(text(&r.choices[1].message), Some(""));
    assert!(matches!(
        r.choices[1].finish_reason,
        Some(FinishReason::ContentFilter)
    ));
    assert!(matches!(
        &r.choices[2].finish_reason,
        Some(FinishReason::Other(o)) if o == "malformed_function_call"
    ));
}

#[test]
fn a_blocked_prompt_is_a_content_filter_error() {
    let e =
        Gemini::parse_response(ok(fixture!("response_blocked.json")), target(None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContentFilter);
    assert_eq!(e.code.as_deref(), Some("SAFETY"));

    // A 200 carrying an error body is that error; garbage is not a response.
    let e =
        Gemini::parse_response(ok(fixture!("error_overloaded.json")), target(None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Overloaded);
    let e = Gemini::parse_response(ok(b"<html>"), target(None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Other);
    let e = Gemini::parse_response(ok(b"{}"), target(None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Other);
}

fn decode_all_ways(bytes: &[u8]) -> Decoded {
    testing::decode_all_ways(|| stream::decoder("gemini-2.5-flash"), bytes)
}

fn decode(bytes: &[u8], size: usize) -> Decoded {
    testing::decode(stream::decoder("gemini-2.5-flash"), bytes, size)
}

#[test]
fn text_stream() {
    let (events, end) = decode_all_ways(fixture!("stream_text.sse"));
    end.unwrap();
    assert_eq!(
        events,
        [
            "start sse-text-1 gemini-2.5-flash 0",
            "role 0",
            r#"text 0 "Grey waves""#,
            r#"text 0 " fold and""#,
            r#"text 0 " break.""#,
            "finish 0 FinishReason::Stop",
            "usage 9/31/40 cached None reasoning Some(26)",
        ]
    );
}

#[test]
fn function_call_stream() {
    let (events, end) = decode_all_ways(fixture!("stream_function_call.sse"));
    end.unwrap();
    assert_eq!(
        events,
        [
            "start sse-fc-1 gemini-2.5-pro 0",
            "role 0",
            r#"text 0 "Checking.""#,
            r#"call 0#0 Some("call_0_0") Some("get_weather") {"location":"Boston, MA"}"#,
            r#"call 0#1 Some("call_0_1") Some("get_weather") {"location":"Paris"}"#,
            r#"call 0#2 Some("call_0_2") Some("get_time") {}"#,
            "finish 0 FinishReason::ToolCalls",
            "usage 71/30/101 cached None reasoning None",
        ]
    );
}

#[test]
fn stream_of_several_candidates_completes_when_all_finished() {
    let (events, end) = decode_all_ways(fixture!("stream_candidates.sse"));
    end.unwrap();
    assert_eq!(
        events,
        [
            "start  gemini-2.0-flash 0",
            "role 0",
            r#"text 0 "A""#,
            "role 1",
            r#"text 1 "B""#,
            r#"text 0 "a""#,
            "finish 0 FinishReason::Length",
            "finish 1 FinishReason::ContentFilter",
            "usage 4/3/7 cached None reasoning None",
        ]
    );
    // Cut before the second candidate finished: not complete.
    let bytes = fixture!("stream_candidates.sse");
    let cut = bytes
        .windows(11)
        .position(|w| w == b"RECITATION\"")
        .unwrap()
        - 40;
    let (_, end) = decode(&bytes[..cut], 64);
    assert!(end.is_err());
}

#[test]
fn broken_streams_never_look_complete() {
    let (events, end) = decode_all_ways(fixture!("stream_truncated.sse"));
    assert_eq!(events.len(), 3, "{events:?}");
    let e = end.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Other);
    assert!(e.message.contains("before it was complete"));

    let (_, end) = decode_all_ways(b"");
    assert!(end.is_err(), "an empty stream is not a complete one");
    let (_, end) = decode_all_ways(b"data: not json\r\n\r\n");
    assert!(end.is_err());
}

#[test]
fn errors_in_streams_are_typed() {
    let (events, _) = decode(fixture!("stream_error.sse"), 1);
    assert_eq!(events.len(), 3, "the events before the error came out");
    let (_, end) = decode_all_ways(fixture!("stream_error.sse"));
    let e = end.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert_eq!(e.status, Some(503));
    assert_eq!(e.code.as_deref(), Some("UNAVAILABLE"));

    let (events, end) = decode_all_ways(fixture!("stream_blocked.sse"));
    assert!(events.is_empty());
    let e = end.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContentFilter);
    assert_eq!(e.code.as_deref(), Some("PROHIBITED_CONTENT"));
}

fn classify(status: u16, headers: &[(&str, &str)], body: &[u8]) -> ProviderError {
    Gemini::classify_error(testing::response(status, headers, body))
}

#[test]
fn google_errors_are_classified() {
    let cases: [(u16, &[u8], ErrorKind, &str); 10] = [
        (
            429,
            fixture!("error_429.json"),
            ErrorKind::RateLimited,
            "RESOURCE_EXHAUSTED",
        ),
        (
            400,
            fixture!("error_api_key.json"),
            ErrorKind::Auth,
            "API_KEY_INVALID",
        ),
        (
            400,
            fixture!("error_context.json"),
            ErrorKind::ContextLength,
            "INVALID_ARGUMENT",
        ),
        (
            400,
            fixture!("error_invalid.json"),
            ErrorKind::BadRequest,
            "INVALID_ARGUMENT",
        ),
        (
            403,
            fixture!("error_permission.json"),
            ErrorKind::Auth,
            "PERMISSION_DENIED",
        ),
        (
            404,
            fixture!("error_not_found.json"),
            ErrorKind::NotFound,
            "NOT_FOUND",
        ),
        (
            500,
            fixture!("error_internal.json"),
            ErrorKind::UpstreamStatus,
            "INTERNAL",
        ),
        (
            503,
            fixture!("error_overloaded.json"),
            ErrorKind::Overloaded,
            "UNAVAILABLE",
        ),
        (
            504,
            fixture!("error_deadline.json"),
            ErrorKind::Timeout,
            "DEADLINE_EXCEEDED",
        ),
        (
            503,
            fixture!("error_array.json"),
            ErrorKind::Overloaded,
            "UNAVAILABLE",
        ),
    ];
    for (status, body, kind, code) in cases {
        let e = classify(status, &[], body);
        assert_eq!((e.kind, e.code.as_deref()), (kind, Some(code)), "{e:?}");
        assert_eq!(e.status, Some(status));
        let message = testing::json(body);
        let message = message
            .get("error")
            .or_else(|| message[0].get("error"))
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(e.message, message);
    }
}

#[test]
fn retry_hints_come_from_the_header_or_retry_info() {
    let e = classify(429, &[], fixture!("error_429.json"));
    assert_eq!(e.retry_after_ms, Some(7000));
    let e = classify(429, &[("Retry-After", "3")], fixture!("error_429.json"));
    assert_eq!(e.retry_after_ms, Some(3000), "the header wins");
    let body = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow down",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.250s"}]}});
    let e = classify(429, &[], body.to_string().as_bytes());
    assert_eq!(e.retry_after_ms, Some(250));
    assert_eq!(
        classify(503, &[], fixture!("error_overloaded.json")).retry_after_ms,
        None
    );
}

#[test]
fn bodies_that_are_not_google_errors_fall_back_to_the_status() {
    let e = classify(502, &[], b"<html><body>Bad Gateway</body></html>");
    assert_eq!(e.kind, ErrorKind::UpstreamStatus);
    assert_eq!(e.message, "<html><body>Bad Gateway</body></html>");
    assert_eq!(e.code, None);
    let e = classify(429, &[], b"");
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.message, "upstream answered 429");
    assert_eq!(classify(408, &[], b"").kind, ErrorKind::Timeout);
    assert_eq!(classify(401, &[], b"").kind, ErrorKind::Auth);
    assert_eq!(classify(422, &[], b"{}").kind, ErrorKind::BadRequest);
}
