//! One benchmark request: a task sent to a model or route through the
//! gateway's own request path ([`crate::routing::chat`]: the route's
//! policy, the model's adapter, the broker, the provider's key, retries and
//! failover), or answered from the bench cache; then scored by the task's
//! evaluator in a fresh instance, like the gateway's evaluations. Spend is
//! reserved before a request is sent so that `--budget-usd` holds with many
//! requests in flight.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;

use super::cache::{self, Answer, Cache};
use super::dataset::{EvalSpec, Task};
use crate::canonical::ChatRequest;
use crate::generation::{Evaluator, Generation};
use crate::record::Record;
use crate::routing::{Reply, Router};
use crate::runtime::{Completer, Completion, CompletionRequest, EvalInput};

/// A benchmarked model or route.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its config name.
    pub name: String,
    /// A route (else a model).
    pub route: bool,
    /// What answers depend on: the cache key's first part.
    pub identity: String,
}

/// Why a run stopped early.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: AtomicBool,
    reason: Mutex<Option<&'static str>>,
}

impl Stop {
    /// Stop for `reason` (the first reason stays).
    pub fn stop(&self, reason: &'static str) {
        if let Ok(mut r) = self.reason.lock()
            && r.is_none()
        {
            *r = Some(reason);
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether the run is stopping.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Why it stopped.
    pub fn reason(&self) -> Option<&'static str> {
        self.reason.lock().ok().and_then(|r| *r)
    }
}

/// What one target's answers cost so far.
#[derive(Debug, Default, Clone, Copy)]
struct History {
    answers: u64,
    max: f64,
}

/// Money spent and reserved.
#[derive(Debug, Default)]
struct Money {
    spent: f64,
    reserved: f64,
    judge: f64,
    by_target: HashMap<usize, History>,
}

/// A request's claim on the budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reservation {
    /// Reserved this much, USD.
    Granted(f64),
    /// The budget does not allow it.
    Refused,
    /// Nothing is known of the target's cost yet: one request at a time
    /// probes it ([`Spend::reserve_probe`]).
    Probe,
}

/// The budget: spend so far, and what requests in flight may cost. A
/// request reserves the dearest answer its target has cost so far; the
/// first request of a target reserves at most what is left, and the others
/// wait for it, so a run overshoots its budget by at most one answer.
#[derive(Debug, Default)]
pub struct Spend {
    money: Mutex<Money>,
    budget: Option<f64>,
}

impl Spend {
    /// A budget of `budget` USD (none: unlimited).
    pub fn new(budget: Option<f64>) -> Spend {
        Spend {
            money: Mutex::default(),
            budget,
        }
    }

    fn grant(m: &mut Money, budget: Option<f64>, est: f64) -> Reservation {
        if let Some(b) = budget
            && m.spent + m.reserved + est > b
        {
            return Reservation::Refused;
        }
        m.reserved += est;
        Reservation::Granted(est)
    }

    /// Reserve for a request to `target`.
    pub fn reserve(&self, target: usize) -> Reservation {
        let Ok(mut m) = self.money.lock() else {
            return Reservation::Refused;
        };
        match m.by_target.get(&target).copied() {
            Some(h) if h.answers > 0 => Self::grant(&mut m, self.budget, h.max),
            _ if self.budget.is_none() => Self::grant(&mut m, None, 0.0),
            _ => Reservation::Probe,
        }
    }

    /// Reserve for a probe of `target` (the caller holds the target's probe
    /// lock): `estimate`, at most what is left. `(reservation, probing)`:
    /// not probing when another probe has measured the target meanwhile.
    pub fn reserve_probe(&self, target: usize, estimate: f64) -> (Reservation, bool) {
        let Ok(mut m) = self.money.lock() else {
            return (Reservation::Refused, false);
        };
        if let Some(h) = m.by_target.get(&target).copied()
            && h.answers > 0
        {
            return (Self::grant(&mut m, self.budget, h.max), false);
        }
        let left = self
            .budget
            .map_or(f64::INFINITY, |b| b - m.spent - m.reserved);
        if left <= 0.0 {
            return (Reservation::Refused, true);
        }
        let est = estimate.min(left);
        m.reserved += est;
        (Reservation::Granted(est), true)
    }

    fn settle(&self, target: usize, reserved: f64, cost: f64, answered: bool) {
        if let Ok(mut m) = self.money.lock() {
            m.reserved = (m.reserved - reserved).max(0.0);
            m.spent += cost;
            if answered {
                let h = m.by_target.entry(target).or_default();
                h.answers += 1;
                h.max = h.max.max(cost);
            }
        }
    }

    fn judge(&self, cost: f64) {
        if let Ok(mut m) = self.money.lock() {
            m.spent += cost;
            m.judge += cost;
        }
    }

