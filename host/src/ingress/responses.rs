//! The OpenAI Responses API on ingress and egress (`POST /v1/responses`),
//! its stateless core translated to the canonical request so routing,
//! policies, adapters, key limits and the ledger apply unchanged:
//!
//! - `parse`: request bodies (`instructions`, function `tools`,
//!   `tool_choice`, `text.format`, sampling fields) into the canonical
//!   request, refusing what it cannot serve (built-in tools) with errors
//!   that name the field, and `items`: input items into canonical
//!   messages (unknown item types refused, naming `input[i].type`);
//! - `history`: `previous_response_id`, resolved from the request log
//!   when it keeps bodies: a response's id is `resp_` + its request id, so
//!   the earlier exchange is one look-up away;
//! - `render`: canonical answers into `response` objects;
//! - `stream`: canonical stream events into the typed event sequence
//!   (`response.created` … `response.completed`, or `error` and
//!   `response.failed` for a stream that breaks).
//!
//! Errors are OpenAI's error JSON, as for chat completions. It never routes
//! or sends anything: it translates values, and reads the request log only
//! to continue a stored response (of the same client key).

mod history;
mod items;
mod parse;
mod render;
mod stream;

use std::collections::BTreeMap;

use serde::Serialize;

use self::parse::{FunctionTool, TextFormat};
pub use self::render::render_response;
pub use self::stream::SseEncoder;
use super::request_id;
use crate::canonical::{ChatRequest, Message, Role};
use crate::error::ApiError;
use crate::ledger::Ledger;

/// What a response object repeats of its request (the fields an SDK reads
/// back), and what writing the answer needs of it.
#[derive(Debug, Clone, Serialize)]
pub struct Echo {
    /// The response's id: `resp_` + the request id.
    #[serde(skip)]
    pub id: String,
    /// The model asked for, until an upstream names the one that answered.
    #[serde(skip)]
    requested: String,
    instructions: Option<String>,
    max_output_tokens: Option<u32>,
    metadata: BTreeMap<String, String>,
    parallel_tool_calls: bool,
    previous_response_id: Option<String>,
    /// Whether the response is stored (can be continued): asked for (the
    /// default) and the request log keeps bodies.
    store: bool,
    temperature: Option<f64>,
    text: TextConfig,
    tool_choice: serde_json::Value,
    tools: Vec<FunctionTool>,
    top_p: Option<f64>,
    truncation: &'static str,
    user: Option<String>,
}

/// `text` as echoed.
#[derive(Debug, Clone, Serialize)]
struct TextConfig {
    format: TextFormat,
}

/// The response id of request `request_id`.
pub fn response_id(request_id: &str) -> String {
    format!("resp_{request_id}")
}

/// The request id a response id names, when it is one of ours.
fn request_of(response_id: &str) -> Option<&str> {
    response_id
        .strip_prefix("resp_")
        .filter(|id| request_id::is_safe(id))
}

/// Parse a `POST /v1/responses` body of request `request_id` into the
/// canonical request and its echo: the conversation of a
/// `previous_response_id` is read from the request log (as `key` made it)
/// and put before the new input, and `instructions` before both. The body
/// and the conversation together may be at most `max_bytes` long.
pub async fn parse_request(
    body: &[u8],
    request_id: &str,
    ledger: &Ledger,
    key: Option<&str>,
    max_bytes: usize,
) -> Result<(ChatRequest, Echo), ApiError> {
    let parse::Parsed {
        mut request,
        mut echo,
    } = parse::parse(body)?;
    echo.id = response_id(request_id);
    echo.store &= ledger.log_with_bodies().is_some();
    let input = std::mem::take(&mut request.messages);
    let mut messages = Vec::with_capacity(input.len() + 1);
    if let Some(text) = &echo.instructions {
        messages.push(Message {
            role: Role::System,
            content: Some(crate::canonical::Content::Text(text.clone())),
            name: None,
            tool_calls: vec![],
            tool_call_id: None,
            extra_json: None,
        });
    }
    if let Some(previous) = &echo.previous_response_id {
        let budget = max_bytes.saturating_sub(body.len());
        history::prepend(ledger, key, previous, budget, &mut messages).await?;
    }
    if input.is_empty() && echo.previous_response_id.is_none() {
        return Err(ApiError::invalid(
            "Missing required parameter: `input` (a string, or a list of input items).",
        )
        .param("input"));
    }
    items::append(&mut messages, input);
    request.messages = messages;
    Ok((request, echo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_ids_name_request_ids() {
        assert_eq!(response_id("abc-1"), "resp_abc-1");
        assert_eq!(request_of("resp_abc-1"), Some("abc-1"));
        for bad in ["abc", "resp_", "resp_a b", "resp_../x", "msg_1"] {
            assert_eq!(request_of(bad), None, "{bad}");
        }
    }
}
