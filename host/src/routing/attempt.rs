//! One upstream attempt: an adapter instance builds the provider's request,
//! the broker sends it (egress rule, key, timeouts), and the adapter parses
//! the answer or classifies the error. A stream is read up to its first
//! content event before the attempt counts as served, so a stall or an early
//! break still fails over (or, on a route with `stream_commit =
//! "first_event"`, up to its first event of any kind). Records the attempt
//! on the model's figures; never decides what happens after a failure
//! ([`super::retry`] does). `Upstream` is what a chat and an embeddings
//! attempt share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::failure::{AttemptError, describe_provider, next, provider_failure, send_failure};
use super::stream::EventStream;
use super::{Reply, Router, Served};
use crate::broker::{self, SendError};
use crate::canonical::{
    ChatRequest, HttpRequest, HttpResponse, OutputTally, ProviderError, StreamEvent,
};
use crate::config::{FailureKind, StreamCommit};
use crate::generation::{Generation, ModelTarget};
use crate::runtime::{PluginError, PluginFault, Tenant};

/// Largest upstream body read for a non-streaming answer or an error.
pub(super) const MAX_UPSTREAM_BODY: usize = 64 << 20;

/// What one attempt saw of its upstream, for the request's record.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// The upstream's HTTP status, once it answered.
    pub(super) status: Option<u16>,
    /// Time spent waiting on the upstream (send, body and chunk reads).
    pub(super) waited: Duration,
    /// Time to the first content event (streams).
    pub(super) ttft: Option<Duration>,
}

/// Await `f`, adding the time it took to `waited`.
pub(super) async fn timed<T>(waited: &mut Duration, f: impl Future<Output = T>) -> T {
    let t = Instant::now();
    let out = f.await;
    *waited += t.elapsed();
    out
}

pub(super) fn response_record(resp: &broker::Response, body: Vec<u8>) -> HttpResponse {
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

/// One attempt's target and the steps every kind of attempt shares: the
/// outcome on the model's figures, and the broker's send and body read.
pub(super) struct Upstream<'a> {
    pub(super) router: &'a Router,
    pub(super) generation: &'a Generation,
    pub(super) target: &'a Arc<ModelTarget>,
    pub(super) started: Instant,
}

impl Upstream<'_> {
    /// A failed attempt, recorded on the model's figures when it fails over.
    pub(super) fn fail(&self, e: AttemptError) -> AttemptError {
        if let AttemptError::Next(_) = e {
            self.target
                .stats
                .record(false, self.started.elapsed(), None);
        }
        e
    }

    /// The adapter failed (counted against the plugin): fail over.
    pub(super) fn plugin_fault(&self, e: PluginError) -> AttemptError {
        let t = self.target;
        self.router.stats.plugin_fault(&t.adapter.name, e.fault());
        self.fail(next(t, FailureKind::Plugin, e.to_string(), None))
    }

    /// The adapter cannot express the request for its provider; another
    /// target may.
    pub(super) fn refused(&self, e: &ProviderError) -> AttemptError {
        self.fail(next(
            self.target,
            FailureKind::Refused,
            describe_provider(e),
            None,
        ))
    }

    /// The provider's error, as the adapter classified it.
    pub(super) fn provider(&self, e: ProviderError) -> AttemptError {
        self.fail(provider_failure(self.target, e))
    }

    /// Send the adapter's request through the broker (egress rule, the
    /// provider's key, the first-byte timeout) and note the status.
    pub(super) async fn send(
        &self,
        req: HttpRequest,
        first_byte: Duration,
        seen: &mut Seen,
    ) -> Result<broker::Response, AttemptError> {
        let t = self.target;
        let secret = self.generation.secrets.get(&t.provider_name);
        let sent = self
            .router
            .broker
            .send(&t.provider_name, &t.provider, secret, req, first_byte);
        let resp = timed(&mut seen.waited, sent).await.map_err(|e| {
            if let SendError::Denied { .. } = e {
                self.router
                    .stats
                    .plugin_fault(&t.adapter.name, PluginFault::EgressDenied);
            }
            self.fail(send_failure(t, e))
        })?;
        seen.status = Some(resp.status().as_u16());
        Ok(resp)
    }

    /// Read the whole answer (an error's body: what could be read).
    pub(super) async fn read(
        &self,
        resp: &mut broker::Response,
        seen: &mut Seen,
    ) -> Result<HttpResponse, AttemptError> {
        let idle = self.target.provider.idle_timeout();
        let body = timed(
            &mut seen.waited,
            broker::read_body(resp, idle, MAX_UPSTREAM_BODY),
        )
        .await;
        let body = match body {
            Ok(b) => b,
            Err(_) if !resp.status().is_success() => Vec::new(),
            Err(e) => return Err(self.fail(send_failure(self.target, e))),
        };
        Ok(response_record(resp, body))
    }

    /// A served attempt, on the model's figures.
    pub(super) fn served(&self) {
        let took = self.started.elapsed();
        self.target.stats.record(true, took, None);
        self.target.stats.observe_latency(took);
    }
}