    /// (spent, of which judges) USD.
    pub fn spent(&self) -> (f64, f64) {
        self.money
            .lock()
            .map(|m| (m.spent, m.judge))
            .unwrap_or_default()
    }
}

/// Everything a request needs.
pub struct Bench {
    /// Routes requests (the gateway's).
    pub router: Arc<Router>,
    /// The config's models, routes and plugins.
    pub generation: Arc<Generation>,
    /// The answer cache.
    pub cache: Cache,
    /// The targets.
    pub targets: Vec<Target>,
    /// The evaluator of each `eval` spec.
    pub evaluators: HashMap<EvalSpec, Arc<Evaluator>>,
    /// The budget.
    pub spend: Arc<Spend>,
    /// Whether and why the run stops.
    pub stop: Stop,
    /// Requests in flight.
    pub in_flight: Semaphore,
    /// Per target: held by the request that probes its cost under a budget.
    pub probes: Vec<tokio::sync::Mutex<()>>,
    /// A request's time limit.
    pub timeout: Duration,
    /// `--seed`: the requests' `seed` unless the task sets one.
    pub seed: Option<u64>,
    /// Each task runs this many times per target.
    pub repeat: u32,
    /// The output directory.
    pub out: std::path::PathBuf,
    /// The dataset, as the summary names it.
    pub dataset_name: String,
    /// Requests sent upstream.
    pub sent: AtomicU64,
    /// Requests answered from the cache.
    pub cached: AtomicU64,
}

/// How one request went.
#[derive(Debug)]
pub struct Outcome {
    /// The target's index.
    pub target: usize,
    /// The repeat index.
    pub repeat: u32,
    /// Not run: the run was stopping.
    pub skipped: bool,
    /// The answer, or why there is none.
    pub answer: Result<Answer, String>,
    /// From the cache.
    pub cached: bool,
    /// What it costs at the config's prices, USD.
    pub cost_usd: f64,
    /// The score, when the task is scored and the evaluator scored it.
    pub score: Option<crate::runtime::Score>,
    /// Why the evaluator could not score it.
    pub eval_error: Option<String>,
}

impl Bench {
    /// Run `task` on target `t`, repeat `repeat`.
    pub async fn run(self: &Arc<Self>, task: &Task, t: usize, repeat: u32) -> Outcome {
        let mut out = Outcome {
            target: t,
            repeat,
            skipped: false,
            answer: Err(String::new()),
            cached: false,
            cost_usd: 0.0,
            score: None,
            eval_error: None,
        };
        let Some(target) = self.targets.get(t) else {
            out.skipped = true;
            return out;
        };
        let mut body = task.body.clone();
        body.insert("model".into(), Value::String(target.name.clone()));
        body.remove("stream");
        body.remove("stream_options");
        if let Some(seed) = self.seed {
            body.entry("seed").or_insert(Value::from(seed));
        }
        let body = Value::Object(body).to_string();
        let key = cache::key(&target.identity, &body, &task.metadata, repeat);
        let answer = match self.cache.get(&key) {
            Some(a) => {
                out.cached = true;
                self.cached.fetch_add(1, Ordering::Relaxed);
                Ok(a)
            }
            None => {
                if self.stop.is_stopped() {
                    out.skipped = true;
                    return out;
                }
                let mut probe = None;
                let reserved = match self.spend.reserve(t) {
                    Reservation::Granted(r) => Some(r),
                    Reservation::Refused => None,
                    Reservation::Probe => {
                        let guard = match self.probes.get(t) {
                            Some(lock) => Some(lock.lock().await),
                            None => None,
                        };
                        match self.spend.reserve_probe(t, self.estimate(&body, target)) {
                            (Reservation::Granted(r), probing) => {
                                if probing {
                                    probe = guard;
                                }
                                Some(r)
                            }
                            _ => None,
                        }
                    }
                };
                let Some(reserved) = reserved else {
                    self.stop.stop("budget");
                    out.skipped = true;
                    return out;
                };
                let answer = self.ask(task, target, &body).await;
                let cost = answer.as_ref().map_or(0.0, |a| self.cost(a));
                self.spend.settle(t, reserved, cost, answer.is_ok());
                drop(probe);
                self.sent.fetch_add(1, Ordering::Relaxed);
                if let Ok(a) = &answer {
                    self.cache.put(&key, &target.name, a);
                }
                answer
            }
        };
        out.cost_usd = answer.as_ref().map_or(0.0, |a| self.cost(a));
        if let (Some(spec), Ok(a)) = (&task.eval, &answer)
            && let Some(ev) = self.evaluators.get(spec)
        {
            match self.score(ev, task, target, &body, a, None).await {
                Ok(s) => out.score = s,
                Err(e) => out.eval_error = Some(e),
            }
        }
        out.answer = answer;
        out
    }

