//! `switchyard mock-upstream`: a fast simulated provider for tests,
//! benchmarks and policy authors. It speaks each provider's wire format, one
//! module per dialect, chosen by the request path:
//!
//! - [`openai`]: `POST /v1/chat/completions` (and Azure's
//!   `/openai/deployments/{d}/chat/completions`);
//! - [`anthropic`]: `POST /v1/messages`;
//! - [`gemini`]: `POST /v1beta/models/{model}:generateContent` and
//!   `:streamGenerateContent`;
//! - [`bedrock`]: `POST /model/{modelId}/converse` and `/converse-stream`;
//! - [`embed`]: embeddings in all of these dialects but Anthropic's
//!   (deterministic vectors derived from the text).
//!
//! Answers are deterministic: a fixed `--reply`, or an echo of the last user
//! message (`You said: …`). With tools offered (and not disabled) it calls the
//! first (or the forced) tool until the conversation carries a tool result,
//! then answers `The tool said: …`. Faults are injected by flags: latency, an
//! error status at a rate (with Retry-After), a hang, streams that break after
//! N content chunks; errors come in the dialect's own error shape.
//! `GET /mock/stats` counts the requests it saw.
//! With `--skill F` it plays a model of known skill on the tasks of
//! `examples/bench` (right with probability F, plausibly wrong otherwise):
//! see [`skill`].
//! It is a test and benchmark tool: it never
//! forwards anything anywhere and never stores what it is sent.

pub mod anthropic;
pub mod bedrock;
pub mod embed;
pub mod gemini;
pub mod openai;
pub mod skill;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;

/// Response body type of the mock.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

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
    /// Answer with this error status (500, 503, 429, 529, …).
    #[arg(long)]
    pub fail_status: Option<u16>,
    /// Fraction of requests that fail with `--fail-status` (0.0–1.0).
    #[arg(long, default_value_t = 1.0)]
    pub fail_rate: f64,
    /// Retry-After seconds sent with 429, 503 and 529 errors.
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// Never answer (the connection stays open).
    #[arg(long)]
    pub hang: bool,
    /// Break streams (close the connection) after this many content chunks.
    #[arg(long)]
    pub break_after: Option<usize>,
    /// Fraction of requests hit by a random fault: a 500, a 429, a stall of
    /// two seconds before answering, a stream cut before its first content
    /// (a reset body when not streaming), or a stream cut after its first
    /// content chunk — each equally likely.
    #[arg(long, default_value_t = 0.0)]
    pub chaos: f64,
    /// Require this key, presented the way the dialect presents keys
    /// (`Authorization: Bearer`, `api-key`, `x-api-key`, …); 401 otherwise.
    #[arg(long)]
    pub api_key: Option<String>,
    /// `--skill`, `--skill-by-task`, `--skill-after`, `--seed`: see [`skill`].
    #[command(flatten)]
    pub skill: skill::SkillOptions,
}

/// A request as every dialect reduces it for the mock's answer logic.
#[derive(Debug, Default)]
pub struct MockRequest {
    /// The model named by the request (body or path).
    pub model: String,
    /// Text of the last user message.
    pub last_user: String,
    /// Names of the tools offered.
    pub tools: Vec<String>,
    /// A tool the request forces.
    pub forced_tool: Option<String>,
    /// Tools are offered but disabled (`tool_choice: none`).
    pub tools_disabled: bool,
    /// The text of a tool result, when the last message is one.
    pub tool_result: Option<String>,
    /// Streaming requested.
    pub stream: bool,
    /// Usage requested on the stream (OpenAI `stream_options`).
    pub include_usage: bool,
    /// Number of choices.
    pub n: u32,
    /// Bytes of prompt text, for the usage estimate.
    pub prompt_bytes: usize,
}

/// What the mock answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A text reply.
    Text(String),
    /// A call of a tool with JSON arguments.
    Tool {
        /// Tool name.
        name: String,
        /// Arguments, a JSON text.
        arguments: String,
    },
}

impl Answer {
    /// Completion tokens the mock reports for this answer.
    pub fn tokens(&self) -> u64 {
        match self {
            Answer::Text(t) => t.split_whitespace().count() as u64,
            Answer::Tool { .. } => 8,
        }
    }
}

/// The wire formats the mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions (also Azure OpenAI's paths).
    OpenAi,
    /// Anthropic messages.
    Anthropic,
    /// Gemini generateContent.
    Gemini,
    /// Amazon Bedrock Converse and ConverseStream.
    Bedrock,
}