/// Run one call on a warm instance from `$pool` (a model's adapter or
/// embedding instances) for `$tenant`, giving the instance back afterwards;
/// `$inst` names it in `$call`.
macro_rules! on_warm {
    ($router:expr, $pool:expr, $tenant:expr, |$inst:ident| $call:expr) => {
        match $pool.take(&$router.runtime, $tenant).await {
            Ok(mut $inst) => {
                let r = $call.await;
                $pool.give_back($inst);
                r
            }
            Err(e) => Err(e),
        }
    };
}
pub(super) use on_warm;
#[allow(clippy::too_many_arguments)]
pub(super) async fn attempt(
    router: &Router,
    generation: &Generation,
    target: &Arc<ModelTarget>,
    req: &Arc<ChatRequest>,
    tenant: &Tenant,
    commit: StreamCommit,
    first_byte: Duration,
    served: Served,
    seen: &mut Seen,
) -> Result<Reply, AttemptError> {
    let started = Instant::now();
    let in_flight = target.stats.start();
    let up = Upstream {
        router,
        generation,
        target,
        started,
    };
    let built = on_warm!(router, target.adapters, tenant, |inst| inst
        .build_request(req, &target.target));
    let http_req = match built {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(up.refused(&e)),
        Err(e) => return Err(up.plugin_fault(e)),
    };
    let idle = target.provider.idle_timeout();
    let mut resp = up.send(http_req, first_byte, seen).await?;

    if !resp.status().is_success() {
        let record = up.read(&mut resp, seen).await?;
        let e = on_warm!(router, target.adapters, tenant, |inst| inst
            .classify_error(&record))
        .map_err(|e| up.plugin_fault(e))?;
        return Err(up.provider(e));
    }

    if !req.stream {
        let record = up.read(&mut resp, seen).await?;
        let parsed = on_warm!(router, target.adapters, tenant, |inst| inst
            .parse_response(&record, &target.target));
        return match parsed {
            Ok(Ok(mut r)) => {
                if r.model.is_empty() {
                    r.model = target.target.upstream_model.clone();
                }
                up.served();
                Ok(Reply::Complete(r, served))
            }
            Ok(Err(e)) => Err(up.provider(e)),
            Err(e) => Err(up.plugin_fault(e)),
        };
    }

    // Streaming: the decoder lives in one instance until the stream ends.
    // Read until the first content event before committing, so a stall or
    // an early break still fails over.
    let mut inst = target
        .adapters
        .take(&router.runtime, tenant)
        .await
        .map_err(|e| up.plugin_fault(e))?;
    let decoder = inst
        .stream_decoder(&target.target)
        .await
        .map_err(|e| up.plugin_fault(e))?;
    let deadline = started + first_byte;
    let mut first = Vec::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now()).min(idle);
        let chunk = timed(&mut seen.waited, broker::next_chunk(&mut resp, wait))
            .await
            .map_err(|e| up.fail(send_failure(target, e)))?;
        let (events, end) = match chunk {
            Some(bytes) => (inst.feed(decoder, &bytes).await, false),
            None => (inst.finish(decoder).await, true),
        };
        let events = match events {
            Ok(Ok(ev)) => ev,
            Ok(Err(e)) => return Err(up.provider(e)),
            Err(e) => return Err(up.plugin_fault(e)),
        };
        let content = events.iter().any(|e| {
            matches!(
                e,
                StreamEvent::Text(_) | StreamEvent::ToolCall(_) | StreamEvent::Finish(_)
            )
        });
        let early = commit == StreamCommit::FirstEvent && !events.is_empty();
        first.extend(events);
        if end && !content {
            return Err(up.fail(next(
                target,
                FailureKind::Upstream,
                "stream ended without content".into(),
                None,
            )));
        }
        if content || end || early {
            // A stream committed before its content has its time to first
            // token taken when the content comes (`EventStream`).
            let ttft = content.then(|| started.elapsed());
            if let Some(ttft) = ttft {
                seen.ttft = Some(ttft);
                target.stats.observe_latency(ttft);
            }
            let mut stream = EventStream {
                first,
                inst: Some(inst),
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
                tally: OutputTally::default(),
                waited: Duration::ZERO,
                _in_flight: in_flight,
                faults: router.stats.plugin(&target.adapter.name),
            };
            if end {
                stream.ended = true;
                target.stats.record(true, started.elapsed(), ttft);
            }
            return Ok(Reply::Stream(Box::new(stream), served));
        }
    }
}
