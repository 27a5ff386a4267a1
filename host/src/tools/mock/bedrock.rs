//! The Amazon Bedrock dialect of the mock: `POST /model/{modelId}/converse`
//! and `/converse-stream` (AWS event-stream frames, encoded with
//! `aws-smithy-eventstream`), auth by a SigV4 `Authorization` header (the key
//! the mock checks is the access key id; the signature must be well-formed,
//! though the mock cannot verify it without the secret) or a Bedrock API key
//! as a bearer token, and Bedrock's errors: `{"message"}` with the type in
//! `x-amzn-ErrorType`.
//!
//! Like Bedrock, it refuses (400 ValidationException) a conversation that
//! does not start with a user turn, turns that do not alternate, and tool
//! blocks without a `toolConfig`.
//! Deterministic; never forwards anything.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as FrameHeaderValue, Message};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Body, Mock, MockRequest, json_resp};

/// Whether a SigV4 `Authorization` header value is well-formed; returns the
/// access key id of its credential scope.
fn sigv4_access_key(auth: &str, amz_date: Option<&str>) -> Option<String> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    // AKID/YYYYMMDD/region/service/aws4_request
    let scope: Vec<&str> = credential?.split('/').collect();
    let [akid, date, region, service, terminator] = scope.as_slice() else {
        return None;
    };
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    let amz_date = amz_date?;
    let signed: Vec<&str> = signed?.split(';').collect();
    let signature = signature?;
    let well_formed = !akid.is_empty()
        && date_ok
        && amz_date.starts_with(date)
        && amz_date.len() == 16
        && !region.is_empty()
        && *service == "bedrock"
        && *terminator == "aws4_request"
        && signed.contains(&"host")
        && signed.contains(&"x-amz-date")
        && signed.windows(2).all(|w| w[0] < w[1])
        && signature.len() == 64
        && signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| (*akid).to_owned())
}

/// The access key id of a well-formed SigV4 signature, or a bearer key.
pub fn presented_key(parts: &Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    if let Some(key) = auth.strip_prefix("Bearer ") {
        return Some(key.to_owned());
    }
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok());
    sigv4_access_key(auth, amz_date)
}

/// The error type Bedrock names for a status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

/// Bedrock's error body.
pub fn error_body(_status: u16, message: &str) -> Vec<u8> {
    json!({ "message": message }).to_string().into_bytes()
}

