//! Golden tests: canonical requests into Azure OpenAI requests, and Azure's
//! bodies, streams and errors (shaped as in Azure's REST reference, under
//! `fixtures/`) into canonical values.

use adapter_kit::fixture;
use adapter_kit::openai::Decoder;
use adapter_kit::testing::{self, Decoded, message, request};
use adapter_kit::types::{
    AuthScheme, ChatRequest, Content, ErrorKind, FinishReason, HttpResponse, ProviderError, Role,
    Target, Tool, ToolCall, ToolChoice,
};
use serde_json::{Value, json};

use crate::AzureOpenAi;
use crate::exports::switchyard::plugin::adapter::Guest;

fn target(options: Option<Value>) -> Target {
    Target {
        provider: "azure".into(),
        base_url: "https://myresource.openai.azure.com/".into(),
        upstream_model: "gpt-4o-prod".into(),
        options_json: options.map(|o| o.to_string()),
    }
}

fn chat_request() -> ChatRequest {
    let mut call = message(Role::Assistant, None);
    call.tool_calls = vec![ToolCall {
        id: "call_abc".into(),
        name: "lookup".into(),
        arguments: r#"{"q":"parrot"}"#.into(),
    }];
    let mut result = message(Role::Tool, Some("Parrots need company."));
    result.tool_call_id = Some("call_abc".into());
    let mut req = request(vec![
        message(
            Role::System,
            Some("you are a helpful assistant that talks like a pirate"),
        ),
        message(
            Role::User,
            Some("can you tell me how to care for a parrot?"),
        ),
        call,
        result,
    ]);
    req.tools = vec![Tool {
        name: "lookup".into(),
        description: Some("Search the care guide".into()),
        parameters_json: Some(
            json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
                .to_string(),
        ),
        strict: None,
    }];
    req.tool_choice = Some(ToolChoice::Auto);
    req.temperature = Some(0.7);
    req.max_completion_tokens = Some(800);
    req.stream = true;
    req.metadata = vec![("team".into(), "a".into())];
    req.extra_json = Some(json!({"logit_bias": {"50256": -100}, "model": "nope"}).to_string());
    req
}

#[test]
fn info_names_the_adapter() {
    assert_eq!(AzureOpenAi::info().name, "azure-openai");
}

#[test]
fn request_goes_to_the_deployment_with_the_api_key_header() {
    let http = AzureOpenAi::build_request(chat_request(), target(None)).unwrap();
    assert_eq!(http.method, "POST");
    assert_eq!(
        http.url,
        "https://myresource.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert!(matches!(&http.auth, AuthScheme::Header(h) if h == "api-key"));
    assert_eq!(
        http.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body, testing::json(fixture!("request_chat.json")));
    assert!(
        body.get("model").is_none(),
        "the deployment names the model"
    );
}

#[test]
fn options_set_the_api_version_headers_and_usage() {
    let options = json!({
        "api_version": "2025-01-01-preview",
        "headers": {"x-ms-client-request-id": "r-1"},
        "stream_usage": false,
        "forward_metadata": true,
    });
    let http = AzureOpenAi::build_request(chat_request(), target(Some(options))).unwrap();
    assert!(
        http.url
            .ends_with("/chat/completions?api-version=2025-01-01-preview"),
        "{}",
        http.url
    );
    assert!(
        http.headers
            .contains(&("x-ms-client-request-id".into(), "r-1".into()))
    );
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert!(body.get("stream_options").is_none());
    assert_eq!(body["metadata"], json!({"team": "a"}));

    // Another dialect's extra fields are not OpenAI's: not forwarded.
    let mut req = chat_request();
    req.dialect = "anthropic".into();
    let http = AzureOpenAi::build_request(req, target(None)).unwrap();
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert!(body.get("logit_bias").is_none());
}

fn ok(body: &[u8]) -> HttpResponse {
    testing::response(200, &[("content-type", "application/json")], body)
}

#[test]
fn responses_keep_azure_fields_out_of_the_answer() {
    let r = AzureOpenAi::parse_response(ok(fixture!("response_chat.json")), target(None)).unwrap();
    assert_eq!(r.id, "chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn");
    assert_eq!(r.model, "gpt-4o-2024-08-06");
    assert_eq!(r.created, 1686676106);
    assert_eq!(r.system_fingerprint.as_deref(), Some("fp_5603ee5e2e"));
    let c = &r.choices[0];
    assert!(matches!(&c.message.content, Some(Content::Text(t)) if t.starts_with("Ahoy matey!")));
    assert!(matches!(c.finish_reason, Some(FinishReason::Stop)));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (33, 557, 590)
    );
    assert_eq!((u.cached_tokens, u.reasoning_tokens), (Some(0), Some(0)));

    let r =
        AzureOpenAi::parse_response(ok(fixture!("response_tool_call.json")), target(None)).unwrap();
    let c = &r.choices[0];
    assert!(matches!(c.finish_reason, Some(FinishReason::ToolCalls)));
    assert!(c.message.content.is_none());
    assert_eq!(c.message.tool_calls.len(), 1);
    assert_eq!(c.message.tool_calls[0].id, "call_Cn4nYpMMOTuzlz0lhtTGKmXj");
    assert_eq!(c.message.tool_calls[0].name, "get_current_weather");
    assert_eq!(
        c.message.tool_calls[0].arguments,
        r#"{"location":"Boston, MA"}"#
    );
}