impl Dialect {
    fn of(path: &str) -> Option<Dialect> {
        if path == "/v1/chat/completions"
            || path == "/chat/completions"
            || (path.starts_with("/openai/deployments/") && path.ends_with("/chat/completions"))
        {
            return Some(Dialect::OpenAi);
        }
        if path == "/v1/messages" {
            return Some(Dialect::Anthropic);
        }
        // `/v1/models` alone is the models list, served before dialects.
        if (path.starts_with("/v1beta/models/") || path.starts_with("/v1/models/"))
            && (path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent"))
        {
            return Some(Dialect::Gemini);
        }
        if path.starts_with("/model/")
            && (path.ends_with("/converse") || path.ends_with("/converse-stream"))
        {
            return Some(Dialect::Bedrock);
        }
        None
    }

    fn presented_key(self, parts: &Parts) -> Option<String> {
        match self {
            Dialect::OpenAi => openai::presented_key(parts),
            Dialect::Anthropic => anthropic::presented_key(parts),
            Dialect::Gemini => gemini::presented_key(parts),
            Dialect::Bedrock => bedrock::presented_key(parts),
        }
    }

    fn error(self, status: u16, message: &str) -> Vec<u8> {
        match self {
            Dialect::OpenAi => openai::error_body(status, message),
            Dialect::Anthropic => anthropic::error_body(status, message),
            Dialect::Gemini => gemini::error_body(status, message),
            Dialect::Bedrock => bedrock::error_body(status, message),
        }
    }

    fn parse(self, parts: &Parts, body: &[u8]) -> Result<MockRequest, String> {
        match self {
            Dialect::OpenAi => openai::parse(parts, body),
            Dialect::Anthropic => anthropic::parse(parts, body),
            Dialect::Gemini => gemini::parse(parts, body),
            Dialect::Bedrock => bedrock::parse(parts, body),
        }
    }

    fn respond(self, mock: &Mock, req: &MockRequest, answer: Answer) -> Response<Body> {
        match self {
            Dialect::OpenAi => openai::respond(mock, req, answer),
            Dialect::Anthropic => anthropic::respond(mock, req, answer),
            Dialect::Gemini => gemini::respond(mock, req, answer),
            Dialect::Bedrock => bedrock::respond(mock, req, answer),
        }
    }
}

/// The mock's state: its options and counters.
pub struct Mock {
    opts: MockOptions,
    /// The model of known skill, when a skill flag is set.
    skill: Option<skill::Skill>,
    requests: AtomicU64,
    chat_requests: AtomicU64,
    failures: AtomicU64,
    seq: AtomicU64,
    /// Streams cut after content was sent (clients see these as errors).
    late_breaks: AtomicU64,
}

tokio::task_local! {
    /// A per-request `--break-after`, set by `--chaos`.
    static BREAK_AFTER: Option<usize>;
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
        skill: skill::Skill::new(&opts.skill),
        opts,
        requests: AtomicU64::new(0),
        chat_requests: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        seq: AtomicU64::new(0),
        late_breaks: AtomicU64::new(0),
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

/// A complete JSON response.
pub fn json_resp(status: StatusCode, body: Vec<u8>) -> Response<Body> {
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

impl Mock {
    /// The options in force.
    pub fn opts(&self) -> &MockOptions {
        &self.opts
    }

    /// A fresh id number for responses.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let path = req.uri().path().to_owned();
        if path == "/mock/stats" {
            let body = json!({
                "requests": self.requests.load(Ordering::Relaxed),
                "chat_requests": self.chat_requests.load(Ordering::Relaxed),
                "failures": self.failures.load(Ordering::Relaxed),
                "late_breaks": self.late_breaks.load(Ordering::Relaxed),
                "skill": self.skill.as_ref().map(skill::Skill::stats),
            });
            return json_resp(StatusCode::OK, body.to_string().into_bytes());
        }
        if path == "/v1/models" || path == "/models" {
            let body = json!({"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock-upstream"}]});
            return json_resp(StatusCode::OK, body.to_string().into_bytes());
        }
        if let Some((dialect, call)) = embed::of(&path) {
            return self.embeddings(dialect, call, req).await;
        }
        let Some(dialect) = Dialect::of(&path) else {
            return json_resp(
                StatusCode::NOT_FOUND,
                openai::error_body(404, &format!("Unknown path {path}")),
            );
        };
        self.chat(dialect, req).await
    }

    fn error(&self, dialect: Dialect, status: u16, message: &str) -> Response<Body> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut r = json_resp(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            dialect.error(status, message),
        );
        if let Some(s) = self.opts.retry_after
            && matches!(status, 429 | 503 | 529)
        {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // Bedrock names the error type in a header, not the body.
        if dialect == Dialect::Bedrock {
            bedrock::error_headers(status, r.headers_mut());
        }
        r
    }

