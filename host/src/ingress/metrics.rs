//! `GET /metrics`: the gateway's counters in the Prometheus/OpenMetrics text
//! format. Nothing here runs on the request path: requests bump plain atomics
//! in [`crate::monitor`], and a scrape reads them into a one-off collector that
//! `prometheus-client` encodes.
//!
//! | metric | labels | |
//! |---|---|---|
//! | `switchyard_http_requests_total` | endpoint, status | responses sent |
//! | `switchyard_attempts_total` | model, provider, result | upstream attempts: `ok` or the failure kind |
//! | `switchyard_attempt_duration_seconds` | model, provider | successful attempts: to the reply, or a stream's first content |
//! | `switchyard_tokens_total` | model, provider, kind | prompt / completion tokens |
//! | `switchyard_cost_usd_total` | model, provider | spend at the model's prices (config, else the built-in catalog) |
//! | `switchyard_in_flight` | model, provider | attempts open now |
//! | `switchyard_breaker_open` | model, provider | 1 when the breaker is open, 0.5 half-open |
//! | `switchyard_latency_ewma_seconds`, `switchyard_error_rate` | model, provider | what policies see |
//! | `switchyard_policy_fallbacks_total` | route, reason | decisions replaced by the static order |
//! | `switchyard_request_duration_seconds` | route, model | finished chat requests: arrival to last byte |
//! | `switchyard_request_upstream_seconds` | route, model | their time waiting on upstreams |
//! | `switchyard_request_ttft_seconds` | route, model | streams: time to the first content sent |
//! | `switchyard_request_overhead_seconds` | route, model | the gateway's own time (duration less upstream and client waits) |
//! | `switchyard_failovers_total` | route, reason | moves to another model, by the failure that caused them |
//! | `switchyard_log_queue_depth` | | records waiting for the request log's writer |
//! | `switchyard_log_written_total`, `switchyard_log_dropped_total` | | records written to, and dropped before, the request log |
//! | `switchyard_policy_instances_created_total` | route, policy | warm-pool misses |
//! | `switchyard_reloads_total` | result | `succeeded` / `failed` reloads |
//! | `switchyard_plugins_refused_total` | | plugin files refused |
//! | `switchyard_cache_lookups_total` | result | response-cache lookups: `hit` / `miss` |
//! | `switchyard_cache_stores_total`, `switchyard_cache_skipped_total` | | answers stored in the response cache; not stored (too large, or a stream that broke) |
//! | `switchyard_generation` | | the generation serving |
//! | `switchyard_component_compiles_total` | | components compiled (compile-cache misses) |
//! | `switchyard_quality_alerts_total` | route, model, score | answer-quality alerts opened |
//! | `switchyard_evaluations_total` | evaluator, result | evaluations run: scored, skipped, error, fault |
//! | `switchyard_evaluations_dropped_total`, `switchyard_evaluation_queue_depth` | | the evaluation queue |
//! | `switchyard_quality_rolling` | route, model, score | mean score over the series' rolling window |
//! | `switchyard_quality_samples` | route, model, score | scores in the series' rolling window |

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::gateway::Gateway;
use crate::monitor::{ATTEMPT_RESULTS, ModelCounters, ModelTotals, RequestHistograms};
use crate::runtime::BreakerState;

