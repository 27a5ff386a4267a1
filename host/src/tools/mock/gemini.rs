//! The Gemini dialect of the mock: `POST /v1beta/models/{model}:generateContent`
//! and `:streamGenerateContent` (SSE, as with `?alt=sse`), the key in
//! `x-goog-api-key` or the `key` query parameter, and Google's error shape
//! (`{"error": {"code", "message", "status"}}`).
//! Deterministic; never forwards anything.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Body, Mock, MockRequest, json_resp};

/// `x-goog-api-key`, or the `key` query parameter.
pub fn presented_key(parts: &Parts) -> Option<String> {
    if let Some(k) = parts
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
    {
        return Some(k.to_owned());
    }
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .map(str::to_owned)
}

/// The `google.rpc.Code` name Google sends with an HTTP status.
fn rpc_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "NOT_IMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// Google's error body.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    json!({"error": {"code": status, "message": message, "status": rpc_status(status)}})
        .to_string()
        .into_bytes()
}

/// The text parts of a content, joined by spaces.
fn text_of(content: &Value) -> String {
    content["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Reduce a request: the model and the method come from the path.
pub fn parse(parts: &Parts, body: &[u8]) -> Result<MockRequest, String> {
    let path = parts.uri.path();
    let (resource, method) = path
        .rsplit_once(':')
        .ok_or_else(|| format!("no method in {path}"))?;
    let model = resource
        .split_once("/models/")
        .map(|(_, m)| m.to_owned())
        .unwrap_or_default();
    let r: Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    let contents = r["contents"].as_array().cloned().unwrap_or_default();
    if contents.is_empty() {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    }
    let last_user = contents
        .iter()
        .rev()
        .filter(|c| c["role"].as_str().unwrap_or("user") == "user")
        .map(text_of)
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    // A tool result: the last content answers a function call.
    let tool_result = contents.last().and_then(|c| {
        c["parts"].as_array()?.iter().find_map(|p| {
            let response = p.get("functionResponse")?.get("response")?;
            Some(match response.get("content").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => response.to_string(),
            })
        })
    });
    let tools: Vec<String> = r["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["functionDeclarations"].as_array())
        .flatten()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    let calling = &r["toolConfig"]["functionCallingConfig"];
    let mode = calling["mode"].as_str().unwrap_or("AUTO");
    let forced_tool = match mode {
        "ANY" => calling["allowedFunctionNames"][0]
            .as_str()
            .map(str::to_owned),
        _ => None,
    };
    let system_bytes = text_of(&r["systemInstruction"]).len();
    Ok(MockRequest {
        model,
        last_user,
        tools,
        forced_tool,
        tools_disabled: mode == "NONE",
        tool_result,
        stream: method == "streamGenerateContent",
        include_usage: true,
        n: r["generationConfig"]["candidateCount"]
            .as_u64()
            .unwrap_or(1)
            .clamp(1, 16) as u32,
        prompt_bytes: contents
            .iter()
            .map(|c| text_of(c).len() + 16)
            .sum::<usize>()
            + system_bytes,
    })
}

/// The parts of the answer.
fn answer_parts(answer: &Answer) -> Value {
    match answer {
        Answer::Text(t) => json!([{"text": t}]),
        Answer::Tool { name, arguments } => {
            let args = serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({}));
            json!([{"functionCall": {"name": name, "args": args}}])
        }
    }
}

/// A candidate; like Google's proto3 JSON, index 0 is left out.
fn candidate(index: u32, parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"parts": parts, "role": "model"}});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    if index > 0 {
        c["index"] = json!(index);
    }
    c
}

