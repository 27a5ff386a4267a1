//! The ledger: one [`Record`] per chat request, filled in along the path
//! and handed once, when the request is finished (a stream: when it ends,
//! breaks, or the client leaves), to the sinks that read it:
//!
//! - **key accounting**: the key's tokens and spend against its limits
//!   ([`crate::limits::Limiter::record`]);
//! - **metrics**: the model's token and cost counters, and the request
//!   histograms and failovers of [`crate::monitor::RequestFigures`];
//! - **the request log** ([`log`]): a bounded queue to a batching writer,
//!   SQLite or PostgreSQL;
//! - **evaluations** ([`evaluate`]): a sampled answer is queued for its
//!   route's evaluators, whose scores feed the rolling quality and the log;
//! - **the shadow** ([`shadow`]): a sampled request of a route with a
//!   shadow model is sent to it too, after the client has its answer.
//!
//! A new consumer of finished requests is one more sink in
//! `Pending::finish`, not another branch in the handler. Ingress owns a
//! [`Pending`] per request; routing fills the route, plan and attempts of
//! its record. Nothing here waits: the sinks are atomics, short locks, a
//! limit-store write already off the path, and a non-blocking queue.

pub mod evaluate;
pub mod log;
pub mod shadow;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::canonical::{ChatRequest, ChatResponse, OutputTally, StreamEvent};
use crate::config::{EvaluationConfig, Prices, sampled};
use crate::error::ApiError;
use crate::generation::{Evaluator, Generation};
use crate::keys::ClientKey;
use crate::limits::{Limiter, Slot, Spend};
use crate::monitor::Stats;
use crate::record::{Outcome, Record, Score};
use crate::routing::{EventStream, Router, Served};

use self::evaluate::{Evaluations, Job};
use self::log::RequestLog;
use self::shadow::Shadows;

/// The status a record gets when the client left before its answer: the
/// de-facto "client closed request" code (nginx's 499).
pub const CLIENT_CLOSED: u16 = 499;

/// Where finished requests go.
pub struct Ledger {
    stats: Arc<Stats>,
    router: Arc<Router>,
    limiter: Arc<Limiter>,
    /// The evaluation queue.
    pub evaluations: Arc<Evaluations>,
    /// Shadow comparisons.
    pub shadows: Arc<Shadows>,
    /// Who made recent requests and who answered them, for feedback: by
    /// request id.
    recent: std::sync::Mutex<lru::LruCache<String, Owner>>,
    log: OnceLock<RequestLog>,
    /// Why there is no request log, when it could not be opened.
    log_off: OnceLock<String>,
    bodies: OnceLock<usize>,
}

impl Ledger {
    /// A ledger over the router's figures and the key limiter, with no
    /// request log until [`Ledger::set_log`].
    pub fn new(router: Arc<Router>, limiter: Arc<Limiter>, eval: &EvaluationConfig) -> Ledger {
        Ledger {
            stats: router.stats.clone(),
            router,
            limiter,
            evaluations: Arc::new(Evaluations::new(eval)),
            shadows: Arc::default(),
            recent: std::sync::Mutex::new(lru::LruCache::new(RECENT)),
            log: OnceLock::new(),
            log_off: OnceLock::new(),
            bodies: OnceLock::new(),
        }
    }

    /// Send finished records to `log`; with `bodies`, records carry the
    /// request body and the answer's text, each capped at that many bytes.
    pub fn set_log(&self, log: RequestLog, bodies: Option<usize>) {
        if let Some(max) = bodies {
            let _ = self.bodies.set(max);
        }
        let _ = self.log.set(log);
    }

    /// The request log, when one is configured and open.
    pub fn log(&self) -> Option<&RequestLog> {
        self.log.get()
    }

    /// The request log when it keeps bodies, and the most bytes of each
    /// text it keeps.
    pub fn log_with_bodies(&self) -> Option<(&RequestLog, usize)> {
        Some((self.log.get()?, *self.bodies.get()?))
    }

    /// Record why the configured request log could not be opened.
    pub fn set_log_off(&self, why: String) {
        let _ = self.log_off.set(why);
    }

    /// The request log, or why there is none (for the admin API's error).
    pub fn log_or_why(&self) -> Result<&RequestLog, String> {
        match (self.log.get(), self.log_off.get()) {
            (Some(log), _) => Ok(log),
            (None, Some(why)) => Err(format!("The request log is off: {why}")),
            (None, None) => Err("The request log is off ([log] backend = \"off\").".into()),
        }
    }

