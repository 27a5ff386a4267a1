//! The OpenAI chat-completions dialect of the mock (Azure OpenAI uses the same
//! bodies under its deployment paths, with an `api-key` header).
//! Deterministic; never forwards anything.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, Body, Mock, MockRequest, json_resp, text_of};

#[derive(Deserialize)]
struct Req {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<Msg>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOpts>,
    #[serde(default)]
    tools: Vec<Value>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Deserialize)]
struct StreamOpts {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct Msg {
    role: String,
    #[serde(default)]
    content: Value,
}

/// `api-key` (Azure) or `Authorization: Bearer` (OpenAI).
pub fn presented_key(parts: &Parts) -> Option<String> {
    if let Some(k) = parts.headers.get("api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.to_owned());
    }
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// OpenAI's error body.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        .to_string()
        .into_bytes()
}

/// Reduce a request body.
pub fn parse(_parts: &Parts, body: &[u8]) -> Result<MockRequest, String> {
    let r: Req = serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    if r.messages.is_empty() {
        return Err("messages must not be empty".into());
    }
    let last = r.messages.last();
    let tool_result = last
        .filter(|m| m.role == "tool" || m.role == "function")
        .map(|m| text_of(&m.content));
    let tools = r
        .tools
        .iter()
        .filter_map(|t| t.get("function")?.get("name")?.as_str().map(str::to_owned))
        .collect();
    let forced_tool = r
        .tool_choice
        .as_ref()
        .and_then(|c| c.get("function"))
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(MockRequest {
        model: r.model,
        last_user: r
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| text_of(&m.content))
            .unwrap_or_default(),
        tools,
        forced_tool,
        tools_disabled: r.tool_choice.as_ref().and_then(Value::as_str) == Some("none"),
        tool_result,
        stream: r.stream,
        include_usage: r.stream_options.is_some_and(|o| o.include_usage),
        n: r.n.unwrap_or(1).clamp(1, 16),
        prompt_bytes: r
            .messages
            .iter()
            .map(|m| text_of(&m.content).len() + 16)
            .sum(),
    })
}

/// Render the answer, complete or streamed.
pub fn respond(mock: &Mock, r: &MockRequest, answer: Answer) -> Response<Body> {
    let id = format!("chatcmpl-mock{}", mock.next_seq());
    let created = crate::ingress::openai::now_secs();
    let prompt_tokens = r.prompt_bytes.div_ceil(4) as u64;
    if r.stream {
        return stream(mock, r, answer, &id, created, prompt_tokens);
    }
    let choices: Vec<Value> = (0..r.n)
        .map(|i| match &answer {
            Answer::Text(t) => json!({"index": i, "message": {"role": "assistant", "content": t, "refusal": null},
                "logprobs": null, "finish_reason": "stop"}),
            Answer::Tool { name, arguments } => json!({"index": i, "message": {"role": "assistant", "content": null,
                "refusal": null, "tool_calls": [{"id": format!("call_mock{i}"), "type": "function",
                "function": {"name": name, "arguments": arguments}}]}, "logprobs": null, "finish_reason": "tool_calls"}),
        })
        .collect();
    let completion_tokens = answer.tokens() * u64::from(r.n);
    let body = json!({
        "id": id, "object": "chat.completion", "created": created, "model": r.model,
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
        "system_fingerprint": "fp_mock"
    });
    json_resp(StatusCode::OK, body.to_string().into_bytes())
}

fn stream(
    mock: &Mock,
    r: &MockRequest,
    answer: Answer,
    id: &str,
    created: u64,
    prompt_tokens: u64,
) -> Response<Body> {
    let chunk = |delta: Value, finish: Value| -> Bytes {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": r.model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        Bytes::from(format!("data: {c}\n\n"))
    };
    let mut frames: Vec<Bytes> = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let finish = match &answer {
        Answer::Text(t) => {
            for p in mock.pieces(t) {
                frames.push(chunk(json!({"content": p}), Value::Null));
            }
            "stop"
        }
        Answer::Tool { name, arguments } => {
            frames.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_mock0", "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for p in super::split(arguments, mock.opts().chunks.or(Some(3))) {
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
    };
    let content = 1..frames.len();
    frames.push(chunk(json!({}), json!(finish)));
    if r.include_usage {
        let completion = answer.tokens();
        let u = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": r.model,
            "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}});
        frames.push(Bytes::from(format!("data: {u}\n\n")));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    mock.stream_response(frames, content, "text/event-stream")
}
