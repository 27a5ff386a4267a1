//! HTTP ingress and egress: the hyper server, the endpoints, and the framing
//! of answers in the client's dialect (JSON bodies, SSE streams, error JSON).
//! Everything below this module sees canonical values only.

pub mod anthropic;
mod input;
pub mod openai;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::gateway::{Gateway, Generation};
use crate::keys::{ClientKey, KeyTable};
use crate::limits::{Limiter, Reservation, Slot, Spend};
use crate::router::{self, Reply, Served, StreamItem};
use crate::runtime::types::{StreamEvent, Usage};

type Body = UnsyncBoxBody<Bytes, Infallible>;

const META_PREFIX: &str = "x-switchyard-meta-";

/// Deserialize a request body of either dialect. Errors name the field at
/// fault; `hints` turn serde's wording for untagged enums into what to send
/// (pairs of a fragment of serde's message and the hint), and `spell` writes
/// a field error the dialect's way.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    hints: &[(&str, &str)],
    spell: fn(&str, &str) -> String,
) -> Result<T, ApiError> {
    // serde_json checks UTF-8 only in the strings it keeps: invalid bytes
    // inside an ignored value would pass (found by fuzz/ingress_*).
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ApiError::invalid(format!(
            "The request body is not valid UTF-8 (at byte {}).",
            e.valid_up_to()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(format!("The request body is not valid JSON: {inner}."))
        } else if path == "." || path.is_empty() {
            ApiError::invalid(format!("Invalid request body: {inner}."))
        } else {
            let msg = inner.to_string();
            let hint = hints
                .iter()
                .find(|(fragment, _)| msg.contains(fragment))
                .map_or(msg.as_str(), |(_, hint)| hint);
            ApiError::invalid(spell(&path, hint)).param(path)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("The request body is not valid JSON: {e}.")))?;
    Ok(parsed)
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The API dialect a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic messages.
    Anthropic,
}

fn error_response(e: &ApiError) -> Response<Body> {
    dialect_error(e, Dialect::OpenAi)
}

fn dialect_error(e: &ApiError, dialect: Dialect) -> Response<Body> {
    let body = match dialect {
        Dialect::OpenAi => e.openai_body(),
        Dialect::Anthropic => anthropic::error_body(e),
    };
    let mut r = json_response(e.status, body);
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
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

/// Serve on `listener` until `shutdown` resolves; then stop accepting (the
/// listening socket is closed, so new connections are refused) and let open
/// requests and streams finish, up to `server.drain_timeout_ms`.
///
/// At most `server.max_connections` connections are open at once; more wait
/// in the listen backlog until one closes. A client gets
/// `server.header_read_timeout_ms` to send each request head (HTTP/1) — an
/// idle or trickling connection is closed after it, so slow clients cannot
/// hold connection slots forever.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = gw.current().config.server.clone();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = std::time::Duration::from_millis(server.header_read_timeout_ms);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let slots = Arc::new(tokio::sync::Semaphore::new(server.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Without TCP_NODELAY a keep-alive response written in two pieces
        // waits ~40 ms for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let service = hyper::service::service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(handle(&gw, req).await) }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timer starts only once the first bytes arrived
            // (the protocol is sniffed from them), so a client that connects
            // and sends nothing is hung up on here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = watcher.watch(conn.into_owned()).await;
            drop(slot);
        });
    }
    drop(listener);
    let open = server.max_connections.max(1) - slots.available_permits();
    tracing::info!(
        connections = open,
        drain_timeout_ms = server.drain_timeout_ms,
        "shutting down: no longer accepting; waiting for open requests to finish"
    );
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all requests finished; exiting"),
        _ = tokio::time::sleep(std::time::Duration::from_millis(server.drain_timeout_ms)) => {
            tracing::warn!(
                "requests still open after the drain timeout of {} ms; closing them",
                server.drain_timeout_ms
            );
        }
    }
    // Usage of the answers already sent goes to the limit store before the
    // process exits (each write is bounded by `[limits] timeout_ms`).
    let pending = gw.limiter.pending_writes();
    if pending > 0 {
        let within = std::time::Duration::from_millis(2_000);
        if gw.limiter.flush(within).await {
            tracing::info!(writes = pending, "usage written to the limit store");
        } else {
            tracing::warn!(
                writes = pending,
                "usage writes to the limit store did not finish within 2 s; exiting without them"
            );
        }
    }
    Ok(())
}

/// Bind a listener.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| anyhow::anyhow!("`{addr}` is not an address like 127.0.0.1:7777"))?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

async fn handle(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let endpoint = match req.uri().path() {
        "/v1/chat/completions" | "/chat/completions" => "chat_completions",
        "/v1/messages" => "messages",
        "/v1/models" | "/models" => "models",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        p if p.starts_with("/admin/") => "admin",
        _ => "other",
    };
    let resp = route(gw, req).await;
    gw.stats.count_http(endpoint, resp.status().as_u16());
    resp
}