/// Bedrock names the error type in a header.
pub fn error_headers(status: u16, headers: &mut HeaderMap) {
    let value = format!(
        "{}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        error_type(status)
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("x-amzn-errortype", v);
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn block_text(b: &Value) -> Option<String> {
    b.get("text").and_then(Value::as_str).map(str::to_owned)
}

fn tool_result_text(r: &Value) -> String {
    r["content"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| block_text(p).or_else(|| p.get("json").map(|j| j.to_string())))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Reduce a request.
pub fn parse(parts: &Parts, body: &[u8]) -> Result<MockRequest, String> {
    let path = parts.uri.path();
    let (model, stream) = if let Some(m) = path
        .strip_prefix("/model/")
        .and_then(|p| p.strip_suffix("/converse-stream"))
    {
        (m, true)
    } else if let Some(m) = path
        .strip_prefix("/model/")
        .and_then(|p| p.strip_suffix("/converse"))
    {
        (m, false)
    } else {
        return Err(format!("Unknown operation {path}"));
    };
    let r: Value =
        serde_json::from_slice(body).map_err(|e| format!("Malformed input request: {e}"))?;
    let messages = r["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("A conversation must have at least one message.")?;
    let mut prev: Option<&str> = None;
    let mut tool_blocks = false;
    let mut prompt_bytes = 0;
    for m in messages {
        let role = m["role"].as_str().ok_or("Each message needs a role.")?;
        if !matches!(role, "user" | "assistant") {
            return Err(format!("Invalid role {role}."));
        }
        if prev.is_none() && role != "user" {
            return Err("A conversation must start with a user message.".into());
        }
        if prev == Some(role) {
            return Err("A conversation must alternate between user and assistant roles.".into());
        }
        prev = Some(role);
        let content = m["content"]
            .as_array()
            .filter(|c| !c.is_empty())
            .ok_or("Each message needs at least one content block.")?;
        for b in content {
            if b.get("toolUse").is_some() || b.get("toolResult").is_some() {
                tool_blocks = true;
            }
            if b.get("text")
                .is_some_and(|t| t.as_str().is_none_or(str::is_empty))
            {
                return Err("The text field in the ContentBlock object is blank.".into());
            }
            prompt_bytes += block_text(b).map_or(0, |t| t.len()) + 16;
        }
    }
    let tools: Vec<String> = r["toolConfig"]["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if tool_blocks && tools.is_empty() {
        return Err(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                .into(),
        );
    }
    let last_user = messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(|m| {
            m["content"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(block_text)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        })
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_result = messages.last().and_then(|m| {
        m["content"]
            .as_array()?
            .iter()
            .find_map(|b| b.get("toolResult").map(tool_result_text))
    });
    prompt_bytes += r["system"].as_array().map_or(0, |s| {
        s.iter().filter_map(block_text).map(|t| t.len()).sum()
    });
    Ok(MockRequest {
        model: percent_decode(model),
        last_user,
        tools,
        forced_tool: r["toolConfig"]["toolChoice"]["tool"]["name"]
            .as_str()
            .map(str::to_owned),
        tools_disabled: false,
        tool_result,
        stream,
        include_usage: true,
        n: 1,
        prompt_bytes,
    })
}

fn frame(event: &str, payload: &Value) -> Bytes {
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":event-type",
            FrameHeaderValue::String(event.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            FrameHeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            FrameHeaderValue::String("event".into()),
        ));
    let mut out = Vec::new();
    // Encoding only fails for oversized headers or payloads, which these
    // are not; an empty frame would fail the client's decoder visibly.
    let _ = write_message_to(&message, &mut out);
    Bytes::from(out)
}

/// Render the answer, complete or streamed.
pub fn respond(mock: &Mock, r: &MockRequest, answer: Answer) -> Response<Body> {
    let seq = mock.next_seq();
    let tool_id = format!("tooluse_mock{seq:012}");
    let input_tokens = r.prompt_bytes.div_ceil(4) as u64;
    let output_tokens = answer.tokens();
    let usage = json!({
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
    });
    let stop = match &answer {
        Answer::Text(_) => "end_turn",
        Answer::Tool { .. } => "tool_use",
    };
    if !r.stream {
        let block = match &answer {
            Answer::Text(t) => json!({ "text": t }),
            Answer::Tool { name, arguments } => json!({"toolUse": {
                "toolUseId": tool_id,
                "name": name,
                "input": serde_json::from_str::<Value>(arguments).unwrap_or(Value::Null),
            }}),
        };
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [block]}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": mock.opts().latency_ms},
        });
        let mut resp = json_resp(StatusCode::OK, body.to_string().into_bytes());
        if let Ok(v) = HeaderValue::from_str(&format!("mock-{seq}")) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        return resp;
    }
    let mut frames = vec![frame("messageStart", &json!({"role": "assistant"}))];
    let deltas: Vec<Value> = match &answer {
        Answer::Text(t) => mock
            .pieces(t)
            .into_iter()
            .map(|text| json!({ "text": text }))
            .collect(),
        Answer::Tool { name, arguments } => {
            frames.push(frame(
                "contentBlockStart",
                &json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": tool_id, "name": name}}}),
            ));
            super::split(arguments, mock.opts().chunks.or(Some(3)))
                .into_iter()
                .map(|input| json!({"toolUse": { "input": input }}))
                .collect()
        }
    };
    let content_start = frames.len();
    for delta in deltas {
        frames.push(frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": delta}),
        ));
    }
    let content = content_start..frames.len();
    frames.push(frame("contentBlockStop", &json!({"contentBlockIndex": 0})));
    frames.push(frame("messageStop", &json!({ "stopReason": stop })));
    frames.push(frame(
        "metadata",
        &json!({"usage": usage, "metrics": {"latencyMs": mock.opts().latency_ms}}),
    ));
    mock.stream_response(frames, content, "application/vnd.amazon.eventstream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_headers_are_checked_for_form() {
        let good = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
        let date = Some("20150830T123600Z");
        assert_eq!(sigv4_access_key(good, date).as_deref(), Some("AKIDEXAMPLE"));
        assert!(sigv4_access_key(good, None).is_none());
        assert!(sigv4_access_key(good, Some("20150831T123600Z")).is_none());
        for bad in [
            good.replace("/bedrock/", "/s3/"),
            good.replace("aws4_request", "aws4"),
            good.replace("host;", ""),
            good.replace("content-type;host", "host;content-type"),
            good.replace("5da7c1a2", "5da7c1a"),
            good.replace("5da7c1a2", "5DA7C1A2"),
            good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        ] {
            assert!(sigv4_access_key(&bad, date).is_none(), "{bad}");
        }
    }

    #[test]
    fn model_ids_are_decoded() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Abedrock%2Fx%3A0"),
            "arn:aws:bedrock/x:0"
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
