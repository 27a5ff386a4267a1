//! `switchyard mock-upstream`: a fast simulated provider speaking the OpenAI
//! chat-completions wire format, for tests, benchmarks and policy authors.
//!
//! Answers are deterministic: a fixed `--reply`, or an echo of the last user
//! message. With tools offered (and `tool_choice` not `none`) it calls the
//! first (or the named) tool until the conversation carries a tool result.
//! Faults are injected by flags: latency, an error status at a rate (429 with
//! Retry-After), a hang, streams that break after N chunks.
//! `GET /mock/stats` counts the requests it saw.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Behaviour of the mock, from its command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MockOptions {
    /// Address to listen on (port 0 picks a free one; the chosen address is
    /// printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// A fixed reply; default: echo the last user message.
    #[arg(long)]
    pub reply: Option<String>,
    /// Prefix every reply with `[LABEL] ` (the embedded default labels its
    /// simulated providers this way).
    #[arg(long)]
    pub label: Option<String>,
    /// Wait this long before answering.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Stream the reply in this many content chunks (default: one per word).
    #[arg(long)]
    pub chunks: Option<usize>,
    /// Wait this long between stream chunks.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Answer with this error status (500, 503, 429, …).
    #[arg(long)]
    pub fail_status: Option<u16>,
    /// Fraction of requests that fail with `--fail-status` (0.0–1.0).
    #[arg(long, default_value_t = 1.0)]
    pub fail_rate: f64,
    /// Retry-After seconds sent with 429 and 503 errors.
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// Never answer (the connection stays open).
    #[arg(long)]
    pub hang: bool,
    /// Break streams (close the connection) after this many content chunks.
    #[arg(long)]
    pub break_after: Option<usize>,
    /// Require `Authorization: Bearer KEY` (401 otherwise), as a real
    /// provider does.
    #[arg(long)]
    pub api_key: Option<String>,
}

struct Mock {
    opts: MockOptions,
    requests: AtomicU64,
    chat_requests: AtomicU64,
    failures: AtomicU64,
    seq: AtomicU64,
}

/// Bind and serve until the process ends. Prints `listening on ADDR`.
pub async fn run(opts: MockOptions) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    serve(listener, opts).await
}

