//! Canonical answers into the Responses API's `response` object: output
//! items (`message` with `output_text`, `function_call`), status and
//! `incomplete_details`, and usage with the details objects the SDKs read.

use serde::Serialize;

use super::Echo;
use crate::canonical::{ChatResponse, FinishReason, Usage, content_text};

/// An output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
}

/// An `output_text` content part.
#[derive(Debug, Clone, Serialize)]
pub(super) struct OutputText {
    #[serde(rename = "type")]
    kind: &'static str,
    pub text: String,
    annotations: [(); 0],
    logprobs: [(); 0],
}

impl OutputText {
    pub fn new(text: String) -> OutputText {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

/// A new item id with `prefix` (`msg`, `fc`, `call`).
pub(super) fn item_id(prefix: &str) -> String {
    format!("{prefix}_{:024x}", rand::random::<u128>() >> 32)
}

/// A message item holding `text`.
pub(super) fn message_item(text: String, status: &'static str) -> OutputItem {
    OutputItem::Message {
        id: item_id("msg"),
        status,
        role: "assistant",
        content: vec![OutputText::new(text)],
    }
}

/// A function call item; an upstream that named no call gets an id.
pub(super) fn call_item(call_id: String, name: String, arguments: String) -> OutputItem {
    OutputItem::FunctionCall {
        id: item_id("fc"),
        call_id: if call_id.is_empty() {
            item_id("call")
        } else {
            call_id
        },
        name,
        arguments,
        status: "completed",
    }
}

/// Why a response is incomplete.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Incomplete {
    reason: &'static str,
}

/// The response's status and `incomplete_details` for a finish reason.
pub(super) fn status_of(finish: Option<&FinishReason>) -> (&'static str, Option<Incomplete>) {
    let reason = match finish {
        Some(FinishReason::Length) => "max_output_tokens",
        Some(FinishReason::ContentFilter) => "content_filter",
        _ => return ("completed", None),
    };
    ("incomplete", Some(Incomplete { reason }))
}

/// `response.error`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ErrorObject {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct UsageObject {
    input_tokens: u32,
    input_tokens_details: InputDetails,
    output_tokens: u32,
    output_tokens_details: OutputDetails,
    total_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct InputDetails {
    cached_tokens: u32,
    cache_write_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct OutputDetails {
    reasoning_tokens: u32,
}

pub(super) fn usage(u: &Usage) -> UsageObject {
    UsageObject {
        input_tokens: u.prompt_tokens,
        input_tokens_details: InputDetails {
            cached_tokens: u.cached_tokens.unwrap_or(0),
            cache_write_tokens: 0,
        },
        output_tokens: u.completion_tokens,
        output_tokens_details: OutputDetails {
            reasoning_tokens: u.reasoning_tokens.unwrap_or(0),
        },
        total_tokens: u.total_tokens,
    }
}

/// A `response` object.
#[derive(Serialize)]
pub(super) struct ResponseObject<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: u64,
    pub status: &'static str,
    pub background: bool,
    pub error: Option<ErrorObject>,
    pub incomplete_details: Option<Incomplete>,
    pub model: &'a str,
    pub output: &'a [OutputItem],
    pub usage: Option<UsageObject>,
    #[serde(flatten)]
    pub echo: &'a Echo,
}

/// Render a canonical response (its first choice) as a `response` body;
/// with it, the answer the request log keeps when the response is stored
/// (its output items).
pub fn render_response(resp: ChatResponse, echo: &Echo) -> (Vec<u8>, Option<String>) {
    let mut output = Vec::new();
    let (status, incomplete) = match resp.choices.into_iter().next() {
        Some(c) => {
            let (status, incomplete) = status_of(c.finish_reason.as_ref());
            let text = c.message.content.as_ref().map(content_text);
            // A message when there is text, or nothing else to show.
            if text.as_ref().is_some_and(|t| !t.is_empty()) || c.message.tool_calls.is_empty() {
                output.push(message_item(text.unwrap_or_default(), status));
            }
            for t in c.message.tool_calls {
                output.push(call_item(t.id, t.name, t.arguments));
            }
            (status, incomplete)
        }
        None => status_of(None),
    };
    let body = ResponseObject {
        id: &echo.id,
        object: "response",
        created_at: if resp.created == 0 {
            super::super::openai::now_secs()
        } else {
            resp.created
        },
        status,
        background: false,
        error: None,
        incomplete_details: incomplete,
        model: if resp.model.is_empty() {
            &echo.requested
        } else {
            &resp.model
        },
        output: &output,
        usage: resp.usage.as_ref().map(usage),
        echo,
    };
    let kept = echo.store.then(|| kept_answer(&output));
    (serde_json::to_vec(&body).unwrap_or_default(), kept)
}

/// The answer a stored response keeps in the request log: its output items.
pub(super) fn kept_answer(output: &[OutputItem]) -> String {
    serde_json::to_string(output).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::canonical::{Choice, Content, Message, Role, ToolCall};

    fn echo() -> Echo {
        let mut p = super::super::parse::parse(br#"{"model":"route","input":"hi","store":true}"#)
            .unwrap()
            .echo;
        p.id = "resp_r1".into();
        p
    }

    fn answer(content: Option<&str>, calls: Vec<ToolCall>, finish: FinishReason) -> ChatResponse {
        ChatResponse {
            id: "up-1".into(),
            model: "gpt-x".into(),
            created: 7,
            choices: vec![Choice {
                index: 0,
                message: Message {
                    role: Role::Assistant,
                    content: content.map(|c| Content::Text(c.into())),
                    name: None,
                    tool_calls: calls,
                    tool_call_id: None,
                    extra_json: None,
                },
                finish_reason: Some(finish),
            }],
            usage: Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
                total_tokens: 7,
                cached_tokens: None,
                reasoning_tokens: None,
            }),
            system_fingerprint: None,
        }
    }

