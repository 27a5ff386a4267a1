//! Routing: turns a canonical request into an attempt plan and runs it.
//! The route's policy decides the plan (the static fallback order stands in
//! when it fails); the plan's attempts run in order — adapter builds, broker
//! sends, adapter parses — retrying and failing over on connect errors,
//! timeouts, 429, 5xx and plugin faults. A stream fails over only until its
//! first content event; after that a break ends it with an error, never a
//! clean end.
//!
//! Read in the order a request goes: [`filter`] (which candidates can serve
//! it), [`plan`] (the policy call and its decision as a plan), [`run`] (the
//! attempt loop, with the breakers of [`crate::monitor::breaker`]), [`retry`]
//! (the loop's next step after a failure, and backoff), [`attempt`] (one
//! upstream attempt up to its first content), [`stream`] (a committed
//! stream), [`failure`] (failed attempts and the client's error when all
//! fail). [`complete`] serves a policy's `models.complete` through the same
//! path; [`embed`] serves embeddings requests through the same loop.
//!
//! The router knows nothing of the client's HTTP framing or dialect: it takes
//! and returns canonical values and [`ApiError`]s. It never touches a key's
//! limits (ingress does, before and after).

pub mod attempt;
pub mod complete;
pub mod embed;
pub mod failure;
pub mod filter;
pub mod plan;
pub mod retry;
pub mod run;
pub mod stream;

use std::sync::Arc;
use std::time::Instant;

use crate::broker::Broker;
use crate::canonical::{ChatRequest, ChatResponse};
use crate::config::{FailureKind, RetryConfig};
use crate::error::ApiError;
use crate::generation::{Generation, Resolved, Route};
use crate::monitor::{Quality, Stats};
use crate::record::Record;
use crate::runtime::{Outcome, Runtime};

pub use self::complete::CompletionCache;
pub use self::stream::{EventStream, StreamItem};

/// The process-wide parts a request is routed with: the component runtime,
/// the broker, the live figures and the cache of policies' model calls.
/// The generation (config and plugins) is handed in per request.
pub struct Router {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// Outbound HTTP.
    pub broker: Broker,
    /// Live figures.
    pub stats: Arc<Stats>,
    /// Recent answers of policies' model calls.
    pub completions: CompletionCache,
    /// Answer quality per (route, model, score), for policies.
    pub quality: Arc<Quality>,
    /// The score each route's quality is judged by when its config names
    /// none: the first score its evaluators reported.
    primary_scores: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Router {
    /// A router over `runtime` with a fresh broker, figures and cache.
    pub fn new(runtime: Arc<Runtime>, quality: Arc<Quality>) -> anyhow::Result<Router> {
        Ok(Router {
            runtime,
            broker: Broker::new()?,
            stats: Arc::default(),
            completions: CompletionCache::default(),
            quality,
            primary_scores: Default::default(),
        })
    }

    /// The score `route`'s quality is judged by: `configured` (its
    /// `quality_score`), else the first score its evaluators reported.
    pub fn primary_score(&self, route: &str, configured: Option<&str>) -> Option<String> {
        if let Some(c) = configured {
            return Some(c.to_owned());
        }
        self.primary_scores.lock().ok()?.get(route).cloned()
    }

    /// Note a score reported for `route`; the first becomes its primary
    /// score.
    pub fn saw_score(&self, route: &str, score: &str) {
        if let Ok(mut m) = self.primary_scores.lock()
            && !m.contains_key(route)
        {
            m.insert(route.to_owned(), score.to_owned());
        }
    }
}

/// Who served a request and how.
#[derive(Debug, Clone)]
pub struct Served {
    /// The config's model name.
    pub model: String,
    /// The provider's name.
    pub provider: String,
    /// Whether the provider is simulated.
    pub simulated: bool,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// The policy's labels.
    pub labels: Vec<(String, String)>,
    /// The planned models in attempt order (the policy's decision, or the
    /// fallback order).
    pub plan: Vec<String>,
}

/// The answer to a request.
pub enum Reply {
    /// A complete response.
    Complete(ChatResponse, Served),
    /// A stream that has produced its first content.
    Stream(Box<EventStream>, Served),
}

/// Serve one request on `generation`.
pub async fn chat(
    router: &Arc<Router>,
    generation: &Arc<Generation>,
    req: ChatRequest,
    metadata: Vec<(String, String)>,
    rec: &mut Record,
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let resolved = generation
        .resolve(&req.model)
        .ok_or_else(|| ApiError::unknown_model(&req.model))?;
    let req = Arc::new(req);
    let default_retry = RetryConfig::default();
    let (plan, labels, retry) = match &resolved {
        Resolved::Model(m) => {
            let one = std::slice::from_ref(m);
            let needs = filter::Needs::of(&req, one);
            filter::usable(one, &needs, &format_args!("`{}`", m.name))?;
            (vec![(m.clone(), None)], vec![], &default_retry)
        }
        Resolved::Route(route) => {
            let needs = filter::Needs::of(&req, &route.models);
            let usable = filter::usable(
                &route.models,
                &needs,
                &format_args!("route `{}`", route.name),
            )?;
            let (plan, labels) = plan::plan(
                router,
                generation,
                route,
                usable,
                &req,
                needs.prompt_tokens,
                metadata,
            )
            .await;
            if let Some(reason) = label_value(&labels, "fallback") {
                router.stats.count_fallback(&route.name, reason);
            }
            rec.route = Some(route.name.clone());
            rec.policy = Some(route.policy.name.to_string());
            (plan, labels, &route.retry)
        }
    };
    let route = match &resolved {
        Resolved::Route(r) if r.observe => Some(r.clone()),
        _ => None,
    };
    let labels_for_outcome = route.as_ref().map(|_| labels.clone());
    rec.labels = labels.iter().cloned().collect();
    rec.plan = plan.iter().map(|(t, _)| t.name.clone()).collect();
    let mut last = Last::default();
    let result = run::execute(
        router, generation, &req, plan, labels, retry, started, &mut last, rec,
    )
    .await;
    if let (Some(route), Some(labels)) = (route, labels_for_outcome) {
        observe(router, route, &result, last, labels, started);
    }
    result
}

fn label_value<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What the last attempt of a request was: for the policy's outcome hook.
#[derive(Default)]
pub struct Last {
    /// The model of the last attempt.
    pub model: String,
    /// Attempts made.
    pub attempts: u32,
    /// How the last attempt failed, if it did.
    pub kind: Option<FailureKind>,
}

/// Tell the route's policy how the request ended, off the request path.
fn observe(
    router: &Arc<Router>,
    route: Arc<Route>,
    result: &Result<Reply, ApiError>,
    last: Last,
    labels: Vec<(String, String)>,
    started: Instant,
) {
    let (success, usage) = match result {
        Ok(Reply::Complete(resp, _)) => (true, resp.usage),
        Ok(Reply::Stream(..)) => (true, None),
        Err(_) => (false, None),
    };
    let outcome = Outcome {
        model: last.model,
        attempts: last.attempts,
        success,
        error: (!success).then(|| {
            match last.kind {
                Some(k) => k.name(),
                None if last.attempts == 0 => "breaker_open",
                None => "deadline",
            }
            .to_owned()
        }),
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
        prompt_tokens: usage.map(|u| u.prompt_tokens),
        completion_tokens: usage.map(|u| u.completion_tokens),
        labels,
    };
    let router = router.clone();
    tokio::spawn(async move {
        if let Err(e) = route.pool.observe(&router.runtime, &outcome).await {
            tracing::warn!(route = %route.name, "policy outcome hook failed: {e}");
        }
    });
}