/// Serve on a bound listener.
pub async fn serve(listener: TcpListener, opts: MockOptions) -> anyhow::Result<()> {
    let mock = Arc::new(Mock {
        opts,
        requests: AtomicU64::new(0),
        chat_requests: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        seq: AtomicU64::new(0),
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("mock-upstream accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mock = mock.clone();
        let service = hyper::service::service_fn(move |req| {
            let mock = mock.clone();
            async move { Ok::<_, Infallible>(mock.handle(req).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

#[derive(Deserialize)]
struct Req {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<Msg>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOpts>,
    #[serde(default)]
    tools: Vec<Value>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Deserialize)]
struct StreamOpts {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct Msg {
    role: String,
    #[serde(default)]
    content: Value,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn json_resp(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "server_error",
    }
}

/// What the mock will answer.
enum Answer {
    Text(String),
    Tool { name: String, arguments: String },
}

impl Mock {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let path = req.uri().path().to_owned();
        match path.as_str() {
            "/mock/stats" => {
                let body = json!({
                    "requests": self.requests.load(Ordering::Relaxed),
                    "chat_requests": self.chat_requests.load(Ordering::Relaxed),
                    "failures": self.failures.load(Ordering::Relaxed),
                });
                json_resp(StatusCode::OK, body.to_string().into_bytes())
            }
            "/v1/models" | "/models" => {
                let body = json!({"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock-upstream"}]});
                json_resp(StatusCode::OK, body.to_string().into_bytes())
            }
            "/v1/chat/completions" | "/chat/completions" => self.chat(req).await,
            _ => json_resp(
                StatusCode::NOT_FOUND,
                json!({"error":{"message":format!("Unknown path {path}"),"type":"invalid_request_error","param":null,"code":"unknown_url"}})
                    .to_string()
                    .into_bytes(),
            ),
        }
    }

    fn error(&self, status: u16, message: &str) -> Response<Body> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let code = match status {
            429 => json!("rate_limit_exceeded"),
            _ => Value::Null,
        };
        let body =
            json!({"error":{"message":message,"type":error_type(status),"param":null,"code":code}});
        let mut r = json_resp(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.to_string().into_bytes(),
        );
        if let Some(s) = self.opts.retry_after
            && matches!(status, 429 | 503)
        {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }

    async fn chat(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        self.chat_requests.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = &self.opts.api_key {
            let sent = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if sent != Some(format!("Bearer {key}").as_str()) {
                return self.error(401, "Incorrect API key provided.");
            }
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return self.error(400, &format!("could not read body: {e}")),
        };
        if self.opts.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if self.opts.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.opts.latency_ms)).await;
        }
        if let Some(status) = self.opts.fail_status
            && (self.opts.fail_rate >= 1.0 || rand::random::<f64>() < self.opts.fail_rate)
        {
            return self.error(
                status,
                &format!("mock-upstream injected a {status} failure"),
            );
        }
        let parsed: Req = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return self.error(400, &format!("invalid request body: {e}")),
        };
        if parsed.messages.is_empty() {
            return self.error(400, "messages must not be empty");
        }
        let prompt_bytes: usize = parsed
            .messages
            .iter()
            .map(|m| text_of(&m.content).len() + 16)
            .sum();
        let prompt_tokens = prompt_bytes.div_ceil(4) as u64;
        let answer = self.answer(&parsed);
        let id = format!("chatcmpl-mock{}", self.seq.fetch_add(1, Ordering::Relaxed));
        let created = crate::proxy::openai::now_secs();
        if parsed.stream {
            self.stream(parsed, answer, id, created, prompt_tokens)
        } else {
            let n = parsed.n.unwrap_or(1).clamp(1, 16);
            let (completion_tokens, choices) = match &answer {
                Answer::Text(t) => {
                    let words = t.split_whitespace().count() as u64;
                    let choices: Vec<Value> = (0..n)
                        .map(|i| json!({"index":i,"message":{"role":"assistant","content":t,"refusal":null},"logprobs":null,"finish_reason":"stop"}))
                        .collect();
                    (words * n as u64, choices)
                }
                Answer::Tool { name, arguments } => {
                    let choices: Vec<Value> = (0..n)
                        .map(|i| json!({"index":i,"message":{"role":"assistant","content":null,"refusal":null,
                            "tool_calls":[{"id":format!("call_mock{i}"),"type":"function","function":{"name":name,"arguments":arguments}}]},
                            "logprobs":null,"finish_reason":"tool_calls"}))
                        .collect();
                    (8 * n as u64, choices)
                }
            };
            let body = json!({
                "id": id, "object": "chat.completion", "created": created, "model": parsed.model,
                "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens,
                          "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
                "system_fingerprint": "fp_mock"
            });
            json_resp(StatusCode::OK, body.to_string().into_bytes())
        }
    }

    fn answer(&self, r: &Req) -> Answer {
        let last = r.messages.last();
        let after_tool = last.is_some_and(|m| m.role == "tool" || m.role == "function");
        let choice_none = r.tool_choice.as_ref().and_then(Value::as_str) == Some("none");
        if !r.tools.is_empty() && !after_tool && !choice_none {
            let named = r
                .tool_choice
                .as_ref()
                .and_then(|c| c.get("function"))
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            let first = r.tools[0]
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            if let Some(name) = named.or(first) {
                let user = r
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == "user")
                    .map(|m| text_of(&m.content))
                    .unwrap_or_default();
                return Answer::Tool {
                    name: name.to_owned(),
                    arguments: json!({"input": user}).to_string(),
                };
            }
        }
        let text = match &self.opts.reply {
            Some(t) => t.clone(),
            None if after_tool => format!(
                "The tool said: {}",
                last.map(|m| text_of(&m.content)).unwrap_or_default()
            ),
            None => {
                let user = r
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == "user")
                    .map(|m| text_of(&m.content))
                    .unwrap_or_default();
                format!("You said: {user}")
            }
        };
        Answer::Text(match &self.opts.label {
            Some(l) => format!("[{l}] {text}"),
            None => text,
        })
    }

    fn stream(
        &self,
        r: Req,
        answer: Answer,
        id: String,
        created: u64,
        prompt_tokens: u64,
    ) -> Response<Body> {
        let chunk = |delta: Value, finish: Value| -> Bytes {
            let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": r.model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
            Bytes::from(format!("data: {c}\n\n"))
        };
        let mut pieces: Vec<Bytes> =
            vec![chunk(json!({"role":"assistant","content":""}), Value::Null)];
        let (content_pieces, finish, completion_tokens) = match &answer {
            Answer::Text(t) => {
                let parts = split(t, self.opts.chunks);
                let tokens = t.split_whitespace().count() as u64;
                (
                    parts
                        .into_iter()
                        .map(|p| chunk(json!({"content": p}), Value::Null))
                        .collect::<Vec<_>>(),
                    "stop",
                    tokens,
                )
            }
            Answer::Tool { name, arguments } => {
                let mut v = vec![chunk(
                    json!({"tool_calls":[{"index":0,"id":"call_mock0","type":"function","function":{"name":name,"arguments":""}}]}),
                    Value::Null,
                )];
                for p in split(arguments, self.opts.chunks.or(Some(3))) {
                    v.push(chunk(
                        json!({"tool_calls":[{"index":0,"function":{"arguments":p}}]}),
                        Value::Null,
                    ));
                }
                (v, "tool_calls", 8)
            }
        };
        let content_count = content_pieces.len();
        pieces.extend(content_pieces);
        pieces.push(chunk(json!({}), json!(finish)));
        if r.stream_options.is_some_and(|o| o.include_usage) {
            let u = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": r.model,
                "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}});
            pieces.push(Bytes::from(format!("data: {u}\n\n")));
        }
        pieces.push(Bytes::from_static(b"data: [DONE]\n\n"));

        // Break after the role chunk plus N content chunks.
        let break_at = self.opts.break_after.map(|n| 1 + n.min(content_count));
        let delay = Duration::from_millis(self.opts.chunk_delay_ms);
        let frames = futures_util::stream::unfold(
            (pieces.into_iter(), 0usize),
            move |(mut it, i)| async move {
                if break_at == Some(i) {
                    // Let hyper flush the chunks already written: an error on the
                    // very next poll would abort the connection before they leave.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "mock-upstream broke the stream",
                        )),
                        (it, usize::MAX),
                    ));
                }
                if i == usize::MAX {
                    return None;
                }
                let piece = it.next()?;
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Some((Ok(Frame::data(piece)), (it, i + 1)))
            },
        );
        let mut resp = Response::new(StreamBody::new(frames).boxed_unsync());
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }
}

/// Split text into pieces: `n` pieces of about equal length, or one per word
/// (each word keeps its leading space).
fn split(text: &str, n: Option<usize>) -> Vec<String> {
    match n {
        Some(n) if n > 0 => {
            let chars: Vec<char> = text.chars().collect();
            let size = chars.len().div_ceil(n).max(1);
            chars.chunks(size).map(|c| c.iter().collect()).collect()
        }
        _ => {
            let mut out: Vec<String> = Vec::new();
            for (i, w) in text.split(' ').enumerate() {
                out.push(if i == 0 {
                    w.to_owned()
                } else {
                    format!(" {w}")
                });
            }
            out.retain(|s| !s.is_empty());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_reassembles() {
        let t = "You said: hello there world";
        assert_eq!(split(t, None).concat(), t);
        assert_eq!(split(t, None).len(), 5);
        assert_eq!(split(t, Some(3)).concat(), t);
        assert_eq!(split(t, Some(3)).len(), 3);
    }
}
