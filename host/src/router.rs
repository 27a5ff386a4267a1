//! The router: turns a canonical request into an attempt plan (the route's
//! policy decides; the static fallback order stands in when it fails) and
//! runs the plan — adapter builds, broker sends, adapter parses — failing over
//! on connect errors, timeouts, 429, 5xx and plugin faults. A stream fails
//! over only until its first content event; after that a break ends it with an
//! error, never a clean end.
//!
//! The router knows nothing of the client's HTTP framing or dialect: it takes
//! and returns canonical values and [`ApiError`]s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;

pub(crate) mod filter;

use crate::breaker::BreakerConfig;
use crate::broker::{self, SendError};
use crate::config::{FailureKind, RetryConfig};
use crate::error::ApiError;
use crate::gateway::{Gateway, Generation, ModelTarget, Resolved, Route};
use crate::runtime::types::{
    ChatRequest, ChatResponse, ErrorKind, HttpResponse, ProviderError, StreamEvent,
};
use crate::runtime::{AdapterInstance, Candidate, DecoderHandle, RequestView};
use crate::stats::{InFlight, PluginFault};

/// Largest upstream body read for a non-streaming answer or an error.
const MAX_UPSTREAM_BODY: usize = 64 << 20;

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

/// What a stream yields next.
pub enum StreamItem {
    /// More events.
    Events(Vec<StreamEvent>),
    /// The last events of a complete stream.
    End(Vec<StreamEvent>),
    /// The stream broke after content was sent.
    Broken(ApiError),
}

/// A committed upstream stream, decoded by its attempt's adapter instance.
pub struct EventStream {
    first: Vec<StreamEvent>,
    inst: AdapterInstance,
    decoder: DecoderHandle,
    resp: reqwest::Response,
    idle: Duration,
    target: Arc<ModelTarget>,
    started: Instant,
    ttft: Duration,
    /// The upstream already ended cleanly; `first` holds its last events.
    ended: bool,
    breaker: BreakerConfig,
    done: bool,
    _in_flight: InFlight,
    /// The adapter's error counters (a fault mid-stream counts too).
    faults: Arc<crate::stats::PluginCounters>,
    /// The request, to estimate usage when the upstream reports none.
    request: Arc<ChatRequest>,
    saw_usage: bool,
    /// Bytes of generated text, for the estimate (no copy of the text).
    generated_bytes: usize,
}

impl EventStream {
    /// The next events; `None` after the stream ended. A stream that ends
    /// without the upstream reporting usage gets an estimated usage event
    /// (the prompt counted with tiktoken, the output from its length), so cost accounting
    /// never silently sees zero.
    pub async fn next(&mut self) -> Option<StreamItem> {
        let mut item = self.next_raw().await?;
        match &mut item {
            StreamItem::Events(ev) => self.observe(ev),
            StreamItem::End(ev) => {
                self.observe(ev);
                if !self.saw_usage {
                    let prompt = filter::count_tokens(&self.request).unwrap_or(0);
                    // ~4 bytes a token, the same rule as the cheap prompt estimate.
                    let completion =
                        u32::try_from(self.generated_bytes.div_ceil(4)).unwrap_or(u32::MAX);
                    tracing::debug!(model = %self.target.name, "upstream reported no usage; estimated it");
                    let usage = crate::runtime::types::Usage {
                        prompt_tokens: prompt,
                        completion_tokens: completion,
                        total_tokens: prompt + completion,
                        cached_tokens: None,
                        reasoning_tokens: None,
                    };
                    count_usage(&self.target, &usage);
                    ev.push(StreamEvent::Usage(usage));
                }
            }
            StreamItem::Broken(_) => {}
        }
        Some(item)
    }

    fn observe(&mut self, events: &[StreamEvent]) {
        for e in events {
            match e {
                StreamEvent::Usage(u) => {
                    self.saw_usage = true;
                    count_usage(&self.target, u);
                }
                StreamEvent::Text(t) if !self.saw_usage => self.generated_bytes += t.text.len(),
                StreamEvent::ToolCall(t) if !self.saw_usage => {
                    if let Some(n) = &t.name {
                        self.generated_bytes += n.len();
                    }
                    self.generated_bytes += t.arguments.len();
                }
                _ => {}
            }
        }
    }