/// Render every metric.
pub fn render(gw: &Gateway) -> Result<String, std::fmt::Error> {
    let generation = gw.current();
    let mut models: Vec<ModelSnap> = generation
        .models
        .values()
        .map(|m| ModelSnap {
            model: m.name.clone(),
            provider: m.provider_name.clone(),
            totals: m.stats.totals(),
            stats: m.stats.snapshot(&generation.config.breaker),
            counters: m.stats.clone(),
        })
        .collect();
    models.sort_by(|a, b| a.model.cmp(&b.model));
    let mut pools: Vec<(String, String, u64)> = generation
        .routes
        .values()
        .map(|r| {
            (
                r.name.clone(),
                r.policy.name.to_string(),
                r.pool.instances_created(),
            )
        })
        .collect();
    pools.sort();
    let status = gw.reload_status();
    let mut http = gw.router.stats.http_totals();
    http.sort();
    let mut fallbacks = gw.router.stats.fallback_totals();
    fallbacks.sort();
    let requests = gw.router.stats.requests.all_histograms();
    let failovers = gw.router.stats.requests.failover_totals();
    let log = gw
        .ledger
        .log()
        .map(|l| (l.queue_depth() as u64, l.written(), l.dropped()));
    let evals = &gw.ledger.evaluations;
    let quality = QualitySnap {
        series: gw.quality.snapshot(),
        alerts: gw.quality.alerts_total(),
        evaluations: evals.results(),
        eval_dropped: evals.dropped(),
        eval_queue: evals.queue_depth(),
    };
    let snap = Snapshot {
        quality,
        models,
        requests,
        failovers,
        log,
        http,
        fallbacks,
        pools,
        reloads: (status.succeeded, status.failed),
        plugins_refused: status.plugins_refused,
        generation: generation.id,
        compiles: gw.router.runtime.compiles(),
        cache: {
            use std::sync::atomic::Ordering::Relaxed;
            let c = &gw.cache.stats;
            [
                c.hits.load(Relaxed),
                c.misses.load(Relaxed),
                c.stores.load(Relaxed),
                c.skipped.load(Relaxed),
            ]
        },
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snap));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

struct ModelSnap {
    model: String,
    provider: String,
    totals: ModelTotals,
    stats: crate::runtime::ModelStats,
    counters: std::sync::Arc<ModelCounters>,
}

type RequestRow = ((String, String), std::sync::Arc<RequestHistograms>);

