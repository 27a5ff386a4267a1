//! The embeddings endpoint, `POST /v1/embeddings` (OpenAI's dialect):
//! authenticate the key (before the body is read), read and check the body
//! ([`wire`]), admit the request against the key's limits with its input
//! token estimate, route it ([`crate::routing::embed`]) and write OpenAI's
//! answer with the `x-switchyard-*` headers and the cost (input tokens at
//! the model's input price). An error at any step is one clean OpenAI
//! error. It never talks to an upstream itself.

pub mod wire;

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use self::wire::{parse_request, render};
use super::chat::{COST_HEADER, served_headers, usd_text};
use super::request_id::RequestId;
use super::{Body, Dialect, dialect_error, input, json_response};
use crate::canonical::tokens_from_bytes;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::ledger::Pending;
use crate::limits::Limiter;
use crate::routing::embed::{candidates, embed};

/// Estimated input tokens of each text (at least one each).
fn estimates(input: &[String]) -> impl Iterator<Item = u64> + '_ {
    input.iter().map(|t| tokens_from_bytes(t.len()).max(1))
}

/// Serve one embeddings request: every exit finishes the request's record.
pub async fn embeddings(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let generation = gw.current();
    let id = RequestId::current().unwrap_or_default();
    let mut pending = gw
        .ledger
        .begin(generation.clone(), id.to_string(), "embeddings");
    let fail = |pending: Pending, e: &ApiError| {
        pending.fail(e);
        dialect_error(e, Dialect::OpenAi)
    };
    let (caller, body) = match input::envelope(&generation, &mut pending, req).await {
        Ok(e) => (e.caller, e.body),
        Err((e, close)) => return input::refused(fail(pending, &e), close),
    };
    let (request, encoding) =
        match parse_request(&body).and_then(|r| input::model_name(&r.0.model).map(|()| r)) {
            Ok(r) => r,
            Err(e) => return fail(pending, &e),
        };
    pending.request(&request.model, false, &body);
    let (targets, route) = match candidates(&generation, &request.model) {
        Ok(c) => c,
        Err(e) => return fail(pending, &e),
    };
    // Each text must fit the smallest context window among the candidates.
    let window = targets.iter().map(|t| t.context_window).min().unwrap_or(0);
    if let Some((i, n)) = estimates(&request.input)
        .enumerate()
        .find(|(_, n)| *n > u64::from(window))
    {
        let e = ApiError::invalid(format!(
            "`input[{i}]` is ~{n} tokens, more than the {window} the model `{}` takes.",
            request.model
        ))
        .param("input")
        .code("context_length_exceeded");
        return fail(pending, &e);
    }
    let estimate: u64 = estimates(&request.input).sum();
    if let Some(key) = &caller {
        if !key.allows(&request.model) {
            return fail(pending, &key.not_allowed(&request.model));
        }
        let reserve = Limiter::reservation(key, estimate);
        match gw.limiter.admit(&generation.quotas, key, reserve).await {
            Ok(slot) => pending.admitted(slot),
            Err(e) => return fail(pending, &e),
        }
    }
    let model = request.model.clone();
    let routed = embed(
        &gw.router,
        &generation,
        targets,
        route,
        request,
        pending.record_mut(),
    )
    .await;
    match routed {
        Err(e) => {
            tracing::warn!(request_id = %id, model = %model, status = e.status.as_u16(), "embeddings request failed: {}", e.message);
            fail(pending, &e)
        }
        Ok((resp, served)) => {
            let tokens = resp
                .prompt_tokens
                .unwrap_or_else(|| u32::try_from(estimate).unwrap_or(u32::MAX));
            pending.served(&served);
            pending.embedded(tokens);
            let body = render(&resp, &model, u64::from(tokens), encoding);
            let cost = pending.complete(body.len());
            let mut r = json_response(StatusCode::OK, body);
            served_headers(&mut r, &served);
            if let Ok(v) = HeaderValue::from_str(&usd_text(cost)) {
                r.headers_mut().insert(COST_HEADER, v);
            }
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::estimates;

    #[test]
    fn every_text_counts_at_least_one_token() {
        let input = vec!["".to_owned(), "abcdefgh".to_owned(), "abcde".to_owned()];
        assert_eq!(estimates(&input).collect::<Vec<_>>(), vec![1, 2, 2]);
    }
}