    /// The canonical request of `task` for `target`.
    fn request(task: &Task, target: &Target, body: &str) -> Result<ChatRequest, String> {
        match &task.request {
            Some(r) => {
                let mut r = (**r).clone();
                r.model = target.name.clone();
                r.stream = false;
                r.include_usage = false;
                Ok(r)
            }
            None => crate::ingress::openai::parse_request(body.as_bytes()).map_err(|e| e.message),
        }
    }

    async fn ask(&self, task: &Task, target: &Target, body: &str) -> Result<Answer, String> {
        let req = Self::request(task, target, body)?;
        let prompt_estimate = crate::canonical::tokens_from_bytes(body.len());
        let _permit = self.in_flight.acquire().await.map_err(|e| e.to_string())?;
        let mut rec = Record::default();
        let started = Instant::now();
        let call = crate::routing::chat(
            &self.router,
            &self.generation,
            req,
            task.metadata.clone(),
            &mut rec,
        );
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs_f64()))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match reply {
            Ok(Reply::Complete(resp, served)) => {
                Ok(Answer::of(&resp, &served.model, ms, prompt_estimate))
            }
            Ok(Reply::Stream(..)) => Err(format!("`{}` answered with a stream", target.name)),
            Err(e) => Err(format!("{} {}", e.status.as_u16(), e.message)),
        }
    }

    /// An answer's cost at the config's prices.
    fn cost(&self, a: &Answer) -> f64 {
        self.generation.models.get(&a.model).map_or(0.0, |m| {
            m.prices
                .cost(a.prompt_tokens, a.cached_tokens, a.completion_tokens)
        })
    }

    /// What a first request may cost: the prompt's bytes / 4 at the input
    /// price and its `max_tokens` (else 512) at the output price of the
    /// target (a route's dearest model). Only a probe reserves it, capped
    /// at what is left of the budget.
    fn estimate(&self, body: &str, target: &Target) -> f64 {
        let prompt = crate::canonical::tokens_from_bytes(body.len());
        let completion = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|b| {
                b.get("max_tokens")
                    .or(b.get("max_completion_tokens"))
                    .and_then(Value::as_u64)
            })
            .unwrap_or(512);
        let models: Vec<_> = match self.generation.routes.get(&target.name) {
            Some(r) if target.route => r.models.iter().map(|m| m.prices).collect(),
            _ => self
                .generation
                .models
                .get(&target.name)
                .map(|m| m.prices)
                .into_iter()
                .collect(),
        };
        models
            .iter()
            .map(|p| p.cost(prompt, 0, completion))
            .fold(0.0, f64::max)
    }

    /// Score answer `a` of `target` to `task` with `ev`; `other` is the
    /// other answer of a head-to-head comparison.
    pub async fn score(
        &self,
        ev: &Arc<Evaluator>,
        task: &Task,
        target: &Target,
        body: &str,
        a: &Answer,
        other: Option<Arc<str>>,
    ) -> Result<Option<crate::runtime::Score>, String> {
        let req = Self::request(task, target, body)?;
        let input = EvalInput {
            request_id: format!("bench:{}:{}", task.id, target.name).into(),
            request: Arc::new(req),
            metadata: Arc::new(task.metadata.clone()),
            route: target.route.then(|| target.name.as_str().into()),
            model: a.model.as_str().into(),
            response: Arc::new(a.response()),
            other,
        };
        let judge: Arc<dyn Completer> = Arc::new(JudgeCalls {
            router: self.router.clone(),
            generation: self.generation.clone(),
            spend: self.spend.clone(),
        });
        match self
            .router
            .runtime
            .evaluate(&ev.plugin, ev.config.clone(), input, Some(judge))
            .await
        {
            Ok(Ok(scores)) => Ok(scores.into_iter().next()),
            Ok(Err(e)) => Err(format!("{}: {e}", ev.plugin.name)),
            Err(e) => Err(format!("{}: {e}", ev.plugin.name)),
        }
    }
}

/// A judge evaluator's model calls: through the gateway's path to a model
/// of the config, their cost added to the run's spend.
struct JudgeCalls {
    router: Arc<Router>,
    generation: Arc<Generation>,
    spend: Arc<Spend>,
}

impl Completer for JudgeCalls {
    fn complete(
        &self,
        req: CompletionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, String>> + Send>> {
        let router = self.router.clone();
        let generation = self.generation.clone();
        let spend = self.spend.clone();
        Box::pin(async move {
            let mut rec = Record::default();
            let r = crate::routing::complete::complete(&router, &generation, req, &mut rec).await;
            spend.judge(rec.cost_usd);
            r
        })
    }
}