async fn route(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => chat(gw, req, Dialect::OpenAi).await,
        (&Method::POST, "/v1/messages") => chat(gw, req, Dialect::Anthropic).await,
        (&Method::GET, "/v1/models" | "/models") => models(gw, req.headers()),
        (&Method::GET, "/healthz") => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
        (_, path) if (path.starts_with("/admin/") || path == "/metrics") && let Err(e) = gw.current().keys.admin(req.headers()) => {
            error_response(&e)
        }
        (&Method::GET, "/metrics") => metrics(gw),
        (&Method::GET, "/admin/plugins") => admin_plugins(gw),
        (&Method::POST, "/admin/reload") => admin_reload(gw).await,
        (&Method::GET, "/admin/keys") => {
            let generation = gw.current();
            match gw.limiter.usage(&generation.keys).await {
                Ok(v) => json_response(StatusCode::OK, v.to_string().into_bytes()),
                Err(e) => error_response(&e),
            }
        }
        (_, "/v1/chat/completions" | "/v1/messages" | "/v1/models" | "/healthz" | "/metrics") => error_response(&ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{} is not allowed on {}.", req.method(), req.uri().path()),
        )),
        (_, path) => error_response(
            &ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("Unknown path {path}. Switchyard serves POST /v1/chat/completions, POST /v1/messages and GET /v1/models."),
            )
            .code("unknown_url"),
        ),
    }
}

/// `GET /metrics`: Prometheus text exposition.
fn metrics(gw: &Gateway) -> Response<Body> {
    match crate::metrics::render(gw) {
        Ok(text) => {
            let mut r = Response::new(full(text.into_bytes()));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Err(e) => error_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("could not render metrics: {e}"),
        )),
    }
}

/// `GET /admin/plugins`: every plugin of the current generation and the
/// outcome of the last reload.
fn admin_plugins(gw: &Gateway) -> Response<Body> {
    let generation = gw.current();
    let status = gw.reload_status();
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let mut plugins: Vec<serde_json::Value> = generation
        .plugins
        .iter()
        .map(|(name, p)| {
            let source = match &p.source {
                crate::runtime::PluginSource::Embedded => serde_json::json!("embedded"),
                crate::runtime::PluginSource::File(f) => serde_json::json!(f.display().to_string()),
            };
            serde_json::json!({
                "name": name,
                "kind": p.kind.as_str(),
                "source": source,
                "sha256": p.sha256,
                "wit_version": crate::runtime::WIT_VERSION,
                "generation": status.plugin_generation.get(name).copied().unwrap_or(generation.id),
                "loaded_at": secs(p.loaded_at),
                "last_error": status.plugin_errors.get(name).or_else(|| generation.plugin_errors.get(name)),
                "errors": gw.stats.plugin(name).to_json(),
            })
        })
        .collect();
    // Refused plugins with no older version serving still show up.
    for (name, why) in &status.plugin_errors {
        if !generation.plugins.contains_key(name) {
            plugins.push(
                serde_json::json!({"name": name, "kind": null, "source": null, "last_error": why}),
            );
        }
    }
    let body = serde_json::json!({
        "generation": generation.id,
        "generation_loaded_at": secs(generation.loaded_at),
        "plugins": plugins,
        "reloads": {"succeeded": status.succeeded, "failed": status.failed,
                    "plugins_refused": status.plugins_refused, "last_error": status.last_error},
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// `POST /admin/reload`: run the reload pipeline now.
async fn admin_reload(gw: &Gateway) -> Response<Body> {
    let Some(reloader) = gw.reloader.get() else {
        return error_response(&ApiError::internal("the reload task is not running"));
    };
    match reloader.reload().await {
        Ok(id) => {
            let status = gw.reload_status();
            let body = serde_json::json!({"generation": id, "refused": status.plugin_errors});
            json_response(StatusCode::OK, body.to_string().into_bytes())
        }
        Err(why) => error_response(
            &ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                format!(
                    "Reload refused; generation {} keeps serving: {why}",
                    gw.current().id
                ),
            )
            .code("reload_refused"),
        ),
    }
}

/// `GET /v1/models`: with client keys configured, only for a key, and only
/// what that key may use.
fn models(gw: &Gateway, headers: &http::HeaderMap) -> Response<Body> {
    let generation = gw.current();
    let caller = match generation.keys.authenticate(headers) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let created = generation
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut data: Vec<serde_json::Value> = Vec::new();
    let mut names: Vec<(&String, &str)> = generation
        .routes
        .keys()
        .map(|k| (k, "switchyard-route"))
        .collect();
    names.extend(
        generation
            .models
            .iter()
            .map(|(k, m)| (k, m.provider_name.as_str())),
    );
    names.sort();
    if let Some(key) = &caller {
        names.retain(|(id, _)| key.allows(id));
    }
    for (id, owner) in names {
        data.push(
            serde_json::json!({"id": id, "object": "model", "created": created, "owned_by": owner}),
        );
    }
    let body = serde_json::json!({"object": "list", "data": data});
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(http::request::Parts, Bytes), ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than this gateway's limit of {limit} bytes (server.max_body_bytes)."),
        )
        .code("request_too_large")
    };
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok((parts, b.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::invalid(format!(
            "Could not read the request body: {e}"
        ))),
    }
}