fn decode_all_ways(bytes: &[u8]) -> Decoded {
    testing::decode_all_ways(Decoder::default, bytes)
}

#[test]
fn text_stream_with_prompt_filter_results_and_usage() {
    let (events, end) = decode_all_ways(fixture!("stream_chat.sse"));
    end.unwrap();
    assert_eq!(
        events,
        [
            // Azure's first chunk carries only the prompt filter results.
            "start   0",
            "role 0",
            r#"text 0 "Ahoy""#,
            r#"text 0 " matey!""#,
            "finish 0 FinishReason::Stop",
            "usage 33/3/36 cached Some(0) reasoning Some(0)",
        ]
    );
}

#[test]
fn tool_call_stream() {
    let (events, end) = decode_all_ways(fixture!("stream_tool_call.sse"));
    end.unwrap();
    assert_eq!(
        events,
        [
            "start   0",
            "role 0",
            r#"call 0#0 Some("call_Cn4nYpMM") Some("get_current_weather") "#,
            r#"call 0#0 None None {"location":"#,
            r#"call 0#0 None None "Boston, MA"}"#,
            "finish 0 FinishReason::ToolCalls",
        ]
    );
}

#[test]
fn filtered_stream_finishes_with_content_filter() {
    let (events, end) = decode_all_ways(fixture!("stream_filtered.sse"));
    end.unwrap();
    assert_eq!(
        events.last().unwrap(),
        "finish 0 FinishReason::ContentFilter"
    );
}

#[test]
fn broken_streams_never_look_complete() {
    let bytes = fixture!("stream_chat.sse");
    let cut = bytes.windows(7).position(|w| w == b" matey!").unwrap();
    let (events, end) = testing::decode(Decoder::default(), &bytes[..cut], 16);
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(end.unwrap_err().message.contains("before it was complete"));
}

fn classify(status: u16, headers: &[(&str, &str)], body: &[u8]) -> ProviderError {
    AzureOpenAi::classify_error(testing::response(status, headers, body))
}

#[test]
fn azure_errors_are_classified() {
    let cases: [(u16, &[u8], ErrorKind, &str); 8] = [
        (
            429,
            fixture!("error_429.json"),
            ErrorKind::RateLimited,
            "429",
        ),
        (
            400,
            fixture!("error_content_filter.json"),
            ErrorKind::ContentFilter,
            "content_filter",
        ),
        (
            400,
            fixture!("error_context.json"),
            ErrorKind::ContextLength,
            "context_length_exceeded",
        ),
        (401, fixture!("error_401.json"), ErrorKind::Auth, "401"),
        (
            404,
            fixture!("error_deployment.json"),
            ErrorKind::NotFound,
            "DeploymentNotFound",
        ),
        (
            404,
            fixture!("error_api_version.json"),
            ErrorKind::NotFound,
            "404",
        ),
        (
            500,
            fixture!("error_500.json"),
            ErrorKind::UpstreamStatus,
            "InternalServerError",
        ),
        (
            503,
            fixture!("error_503.json"),
            ErrorKind::Overloaded,
            "ServiceUnavailable",
        ),
    ];
    for (status, body, kind, code) in cases {
        let e = classify(status, &[], body);
        assert_eq!((e.kind, e.code.as_deref()), (kind, Some(code)), "{e:?}");
        assert_eq!(e.status, Some(status));
        assert_eq!(
            e.message,
            testing::json(body)["error"]["message"].as_str().unwrap()
        );
    }
    let e = classify(
        429,
        &[("retry-after", "6"), ("x-ratelimit-remaining-tokens", "0")],
        fixture!("error_429.json"),
    );
    assert_eq!(e.retry_after_ms, Some(6000));
    let e = classify(
        429,
        &[("retry-after-ms", "5500")],
        fixture!("error_429.json"),
    );
    assert_eq!(e.retry_after_ms, Some(5500));
}