    /// Scores of an answer: into the rolling quality of its (route, model).
    pub fn scored(&self, scores: &[Score]) {
        let now = u64::try_from(now_ms()).unwrap_or(0);
        for s in scores {
            if let (Some(route), Some(model)) = (&s.route, &s.model) {
                self.router
                    .quality
                    .observe(route, model, &s.name, s.value, now);
            }
        }
    }

    /// A record made by the gateway itself (a judge's model call, a shadow
    /// request): to the request log only — its tokens are already on the
    /// model's figures, and no client key pays for it.
    pub fn record_internal(&self, rec: Record) {
        if let Some(log) = self.log.get() {
            log.submit(rec);
        }
    }

    /// Who made request `id` and what answered it, while it is recent
    /// (the last [`RECENT`] requests).
    pub fn owner(&self, id: &str) -> Option<Owner> {
        self.recent.lock().ok()?.get(id).cloned()
    }

    /// Start the record of a request that arrived now.
    pub fn begin(
        self: &Arc<Self>,
        generation: Arc<Generation>,
        id: String,
        dialect: &'static str,
    ) -> Pending {
        let started_at_ms = now_ms();
        Pending {
            rec: Record {
                id,
                started_at_ms,
                dialect: dialect.to_owned(),
                status: 200,
                ..Record::default()
            },
            started: Instant::now(),
            ledger: self.clone(),
            generation,
            key: None,
            slot: None,
            prices: None,
            tally: OutputTally::default(),
            request_bytes: 0,
            answer: None,
            client_wait: Duration::ZERO,
            yielded: None,
            done: false,
            eval: None,
            hit: false,
        }
    }
}

/// How many recent requests the ledger remembers for feedback.
pub const RECENT: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(100_000) {
    Some(n) => n,
    None => std::num::NonZeroUsize::MIN,
};

/// Who made a request and what answered it.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The caller's key name.
    pub key: Option<String>,
    /// The route that served it.
    pub route: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
}

/// A request's metadata, shared.
type Metadata = Arc<Vec<(String, String)>>;

/// What a sampled request keeps for its evaluators and its shadow: the
/// request, and the answer as it is built.
struct EvalCapture {
    route: Arc<str>,
    evaluators: Vec<Arc<Evaluator>>,
    shadow: bool,
    request: Option<(Arc<ChatRequest>, Metadata)>,
    response: Option<ChatResponse>,
    stream: crate::canonical::ResponseBuilder,
}

/// A request's record while it is served; finished exactly once — by one
/// of [`Pending::fail`], [`Pending::complete`], [`Pending::stream_ended`],
/// [`Pending::replay_ended`], or, when the client leaves first, by being
/// dropped.
pub struct Pending {
    rec: Record,
    started: Instant,
    ledger: Arc<Ledger>,
    generation: Arc<Generation>,
    key: Option<Arc<ClientKey>>,
    /// The key's parallel slot, held until the request is finished.
    slot: Option<Slot>,
    /// The serving model's prices, once a model serves.
    prices: Option<Prices>,
    tally: OutputTally,
    request_bytes: usize,
    /// The answer's text so far, when the log keeps bodies.
    answer: Option<String>,
    /// Time the answer waited on the client (a stream between frames).
    client_wait: Duration,
    /// When the last frame of a stream was handed to the connection.
    yielded: Option<Instant>,
    done: bool,
    /// Set when the request is sampled for evaluation or the shadow.
    eval: Option<Box<EvalCapture>>,
    /// Served from the response cache: no upstream billed it.
    hit: bool,
}

impl Pending {
    /// The record, for routing to fill in its route, plan and attempts.
    pub fn record_mut(&mut self) -> &mut Record {
        &mut self.rec
    }

    /// The request's id.
    pub fn id(&self) -> &str {
        &self.rec.id
    }

    /// The caller's key.
    pub fn set_key(&mut self, key: &Arc<ClientKey>) {
        self.rec.key = Some(key.name.clone());
        self.key = Some(key.clone());
    }

    /// The key's slot, held until the request is finished.
    pub fn admitted(&mut self, slot: Slot) {
        self.slot = Some(slot);
    }

