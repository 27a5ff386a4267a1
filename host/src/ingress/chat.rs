//! The chat endpoints, `POST /v1/chat/completions` and `POST /v1/messages`:
//! authenticate the key (before the body is read), read and parse the body,
//! admit the request against the key's limits, route it, and write the
//! answer — JSON or an SSE stream — in the client's dialect with the
//! `x-switchyard-*` headers, counting the key's usage once when the answer
//! is done. An error at any step is one clean error in the client's dialect.
//! It never talks to an upstream itself: [`crate::routing`] does.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};

use super::body::read_body;
use super::request_id::RequestId;
use super::{Body, Dialect, anthropic, dialect_error, input, json_response, openai};
use crate::canonical::StreamEvent;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::ledger::Pending;
use crate::limits::Limiter;
use crate::routing::{self, EventStream, Reply, Served, StreamItem};

const META_PREFIX: &str = "x-switchyard-meta-";

/// What a non-streaming answer cost, in USD at the model's prices (tokens
/// as the upstream reported them, else estimated).
pub const COST_HEADER: &str = "x-switchyard-cost-usd";

/// A USD amount as a header writes it: plain decimal, up to 10 places, no
/// trailing zeros (`0.0000123`, `0`).
pub(super) fn usd_text(usd: f64) -> String {
    if !usd.is_finite() || usd <= 0.0 {
        return "0".into();
    }
    let s = format!("{usd:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_owned()
    }
}

