//! `GenerateContentResponse` bodies and Google error bodies into canonical
//! values.
//!
//! - each candidate is a choice: its text parts joined (thought summaries
//!   left out), its `functionCall` parts as tool calls with ids
//!   `call_{choice}_{n}` (Gemini's own `id` when it sends one) and the `args`
//!   as JSON text;
//! - `finishReason`: `STOP` is `stop` (`tool-calls` when the candidate called
//!   a function), `MAX_TOKENS` is `length`, the safety reasons are
//!   `content-filter`, any other is `other` in lower case;
//! - `usageMetadata`: prompt tokens (plus tool-use prompt tokens), completion
//!   tokens counting the thinking tokens (which Google bills as output) that
//!   are also reported as reasoning tokens, cached tokens;
//! - a prompt blocked before any candidate (`promptFeedback.blockReason`) is a
//!   `content-filter` error.

use adapter_kit::types::{
    ChatResponse, Choice, ErrorKind, FinishReason, ProviderError, ToolCall, Usage,
};
use adapter_kit::{assistant_message, body_message, err, retry_after_ms};
use serde::Deserialize;
use serde_json::Value;

/// A `GenerateContentResponse`, complete or one chunk of a stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateContentResponse {
    /// The answers; none when the prompt was blocked.
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked, if it was.
    pub prompt_feedback: Option<PromptFeedback>,
    /// The tokens the request used (on a stream's last chunks).
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    pub model_version: Option<String>,
    /// The response's id, the same on every chunk of a stream.
    pub response_id: Option<String>,
}

/// One candidate answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Candidate {
    /// The answer's parts; absent when nothing was generated.
    pub content: Option<CandidateContent>,
    /// Why the model stopped (`STOP`, `MAX_TOKENS`, `SAFETY`, …).
    pub finish_reason: Option<String>,
    /// Absent for the first candidate (proto3 leaves zero out).
    pub index: u32,
}

/// The content of a candidate.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CandidateContent {
    /// The parts, in order.
    pub parts: Vec<Part>,
}

/// The parts of an answer the gateway reads; others (code execution, inline
/// media) are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Part {
    /// Text (or, with `thought`, a thought summary).
    pub text: Option<String>,
    /// A thought summary, not part of the answer.
    pub thought: bool,
    /// A call of a declared function.
    pub function_call: Option<FunctionCall>,
}

/// A `functionCall` part.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FunctionCall {
    /// The call's id, which newer models send.
    pub id: Option<String>,
    /// The function called.
    pub name: String,
    /// The arguments, as a JSON object.
    pub args: Option<Value>,
}

impl FunctionCall {
    /// The canonical call: Gemini's id or `call_{choice}_{n}`, the arguments
    /// as JSON text (`{}` when absent).
    pub fn into_tool_call(self, choice: u32, n: u32) -> ToolCall {
        ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{choice}_{n}")),
            arguments: self
                .args
                .unwrap_or_else(|| Value::Object(Default::default()))
                .to_string(),
            name: self.name,
        }
    }
}

/// `promptFeedback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PromptFeedback {
    /// Why the prompt was blocked (`SAFETY`, `OTHER`, …).
    pub block_reason: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    /// Tokens of the prompt.
    pub prompt_token_count: u32,
    /// Tokens of the answers, thinking excluded.
    pub candidates_token_count: u32,
    /// All tokens of the request.
    pub total_token_count: u32,
    /// Prompt tokens read from the context cache.
    pub cached_content_token_count: Option<u32>,
    /// Tokens spent thinking (billed as output).
    pub thoughts_token_count: Option<u32>,
    /// Tokens of the results of tools Gemini ran itself (billed as prompt).
    pub tool_use_prompt_token_count: u32,
}