    /// What the client asked for.
    pub fn request(&mut self, model: &str, stream: bool, body: &[u8]) {
        if let Some(route) = self.generation.routes.get(model) {
            let id = &self.rec.id;
            let evaluators: Vec<Arc<Evaluator>> = route
                .evaluate
                .iter()
                .filter(|(ev, rate)| sampled(id, &ev.name, *rate))
                .map(|(ev, _)| ev.clone())
                .collect();
            let shadow = route
                .shadow
                .as_ref()
                .is_some_and(|s| sampled(id, "shadow", s.sample));
            if !evaluators.is_empty() || shadow {
                self.eval = Some(Box::new(EvalCapture {
                    route: route.name.as_str().into(),
                    evaluators,
                    shadow,
                    request: None,
                    response: None,
                    stream: Default::default(),
                }));
            }
        }
        self.rec.requested = model.to_owned();
        self.rec.stream = stream;
        self.request_bytes = body.len();
        self.rec.bytes_in = body.len() as u64;
        if let Some(&max) = self.ledger.bodies.get() {
            self.rec.prompt = Some(capped(&String::from_utf8_lossy(body), max));
            self.answer = Some(String::new());
        }
    }

    /// Whether the request was sampled for evaluation or the shadow: then
    /// it wants [`Pending::keep_request`].
    pub fn sampled(&self) -> bool {
        self.eval.is_some()
    }

    /// Keep the canonical request (and its metadata) of a sampled request.
    pub fn keep_request(&mut self, req: Arc<ChatRequest>, metadata: Arc<Vec<(String, String)>>) {
        if let Some(e) = &mut self.eval {
            e.request = Some((req, metadata));
        }
    }

    /// The model that serves the answer.
    pub fn served(&mut self, s: &Served) {
        self.rec.model = Some(s.model.clone());
        self.rec.provider = Some(s.provider.clone());
        self.prices = Some(
            self.generation
                .models
                .get(&s.model)
                .map(|m| m.prices)
                .unwrap_or_default(),
        );
    }

    /// The request failed with `e` (the client gets it now).
    pub fn fail(mut self, e: &ApiError) {
        self.rec.outcome = Outcome::Error;
        self.rec.status = e.status.as_u16();
        self.rec.error = Some(e.message.clone());
        self.finish();
    }

    /// A complete (non-streaming) answer, before it is rendered.
    pub fn answered(&mut self, resp: &ChatResponse) {
        if let Some(e) = &mut self.eval {
            e.response = Some(resp.clone());
        }
        self.tally = OutputTally {
            usage: resp.usage,
            output_bytes: resp
                .choices
                .iter()
                .filter_map(|c| c.message.content.as_ref())
                .map(crate::canonical::content_len)
                .sum(),
        };
        if let Some(answer) = &mut self.answer {
            for c in resp
                .choices
                .iter()
                .filter_map(|c| c.message.content.as_ref())
            {
                answer.push_str(&crate::canonical::content_text(c));
            }
        }
    }

    /// What the response cache did: `miss` or `bypass` (see
    /// [`Record::cache`]); a hit is [`Pending::cache_hit`].
    pub fn cache(&mut self, what: &str) {
        self.rec.cache = Some(what.to_owned());
    }

    /// The answer comes from the response cache: it costs nothing (its
    /// tokens at the model's prices are the cost saved, and no tokens count
    /// against the key's limits), and it is not evaluated or mirrored
    /// again. Call after [`Pending::served`].
    pub fn cache_hit(&mut self) {
        self.hit = true;
        self.rec.cache = Some("hit".into());
        self.eval = None;
    }

    /// A replayed stream (a cache hit) has been sent whole.
    pub fn replay_ended(&mut self) {
        self.finish();
    }

    /// Keep `answer` as the answer's record instead of its text (the
    /// Responses API keeps its output items, to continue from them), when
    /// the log keeps bodies.
    pub fn keep_answer(&mut self, answer: String) {
        if let Some(a) = &mut self.answer {
            *a = answer;
        }
    }

    /// An embeddings answer for `prompt_tokens` input tokens: no output, so
    /// its cost is the input tokens at the model's input price.
    pub fn embedded(&mut self, prompt_tokens: u32) {
        self.tally = OutputTally {
            usage: Some(crate::canonical::Usage {
                prompt_tokens,
                completion_tokens: 0,
                total_tokens: prompt_tokens,
                cached_tokens: None,
                reasoning_tokens: None,
            }),
            output_bytes: 0,
        };
    }

    /// The complete answer of `bytes_out` body bytes is sent; what it
    /// cost, USD.
    pub fn complete(mut self, bytes_out: usize) -> f64 {
        self.rec.bytes_out = bytes_out as u64;
        self.finish()
    }

