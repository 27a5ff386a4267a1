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

use super::attempt::{Seen, Upstream, on_warm};
use super::failure::AttemptError;
use super::plan::{Overrides, Plan};
use super::run::{Try, run_plan};
use super::{Last, Router, Served};
use crate::config::RetryConfig;
use crate::error::ApiError;
use crate::generation::{Generation, ModelTarget, Resolved, Route};
use crate::record::Record;
use crate::runtime::Tenant;
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
        tenant: super::run::tenant(generation, rec),
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
    tenant: Tenant,
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
            &self.tenant,
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
    tenant: &Tenant,
    first_byte: Duration,
    seen: &mut Seen,
) -> Result<EmbeddingsResponse, AttemptError> {
    let _in_flight = target.stats.start();
    let up = Upstream {
        router,
        generation,
        target,
        started: Instant::now(),
    };
    let built = on_warm!(router, target.embedders, tenant, |inst| inst
        .build_request(req, &target.target));
    let http_req = match built {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(up.refused(&e)),
        Err(e) => return Err(up.plugin_fault(e)),
    };
    let mut resp = up.send(http_req, first_byte, seen).await?;
    let record = up.read(&mut resp, seen).await?;
    if !resp.status().is_success() {
        let e = on_warm!(router, target.embedders, tenant, |inst| inst
            .classify_error(&record))
        .map_err(|e| up.plugin_fault(e))?;
        return Err(up.provider(e));
    }
    let parsed = on_warm!(router, target.embedders, tenant, |inst| inst
        .parse_response(&record, req, &target.target));
    match parsed {
        Ok(Ok(mut r)) => {
            if r.model.is_none() {
                r.model = Some(target.target.upstream_model.clone());
            }
            up.served();
            Ok(r)
        }
        Ok(Err(e)) => Err(up.provider(e)),
        Err(e) => Err(up.plugin_fault(e)),
    }
}
