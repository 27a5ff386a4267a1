//! Evaluations: a sample of each route's finished answers scored by its
//! evaluators (`[routes.NAME] evaluate`), off the request path. A finished
//! request that was sampled becomes a [`Job`] on a bounded queue; a
//! dispatcher runs at most `[evaluation] concurrency` of them at once, each
//! evaluator in a fresh instance under its deadline and memory cap. The
//! dispatcher, its jobs and the shadow mirrors run on a runtime of their
//! own, one thread (`switchyard-eval`): they never take a request's worker,
//! and at most one core; concurrency only overlaps judges' model calls. A full
//! queue drops the job and counts it; an evaluator that traps, runs out of
//! time or memory, or returns a bad value is counted against it like any
//! plugin; none of it ever reaches the request, which was answered before
//! its job was queued.
//!
//! Scores go to three places: the rolling quality per (route, model, score)
//! that drives alerts and the policies' view of quality
//! ([`crate::monitor::quality`]), the request log's `scores` table (joined
//! to the record on read), and the evaluation counters of `/metrics`. A
//! judge's model calls are recorded in the log as requests of their own,
//! labelled with the evaluator and the request they judged, so their cost
//! is the evaluator's, never a client key's.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use super::{Ledger, now_ms};
use crate::canonical::{ChatRequest, ChatResponse};
use crate::config::EvaluationConfig;
use crate::generation::{Evaluator, Generation};
use crate::record::{Record, Score};
use crate::routing::Router;
use crate::runtime::{Completer, Completion, CompletionRequest, EvalInput};

/// Results of evaluations, as `/metrics` labels them.
pub const RESULTS: [&str; 4] = ["scored", "skipped", "error", "fault"];

/// One sampled answer and the evaluators that score it.
pub struct Job {
    /// The generation that served it (its plugins and models).
    pub generation: Arc<Generation>,
    /// The route that served it.
    pub route: Arc<str>,
    /// The model that answered (its config name).
    pub model: Arc<str>,
    /// The request's id.
    pub request_id: Arc<str>,
    /// The request.
    pub request: Arc<ChatRequest>,
    /// Its metadata (body and headers).
    pub metadata: Arc<Vec<(String, String)>>,
    /// The answer.
    pub response: Arc<ChatResponse>,
    /// The evaluators that sampled it.
    pub evaluators: Vec<Arc<Evaluator>>,
    /// A shadow model's answer: its scores are compared, never fed to the
    /// route's rolling quality.
    pub shadow: bool,
    /// Where its scores go besides the log: the shadow comparison waiting
    /// for them, if the request was mirrored.
    pub on_scores: Option<Box<dyn FnOnce(Vec<Score>) + Send>>,
}

/// The evaluation queue and its counters.
pub struct Evaluations {
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
    /// Shadow mirrors, started by the dispatcher like jobs.
    mirrors: mpsc::Sender<Mirror>,
    mirrors_rx: Mutex<Option<mpsc::Receiver<Mirror>>>,
    concurrency: usize,
    started: OnceLock<()>,
    dropped: AtomicU64,
    /// Evaluations by (evaluator, result).
    results: Mutex<HashMap<(String, &'static str), u64>>,
}

impl Evaluations {
    /// A queue of `[evaluation] queue` jobs; the dispatcher starts with the
    /// first job.
    pub fn new(cfg: &EvaluationConfig) -> Evaluations {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let (mirrors, mirrors_rx) = mpsc::channel(cfg.queue.max(1));
        Evaluations {
            tx,
            rx: Mutex::new(Some(rx)),
            mirrors,
            mirrors_rx: Mutex::new(Some(mirrors_rx)),
            concurrency: cfg.concurrency.max(1),
            started: OnceLock::new(),
            dropped: AtomicU64::new(0),
            results: Mutex::default(),
        }
    }