    /// A stream's frame is being produced: the time since the last frame
    /// went out was the client's.
    pub fn polled(&mut self) {
        if let Some(t) = self.yielded.take() {
            self.client_wait += t.elapsed();
        }
    }

    /// A stream's events, about to be encoded.
    pub fn observe(&mut self, events: &[StreamEvent]) {
        self.tally.observe(events);
        if let Some(e) = &mut self.eval {
            e.stream.observe(events);
        }
        if let Some(answer) = &mut self.answer {
            for e in events {
                if let StreamEvent::Text(t) = e {
                    answer.push_str(&t.text);
                }
            }
        }
    }

    /// A stream's frame of `bytes` is handed to the connection now (the
    /// first one is the client's first token).
    pub fn sent(&mut self, bytes: usize) {
        self.rec.bytes_out += bytes as u64;
        if self.rec.ttft_ms.is_none() {
            self.rec.ttft_ms = Some(ms(self.started.elapsed()));
        }
        self.yielded = Some(Instant::now());
    }

    /// The answer's headers are handed to the connection; a stream's body
    /// follows at the client's pace.
    pub fn headers_sent(&mut self) {
        self.yielded = Some(Instant::now());
    }

    /// The committed stream ended: cleanly, or `broken` after content.
    pub fn stream_ended(&mut self, stream: &EventStream, broken: Option<&ApiError>) {
        self.stream_done(stream);
        if let Some(e) = broken {
            self.rec.outcome = Outcome::Broken;
            self.rec.error = Some(e.message.clone());
            if let Some(a) = self.rec.attempts.last_mut() {
                a.outcome = "broken".into();
                a.error = Some(e.message.clone());
            }
        }
        self.finish();
    }

    /// Close the committed attempt's figures: its latency to the stream's
    /// end, and the upstream waits since the commit.
    fn stream_done(&mut self, stream: &EventStream) {
        if let Some(a) = self.rec.attempts.last_mut() {
            a.latency_ms = ms(stream.started().elapsed());
        }
        self.rec.upstream_ms += ms(stream.waited());
    }

    /// The client left while the stream was open.
    pub fn stream_dropped(&mut self, stream: &EventStream) {
        if !self.done {
            self.stream_done(stream);
        }
    }

    /// Fill in what is derived, then hand the record to every sink; what
    /// the request cost, USD.
    fn finish(&mut self) -> f64 {
        if std::mem::replace(&mut self.done, true) {
            return 0.0;
        }
        let duration = self.started.elapsed();
        let rec = &mut self.rec;
        rec.duration_ms = ms(duration);
        if let Some(prices) = self.prices {
            let (prompt, completion) = self.tally.tokens(self.request_bytes);
            let cached = self
                .tally
                .usage
                .and_then(|u| u.cached_tokens)
                .map_or(0, u64::from);
            rec.prompt_tokens = prompt;
            rec.completion_tokens = completion;
            rec.cached_tokens = cached.min(prompt);
            rec.tokens_estimated = self.tally.usage.is_none();
            rec.cost_usd = prices.cost(prompt, cached, completion);
            rec.cost_known = prices.known;
            if self.hit {
                rec.cost_saved_usd = rec.cost_usd;
                rec.cost_usd = 0.0;
                rec.prompt_tokens = 0;
                rec.completion_tokens = 0;
                rec.cached_tokens = 0;
            }
        }
        rec.failovers = rec.failover_reasons().count() as u32;
        rec.overhead_ms = (rec.duration_ms - rec.upstream_ms - ms(self.client_wait)).max(0.0);
        if let Some(answer) = self.answer.take()
            && let Some(&max) = self.ledger.bodies.get()
        {
            rec.answer = Some(capped(&answer, max));
        }

        // Sink: the key's limits.
        if let Some(key) = &self.key {
            let reserved = self
                .slot
                .as_ref()
                .map(Slot::reservation)
                .unwrap_or_default();
            // A request no model answered gives its reservation back; one
            // the client left before its answer keeps it (the upstream may
            // have billed it).
            if self.prices.is_some() || rec.outcome == Outcome::Error {
                self.ledger.limiter.record(
                    &self.generation.quotas,
                    key,
                    Spend {
                        prompt_tokens: rec.prompt_tokens,
                        completion_tokens: rec.completion_tokens,
                        cost_usd: rec.cost_usd,
                        reserved,
                    },
                );
            }
        }

        // Sink: metrics.
        let stats = &self.ledger.stats;
        let route = rec.route.as_deref().unwrap_or("");
        if let Some(model) = &rec.model
            && let Some(target) = self.generation.models.get(model)
        {
            target
                .stats
                .count_usage(rec.prompt_tokens, rec.completion_tokens, rec.cost_usd);
        }
        let h = stats
            .requests
            .histograms(route, rec.model.as_deref().unwrap_or(""));
        h.duration.observe(rec.duration_ms / 1e3);
        h.overhead.observe(rec.overhead_ms / 1e3);
        if rec.upstream_ms > 0.0 {
            h.upstream.observe(rec.upstream_ms / 1e3);
        }
        if let Some(t) = rec.ttft_ms {
            h.ttft.observe(t / 1e3);
        }
        stats.series.observe(
            rec.route.as_deref(),
            rec.model.as_deref(),
            rec.outcome == Outcome::Ok,
            rec.duration_ms,
            rec.ttft_ms,
            rec.cost_usd,
        );
        for reason in rec.failover_reasons() {
            stats.requests.count_failover(route, reason);
        }

        let cost = rec.cost_usd;
        if let Ok(mut recent) = self.ledger.recent.lock() {
            recent.put(
                rec.id.clone(),
                Owner {
                    key: rec.key.clone(),
                    route: rec.route.clone(),
                    model: rec.model.clone(),
                },
            );
        }
        // Sinks: evaluations and the shadow, for a sampled complete answer.
        if rec.outcome == Outcome::Ok
            && let Some(e) = self.eval.take()
        {
            self.evaluate(*e);
        }
        // Sink: the request log.
        if let Some(log) = self.ledger.log.get() {
            log.submit(std::mem::take(&mut self.rec));
        }
        self.slot = None;
        cost
    }
}