/// The `x-switchyard-*` headers saying who served an answer and how.
pub(super) fn served_headers(r: &mut Response<Body>, s: &Served) {
    let h = r.headers_mut();
    for (name, value) in [
        ("x-switchyard-model", s.model.as_str()),
        ("x-switchyard-provider", s.provider.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    h.insert("x-switchyard-attempts", HeaderValue::from(s.attempts));
    // The attempt plan and the policy's labels (`k=v`, comma-separated), so
    // a client or a test sees what the policy decided.
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (name, value) in [
        ("x-switchyard-plan", s.plan.join(",")),
        ("x-switchyard-labels", labels.join(",")),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if s.simulated {
        h.insert("x-switchyard-simulated", HeaderValue::from_static("true"));
    }
}

/// A stream encoder of either dialect.
enum Encoder {
    OpenAi(openai::SseEncoder),
    Anthropic(anthropic::SseEncoder),
}

impl Encoder {
    fn encode(&mut self, events: Vec<StreamEvent>, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.encode(events, out),
            Encoder::Anthropic(e) => e.encode(events, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.finish(out),
            Encoder::Anthropic(e) => e.finish(out),
        }
    }

    fn error(&self, err: &ApiError, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.error(err, out),
            Encoder::Anthropic(e) => e.error(err, out),
        }
    }
}

/// Serve one chat request in `dialect`: every exit, error or answer,
/// finishes the request's record in the ledger.
pub async fn chat(gw: &Arc<Gateway>, req: Request<Incoming>, dialect: Dialect) -> Response<Body> {
    let generation = gw.current();
    let id = RequestId::current().unwrap_or_default();
    let mut pending = gw
        .ledger
        .begin(generation.clone(), id.to_string(), dialect.name());
    let fail = |pending: Pending, e: &ApiError| {
        pending.fail(e);
        dialect_error(e, dialect)
    };
    // Keys are checked before the body is read: an unknown caller costs
    // nothing more.
    let caller = match generation.keys.authenticate(req.headers()) {
        Ok(c) => c,
        Err(e) => return fail(pending, &e),
    };
    if let Some(key) = &caller {
        pending.set_key(key);
    }
    if let Err(e) = input::content_type(req.headers()) {
        return fail(pending, &e);
    }
    let server = &generation.config.server;
    let body_timeout = std::time::Duration::from_millis(server.body_read_timeout_ms);
    let (parts, body) =
        match tokio::time::timeout(body_timeout, read_body(req, server.max_body_bytes)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return fail(pending, &e),
            Err(_) => {
                // The rest of the body may still be on its way: close the
                // connection rather than read it.
                let e = input::body_timeout(server.body_read_timeout_ms);
                let mut r = fail(pending, &e);
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        };
    let parsed = match dialect {
        Dialect::OpenAi => openai::parse_request(&body),
        Dialect::Anthropic => anthropic::parse_request(&body),
    };
    let canonical = match parsed.and_then(|r| input::model_name(&r.model).map(|()| r)) {
        Ok(r) => r,
        Err(e) => return fail(pending, &e),
    };
    pending.request(&canonical.model, canonical.stream, &body);
    if let Some(key) = &caller {
        if !key.allows(&canonical.model) {
            return fail(pending, &key.not_allowed(&canonical.model));
        }
        let reserve =
            Limiter::reservation(key, u64::from(crate::canonical::token_estimate(&canonical)));
        match gw.limiter.admit(&generation.quotas, key, reserve).await {
            Ok(slot) => pending.admitted(slot),
            Err(e) => return fail(pending, &e),
        }
    }
    let mut metadata = canonical.metadata.clone();
    for (k, v) in &parts.headers {
        if let Some(key) = k.as_str().strip_prefix(META_PREFIX)
            && let Ok(v) = v.to_str()
        {
            metadata.push((key.to_owned(), v.to_owned()));
        }
    }
    if pending.sampled() {
        // Evaluators and the shadow read the request after the answer.
        pending.keep_request(Arc::new(canonical.clone()), Arc::new(metadata.clone()));
    }
    let include_usage = canonical.include_usage;
    let model = canonical.model.clone();
    let prompt_estimate = crate::canonical::token_estimate(&canonical);
    let routed = routing::chat(
        &gw.router,
        &generation,
        canonical,
        metadata,
        pending.record_mut(),
    )
    .await;
    match routed {
        Err(e) => {
            tracing::warn!(request_id = %id, model = %model, status = e.status.as_u16(), "request failed: {}", e.message);
            fail(pending, &e)
        }
        Ok(Reply::Complete(resp, served)) => {
            pending.served(&served);
            pending.answered(&resp);
            let body = match dialect {
                Dialect::OpenAi => openai::render_response(resp),
                Dialect::Anthropic => anthropic::render_response(resp),
            };
            let cost = pending.complete(body.len());
            let mut r = json_response(StatusCode::OK, body);
            served_headers(&mut r, &served);
            if let Ok(v) = HeaderValue::from_str(&usd_text(cost)) {
                r.headers_mut().insert(COST_HEADER, v);
            }
            r
        }
        Ok(Reply::Stream(stream, served)) => {
            pending.served(&served);
            let encoder = match dialect {
                Dialect::OpenAi => Encoder::OpenAi(openai::SseEncoder::new(&model, include_usage)),
                Dialect::Anthropic => {
                    Encoder::Anthropic(anthropic::SseEncoder::new(&model, prompt_estimate))
                }
            };
            pending.headers_sent();
            let state = Streaming {
                stream,
                enc: encoder,
                pending: Some(pending),
            };
            let frames = futures_util::stream::unfold(Some(state), |state| async move {
                let mut st = state?;
                if let Some(p) = &mut st.pending {
                    p.polled();
                }
                let mut out = Vec::with_capacity(512);
                let more = match st.stream.next().await {
                    None => false,
                    Some(StreamItem::Events(ev)) => {
                        if let Some(p) = &mut st.pending {
                            p.observe(&ev);
                        }
                        st.enc.encode(ev, &mut out);
                        true
                    }
                    Some(StreamItem::End(ev)) => {
                        if let Some(p) = &mut st.pending {
                            p.observe(&ev);
                        }
                        st.enc.encode(ev, &mut out);
                        st.enc.finish(&mut out);
                        // Finished before the last bytes go out, so the
                        // client's next request sees this one's usage.
                        if let Some(mut p) = st.pending.take() {
                            p.sent(out.len());
                            p.stream_ended(&st.stream, None);
                        }
                        false
                    }
                    Some(StreamItem::Broken(e)) => {
                        st.enc.error(&e, &mut out);
                        if let Some(mut p) = st.pending.take() {
                            p.sent(out.len());
                            p.stream_ended(&st.stream, Some(&e));
                        }
                        false
                    }
                };
                if out.is_empty() && !more {
                    return None;
                }
                if let Some(p) = &mut st.pending {
                    p.sent(out.len());
                }
                let frame = Ok::<_, Infallible>(Frame::data(Bytes::from(out)));
                Some((frame, more.then_some(st)))
            });
            let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            served_headers(&mut r, &served);
            r
        }
    }
}

/// A stream being sent: the upstream's events, the client's encoder, and
/// the request's record until the stream ends.
struct Streaming {
    stream: Box<EventStream>,
    enc: Encoder,
    pending: Option<Pending>,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        // The client left with the stream open: close the attempt's
        // figures before the record finishes as `client_closed`.
        if let Some(p) = &mut self.pending {
            p.stream_dropped(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::usd_text;

    #[test]
    fn usd_amounts_as_the_cost_header_writes_them() {
        for (usd, text) in [
            (0.0, "0"),
            (-1.0, "0"),
            (f64::NAN, "0"),
            (0.000075, "0.000075"),
            (1.5, "1.5"),
            (12.0, "12"),
            (0.00000000004, "0"),
            (0.0000000001, "0.0000000001"),
        ] {
            assert_eq!(usd_text(usd), text, "{usd}");
        }
    }
}