struct QualitySnap {
    series: Vec<crate::monitor::quality::Series>,
    alerts: Vec<(crate::monitor::quality::SeriesKey, u64)>,
    evaluations: Vec<((String, &'static str), u64)>,
    eval_dropped: u64,
    eval_queue: usize,
}

struct Snapshot {
    quality: QualitySnap,
    models: Vec<ModelSnap>,
    requests: Vec<RequestRow>,
    failovers: Vec<(String, String, u64)>,
    /// The request log's queue depth, written and dropped records.
    log: Option<(u64, u64, u64)>,
    http: Vec<(&'static str, u16, u64)>,
    fallbacks: Vec<(String, String, u64)>,
    pools: Vec<(String, String, u64)>,
    reloads: (u64, u64),
    plugins_refused: u64,
    generation: u64,
    compiles: u64,
    /// The response cache's hits, misses, stores and skipped stores.
    cache: [u64; 4],
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("models", &self.models.len())
            .finish_non_exhaustive()
    }
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Vec<(&'static str, String)>, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Vec<(&'static str, String)>, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let who =
            |m: &ModelSnap| vec![("model", m.model.clone()), ("provider", m.provider.clone())];
        counter(
            &mut enc,
            "switchyard_http_requests",
            "HTTP responses by endpoint and status.",
            self.http.iter().map(|(e, s, n)| {
                (
                    vec![("endpoint", (*e).to_owned()), ("status", s.to_string())],
                    *n as f64,
                )
            }),
        )?;
        counter(
            &mut enc,
            "switchyard_attempts",
            "Upstream attempts by result: ok, or the failure kind.",
            self.models.iter().flat_map(|m| {
                ATTEMPT_RESULTS
                    .iter()
                    .zip(m.totals.attempts)
                    .filter(|(_, n)| *n > 0)
                    .map(|(r, n)| {
                        let mut l = who(m);
                        l.push(("result", (*r).to_owned()));
                        (l, n as f64)
                    })
                    .collect::<Vec<_>>()
            }),
        )?;
        {
            let mut h = enc.encode_descriptor(
                "switchyard_attempt_duration_seconds",
                "Successful attempts: time to the reply, or to a stream's first content.",
                None,
                MetricType::Histogram,
            )?;
            for m in &self.models {
                let labels = who(m);
                m.counters.latency().0.encode(h.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut enc,
            "switchyard_tokens",
            "Tokens of answered requests (as the upstream reported them, else estimated).",
            self.models.iter().flat_map(|m| {
                let mut p = who(m);
                p.push(("kind", "prompt".into()));
                let mut c = who(m);
                c.push(("kind", "completion".into()));
                [
                    (p, m.totals.prompt_tokens as f64),
                    (c, m.totals.completion_tokens as f64),
                ]
            }),
        )?;
        counter(
            &mut enc,
            "switchyard_cost_usd",
            "Spend at the models' prices (config, else the built-in catalog), USD.",
            self.models.iter().map(|m| (who(m), m.totals.cost_usd)),
        )?;
        gauge(
            &mut enc,
            "switchyard_in_flight",
            "Attempts open now.",
            self.models
                .iter()
                .map(|m| (who(m), f64::from(m.stats.in_flight))),
        )?;
        gauge(
            &mut enc,
            "switchyard_breaker_open",
            "1 while the circuit breaker is open, 0.5 half-open, 0 closed.",
            self.models.iter().map(|m| {
                let v = match m.stats.breaker {
                    BreakerState::Closed => 0.0,
                    BreakerState::HalfOpen => 0.5,
                    BreakerState::Open => 1.0,
                };
                (who(m), v)
            }),
        )?;
        gauge(
            &mut enc,
            "switchyard_latency_ewma_seconds",
            "Latency EWMA of successful attempts, as policies see it.",
            self.models
                .iter()
                .map(|m| (who(m), m.stats.latency_ewma_ms / 1e3)),
        )?;
        gauge(
            &mut enc,
            "switchyard_error_rate",
            "Error-rate EWMA of attempts, as policies see it.",
            self.models.iter().map(|m| (who(m), m.stats.error_rate)),
        )?;
        counter(
            &mut enc,
            "switchyard_policy_fallbacks",
            "Policy decisions replaced by the route's static order, by reason.",
            self.fallbacks
                .iter()
                .map(|(r, w, n)| (vec![("route", r.clone()), ("reason", w.clone())], *n as f64)),
        )?;
        for (name, help, pick) in [
            (
                "switchyard_request_duration_seconds",
                "Finished chat requests: arrival to the last byte (or the client leaving).",
                (|h: &RequestHistograms| &h.duration) as fn(&RequestHistograms) -> &_,
            ),
            (
                "switchyard_request_upstream_seconds",
                "Finished chat requests: time waiting on upstreams (retry backoff included).",
                |h| &h.upstream,
            ),
            (
                "switchyard_request_ttft_seconds",
                "Streams: arrival to the first content sent to the client.",
                |h| &h.ttft,
            ),
            (
                "switchyard_request_overhead_seconds",
                "The gateway's own time per request: its duration less upstream and client waits.",
                |h| &h.overhead,
            ),
        ] {
            let mut h = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for ((route, model), hist) in &self.requests {
                let labels = vec![("route", route.clone()), ("model", model.clone())];
                pick(hist).encode(h.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut enc,
            "switchyard_failovers",
            "Moves to another model after a failure, by the failure's kind.",
            self.failovers
                .iter()
                .map(|(r, w, n)| (vec![("route", r.clone()), ("reason", w.clone())], *n as f64)),
        )?;
        if let Some((depth, written, dropped)) = self.log {
            gauge(
                &mut enc,
                "switchyard_log_queue_depth",
                "Records waiting for the request log's writer.",
                [(vec![], depth as f64)],
            )?;
            counter(
                &mut enc,
                "switchyard_log_written",
                "Records written to the request log.",
                [(vec![], written as f64)],
            )?;
            counter(
                &mut enc,
                "switchyard_log_dropped",
                "Records dropped before the request log (queue full or database unavailable).",
                [(vec![], dropped as f64)],
            )?;
        }
        counter(
            &mut enc,
            "switchyard_policy_instances_created",
            "Policy instances created by each route's warm pool (pool misses).",
            self.pools
                .iter()
                .map(|(r, p, n)| (vec![("route", r.clone()), ("policy", p.clone())], *n as f64)),
        )?;
        counter(
            &mut enc,
            "switchyard_reloads",
            "Reloads by result.",
            [
                (
                    vec![("result", "succeeded".to_owned())],
                    self.reloads.0 as f64,
                ),
                (vec![("result", "failed".to_owned())], self.reloads.1 as f64),
            ],
        )?;
        counter(
            &mut enc,
            "switchyard_plugins_refused",
            "Plugin files refused by a reload.",
            [(vec![], self.plugins_refused as f64)],
        )?;
        let [hits, misses, stores, skipped] = self.cache;
        counter(
            &mut enc,
            "switchyard_cache_lookups",
            "Response-cache lookups by result.",
            [
                (vec![("result", "hit".to_owned())], hits as f64),
                (vec![("result", "miss".to_owned())], misses as f64),
            ],
        )?;
        counter(
            &mut enc,
            "switchyard_cache_stores",
            "Answers stored in the response cache.",
            [(vec![], stores as f64)],
        )?;
        counter(
            &mut enc,
            "switchyard_cache_skipped",
            "Answers not stored: larger than max_entry_bytes, or a stream that broke.",
            [(vec![], skipped as f64)],
        )?;
        gauge(
            &mut enc,
            "switchyard_generation",
            "The generation serving requests.",
            [(vec![], self.generation as f64)],
        )?;
        counter(
            &mut enc,
            "switchyard_component_compiles",
            "Components compiled with Cranelift (compile-cache misses).",
            [(vec![], self.compiles as f64)],
        )?;
        let series = |r: &str, m: &str, s: &str| {
            vec![
                ("route", r.to_owned()),
                ("model", m.to_owned()),
                ("score", s.to_owned()),
            ]
        };
        counter(
            &mut enc,
            "switchyard_quality_alerts",
            "Answer-quality alerts opened, by route, model and score.",
            self.quality
                .alerts
                .iter()
                .map(|((r, m, s), n)| (series(r, m, s), *n as f64)),
        )?;
        gauge(
            &mut enc,
            "switchyard_quality_rolling",
            "Mean score over each series' rolling window.",
            self.quality
                .series
                .iter()
                .filter(|q| q.rolling.count > 0)
                .map(|q| (series(&q.route, &q.model, &q.score), q.rolling.mean)),
        )?;
        gauge(
            &mut enc,
            "switchyard_quality_samples",
            "Scores in each series' rolling window.",
            self.quality
                .series
                .iter()
                .map(|q| (series(&q.route, &q.model, &q.score), q.rolling.count as f64)),
        )?;
        counter(
            &mut enc,
            "switchyard_evaluations",
            "Evaluations by evaluator and result (scored, skipped: nothing to score, error: the evaluator could not score, fault: trap, deadline, memory or bad value).",
            self.quality.evaluations.iter().map(|((e, r), n)| {
                (
                    vec![("evaluator", e.clone()), ("result", (*r).to_owned())],
                    *n as f64,
                )
            }),
        )?;
        counter(
            &mut enc,
            "switchyard_evaluations_dropped",
            "Evaluations dropped because the evaluation queue was full.",
            [(vec![], self.quality.eval_dropped as f64)],
        )?;
        gauge(
            &mut enc,
            "switchyard_evaluation_queue_depth",
            "Evaluations waiting to run.",
            [(vec![], self.quality.eval_queue as f64)],
        )?;
        Ok(())
    }
}