impl Pending {
    /// Queue the evaluations of a sampled answer, and mirror it to the
    /// route's shadow model.
    fn evaluate(&mut self, e: EvalCapture) {
        let (Some((request, metadata)), Some(model)) = (e.request, self.rec.model.clone()) else {
            return;
        };
        let response = match e.response {
            Some(r) => r,
            None => e.stream.build(),
        };
        let response = Arc::new(response);
        let request_id: Arc<str> = self.rec.id.as_str().into();
        let model: Arc<str> = model.into();
        let on_scores = if e.shadow {
            self.ledger.shadows.start(
                &self.ledger,
                &self.generation,
                shadow::Mirror {
                    route: e.route.clone(),
                    model: model.clone(),
                    request_id: request_id.clone(),
                    request: request.clone(),
                    metadata: metadata.clone(),
                    response: response.clone(),
                },
            )
        } else {
            None
        };
        if e.evaluators.is_empty() {
            if let Some(f) = on_scores {
                f(vec![]);
            }
            return;
        }
        let job = Job {
            generation: self.generation.clone(),
            route: e.route,
            model,
            request_id,
            request,
            metadata,
            response,
            evaluators: e.evaluators,
            shadow: false,
            on_scores,
        };
        let ledger = self.ledger.clone();
        ledger.evaluations.submit(&ledger, &ledger.router, job);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            // The client went away before the answer was complete.
            self.rec.outcome = Outcome::ClientClosed;
            self.rec.status = CLIENT_CLOSED;
            self.finish();
        }
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A `since` of the admin API and `switchyard logs`: an age (`90s`, `15m`,
/// `1h`, `7d`) before `now_ms`, or a time in milliseconds since the epoch.
pub fn since_ms(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!("`{text}` is not an age like 90s, 15m, 1h or 7d, nor milliseconds since the epoch")
    };
    if let Ok(ms) = t.parse::<i64>() {
        return if ms >= 0 { Ok(ms) } else { Err(bad()) };
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    Ok(now_ms.saturating_sub(n.saturating_mul(unit_ms)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn capped(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::{capped, since_ms};

    #[test]
    fn since_takes_ages_and_epoch_milliseconds() {
        let now = 10_000_000_000;
        assert_eq!(since_ms("90s", now), Ok(now - 90_000));
        assert_eq!(since_ms("1h", now), Ok(now - 3_600_000));
        assert_eq!(since_ms("30d", now), Ok(now - 30 * 86_400_000));
        assert_eq!(since_ms("1700000000000", now), Ok(1_700_000_000_000));
        for bad in ["", "h", "1y", "-5", "1.5h", "soon"] {
            assert!(since_ms(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_are_capped_at_a_character_boundary() {
        assert_eq!(capped("héllo", 2), "h");
        assert_eq!(capped("héllo", 3), "hé");
        assert_eq!(capped("abc", 10), "abc");
    }
}
