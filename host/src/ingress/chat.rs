//! The chat endpoints, `POST /v1/chat/completions`, `POST /v1/messages` and
//! `POST /v1/responses`:
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

use super::request_id::RequestId;
use super::{
    Body, Dialect, anthropic, cached, dialect_error, input, json_response, openai, responses,
};
use crate::canonical::{ChatResponse, StreamEvent};
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

/// How the answer is written in the client's dialect, with what the
/// dialect keeps of its request for it.
pub(super) enum Writer {
    OpenAi,
    Anthropic,
    Responses(Box<responses::Echo>),
}

impl Writer {
    /// A complete answer's body, and the answer the request log keeps when
    /// it is not the answer's text.
    pub(super) fn render(&self, resp: ChatResponse) -> (Vec<u8>, Option<String>) {
        match self {
            Writer::OpenAi => (openai::render_response(resp), None),
            Writer::Anthropic => (anthropic::render_response(resp), None),
            Writer::Responses(echo) => responses::render_response(resp, echo),
        }
    }

    pub(super) fn encoder(self, model: &str, include_usage: bool, prompt_estimate: u32) -> Encoder {
        match self {
            Writer::OpenAi => Encoder::OpenAi(openai::SseEncoder::new(model, include_usage)),
            Writer::Anthropic => {
                Encoder::Anthropic(anthropic::SseEncoder::new(model, prompt_estimate))
            }
            Writer::Responses(echo) => Encoder::Responses(responses::SseEncoder::new(echo)),
        }
    }
}

/// A stream encoder of any dialect.
pub(super) enum Encoder {
    OpenAi(openai::SseEncoder),
    Anthropic(anthropic::SseEncoder),
    Responses(responses::SseEncoder),
}

impl Encoder {
    pub(super) fn encode(&mut self, events: Vec<StreamEvent>, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.encode(events, out),
            Encoder::Anthropic(e) => e.encode(events, out),
            Encoder::Responses(e) => e.encode(events, out),
        }
    }

    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.finish(out),
            Encoder::Anthropic(e) => e.finish(out),
            Encoder::Responses(e) => e.finish(out),
        }
    }

    fn error(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.error(err, out),
            Encoder::Anthropic(e) => e.error(err, out),
            Encoder::Responses(e) => e.error(err, out),
        }
    }

    /// The answer the request log keeps when it is not the text, once the
    /// stream has ended.
    pub(super) fn kept_answer(&mut self) -> Option<String> {
        match self {
            Encoder::Responses(e) => e.kept_answer(),
            _ => None,
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
    let (caller, parts, body) = match input::envelope(&generation, &mut pending, req).await {
        Ok(e) => (e.caller, e.parts, e.body),
        Err((e, close)) => return input::refused(fail(pending, &e), close),
    };
    let server = &generation.config.server;
    let parsed = match dialect {
        Dialect::OpenAi => openai::parse_request(&body).map(|r| (r, Writer::OpenAi)),
        Dialect::Anthropic => anthropic::parse_request(&body).map(|r| (r, Writer::Anthropic)),
        Dialect::Responses => {
            let key = caller.as_ref().map(|k| k.name.as_str());
            responses::parse_request(&body, id.as_str(), &gw.ledger, key, server.max_body_bytes)
                .await
                .map(|(r, echo)| (r, Writer::Responses(Box::new(echo))))
        }
    };
    let (canonical, writer) = match parsed.and_then(|r| input::model_name(&r.0.model).map(|()| r)) {
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
    // The response cache: a hit is served here, without routing.
    let scope = caller.as_ref().map_or("", |k| k.cache_scope.as_str());
    let cache_plan = gw
        .cache
        .plan(&generation.config, &canonical, &parts.headers, scope);
    if let Some(plan) = &cache_plan {
        if plan.lookup {
            let hit = plan.at.get(&plan.key).await;
            gw.cache.looked_up(hit.is_some());
            if let Some(hit) = hit {
                if generation.config.routes.contains_key(&model) {
                    pending.record_mut().route = Some(model.clone());
                }
                return cached::serve_hit(
                    pending,
                    hit,
                    writer,
                    &model,
                    include_usage,
                    prompt_estimate,
                );
            }
            pending.cache("miss");
        } else {
            pending.cache("bypass");
        }
    }
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
            if let Some(plan) = &cache_plan {
                cached::keep_complete(plan, &gw.cache.stats, &served, &resp);
            }
            let (body, kept) = writer.render(resp);
            if let Some(answer) = kept {
                pending.keep_answer(answer);
            }
            let cost = pending.complete(body.len());
            let mut r = json_response(StatusCode::OK, body);
            served_headers(&mut r, &served);
            if let Ok(v) = HeaderValue::from_str(&usd_text(cost)) {
                r.headers_mut().insert(COST_HEADER, v);
            }
            if let Some(plan) = &cache_plan {
                cached::mark(&mut r, if plan.lookup { "miss" } else { "bypass" });
            }
            r
        }
        Ok(Reply::Stream(stream, served)) => {
            pending.served(&served);
            let encoder = writer.encoder(&model, include_usage, prompt_estimate);
            pending.headers_sent();
            let cache_mark = cache_plan
                .as_ref()
                .map(|p| if p.lookup { "miss" } else { "bypass" });
            let state = Streaming {
                stream,
                enc: encoder,
                pending: Some(pending),
                capture: cache_plan
                    .and_then(|plan| cached::Capture::new(plan, gw.cache.stats.clone(), &served)),
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
                        if let Some(c) = &mut st.capture
                            && !c.batch(&ev)
                        {
                            st.capture = None;
                        }
                        st.enc.encode(ev, &mut out);
                        true
                    }
                    Some(StreamItem::End(ev)) => {
                        if let Some(p) = &mut st.pending {
                            p.observe(&ev);
                        }
                        if let Some(mut c) = st.capture.take()
                            && c.batch(&ev)
                        {
                            c.ended();
                        }
                        st.enc.encode(ev, &mut out);
                        st.enc.finish(&mut out);
                        // Finished before the last bytes go out, so the
                        // client's next request sees this one's usage.
                        if let Some(mut p) = st.pending.take() {
                            if let Some(answer) = st.enc.kept_answer() {
                                p.keep_answer(answer);
                            }
                            p.sent(out.len());
                            p.stream_ended(&st.stream, None);
                        }
                        false
                    }
                    Some(StreamItem::Broken(e)) => {
                        if let Some(c) = st.capture.take() {
                            c.broken();
                        }
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
            let mut r = sse_response(frames, &served);
            if let Some(m) = cache_mark {
                cached::mark(&mut r, m);
            }
            r
        }
    }
}

/// An SSE answer of `frames`, with the headers saying who served it.
pub(super) fn sse_response(
    frames: impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static,
    served: &Served,
) -> Response<Body> {
    let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    served_headers(&mut r, served);
    r
}

/// A stream being sent: the upstream's events, the client's encoder, and
/// the request's record until the stream ends.
struct Streaming {
    stream: Box<EventStream>,
    enc: Encoder,
    pending: Option<Pending>,
    /// The batches sent so far, for the response cache.
    capture: Option<cached::Capture>,
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