/// A stream encoder of either dialect.
enum Encoder {
    OpenAi(openai::SseEncoder),
    Anthropic(anthropic::SseEncoder),
}

impl Encoder {
    fn encode(&mut self, events: Vec<crate::runtime::types::StreamEvent>, out: &mut Vec<u8>) {
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

/// Counts a request's usage against its client key once: when the answer is
/// complete, or when it is dropped unfinished (a broken stream, a client
/// that went away). Upstream usage when reported, else an estimate (~4
/// bytes a token of the request body and of the output).
struct Accounting {
    limiter: Arc<Limiter>,
    table: Arc<KeyTable>,
    key: Arc<ClientKey>,
    input_price: f64,
    output_price: f64,
    usage: Option<Usage>,
    request_bytes: usize,
    output_bytes: usize,
    done: bool,
    /// Tokens the admission counted already (the prompt's estimate).
    reserved: Reservation,
    /// The key's parallel slot, held until the answer or stream is done.
    _slot: Slot,
}

impl Accounting {
    fn new(
        gw: &Gateway,
        generation: &Generation,
        key: Arc<ClientKey>,
        served: &Served,
        request_bytes: usize,
        slot: Slot,
    ) -> Accounting {
        let (input_price, output_price) = generation
            .models
            .get(&served.model)
            .map_or((0.0, 0.0), |m| (m.input_price, m.output_price));
        Accounting {
            limiter: gw.limiter.clone(),
            table: generation.keys.clone(),
            key,
            input_price,
            output_price,
            usage: None,
            request_bytes,
            output_bytes: 0,
            done: false,
            reserved: slot.reservation(),
            _slot: slot,
        }
    }

    fn observe(&mut self, events: &[StreamEvent]) {
        for e in events {
            match e {
                StreamEvent::Usage(u) => self.usage = Some(*u),
                StreamEvent::Text(t) => self.output_bytes += t.text.len(),
                StreamEvent::ToolCall(t) => self.output_bytes += t.arguments.len(),
                _ => {}
            }
        }
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let (prompt, completion) = match &self.usage {
            Some(u) => (u64::from(u.prompt_tokens), u64::from(u.completion_tokens)),
            None => (
                self.request_bytes.div_ceil(4) as u64,
                self.output_bytes.div_ceil(4) as u64,
            ),
        };
        self.limiter.record(
            &self.table,
            &self.key,
            Spend {
                prompt_tokens: prompt,
                completion_tokens: completion,
                input_price: self.input_price,
                output_price: self.output_price,
                reserved: self.reserved,
            },
        );
    }
}

impl Drop for Accounting {
    fn drop(&mut self) {
        self.finish();
    }
}

async fn chat(gw: &Arc<Gateway>, req: Request<Incoming>, dialect: Dialect) -> Response<Body> {
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
        match gw.limiter.admit(&generation.keys, key, reserve).await {
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
    match router::chat(gw, &generation, canonical, metadata).await {
        Err(e) => {
            // Nothing was served: the prompt's reservation goes back.
            if let Some(key) = caller {
                let reserved = slot.reservation();
                if reserved.tokens > 0 {
                    let refund = Spend {
                        reserved,
                        ..Spend::default()
                    };
                    gw.limiter.record(&generation.keys, &key, refund);
                }
            }
            dialect_error(&e, dialect)
        }
        Ok(Reply::Complete(resp, served)) => {
            if let Some(key) = caller {
                let mut acct = Accounting::new(gw, &generation, key, &served, request_bytes, slot);
                acct.usage = resp.usage;
                acct.output_bytes = resp
                    .choices
                    .iter()
                    .filter_map(|c| c.message.content.as_ref())
                    .map(|c| crate::canonical::content_text(c).len())
                    .sum();
                acct.finish();
            }
            let body = match dialect {
                Dialect::OpenAi => openai::render_response(resp),
                Dialect::Anthropic => anthropic::render_response(resp),
            };
            let mut r = json_response(StatusCode::OK, body);
            served_headers(&mut r, &served);
            r
        }
        Ok(Reply::Stream(stream, served)) => {
            let encoder = match dialect {
                Dialect::OpenAi => Encoder::OpenAi(openai::SseEncoder::new(&model, include_usage)),
                Dialect::Anthropic => Encoder::Anthropic(anthropic::SseEncoder::new(&model)),
            };
            let acct = caller
                .map(|key| Accounting::new(gw, &generation, key, &served, request_bytes, slot));
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