    #[test]
    fn a_text_answer() {
        let (body, kept) =
            render_response(answer(Some("Hello."), vec![], FinishReason::Stop), &echo());
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "resp_r1");
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["created_at"], 7);
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(v["output"][0]["role"], "assistant");
        assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
        assert_eq!(v["output"][0]["content"][0]["text"], "Hello.");
        assert_eq!(
            v["output"][0]["content"][0]["annotations"],
            Value::Array(vec![])
        );
        assert!(v["output"][0]["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(v["usage"]["input_tokens"], 5);
        assert_eq!(v["usage"]["output_tokens"], 2);
        assert_eq!(v["usage"]["total_tokens"], 7);
        assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 0);
        assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(v["incomplete_details"], Value::Null);
        assert_eq!(v["tool_choice"], "auto");
        assert_eq!(v["text"]["format"]["type"], "text");
        assert_eq!(v["parallel_tool_calls"], true);
        assert_eq!(v["tools"], Value::Array(vec![]));
        let kept: Value = serde_json::from_str(&kept.unwrap()).unwrap();
        assert_eq!(kept, v["output"]);
    }

    #[test]
    fn tool_calls_and_a_cut_answer() {
        let call = ToolCall {
            id: "call_9".into(),
            name: "f".into(),
            arguments: r#"{"a":1}"#.into(),
        };
        let (body, _) = render_response(answer(None, vec![call], FinishReason::ToolCalls), &echo());
        let v: Value = serde_json::from_slice(&body).unwrap();
        let out = v["output"].as_array().unwrap();
        assert_eq!(out.len(), 1, "{v}");
        assert_eq!(out[0]["type"], "function_call");
        assert_eq!(out[0]["call_id"], "call_9");
        assert_eq!(out[0]["name"], "f");
        assert_eq!(out[0]["arguments"], r#"{"a":1}"#);
        assert!(out[0]["id"].as_str().unwrap().starts_with("fc_"));

        let (body, _) = render_response(answer(Some("Hel"), vec![], FinishReason::Length), &echo());
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(v["output"][0]["status"], "incomplete");
    }
}
