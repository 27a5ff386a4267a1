//! `previous_response_id`: the conversation a stored response continues,
//! read back from the request log. A response's id is `resp_` + its request
//! id, so each earlier turn is one look-up of a record: its prompt (the
//! request body, whose own `previous_response_id` names the turn before)
//! and its answer (the output items). Earlier `instructions` are not
//! carried over, as OpenAI does. Only a record of the same key, of this
//! dialect, complete, stored and not cut by `[log] body_max_bytes` can be
//! continued; anything else is a 400 naming the parameter.

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use super::items::{Input, input_messages, item_messages};
use crate::canonical::Message;
use crate::error::ApiError;
use crate::ledger::Ledger;
use crate::ledger::log::RequestLog;
use crate::record::{Outcome, Record};

/// Turns followed back, at most.
const MAX_TURNS: usize = 1000;

/// How long a look-up waits for the log's writer when the record is not
/// written yet (it is queued when its answer is sent).
const FLUSH_WAIT: Duration = Duration::from_secs(2);

const PARAM: &str = "previous_response_id";

fn not_found(id: &str) -> ApiError {
    ApiError::invalid(format!("Previous response with id '{id}' not found."))
        .param(PARAM)
        .code("previous_response_not_found")
}

fn cannot_continue(id: &str, why: &str) -> ApiError {
    ApiError::invalid(format!(
        "Previous response with id '{id}' cannot be continued: {why}."
    ))
    .param(PARAM)
    .code("previous_response_not_found")
}

/// Append the conversation up to and including response `previous` (made
/// with `key`) to `out`, oldest turn first. The records read may add up to
/// `budget` bytes.
pub(super) async fn prepend(
    ledger: &Ledger,
    key: Option<&str>,
    previous: &str,
    budget: usize,
    out: &mut Vec<Message>,
) -> Result<(), ApiError> {
    let Some((log, max_bytes)) = ledger.log_with_bodies() else {
        return Err(ApiError::invalid(
            "`previous_response_id` is not supported by this gateway's configuration: responses are stored in the request log only when it keeps bodies ([log] bodies = true). Send the whole conversation in `input` instead.",
        )
        .param(PARAM)
        .code("unsupported_parameter"));
    };
    let mut turns = Vec::new();
    let mut left = budget;
    let mut next = Some(previous.to_owned());
    let mut flushed = false;
    while let Some(id) = next.take() {
        if turns.len() == MAX_TURNS {
            return Err(cannot_continue(
                previous,
                &format!("its conversation is longer than {MAX_TURNS} turns"),
            ));
        }
        let rec = find(log, &id, &mut flushed).await?;
        if rec.key.as_deref() != key || rec.dialect != "responses" {
            return Err(not_found(&id));
        }
        if rec.outcome != Outcome::Ok {
            return Err(cannot_continue(
                &id,
                &format!("it did not complete (it ended {})", rec.outcome.name()),
            ));
        }
        let cut = || {
            cannot_continue(
                &id,
                &format!(
                    "its record in the request log was cut at [log] body_max_bytes = {max_bytes} bytes; raise it, or send the whole conversation in `input`"
                ),
            )
        };
        let (Some(prompt), Some(answer)) = (&rec.prompt, &rec.answer) else {
            return Err(cut());
        };
        let used = prompt.len() + answer.len();
        left = left.checked_sub(used).ok_or_else(too_large)?;
        // The body parsed when it was served, so a body that does not
        // parse now was cut.
        let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(prompt) else {
            return Err(cut());
        };
        if body.get("store") == Some(&Value::Bool(false)) {
            return Err(cannot_continue(&id, "it was made with `store: false`"));
        }
        let Ok(output) = serde_json::from_str::<Vec<Value>>(answer) else {
            return Err(cut());
        };
        next = match body.get(PARAM) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        turns.push((id, body.remove("input"), output));
    }
    for (id, input, output) in turns.into_iter().rev() {
        let unreadable = |e: ApiError| cannot_continue(&id, &e.message);
        if let Some(input) = input.filter(|v| !v.is_null()) {
            let input: Input = serde_json::from_value(input)
                .map_err(|e| cannot_continue(&id, &format!("its input is unreadable ({e})")))?;
            input_messages(input, "input", out).map_err(unreadable)?;
        }
        item_messages(output, "output", out).map_err(unreadable)?;
    }
    Ok(())
}

/// The record of response `id`; when it is not written yet, once after the
/// log's writer has caught up.
async fn find(log: &RequestLog, id: &str, flushed: &mut bool) -> Result<Record, ApiError> {
    let Some(request_id) = super::request_of(id) else {
        return Err(not_found(id));
    };
    loop {
        let found = log.store().get(request_id).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                format!(
                    "The request log could not be read to continue `previous_response_id`: {e:#}"
                ),
            )
        })?;
        match found {
            Some(rec) => return Ok(rec),
            None if !*flushed => {
                *flushed = true;
                log.flush(FLUSH_WAIT).await;
            }
            None => return Err(not_found(id)),
        }
    }
}

/// The 413 of a conversation longer than the body limit, as chat's.
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        "The conversation continued from `previous_response_id`, with this request's body, is larger than this gateway's limit on a request (server.max_body_bytes).",
    )
    .param(PARAM)
    .code("request_too_large")
}