    async fn next_raw(&mut self) -> Option<StreamItem> {
        if self.done {
            return None;
        }
        if self.ended {
            self.done = true;
            return Some(StreamItem::End(std::mem::take(&mut self.first)));
        }
        if !self.first.is_empty() {
            return Some(StreamItem::Events(std::mem::take(&mut self.first)));
        }
        loop {
            let item = match broker::next_chunk(&mut self.resp, self.idle).await {
                Ok(Some(bytes)) => match self.inst.feed(self.decoder, &bytes).await {
                    Ok(Ok(events)) if events.is_empty() => continue,
                    Ok(Ok(events)) => StreamItem::Events(events),
                    Ok(Err(e)) => self.broken(describe_provider(&e)),
                    Err(e) => {
                        self.faults.record(e.fault());
                        self.broken(e.to_string())
                    }
                },
                Ok(None) => match self.inst.finish(self.decoder).await {
                    Ok(Ok(events)) => {
                        self.done = true;
                        self.target
                            .stats
                            .record(true, self.started.elapsed(), Some(self.ttft));
                        StreamItem::End(events)
                    }
                    Ok(Err(e)) => self.broken(describe_provider(&e)),
                    Err(e) => {
                        self.faults.record(e.fault());
                        self.broken(e.to_string())
                    }
                },
                Err(e) => self.broken(e.to_string()),
            };
            return Some(item);
        }
    }

    fn broken(&mut self, why: String) -> StreamItem {
        self.done = true;
        self.target
            .stats
            .record(false, self.started.elapsed(), None);
        self.target.stats.breaker.failure(&self.breaker);
        tracing::warn!(model = %self.target.name, provider = %self.target.provider_name, "stream broke after content was sent: {why}");
        StreamItem::Broken(
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!(
                    "The upstream stream from `{}` (provider `{}`) broke after content was sent: {why}. The answer is incomplete.",
                    self.target.name, self.target.provider_name
                ),
            )
            .code("stream_interrupted"),
        )
    }
}

/// One failed attempt.
#[derive(Debug)]
struct Failure {
    model: String,
    provider: String,
    /// `None`: the target was skipped because its breaker is open.
    kind: Option<FailureKind>,
    message: String,
    retry_after_ms: Option<u64>,
}

enum AttemptError {
    /// Try the next attempt.
    Next(Failure),
    /// The upstream refused the request itself; another target would too.
    Fatal(ApiError),
}

fn describe_provider(e: &ProviderError) -> String {
    let mut s = String::new();
    if let Some(st) = e.status {
        s.push_str(&format!("{st} "));
    }
    s.push_str(&format!("{:?}", e.kind).to_lowercase());
    if let Some(c) = &e.code {
        s.push_str(&format!(" ({c})"));
    }
    s.push_str(": ");
    s.push_str(&e.message);
    s
}