/// Render the answer, complete or streamed.
pub fn respond(mock: &Mock, r: &MockRequest, answer: Answer) -> Response<Body> {
    let response_id = format!("mock-{}", mock.next_seq());
    let prompt = r.prompt_bytes.div_ceil(4) as u64;
    let response = |candidates: Vec<Value>, completion: Option<u64>| -> Value {
        let usage = match completion {
            Some(c) => json!({"promptTokenCount": prompt, "candidatesTokenCount": c,
                "totalTokenCount": prompt + c,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}),
            None => json!({"promptTokenCount": prompt, "totalTokenCount": prompt}),
        };
        json!({"candidates": candidates, "usageMetadata": usage,
            "modelVersion": r.model, "responseId": response_id})
    };
    if !r.stream {
        let candidates = (0..r.n)
            .map(|i| candidate(i, answer_parts(&answer), Some("STOP")))
            .collect();
        let body = response(candidates, Some(answer.tokens() * u64::from(r.n)));
        return json_resp(StatusCode::OK, body.to_string().into_bytes());
    }
    let frame = |v: Value| Bytes::from(format!("data: {v}\r\n\r\n"));
    let mut frames: Vec<Bytes> = match &answer {
        Answer::Text(t) => mock
            .pieces(t)
            .into_iter()
            .map(|p| {
                frame(response(
                    vec![candidate(0, json!([{"text": p}]), None)],
                    None,
                ))
            })
            .collect(),
        // A function call comes whole, in one chunk.
        Answer::Tool { .. } => vec![frame(response(
            vec![candidate(0, answer_parts(&answer), None)],
            None,
        ))],
    };
    let content = 0..frames.len();
    frames.push(frame(response(
        vec![candidate(0, json!([{"text": ""}]), Some("STOP"))],
        Some(answer.tokens()),
    )));
    mock.stream_response(frames, content, "text/event-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::post(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn keys_come_from_the_header_or_the_query() {
        let p = parts(
            "/v1beta/models/m:generateContent",
            &[("x-goog-api-key", "k1")],
        );
        assert_eq!(presented_key(&p).as_deref(), Some("k1"));
        let p = parts("/v1beta/models/m:streamGenerateContent?alt=sse&key=k2", &[]);
        assert_eq!(presented_key(&p).as_deref(), Some("k2"));
        assert_eq!(
            presented_key(&parts("/v1beta/models/m:generateContent", &[])),
            None
        );
    }

    #[test]
    fn errors_carry_the_rpc_status() {
        let v: Value = serde_json::from_slice(&error_body(429, "slow down")).unwrap();
        assert_eq!(v["error"]["code"], 429);
        assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(v["error"]["message"], "slow down");
        let v: Value = serde_json::from_slice(&error_body(503, "busy")).unwrap();
        assert_eq!(v["error"]["status"], "UNAVAILABLE");
    }

    #[test]
    fn requests_reduce_to_the_mock_request() {
        let body = json!({
            "contents": [
                {"role": "user", "parts": [{"text": "weather in"}, {"text": "Paris?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}}]}
            ],
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "tools": [{"functionDeclarations": [{"name": "get_weather"}, {"name": "get_time"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
            "generationConfig": {"candidateCount": 2}
        });
        let p = parts(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            &[],
        );
        let r = parse(&p, body.to_string().as_bytes()).unwrap();
        assert_eq!(r.model, "gemini-2.5-flash");
        assert!(r.stream);
        assert_eq!(r.last_user, "weather in Paris?");
        assert_eq!(r.tools, ["get_weather", "get_time"]);
        assert_eq!(r.forced_tool.as_deref(), Some("get_time"));
        assert!(!r.tools_disabled);
        assert_eq!(r.tool_result.as_deref(), Some("sunny"));
        assert_eq!(r.n, 2);

        let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}});
        let p = parts("/v1/models/gemini-2.0-flash:generateContent", &[]);
        let r = parse(&p, body.to_string().as_bytes()).unwrap();
        assert!(!r.stream && r.tools_disabled && r.tool_result.is_none());

        assert!(parse(&p, b"{\"contents\": []}").is_err());
        assert!(parse(&p, b"nope").is_err());
    }
}
