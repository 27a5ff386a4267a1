//! `POST /v1/feedback`: the application scores an answer it got, e.g. a
//! user's thumbs up. Body: `{"request_id", "name", "value", "comment"?}`
//! with `value` in 0..1 (or `true`/`false`). With client keys configured the
//! caller's key is required and a key may only score its own requests. The
//! score is stored with source `feedback` in the request log (joined to the
//! record, like evaluators' scores) and feeds the rolling quality of the
//! (route, model) that answered. The request must be recent (the ledger's
//! memory of recent requests) or in the request log.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::{Body, body::read_body, error_response, input, json_response};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::ledger::{Owner, now_ms};
use crate::record::Score;

/// Largest feedback body.
const MAX_BODY: usize = 64 << 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Feedback {
    request_id: String,
    #[serde(default = "default_name")]
    name: String,
    value: Value,
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Value {
    Bool(bool),
    Number(f64),
}

fn default_name() -> String {
    "feedback".into()
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// `POST /v1/feedback`.
pub async fn feedback(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    match handle(gw, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn handle(gw: &Arc<Gateway>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let generation = gw.current();
    let caller = generation.keys.authenticate(req.headers())?;
    input::content_type(req.headers())?;
    let (_, body) = read_body(req, MAX_BODY).await?;
    let f: Feedback = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "Invalid feedback body: {e}. Send {{\"request_id\": \"…\", \"name\": \"thumbs\", \"value\": 0..1, \"comment\": \"…\"}}."
        ))
    })?;
    let value = match f.value {
        Value::Bool(b) => f64::from(u8::from(b)),
        Value::Number(n) if n.is_finite() && (0.0..=1.0).contains(&n) => n,
        Value::Number(n) => {
            return Err(bad(format!("`value` must be between 0 and 1, got {n}.")));
        }
    };
    if f.name.is_empty() || f.name.len() > 64 {
        return Err(bad("`name` must be 1 to 64 characters."));
    }
    if f.request_id.is_empty() || f.request_id.len() > 200 {
        return Err(bad("`request_id` must be 1 to 200 characters."));
    }
    let owner = match gw.ledger.owner(&f.request_id) {
        Some(o) => Some(o),
        None => match gw.ledger.log() {
            Some(log) => log
                .store()
                .get(&f.request_id)
                .await
                .ok()
                .flatten()
                .map(|r| Owner {
                    key: r.key,
                    route: r.route,
                    model: r.model,
                }),
            None => None,
        },
    };
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No request `{}` to give feedback on.", f.request_id),
        )
        .code("request_not_found")
    };
    let owner = owner.ok_or_else(not_found)?;
    // Another key's request is answered as unknown: ids do not leak.
    if let Some(key) = &caller
        && owner.key.as_deref() != Some(&*key.name)
    {
        return Err(not_found());
    }
    let score = Score {
        request_id: f.request_id.clone(),
        at_ms: now_ms(),
        source: "feedback".into(),
        name: f.name,
        value,
        label: None,
        explanation: f.comment.map(|c| c.chars().take(2000).collect()),
        model: owner.model,
        route: owner.route,
    };
    gw.ledger.scored(std::slice::from_ref(&score));
    if let Some(log) = gw.ledger.log()
        && let Err(e) = log.store().write_scores(vec![score.clone()]).await
    {
        tracing::warn!(request_id = %score.request_id, "writing feedback to the request log failed: {e:#}");
    }
    let body = serde_json::json!({ "object": "feedback", "stored": true, "score": score });
    Ok(json_response(StatusCode::OK, body.to_string().into_bytes()))
}