    /// Queue `job`; a full queue drops it (counted).
    pub(crate) fn submit(self: &Arc<Self>, ledger: &Arc<Ledger>, router: &Arc<Router>, job: Job) {
        self.start(ledger, router);
        if self.tx.try_send(job).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn start(self: &Arc<Self>, ledger: &Arc<Ledger>, router: &Arc<Router>) {
        if self.started.get().is_some() {
            return;
        }
        let Some(rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let Some(mirrors) = self.mirrors_rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let _ = self.started.set(());
        let ctx = Ctx {
            evals: Arc::downgrade(self),
            ledger: Arc::downgrade(ledger),
            router: router.clone(),
        };
        let work = dispatch(rx, mirrors, Arc::new(Semaphore::new(self.concurrency)), ctx);
        let own = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .and_then(|rt| {
                let handle = rt.handle().clone();
                std::thread::Builder::new()
                    .name("switchyard-eval".into())
                    .spawn(move || rt.block_on(work))
                    .map(|_| handle)
            });
        if let Err(e) = own {
            tracing::error!("cannot start the evaluation thread: {e}; evaluations are dropped");
        }
    }

    /// Run `fut` (a shadow mirror) where evaluations run, off the request
    /// workers; dropped (counted) when that queue is full.
    pub(crate) fn spawn<F>(self: &Arc<Self>, ledger: &Arc<Ledger>, router: &Arc<Router>, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.start(ledger, router);
        if self.mirrors.try_send(Box::pin(fut)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Jobs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Jobs waiting.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Evaluations by (evaluator, result), result one of [`RESULTS`].
    pub fn results(&self) -> Vec<((String, &'static str), u64)> {
        let mut v: Vec<_> = self
            .results
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub(crate) fn count(&self, evaluator: &str, result: &'static str) {
        if let Ok(mut m) = self.results.lock() {
            *m.entry((evaluator.to_owned(), result)).or_default() += 1;
        }
    }
}

struct Ctx {
    evals: std::sync::Weak<Evaluations>,
    ledger: std::sync::Weak<Ledger>,
    router: Arc<Router>,
}

/// How long the dispatcher waits after a batch before it looks at the
/// queue again. Waking the evaluation thread for every answer costs the
/// request path more than the evaluation itself: on a busy machine a
/// thread woken per request competes with the next request's for a core
/// (measured with `cargo bench --bench proxy` on 2 cores: +220 µs median at
/// concurrency 1 when woken per job, within noise when batched). While it
/// waits, queued jobs wake nobody.
const LINGER: Duration = Duration::from_millis(10);

/// Most jobs taken off the queue at once.
const BATCH: usize = 256;

/// A shadow mirror waiting to start.
type Mirror = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn dispatch(
    mut rx: mpsc::Receiver<Job>,
    mut mirrors: mpsc::Receiver<Mirror>,
    permits: Arc<Semaphore>,
    ctx: Ctx,
) {
    let ctx = Arc::new(ctx);
    let mut batch = Vec::with_capacity(BATCH);
    let mut started = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
            n = mirrors.recv_many(&mut started, BATCH) => if n == 0 { return },
        }
        while let Ok(m) = mirrors.try_recv() {
            started.push(m);
            if started.len() >= BATCH {
                break;
            }
        }
        for m in started.drain(..) {
            tokio::spawn(m);
        }
        while let Ok(j) = rx.try_recv() {
            batch.push(j);
            if batch.len() >= BATCH {
                break;
            }
        }
        for job in batch.drain(..) {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let ctx = ctx.clone();
            tokio::spawn(async move {
                run(&ctx, job).await;
                drop(permit);
            });
        }
        tokio::time::sleep(LINGER).await;
    }
}

async fn run(ctx: &Ctx, mut job: Job) {
    let (Some(evals), Some(ledger)) = (ctx.evals.upgrade(), ctx.ledger.upgrade()) else {
        return;
    };
    let mut all = Vec::new();
    for ev in &job.evaluators {
        let input = EvalInput {
            request_id: job.request_id.clone(),
            request: job.request.clone(),
            metadata: job.metadata.clone(),
            route: Some(job.route.clone()),
            model: job.model.clone(),
            response: job.response.clone(),
            other: None,
        };
        let calls: Arc<dyn Completer> = Arc::new(JudgeCalls {
            router: ctx.router.clone(),
            generation: job.generation.clone(),
            ledger: Arc::downgrade(&ledger),
            evaluator: ev.name.clone(),
            request_id: job.request_id.clone(),
            n: AtomicU64::new(0),
        });
        let result = ctx
            .router
            .runtime
            .evaluate(&ev.plugin, ev.config.clone(), input, Some(calls))
            .await;
        match result {
            Ok(Ok(scores)) if scores.is_empty() => evals.count(&ev.name, "skipped"),
            Ok(Ok(scores)) => {
                evals.count(&ev.name, "scored");
                let at_ms = now_ms();
                for s in scores {
                    all.push(Score {
                        request_id: job.request_id.to_string(),
                        at_ms,
                        source: format!("evaluator:{}", ev.name),
                        name: s.name,
                        value: s.value,
                        label: s.label,
                        explanation: s.explanation,
                        model: Some(job.model.to_string()),
                        route: Some(job.route.to_string()),
                    });
                }
            }
            Ok(Err(why)) => {
                evals.count(&ev.name, "error");
                tracing::debug!(evaluator = %ev.name, request_id = %job.request_id, "evaluator could not score: {why}");
            }
            Err(e) => {
                evals.count(&ev.name, "fault");
                ctx.router.stats.plugin_fault(&ev.plugin.name, e.fault());
                tracing::warn!(evaluator = %ev.name, request_id = %job.request_id, "evaluator failed: {e}");
            }
        }
    }
    if all.is_empty() {
        if let Some(f) = job.on_scores.take() {
            f(all);
        }
        return;
    }
    if !job.shadow {
        ctx.router.saw_score(&job.route, &all[0].name);
    }
    if !job.shadow {
        ledger.scored(&all);
    }
    if let Some(f) = job.on_scores.take() {
        f(all.clone());
    }
    if let Some(log) = ledger.log() {
        let store = log.store().clone();
        if let Err(e) = store.write_scores(all).await {
            tracing::warn!(request_id = %job.request_id, "writing scores to the request log failed: {e:#}");
        }
    }
}

/// The model calls of evaluator `evaluator` scoring request `request_id`
/// (see [`JudgeCalls`]).
pub(crate) fn judge_calls(
    router: &Arc<Router>,
    generation: &Arc<Generation>,
    ledger: &Arc<Ledger>,
    evaluator: &str,
    request_id: &Arc<str>,
) -> Arc<dyn Completer> {
    Arc::new(JudgeCalls {
        router: router.clone(),
        generation: generation.clone(),
        ledger: Arc::downgrade(ledger),
        evaluator: evaluator.to_owned(),
        request_id: request_id.clone(),
        n: AtomicU64::new(0),
    })
}

/// A judge's model calls: through the model's adapter like a policy's, and
/// each recorded in the request log as its own request, labelled with the
/// evaluator and the request it judged.
struct JudgeCalls {
    router: Arc<Router>,
    generation: Arc<Generation>,
    ledger: std::sync::Weak<Ledger>,
    evaluator: String,
    request_id: Arc<str>,
    n: AtomicU64,
}

impl Completer for JudgeCalls {
    fn complete(
        &self,
        req: CompletionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, String>> + Send>> {
        let router = self.router.clone();
        let generation = self.generation.clone();
        let ledger = self.ledger.clone();
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let mut rec = Record {
            id: format!("{}.eval-{}-{n}", self.request_id, self.evaluator),
            started_at_ms: now_ms(),
            dialect: "evaluator".into(),
            ..Record::default()
        };
        let labels = [
            ("evaluator".to_owned(), self.evaluator.clone()),
            ("evaluates".to_owned(), self.request_id.to_string()),
        ];
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result =
                crate::routing::complete::complete(&router, &generation, req, &mut rec).await;
            rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
            // Routing sets the labels of its plan; these say whose call it was.
            rec.labels.extend(labels);
            if let Err(e) = &result {
                rec.outcome = crate::record::Outcome::Error;
                rec.status = 502;
                rec.error = Some(e.clone());
            } else {
                rec.status = 200;
            }
            if let Some(ledger) = ledger.upgrade()
                && rec.model.is_some()
            {
                ledger.record_internal(rec);
            }
            result
        })
    }
}