    /// What every request goes through before it is answered: the key
    /// check, reading the body, `--hang`, latency, `--fail-status` and the
    /// first faults of `--chaos`. Returns the request and the chaos fault
    /// still to apply (3, 4: cut the answer), or the response that ends it.
    async fn admit(
        &self,
        dialect: Dialect,
        req: Request<Incoming>,
    ) -> Result<(Parts, Bytes, Option<u8>), Response<Body>> {
        let (parts, body) = req.into_parts();
        if let Some(key) = &self.opts.api_key
            && dialect.presented_key(&parts).as_deref() != Some(key.as_str())
        {
            return Err(self.error(dialect, 401, "Incorrect API key provided."));
        }
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Err(self.error(dialect, 400, &format!("could not read body: {e}")));
            }
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
            return Err(self.error(
                dialect,
                status,
                &format!("mock-upstream injected a {status} failure"),
            ));
        }
        let fault = (self.opts.chaos > 0.0 && rand::random::<f64>() < self.opts.chaos)
            .then(|| rand::random_range(0..5u8));
        match fault {
            Some(0) => return Err(self.error(dialect, 500, "mock-upstream chaos: 500")),
            Some(1) => return Err(self.error(dialect, 429, "mock-upstream chaos: 429")),
            Some(2) => tokio::time::sleep(Duration::from_secs(2)).await,
            _ => {}
        }
        Ok((parts, body, fault))
    }

    /// An embeddings request: the same faults as chat, then [`embed`]'s
    /// answer (a chaos cut resets the body).
    async fn embeddings(
        self: Arc<Self>,
        dialect: Dialect,
        call: embed::Call,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let (_, body, fault) = match self.admit(dialect, req).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        if matches!(fault, Some(3 | 4)) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return self.stream_response(vec![], 0..0, "application/json");
        }
        match embed::respond(&call, &body) {
            Ok(b) => json_resp(StatusCode::OK, b),
            Err(e) => self.error(dialect, 400, &e),
        }
    }

    async fn chat(self: Arc<Self>, dialect: Dialect, req: Request<Incoming>) -> Response<Body> {
        self.chat_requests.fetch_add(1, Ordering::Relaxed);
        let (parts, body, fault) = match self.admit(dialect, req).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let parsed = match dialect.parse(&parts, &body) {
            Ok(r) => r,
            Err(e) => return self.error(dialect, 400, &e),
        };
        let cut = match fault {
            Some(3) => Some(0),
            Some(4) => Some(1),
            _ => None,
        };
        if let Some(n) = cut {
            self.failures.fetch_add(1, Ordering::Relaxed);
            if !parsed.stream {
                return self.stream_response(vec![], 0..0, "application/json");
            }
            if n > 0 {
                self.late_breaks.fetch_add(1, Ordering::Relaxed);
            }
        }
        let answer = self.answer(&parsed);
        let break_after = cut.or(self.opts.break_after);
        BREAK_AFTER.sync_scope(break_after, || dialect.respond(&self, &parsed, answer))
    }

    /// The deterministic answer to a request.
    pub fn answer(&self, r: &MockRequest) -> Answer {
        if !r.tools.is_empty() && r.tool_result.is_none() && !r.tools_disabled {
            let name = r.forced_tool.clone().unwrap_or_else(|| r.tools[0].clone());
            return Answer::Tool {
                name,
                arguments: json!({"input": r.last_user}).to_string(),
            };
        }
        // A task of known skill is answered by the solver, even with `--reply`.
        let solved = skill::Skill::reply(self.skill.as_ref(), r);
        let text = solved.unwrap_or_else(|| match (&self.opts.reply, &r.tool_result) {
            (Some(t), _) => t.clone(),
            (None, Some(result)) => format!("The tool said: {result}"),
            (None, None) => format!("You said: {}", r.last_user),
        });
        Answer::Text(match &self.opts.label {
            Some(l) => format!("[{l}] {text}"),
            None => text,
        })
    }

    /// Split a text into the stream's content pieces.
    pub fn pieces(&self, text: &str) -> Vec<String> {
        split(text, self.opts.chunks)
    }

    /// A streaming response of pre-rendered frames. `content` is the range of
    /// frames that carry content; `--break-after N` cuts the stream after the
    /// Nth of them, `--chunk-delay-ms` spaces all frames.
    pub fn stream_response(
        &self,
        frames: Vec<Bytes>,
        content: std::ops::Range<usize>,
        content_type: &'static str,
    ) -> Response<Body> {
        let break_after = BREAK_AFTER
            .try_with(|b| *b)
            .unwrap_or(self.opts.break_after);
        let break_at = break_after.map(|n| content.start + n.min(content.len()));
        let delay = Duration::from_millis(self.opts.chunk_delay_ms);
        let frames = futures_util::stream::unfold(
            (frames.into_iter(), 0usize),
            move |(mut it, i)| async move {
                if break_at == Some(i) {
                    // Let hyper flush the frames already written: an error on
                    // the very next poll would abort before they leave.
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
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }
}

/// Text of a JSON content value: a string, or the `text` of its parts.
pub fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
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
