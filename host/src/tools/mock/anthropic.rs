//! The Anthropic Messages dialect of the mock: `POST /v1/messages`, key in
//! `x-api-key`, the full streaming event sequence (with a `ping`), and
//! Anthropic's error shapes (`overloaded_error` for 529, …).
//! Deterministic; never forwards anything.

use anthropic_wire as wire;
use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Body, Mock, MockRequest, json_resp};

/// `x-api-key`.
pub fn presented_key(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Anthropic's error body.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": wire::errors::for_status(status), "message": message}})
        .to_string()
        .into_bytes()
}

fn block_text(b: &wire::Block) -> Option<String> {
    match b {
        wire::Block::Text { text } => Some(text.clone()),
        _ => None,
    }
}

/// Reduce a request body.
pub fn parse(parts: &Parts, body: &[u8]) -> Result<MockRequest, String> {
    if parts.headers.get("anthropic-version").is_none() {
        return Err("anthropic-version: header is required".into());
    }
    let r: wire::MessagesRequest =
        serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    if r.messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    let text = |c: &wire::Content| -> String {
        match c {
            wire::Content::Text(t) => t.clone(),
            wire::Content::Blocks(b) => b
                .iter()
                .filter_map(block_text)
                .collect::<Vec<_>>()
                .join(" "),
        }
    };
    let last_user = r
        .messages
        .iter()
        .rev()
        .filter(|m| m.role == wire::Role::User)
        .map(|m| text(&m.content))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_result = r.messages.last().and_then(|m| match &m.content {
        wire::Content::Blocks(b) => b.iter().find_map(|b| match b {
            wire::Block::ToolResult { content, .. } => {
                Some(content.as_ref().map(|c| c.text()).unwrap_or_default())
            }
            _ => None,
        }),
        wire::Content::Text(_) => None,
    });
    let tools: Vec<String> = r.tools.iter().flatten().map(|t| t.name.clone()).collect();
    let choice = r.tool_choice.as_ref();
    let prompt_bytes = r
        .messages
        .iter()
        .map(|m| text(&m.content).len() + 16)
        .sum::<usize>()
        + r.system.as_ref().map_or(0, |s| s.text().len());
    Ok(MockRequest {
        model: r.model,
        last_user,
        tools,
        forced_tool: choice.and_then(|c| c.name.clone()),
        tools_disabled: choice.is_some_and(|c| c.kind == wire::ToolChoiceKind::None),
        tool_result,
        stream: r.stream.unwrap_or(false),
        include_usage: true,
        n: 1,
        prompt_bytes,
    })
}

fn event(e: &wire::StreamEvent) -> Bytes {
    Bytes::from(format!(
        "event: {}\ndata: {}\n\n",
        e.name(),
        serde_json::to_string(e).unwrap_or_default()
    ))
}

/// Render the answer, complete or streamed.
pub fn respond(mock: &Mock, r: &MockRequest, answer: Answer) -> Response<Body> {
    let id = format!("msg_mock{:020}", mock.next_seq());
    let input_tokens = r.prompt_bytes.div_ceil(4) as u32;
    let output_tokens = answer.tokens() as u32;
    let (stop, block) = match &answer {
        Answer::Text(t) => (wire::stop::END_TURN, wire::Block::Text { text: t.clone() }),
        Answer::Tool { name, arguments } => (
            wire::stop::TOOL_USE,
            wire::Block::ToolUse {
                id: "toolu_mock0".into(),
                name: name.clone(),
                input: serde_json::from_str(arguments).unwrap_or(Value::Null),
            },
        ),
    };
    if !r.stream {
        let msg = wire::MessageResponse {
            id,
            kind: "message".into(),
            role: wire::Role::Assistant,
            model: r.model.clone(),
            content: vec![block],
            stop_reason: Some(stop.into()),
            stop_sequence: None,
            usage: wire::Usage {
                input_tokens,
                output_tokens,
                cache_creation_input_tokens: Some(0),
                cache_read_input_tokens: Some(0),
            },
        };
        return json_resp(StatusCode::OK, serde_json::to_vec(&msg).unwrap_or_default());
    }
    let start = wire::MessageResponse {
        id,
        kind: "message".into(),
        role: wire::Role::Assistant,
        model: r.model.clone(),
        content: vec![],
        stop_reason: None,
        stop_sequence: None,
        usage: wire::Usage {
            input_tokens,
            output_tokens: 1,
            cache_creation_input_tokens: None,
            cache_read_input_tokens: None,
        },
    };
    let mut frames = vec![event(&wire::StreamEvent::MessageStart { message: start })];
    let (first, deltas): (wire::Block, Vec<wire::Delta>) = match &answer {
        Answer::Text(t) => (
            wire::Block::Text {
                text: String::new(),
            },
            mock.pieces(t)
                .into_iter()
                .map(|text| wire::Delta::TextDelta { text })
                .collect(),
        ),
        Answer::Tool { name, arguments } => (
            wire::Block::ToolUse {
                id: "toolu_mock0".into(),
                name: name.clone(),
                input: json!({}),
            },
            super::split(arguments, mock.opts().chunks.or(Some(3)))
                .into_iter()
                .map(|partial_json| wire::Delta::InputJsonDelta { partial_json })
                .collect(),
        ),
    };
    frames.push(event(&wire::StreamEvent::ContentBlockStart {
        index: 0,
        content_block: first,
    }));
    frames.push(event(&wire::StreamEvent::Ping));
    let content_start = frames.len();
    for delta in deltas {
        frames.push(event(&wire::StreamEvent::ContentBlockDelta {
            index: 0,
            delta,
        }));
    }
    let content = content_start..frames.len();
    frames.push(event(&wire::StreamEvent::ContentBlockStop { index: 0 }));
    frames.push(event(&wire::StreamEvent::MessageDelta {
        delta: wire::MessageDelta {
            stop_reason: Some(stop.into()),
            stop_sequence: None,
        },
        usage: Some(wire::DeltaUsage {
            output_tokens,
            ..Default::default()
        }),
    }));
    frames.push(event(&wire::StreamEvent::MessageStop));
    mock.stream_response(frames, content, "text/event-stream")
}