impl UsageMetadata {
    /// Canonical usage.
    pub fn usage(&self) -> Usage {
        let prompt = self
            .prompt_token_count
            .saturating_add(self.tool_use_prompt_token_count);
        let completion = self
            .candidates_token_count
            .saturating_add(self.thoughts_token_count.unwrap_or(0));
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: if self.total_token_count > 0 {
                self.total_token_count
            } else {
                prompt.saturating_add(completion)
            },
            cached_tokens: self.cached_content_token_count,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

/// The text of a candidate's parts (thoughts left out) and its calls.
pub fn split_parts(parts: Vec<Part>) -> (String, Vec<FunctionCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for p in parts {
        if let Some(c) = p.function_call {
            calls.push(c);
        } else if let Some(t) = p.text
            && !p.thought
        {
            text.push_str(&t);
        }
    }
    (text, calls)
}

/// A `finishReason`; `called` says whether the candidate called a function.
pub fn finish_reason(reason: &str, called: bool) -> FinishReason {
    match reason {
        "STOP" if called => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// The error of a response that was refused before any candidate, if it was.
pub fn blocked(r: &GenerateContentResponse) -> Option<ProviderError> {
    let reason = r.prompt_feedback.as_ref()?.block_reason.as_ref()?;
    if !r.candidates.is_empty() {
        return None;
    }
    Some(ProviderError {
        code: Some(reason.clone()),
        ..err(
            ErrorKind::ContentFilter,
            format!("gemini blocked the prompt ({reason})"),
        )
    })
}

/// A complete response or a stream's chunk (`what`, for the messages) read
/// from its JSON: an `error` body is `on_error`'s error, and a blocked prompt
/// is a `content-filter` error.
pub fn read(
    json: &[u8],
    what: &str,
    on_error: impl FnOnce() -> ProviderError,
) -> Result<GenerateContentResponse, ProviderError> {
    let value: Value = serde_json::from_slice(json)
        .map_err(|e| err(ErrorKind::Other, format!("{what} is not JSON: {e}")))?;
    if value.get("error").is_some() {
        return Err(on_error());
    }
    let r: GenerateContentResponse = serde_json::from_value(value).map_err(|e| {
        err(
            ErrorKind::Other,
            format!("{what} is not a GenerateContentResponse: {e}"),
        )
    })?;
    match blocked(&r) {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

/// Parse a complete 2xx response. `model` names the model when the response
/// does not.
pub fn parse(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    model: &str,
) -> Result<ChatResponse, ProviderError> {
    let r = read(body, "upstream response", || {
        classify(Some(status), headers, body)
    })?;
    if r.candidates.is_empty() {
        return Err(err(ErrorKind::Other, "gemini answered without candidates"));
    }
    let choices = r
        .candidates
        .into_iter()
        .map(|c| {
            let (text, calls) = split_parts(c.content.map(|c| c.parts).unwrap_or_default());
            let called = !calls.is_empty();
            let tool_calls: Vec<ToolCall> = calls
                .into_iter()
                .zip(0..)
                .map(|(call, n)| call.into_tool_call(c.index, n))
                .collect();
            Choice {
                index: c.index,
                message: assistant_message(text, tool_calls),
                finish_reason: c.finish_reason.as_deref().map(|f| finish_reason(f, called)),
            }
        })
        .collect();
    Ok(ChatResponse {
        id: r.response_id.unwrap_or_default(),
        model: r.model_version.unwrap_or_else(|| model.to_owned()),
        created: 0,
        choices,
        usage: r.usage_metadata.as_ref().map(UsageMetadata::usage),
        system_fingerprint: None,
    })
}

/// `{"error": {...}}`, Google's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorDetail {
    code: Option<u16>,
    message: String,
    status: Option<String>,
    details: Vec<Value>,
}

impl ErrorDetail {
    fn detail(&self, kind: &str) -> Option<&Value> {
        self.details.iter().find(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(kind))
        })
    }
}

/// The error of a body: an object, or (`streamGenerateContent` without SSE)
/// an array holding one.
fn error_detail(body: &[u8]) -> Option<ErrorDetail> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Array(mut items) if !items.is_empty() => {
            serde_json::from_value::<ErrorBody>(items.swap_remove(0))
                .ok()
                .map(|b| b.error)
        }
        v @ Value::Object(_) if v.get("error").is_some() => {
            serde_json::from_value::<ErrorBody>(v).ok().map(|b| b.error)
        }
        _ => None,
    }
}

/// A protobuf JSON duration (`"7s"`, `"0.5s"`) in milliseconds.
fn duration_ms(d: &str) -> Option<u64> {
    let secs: f64 = d.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// Classify an error from its HTTP status (or the body's `code` when there
/// was none, as in a stream) and Google's error body.
pub fn classify(status: Option<u16>, headers: &[(String, String)], body: &[u8]) -> ProviderError {
    let detail = error_detail(body);
    let status = status.or_else(|| detail.as_ref().and_then(|d| d.code));
    let rpc_status = detail.as_ref().and_then(|d| d.status.clone());
    let reason = detail
        .as_ref()
        .and_then(|d| d.detail("google.rpc.ErrorInfo"))
        .and_then(|i| i.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let message = match &detail {
        Some(d) if !d.message.is_empty() => d.message.clone(),
        _ => body_message(status, body),
    };
    let lower = message.to_ascii_lowercase();
    let too_long = lower.contains("exceeds the maximum number of tokens")
        || lower.contains("input token count")
        || lower.contains("token limit");
    let bad_key =
        reason.as_deref() == Some("API_KEY_INVALID") || lower.contains("api key not valid");
    let by_code = match status {
        Some(429) => ErrorKind::RateLimited,
        Some(503) => ErrorKind::Overloaded,
        Some(408 | 504) => ErrorKind::Timeout,
        Some(401 | 403) => ErrorKind::Auth,
        Some(404) => ErrorKind::NotFound,
        Some(s) if (400..500).contains(&s) => ErrorKind::BadRequest,
        Some(_) => ErrorKind::UpstreamStatus,
        None => ErrorKind::Other,
    };
    let kind = match rpc_status.as_deref() {
        Some("RESOURCE_EXHAUSTED") => ErrorKind::RateLimited,
        Some("UNAVAILABLE") => ErrorKind::Overloaded,
        Some("DEADLINE_EXCEEDED") => ErrorKind::Timeout,
        Some("UNAUTHENTICATED" | "PERMISSION_DENIED") => ErrorKind::Auth,
        Some("NOT_FOUND") => ErrorKind::NotFound,
        Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE") => ErrorKind::BadRequest,
        _ => by_code,
    };
    // Gemini refuses a bad key as an invalid argument.
    let kind = match kind {
        ErrorKind::BadRequest if bad_key => ErrorKind::Auth,
        ErrorKind::BadRequest if too_long => ErrorKind::ContextLength,
        k => k,
    };
    let retry = retry_after_ms(headers).or_else(|| {
        detail
            .as_ref()?
            .detail("google.rpc.RetryInfo")?
            .get("retryDelay")?
            .as_str()
            .and_then(duration_ms)
    });
    ProviderError {
        kind,
        message,
        status,
        retry_after_ms: retry,
        code: reason.or(rpc_status),
    }
}
