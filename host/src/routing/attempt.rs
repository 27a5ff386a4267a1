//! One upstream attempt: an adapter instance builds the provider's request,
//! the broker sends it (egress rule, key, timeouts), and the adapter parses
//! the answer or classifies the error. A stream is read up to its first
//! content event before the attempt counts as served, so a stall or an early
//! break still fails over (or, on a route with `stream_commit =
//! "first_event"`, up to its first event of any kind). Records the attempt on the model's figures;
//! never decides what happens after a failure ([`super::retry`] does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::failure::{AttemptError, describe_provider, next, provider_failure, send_failure};
use super::stream::EventStream;
use super::{Reply, Router, Served};
use crate::broker::{self, SendError};
use crate::canonical::{ChatRequest, HttpResponse, OutputTally, StreamEvent};
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

pub(super) fn response_record(resp: &reqwest::Response, body: Vec<u8>) -> HttpResponse {
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

/// Run one call on a warm adapter instance of `$target` for `$tenant`,
/// giving the instance back afterwards; `$inst` names it in `$call`.
macro_rules! on_adapter {
    ($router:expr, $target:expr, $tenant:expr, |$inst:ident| $call:expr) => {
        match $target.adapters.take(&$router.runtime, $tenant).await {
            Ok(mut $inst) => {
                let r = $call.await;
                $target.adapters.give_back($inst);
                r
            }
            Err(e) => Err(e),
        }
    };
}
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

    let built = on_adapter!(router, target, tenant, |inst| inst
        .build_request(req, &target.target));
    let http_req = match built {
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

    if !resp.status().is_success() {
        let body = timed(
            &mut seen.waited,
            broker::read_body(&mut resp, idle, MAX_UPSTREAM_BODY),
        )
        .await
        .unwrap_or_default();
        let record = response_record(&resp, body);
        let e = on_adapter!(router, target, tenant, |inst| inst.classify_error(&record))
            .map_err(|e| fail(plugin_fault(e)))?;
        return Err(fail(provider_failure(target, e)));
    }

    if !req.stream {
        let body = timed(
            &mut seen.waited,
            broker::read_body(&mut resp, idle, MAX_UPSTREAM_BODY),
        )
        .await
        .map_err(|e| fail(send_failure(target, e)))?;
        let record = response_record(&resp, body);
        let parsed = on_adapter!(router, target, tenant, |inst| inst
            .parse_response(&record, &target.target));
        return match parsed {
            Ok(Ok(mut r)) => {
                if r.model.is_empty() {
                    r.model = target.target.upstream_model.clone();
                }
                target.stats.record(true, started.elapsed(), None);
                target.stats.observe_latency(started.elapsed());
                Ok(Reply::Complete(r, served))
            }
            Ok(Err(e)) => Err(fail(provider_failure(target, e))),
            Err(e) => Err(fail(plugin_fault(e))),
        };
    }

    // Streaming: the decoder lives in one instance until the stream ends.
    // Read until the first content event before committing, so a stall or
    // an early break still fails over.
    let mut inst = target
        .adapters
        .take(&router.runtime, tenant)
        .await
        .map_err(|e| fail(plugin_fault(e)))?;
    let decoder = inst
        .stream_decoder(&target.target)
        .await
        .map_err(|e| fail(plugin_fault(e)))?;
    let deadline = started + first_byte;
    let mut first = Vec::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now()).min(idle);
        let chunk = timed(&mut seen.waited, broker::next_chunk(&mut resp, wait))
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
        let early = commit == StreamCommit::FirstEvent && !events.is_empty();
        first.extend(events);
        if end && !content {
            return Err(fail(next(
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
