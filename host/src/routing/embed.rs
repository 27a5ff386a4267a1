//! Embeddings requests through the router: which models may serve one, and
//! one embeddings attempt (the adapter's `embeddings` export builds, the
//! broker sends, the adapter parses or classifies), run by the same attempt
//! loop as chat ([`super::run`]), so retries, failover, breakers,
//! the route's deadline and the request's record are the chat path's.
//!
//! Routes: the route's policy is **not** consulted (a policy decides over
//! chat requests, and its request view has no place for texts to embed).
//! The route's models that declare `embeddings` are tried in the route's
//! fallback order (`fallback`, else `models`), and the response's
//! `x-switchyard-labels` say `policy=static-embeddings`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::attempt::{MAX_UPSTREAM_BODY, Seen, response_record, timed};
use super::failure::{AttemptError, describe_provider, next, provider_failure, send_failure};
use super::plan::{Overrides, Plan};
use super::run::{Try, run_plan};
use super::{Last, Router, Served};
use crate::broker::{self, SendError};
use crate::config::{FailureKind, RetryConfig};
use crate::error::ApiError;
use crate::generation::{Generation, ModelTarget, Resolved, Route};
use crate::record::Record;
use crate::runtime::{PluginError, PluginFault};
use crate::wit::{EmbeddingsRequest, EmbeddingsResponse};

/// A 400 about `model`.
fn bad_model(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
        .param("model")
        .code("model_not_embeddings")
}

/// The models an embeddings request is tried on, in order, and the route
/// the client named, if it named one.
pub type Candidates = (Vec<Arc<ModelTarget>>, Option<Arc<Route>>);

/// The models that may serve an embeddings request for `model`, in the
/// order they are tried, or a 400 naming `model`.
pub fn candidates(generation: &Generation, model: &str) -> Result<Candidates, ApiError> {
    match generation.resolve(model) {
        None => Err(ApiError::unknown_model(model)),
        Some(Resolved::Model(m)) if m.embeds() => Ok((vec![m], None)),
        Some(Resolved::Model(m)) => Err(bad_model(format!(
            "Model `{}` does not serve embeddings: its `capabilities` do not include `embeddings`.",
            m.name
        ))),
        Some(Resolved::Route(r)) => {
            let order: Vec<Arc<ModelTarget>> =
                r.fallback.iter().filter(|m| m.embeds()).cloned().collect();
            if order.is_empty() {
                Err(bad_model(format!(
                    "Route `{}` has no model that serves embeddings (no model with `embeddings` in its `capabilities`).",
                    r.name
                )))
            } else {
                Ok((order, Some(r)))
            }
        }
    }
}

/// Serve one embeddings request for the client's `model` over `targets`
/// (from [`candidates`]).
pub async fn embed(
    router: &Arc<Router>,
    generation: &Arc<Generation>,
    targets: Vec<Arc<ModelTarget>>,
    route: Option<Arc<Route>>,
    req: EmbeddingsRequest,
    rec: &mut Record,
) -> Result<(EmbeddingsResponse, Served), ApiError> {
    let started = Instant::now();
    let default_retry = RetryConfig::default();
    let (labels, retry) = match &route {
        Some(r) => {
            rec.route = Some(r.name.clone());
            (
                vec![("policy".to_owned(), "static-embeddings".to_owned())],
                &r.retry,
            )
        }
        None => (vec![], &default_retry),
    };
    rec.labels = labels.iter().cloned().collect();
    rec.plan = targets.iter().map(|t| t.name.clone()).collect();
    let plan: Plan = targets.into_iter().map(|t| (t, None)).collect();
    let one = Embed {
        router,
        generation,
        req: &req,
    };
    let mut last = Last::default();
    run_plan(
        generation, plan, labels, retry, started, &mut last, rec, one,
    )
    .await
}

/// An embeddings attempt.
struct Embed<'a> {
    router: &'a Router,
    generation: &'a Generation,
    req: &'a EmbeddingsRequest,
}

impl Try for Embed<'_> {
    type Out = (EmbeddingsResponse, Served);

    async fn attempt(
        &mut self,
        target: &Arc<ModelTarget>,
        _overrides: Option<&Overrides>,
        timeout: Duration,
        served: Served,
        seen: &mut Seen,
    ) -> Result<Self::Out, AttemptError> {
        let r = attempt(
            self.router,
            self.generation,
            target,
            self.req,
            timeout,
            seen,
        )
        .await?;
        Ok((r, served))
    }
}

async fn attempt(
    router: &Router,
    generation: &Generation,
    target: &Arc<ModelTarget>,
    req: &EmbeddingsRequest,
    first_byte: Duration,
    seen: &mut Seen,
) -> Result<EmbeddingsResponse, AttemptError> {
    let started = Instant::now();
    let _in_flight = target.stats.start();
    let fail = |e: AttemptError| {
        if let AttemptError::Next(_) = e {
            target.stats.record(false, started.elapsed(), None);
        }
        e
    };
    let plugin_fault = |e: PluginError| {
        router.stats.plugin_fault(&target.adapter.name, e.fault());
        next(target, FailureKind::Plugin, e.to_string(), None)
    };
    let mut inst = router
        .runtime
        .embedder(&target.adapter)
        .await
        .map_err(|e| fail(plugin_fault(e)))?;
    let http_req = match inst.build_request(req, &target.target).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(fail(next(
                target,
                FailureKind::Refused,
                describe_provider(&e),
                None,
            )));
        }
        Err(e) => return Err(fail(plugin_fault(e))),
    };
    let idle = target.provider.idle_timeout();
    let secret = generation.secrets.get(&target.provider_name);
    let sent = router.broker.send(
        &target.provider_name,
        &target.provider,
        secret,
        http_req,
        first_byte,
    );
    let mut resp = timed(&mut seen.waited, sent).await.map_err(|e| {
        if let SendError::Denied { .. } = e {
            router
                .stats
                .plugin_fault(&target.adapter.name, PluginFault::EgressDenied);
        }
        fail(send_failure(target, e))
    })?;
    seen.status = Some(resp.status().as_u16());
    let ok = resp.status().is_success();
    let body = timed(
        &mut seen.waited,
        broker::read_body(&mut resp, idle, MAX_UPSTREAM_BODY),
    )
    .await;
    if !ok {
        let record = response_record(&resp, body.unwrap_or_default());
        let e = inst
            .classify_error(&record)
            .await
            .map_err(|e| fail(plugin_fault(e)))?;
        return Err(fail(provider_failure(target, e)));
    }
    let body = body.map_err(|e| fail(send_failure(target, e)))?;
    let record = response_record(&resp, body);
    match inst.parse_response(&record, req, &target.target).await {
        Ok(Ok(mut r)) => {
            if r.model.is_none() {
                r.model = Some(target.target.upstream_model.clone());
            }
            target.stats.record(true, started.elapsed(), None);
            target.stats.observe_latency(started.elapsed());
            Ok(r)
        }
        Ok(Err(e)) => Err(fail(provider_failure(target, e))),
        Err(e) => Err(fail(plugin_fault(e))),
    }
}