/// Serve one request.
pub async fn chat(
    gw: &Arc<Gateway>,
    generation: &Arc<Generation>,
    req: ChatRequest,
    metadata: Vec<(String, String)>,
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
            filter::usable(one, &needs, &format!("`{}`", m.name))?;
            (vec![(m.clone(), None)], vec![], &default_retry)
        }
        Resolved::Route(route) => {
            let needs = filter::Needs::of(&req, &route.models);
            let usable = filter::usable(&route.models, &needs, &format!("route `{}`", route.name))?;
            let (plan, labels) = plan(
                gw,
                generation,
                route,
                usable,
                &req,
                needs.prompt_tokens,
                metadata,
            )
            .await;
            if let Some(reason) = label_value(&labels, "fallback") {
                gw.stats.count_fallback(&route.name, reason);
            }
            (plan, labels, &route.retry)
        }
    };
    let route = match &resolved {
        Resolved::Route(r) if r.observe => Some(r.clone()),
        _ => None,
    };
    let labels_for_outcome = route.as_ref().map(|_| labels.clone());
    let mut last = Last::default();
    let result = execute(
        gw, generation, &req, plan, labels, retry, started, &mut last,
    )
    .await;
    if let (Some(route), Some(labels)) = (route, labels_for_outcome) {
        observe(gw, route, &result, last, labels, started);
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
struct Last {
    model: String,
    attempts: u32,
    kind: Option<FailureKind>,
}

/// Tell the route's policy how the request ended, off the request path.
fn observe(
    gw: &Arc<Gateway>,
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
    let outcome = crate::runtime::Outcome {
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
    let gw = gw.clone();
    tokio::spawn(async move {
        if let Err(e) = route.pool.observe(&gw.runtime, &outcome).await {
            tracing::warn!(route = %route.name, "policy outcome hook failed: {e}");
        }
    });
}

/// Run the plan: attempts in order, with retries, breakers and the deadline.
#[allow(clippy::too_many_arguments)]
async fn execute(
    gw: &Arc<Gateway>,
    generation: &Arc<Generation>,
    req: &Arc<ChatRequest>,
    plan: Plan,
    labels: Vec<(String, String)>,
    retry: &RetryConfig,
    started: Instant,
    last: &mut Last,
) -> Result<Reply, ApiError> {
    let planned: Vec<String> = plan.iter().map(|(t, _)| t.name.clone()).collect();
    let breaker = &generation.config.breaker;
    let deadline = started + Duration::from_millis(retry.deadline_ms);
    let mut failures = Vec::new();
    let mut attempts = 0u32;
    for (target, overrides) in &plan {
        let req = match overrides {
            Some(o) => Arc::new(apply_overrides(req, o)),
            None => req.clone(),
        };
        let mut tries = 0u32;
        loop {
            if !target.stats.breaker.allow(breaker) {
                failures.push(Failure {
                    model: target.name.clone(),
                    provider: target.provider_name.clone(),
                    kind: None,
                    message: "skipped: its circuit breaker is open".into(),
                    retry_after_ms: None,
                });
                break;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                target.stats.breaker.release();
                return Err(deadline_exceeded(retry, failures));
            }
            tries += 1;
            attempts += 1;
            let served = Served {
                model: target.name.clone(),
                provider: target.provider_name.clone(),
                simulated: target.provider.simulated,
                attempts,
                labels: labels.clone(),
                plan: planned.clone(),
            };
            let timeout = overrides
                .as_ref()
                .and_then(|o| o.timeout)
                .unwrap_or_else(|| target.provider.first_byte_timeout())
                .min(remaining);
            last.model.clone_from(&target.name);
            last.attempts = attempts;
            last.kind = None;
            let result = attempt(gw, generation, target, &req, timeout, served).await;
            target.stats.count_attempt(match &result {
                Ok(_) => None,
                Err(AttemptError::Fatal(_)) => Some(FailureKind::Refused),
                Err(AttemptError::Next(f)) => Some(f.kind.unwrap_or(FailureKind::Upstream)),
            });
            match result {
                Ok(reply) => {
                    target.stats.breaker.success(breaker);
                    return Ok(reply);
                }
                Err(AttemptError::Fatal(e)) => {
                    last.kind = Some(FailureKind::Refused);
                    // The request itself was refused: nothing about the target.
                    target.stats.breaker.release();
                    return Err(e);
                }
                Err(AttemptError::Next(f)) => {
                    let kind = f.kind.unwrap_or(FailureKind::Upstream);
                    last.kind = Some(kind);
                    if kind == FailureKind::Refused {
                        target.stats.breaker.release();
                    } else {
                        target.stats.breaker.failure(breaker);
                    }
                    tracing::warn!(model = %f.model, provider = %f.provider, attempt = attempts, "attempt failed: {}", f.message);
                    let wait = (tries < retry.attempts_per_target
                        && retry.retry_on.contains(&kind))
                    .then(|| retry_wait(retry, tries, f.retry_after_ms))
                    .flatten()
                    .filter(|w| Instant::now() + *w < deadline);
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    failures.push(f);
                    if !retry.failover_on.contains(&kind) {
                        return Err(all_failed(failures));
                    }
                    break;
                }
            }
        }
    }
    Err(all_failed(failures))
}

/// How long to wait before trying the same target again: the upstream's
/// Retry-After when it gave one (unless longer than the route accepts, then
/// `None`: move on), else exponential backoff with full jitter.
fn retry_wait(retry: &RetryConfig, tries: u32, retry_after_ms: Option<u64>) -> Option<Duration> {
    if let Some(ms) = retry_after_ms {
        return (ms <= retry.max_retry_after_ms).then(|| Duration::from_millis(ms));
    }
    let cap = retry
        .backoff_ms
        .saturating_mul(1u64 << tries.saturating_sub(1).min(20))
        .min(retry.max_backoff_ms);
    Some(Duration::from_millis(rand::random_range(0..=cap)))
}

fn deadline_exceeded(retry: &RetryConfig, failures: Vec<Failure>) -> ApiError {
    let tried = failures
        .iter()
        .map(|f| format!("`{}` via `{}`: {}", f.model, f.provider, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_error",
        format!(
            "The request's deadline of {} ms passed before any attempt succeeded{}{tried}.",
            retry.deadline_ms,
            if tried.is_empty() { "" } else { ": " }
        ),
    )
    .code("deadline_exceeded")
}

/// Per-attempt changes a policy asked for.
struct Overrides {
    timeout: Option<Duration>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
}

fn apply_overrides(req: &ChatRequest, o: &Overrides) -> ChatRequest {
    let mut r = req.clone();
    if let Some(m) = o.max_tokens {
        if r.max_completion_tokens.is_some() {
            r.max_completion_tokens = Some(m);
        } else {
            r.max_tokens = Some(m);
        }
    }
    if let Some(t) = o.temperature {
        r.temperature = Some(t);
    }
    r
}

type Plan = Vec<(Arc<ModelTarget>, Option<Overrides>)>;

/// Ask the route's policy for the attempt plan; fall back to the static order
/// if it fails in any way.
async fn plan(
    gw: &Arc<Gateway>,
    generation: &Arc<Generation>,
    route: &Route,
    usable: Vec<Arc<ModelTarget>>,
    req: &Arc<ChatRequest>,
    token_estimate: u32,
    metadata: Vec<(String, String)>,
) -> (Plan, Vec<(String, String)>) {
    // The static order, restricted to the models that can serve the request.
    let fallback = || -> Plan {
        let mut p: Plan = route
            .fallback
            .iter()
            .filter(|m| usable.iter().any(|u| Arc::ptr_eq(u, m)))
            .map(|m| (m.clone(), None))
            .collect();
        if p.is_empty() {
            p = usable.iter().map(|m| (m.clone(), None)).collect();
        }
        p
    };
    let breaker = &generation.config.breaker;
    let candidates: Vec<Candidate> = usable
        .iter()
        .map(|m| Candidate {
            model: m.name.clone(),
            provider: m.provider_name.clone(),
            capabilities: m.capabilities.clone(),
            context_window: m.context_window,
            input_price: m.input_price,
            output_price: m.output_price,
            quality: m.quality,
            stats: m.stats.snapshot(breaker),
        })
        .collect();
    let view = RequestView {
        request: req.clone(),
        token_estimate,
        metadata: Arc::new(metadata),
    };
    let policy = &route.policy;
    let calls: Arc<dyn crate::runtime::Completer> = Arc::new(crate::complete::ModelCalls::new(
        gw.clone(),
        generation.clone(),
    ));
    let decision = match route
        .pool
        .route(&gw.runtime, view, &candidates, Some(calls))
        .await
    {
        Ok(Ok(d)) => d,
        Ok(Err(msg)) => {
            gw.stats.plugin_fault(&policy.name, PluginFault::ErrorValue);
            tracing::warn!(route = %route.name, policy = %policy.name, "policy returned an error, using the fallback order: {msg}");
            return (fallback(), vec![("fallback".into(), "policy-error".into())]);
        }
        Err(e) => {
            gw.stats.plugin_fault(&policy.name, e.fault());
            tracing::warn!(route = %route.name, "{e}; using the fallback order");
            return (fallback(), vec![("fallback".into(), "policy-fault".into())]);
        }
    };
    let mut plan = Vec::with_capacity(usable.len());
    // Each candidate once: retries of a target are the route's business
    // (`attempts_per_target`), and a policy naming one candidate a million
    // times must not make the router try it a million times.
    let mut planned = vec![false; usable.len()];
    for a in &decision.attempts {
        let Some(m) = usable.get(a.candidate as usize) else {
            gw.stats.plugin_fault(&policy.name, PluginFault::BadReturn);
            tracing::warn!(
                route = %route.name, policy = %policy.name,
                "policy chose candidate {} of {}; using the fallback order", a.candidate, usable.len()
            );
            return (
                fallback(),
                vec![("fallback".into(), "policy-bad-return".into())],
            );
        };
        if std::mem::replace(&mut planned[a.candidate as usize], true) {
            continue;
        }
        let o = (a.timeout_ms.is_some() || a.max_tokens.is_some() || a.temperature.is_some()).then(
            || Overrides {
                timeout: a.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                max_tokens: a.max_tokens,
                temperature: a.temperature,
            },
        );
        plan.push((m.clone(), o));
    }
    if plan.is_empty() {
        gw.stats.plugin_fault(&policy.name, PluginFault::BadReturn);
        tracing::warn!(route = %route.name, policy = %policy.name, "policy returned no attempts; using the fallback order");
        return (fallback(), vec![("fallback".into(), "policy-empty".into())]);
    }
    (plan, decision.labels)
}

/// Count an answer's tokens and cost against its model.
fn count_usage(target: &ModelTarget, u: &crate::runtime::types::Usage) {
    target.stats.count_usage(
        u.prompt_tokens,
        u.completion_tokens,
        target.input_price,
        target.output_price,
    );
}

fn next(
    target: &ModelTarget,
    kind: FailureKind,
    message: String,
    retry_after_ms: Option<u64>,
) -> AttemptError {
    AttemptError::Next(Failure {
        model: target.name.clone(),
        provider: target.provider_name.clone(),
        kind: Some(kind),
        message,
        retry_after_ms,
    })
}

fn send_failure(target: &ModelTarget, e: SendError) -> AttemptError {
    let kind = match e {
        SendError::Timeout(_) => FailureKind::Timeout,
        // The adapter tried to leave its provider's allowlist.
        SendError::Denied { .. } => FailureKind::Plugin,
        _ => FailureKind::Upstream,
    };
    next(target, kind, e.to_string(), None)
}

/// Map a classified upstream error to failover or a final answer.
fn provider_failure(target: &ModelTarget, e: ProviderError) -> AttemptError {
    let kind = match e.kind {
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter => {
            let status = e
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(|s| s.is_client_error())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let code = match e.kind {
                ErrorKind::ContextLength => "context_length_exceeded".to_owned(),
                ErrorKind::ContentFilter => "content_filter".to_owned(),
                _ => e.code.clone().unwrap_or_else(|| "upstream_rejected".into()),
            };
            return AttemptError::Fatal(
                ApiError::new(
                    status,
                    "invalid_request_error",
                    format!(
                        "`{}` (provider `{}`) rejected the request: {}",
                        target.name, target.provider_name, e.message
                    ),
                )
                .code(code),
            );
        }
        ErrorKind::RateLimited => FailureKind::RateLimited,
        ErrorKind::Overloaded => FailureKind::Overloaded,
        ErrorKind::Timeout => FailureKind::Timeout,
        ErrorKind::Auth => FailureKind::Auth,
        ErrorKind::NotFound => FailureKind::NotFound,
        _ => FailureKind::Upstream,
    };
    let retry = e.retry_after_ms;
    next(target, kind, describe_provider(&e), retry)
}

fn response_record(resp: &reqwest::Response, body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: resp.status().as_u16(),
        headers: resp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
        body,
    }
}

async fn attempt(
    gw: &Gateway,
    generation: &Generation,
    target: &Arc<ModelTarget>,
    req: &Arc<ChatRequest>,
    first_byte: Duration,
    served: Served,
) -> Result<Reply, AttemptError> {
    let started = Instant::now();
    let in_flight = target.stats.start();
    let fail = |e: AttemptError| {
        if let AttemptError::Next(_) = e {
            target.stats.record(false, started.elapsed(), None);
        }
        e
    };
    let plugin_fault = |e: crate::runtime::PluginError| {
        gw.stats.plugin_fault(&target.adapter.name, e.fault());
        next(target, FailureKind::Plugin, e.to_string(), None)
    };

    let mut inst = gw
        .runtime
        .adapter(&target.adapter)
        .await
        .map_err(|e| fail(plugin_fault(e)))?;
    let http_req = match inst.build_request(req, &target.target).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            // The adapter cannot express this request for its provider;
            // another target may.
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
    let mut resp = gw
        .broker
        .send(
            &target.provider_name,
            &target.provider,
            secret,
            http_req,
            first_byte,
        )
        .await
        .map_err(|e| {
            if let SendError::Denied { .. } = e {
                gw.stats
                    .plugin_fault(&target.adapter.name, PluginFault::EgressDenied);
            }
            fail(send_failure(target, e))
        })?;

    if !resp.status().is_success() {
        let body = broker::read_body(&mut resp, idle, MAX_UPSTREAM_BODY)
            .await
            .unwrap_or_default();
        let record = response_record(&resp, body);
        let e = inst
            .classify_error(&record)
            .await
            .map_err(|e| fail(plugin_fault(e)))?;
        return Err(fail(provider_failure(target, e)));
    }

    if !req.stream {
        let body = broker::read_body(&mut resp, idle, MAX_UPSTREAM_BODY)
            .await
            .map_err(|e| fail(send_failure(target, e)))?;
        let record = response_record(&resp, body);
        return match inst.parse_response(&record, &target.target).await {
            Ok(Ok(mut r)) => {
                if r.model.is_empty() {
                    r.model = target.target.upstream_model.clone();
                }
                target.stats.record(true, started.elapsed(), None);
                target.stats.observe_latency(started.elapsed());
                if let Some(u) = &r.usage {
                    count_usage(target, u);
                }
                Ok(Reply::Complete(r, served))
            }
            Ok(Err(e)) => Err(fail(provider_failure(target, e))),
            Err(e) => Err(fail(plugin_fault(e))),
        };
    }

    // Streaming: read until the first content event before committing, so a
    // stall or an early break still fails over.
    let decoder = inst
        .stream_decoder(&target.target)
        .await
        .map_err(|e| fail(plugin_fault(e)))?;
    let deadline = started + first_byte;
    let mut first = Vec::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now()).min(idle);
        let chunk = broker::next_chunk(&mut resp, wait)
            .await
            .map_err(|e| fail(send_failure(target, e)))?;
        let (events, end) = match chunk {
            Some(bytes) => (inst.feed(decoder, &bytes).await, false),
            None => (inst.finish(decoder).await, true),
        };
        let events = match events {
            Ok(Ok(ev)) => ev,
            Ok(Err(e)) => return Err(fail(provider_failure(target, e))),
            Err(e) => return Err(fail(plugin_fault(e))),
        };
        let content = events.iter().any(|e| {
            matches!(
                e,
                StreamEvent::Text(_) | StreamEvent::ToolCall(_) | StreamEvent::Finish(_)
            )
        });
        first.extend(events);
        if end && !content {
            return Err(fail(next(
                target,
                FailureKind::Upstream,
                "stream ended without content".into(),
                None,
            )));
        }
        if content || end {
            let ttft = started.elapsed();
            target.stats.observe_latency(ttft);
            let mut stream = EventStream {
                first,
                inst,
                decoder,
                resp,
                idle,
                target: target.clone(),
                started,
                ttft,
                ended: false,
                breaker: generation.config.breaker.clone(),
                done: false,
                request: req.clone(),
                saw_usage: false,
                generated_bytes: 0,
                _in_flight: in_flight,
                faults: gw.stats.plugin(&target.adapter.name),
            };
            if end {
                stream.ended = true;
                target.stats.record(true, started.elapsed(), Some(ttft));
            }
            return Ok(Reply::Stream(Box::new(stream), served));
        }
    }
}

fn all_failed(failures: Vec<Failure>) -> ApiError {
    let n = failures.len();
    let tried = failures
        .iter()
        .map(|f| format!("`{}` via `{}`: {}", f.model, f.provider, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    let all = |k: FailureKind| n > 0 && failures.iter().all(|f| f.kind == Some(k));
    let (status, kind, code) = if all(FailureKind::RateLimited) {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
        )
    } else if all(FailureKind::Timeout) {
        (
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            "upstream_timeout",
        )
    } else if all(FailureKind::Refused) {
        (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unsupported_by_models",
        )
    } else if failures.iter().all(|f| {
        matches!(
            f.kind,
            None | Some(FailureKind::Overloaded | FailureKind::RateLimited)
        )
    }) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_error",
            "upstream_overloaded",
        )
    } else {
        (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_failed")
    };
    let mut e = ApiError::new(
        status,
        kind,
        if n == 1 {
            format!("The only attempt failed: {tried}.")
        } else {
            format!("All {n} attempts failed: {tried}.")
        },
    )
    .code(code);
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        e.retry_after = failures
            .iter()
            .filter_map(|f| f.retry_after_ms)
            .min()
            .map(|ms| ms.div_ceil(1000).max(1));
    }
    e
}
