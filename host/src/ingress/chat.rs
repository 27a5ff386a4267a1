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
use crate::canonical::{OutputTally, StreamEvent};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::limits::{Accounting, Limiter, Slot, Spend};
use crate::routing::{self, Reply, Served, StreamItem};

const META_PREFIX: &str = "x-switchyard-meta-";

/// What a non-streaming answer cost, in USD at the model's prices (tokens
/// as the upstream reported them, else estimated).
pub const COST_HEADER: &str = "x-switchyard-cost-usd";

/// A USD amount as a header writes it: plain decimal, up to 10 places, no
/// trailing zeros (`0.0000123`, `0`).
fn usd_text(usd: f64) -> String {
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

fn served_headers(r: &mut Response<Body>, s: &Served) {
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

/// Serve one chat request in `dialect`.
pub async fn chat(gw: &Arc<Gateway>, req: Request<Incoming>, dialect: Dialect) -> Response<Body> {
    let generation = gw.current();
    // Keys are checked before the body is read: an unknown caller costs
    // nothing more.
    let caller = match generation.keys.authenticate(req.headers()) {
        Ok(c) => c,
        Err(e) => return dialect_error(&e, dialect),
    };
    if let Err(e) = input::content_type(req.headers()) {
        return dialect_error(&e, dialect);
    }
    let server = &generation.config.server;
    let body_timeout = std::time::Duration::from_millis(server.body_read_timeout_ms);
    let (parts, body) =
        match tokio::time::timeout(body_timeout, read_body(req, server.max_body_bytes)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return dialect_error(&e, dialect),
            Err(_) => {
                // The rest of the body may still be on its way: close the
                // connection rather than read it.
                let mut r =
                    dialect_error(&input::body_timeout(server.body_read_timeout_ms), dialect);
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
        Err(e) => return dialect_error(&e, dialect),
    };
    let mut slot = Slot::none();
    if let Some(key) = &caller {
        if !key.allows(&canonical.model) {
            return dialect_error(&key.not_allowed(&canonical.model), dialect);
        }
        let reserve =
            Limiter::reservation(key, u64::from(crate::canonical::token_estimate(&canonical)));
        match gw.limiter.admit(&generation.quotas, key, reserve).await {
            Ok(s) => slot = s,
            Err(e) => return dialect_error(&e, dialect),
        }
    }
    let request_bytes = body.len();
    let mut metadata = canonical.metadata.clone();
    for (k, v) in &parts.headers {
        if let Some(key) = k.as_str().strip_prefix(META_PREFIX)
            && let Ok(v) = v.to_str()
        {
            metadata.push((key.to_owned(), v.to_owned()));
        }
    }
    let include_usage = canonical.include_usage;
    let model = canonical.model.clone();
    let accounting = |key, served: &Served, slot| {
        let prices = generation
            .models
            .get(&served.model)
            .map_or((0.0, 0.0), |m| (m.input_price, m.output_price));
        Accounting::new(
            gw.limiter.clone(),
            generation.quotas.clone(),
            key,
            prices,
            request_bytes,
            slot,
        )
    };
    match routing::chat(&gw.router, &generation, canonical, metadata).await {
        Err(e) => {
            // Nothing was served: the prompt's reservation goes back.
            if let Some(key) = caller {
                let reserved = slot.reservation();
                if reserved.tokens > 0 {
                    let refund = Spend {
                        reserved,
                        ..Spend::default()
                    };
                    gw.limiter.record(&generation.quotas, &key, refund);
                }
            }
            if let Some(id) = RequestId::current() {
                tracing::warn!(request_id = %id, model = %model, status = e.status.as_u16(), "request failed: {}", e.message);
            }
            dialect_error(&e, dialect)
        }
        Ok(Reply::Complete(resp, served)) => {
            let tally = OutputTally {
                usage: resp.usage,
                output_bytes: resp
                    .choices
                    .iter()
                    .filter_map(|c| c.message.content.as_ref())
                    .map(|c| crate::canonical::content_text(c).len())
                    .sum(),
            };
            let (prompt, completion) = tally.tokens(request_bytes);
            let cost = generation.models.get(&served.model).map_or(0.0, |m| {
                (prompt as f64 * m.input_price + completion as f64 * m.output_price) / 1e6
            });
            if let Some(key) = caller {
                let mut acct = accounting(key, &served, slot);
                acct.tally = tally;
                acct.finish();
            }
            let body = match dialect {
                Dialect::OpenAi => openai::render_response(resp),
                Dialect::Anthropic => anthropic::render_response(resp),
            };
            let mut r = json_response(StatusCode::OK, body);
            served_headers(&mut r, &served);
            if let Ok(v) = HeaderValue::from_str(&usd_text(cost)) {
                r.headers_mut().insert(COST_HEADER, v);
            }
            r
        }
        Ok(Reply::Stream(stream, served)) => {
            let encoder = match dialect {
                Dialect::OpenAi => Encoder::OpenAi(openai::SseEncoder::new(&model, include_usage)),
                Dialect::Anthropic => Encoder::Anthropic(anthropic::SseEncoder::new(&model)),
            };
            let acct = caller.map(|key| accounting(key, &served, slot));
            let frames =
                futures_util::stream::unfold(Some((stream, encoder, acct)), |state| async move {
                    let (mut stream, mut enc, mut acct) = state?;
                    let mut out = Vec::with_capacity(512);
                    let next = match stream.next().await {
                        None => return None,
                        Some(StreamItem::Events(ev)) => {
                            if let Some(a) = &mut acct {
                                a.observe(&ev);
                            }
                            enc.encode(ev, &mut out);
                            Some((stream, enc, acct))
                        }
                        Some(StreamItem::End(ev)) => {
                            // Counted before the last bytes go out, so the
                            // client's next request sees this one's usage.
                            if let Some(a) = &mut acct {
                                a.observe(&ev);
                                a.finish();
                            }
                            enc.encode(ev, &mut out);
                            enc.finish(&mut out);
                            None
                        }
                        Some(StreamItem::Broken(e)) => {
                            enc.error(&e, &mut out);
                            None
                        }
                    };
                    Some((Ok::<_, Infallible>(Frame::data(Bytes::from(out))), next))
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
