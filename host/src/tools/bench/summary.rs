//! What `switchyard bench` concludes, as written to `summary.json` and drawn
//! in `report.html`: per task type, each target's quality (mean with a 95%
//! confidence interval), cost, latency and errors, the paired comparisons
//! between targets on the same tasks, and the routing decision.

use serde::{Deserialize, Serialize};

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The dataset file (or `log:<store>` for a replay).
    pub dataset: String,
    /// Tasks of the dataset that ran (after `--holdout`/`--limit`).
    pub tasks: u64,
    /// Each task ran this many times per target.
    pub repeat: u32,
    /// A target may be this much below the best and still be chosen.
    pub margin: f64,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// How long it ran, seconds.
    pub duration_s: f64,
    /// Spent on answers (cache hits cost nothing), USD.
    pub spend_usd: f64,
    /// Spent on judge calls, USD (included in `spend_usd`).
    pub judge_usd: f64,
    /// Why the run stopped before the end: `budget` or `interrupted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Requests sent upstream, answered from the cache, and failed.
    pub requests: Requests,
    /// The targets, in the order given.
    pub targets: Vec<TargetRef>,
    /// Per task type, in first-seen order, then `all` (every task).
    pub task_types: Vec<TaskType>,
}

/// Request counters of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Requests {
    /// Sent upstream.
    pub sent: u64,
    /// Answered from the bench cache.
    pub cached: u64,
    /// Failed (no answer).
    pub errors: u64,
    /// Not run: the run stopped first.
    pub skipped: u64,
}

/// A benchmarked model or route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRef {
    /// Its config name.
    pub name: String,
    /// `model`, `route`, or `served` (a replay's logged answers).
    pub kind: String,
}

/// One task type's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskType {
    /// The task type (`all` for the whole dataset).
    pub task: String,
    /// Tasks of this type that ran.
    pub tasks: u64,
    /// Whether its answers were scored (a task type without `eval` or
    /// `expected` is not).
    pub scored: bool,
    /// One row per target.
    pub targets: Vec<TargetResult>,
    /// Paired comparisons on the tasks both targets answered: `a − b`.
    pub pairs: Vec<Pair>,
    /// The routing decision (for task types with scored answers from at
    /// least one model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// A target's figures on one task type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult {
    /// The target's name.
    pub name: String,
    /// `model`, `route` or `served`.
    pub kind: String,
    /// Answers asked for (tasks × repeat).
    pub requests: u64,
    /// Of those, failed.
    pub errors: u64,
    /// The error share.
    pub error_rate: f64,
    /// Quality: the mean score (a failed request scores 0), with its 95%
    /// interval; absent when nothing was scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Interval>,
    /// Scores counted.
    pub scored: u64,
    /// Mean cost of a request × 1,000, USD.
    pub cost_per_1k: f64,
    /// Total cost, USD (cache hits at the price they would cost now).
    pub cost_usd: f64,
    /// Latency of answered requests, ms.
    pub latency_ms: Latency,
    /// Mean prompt and completion tokens per answered request.
    pub mean_prompt_tokens: f64,
    /// Mean completion tokens per answered request.
    pub mean_completion_tokens: f64,
    /// On the cost-quality Pareto front of this task type.
    pub pareto: bool,
    /// Within `margin` of the best by its paired interval.
    pub within_margin: bool,
    /// The decision's choice for this task type.
    pub chosen: bool,
}

/// A mean with its 95% confidence interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interval {
    /// The mean.
    pub mean: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// `wilson` (pass/fail scores) or `normal` (graded scores, differences).
    pub method: String,
}

/// Latency figures, ms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// The distribution: `[upper bound ms, count]` per non-empty bucket.
    pub histogram: Vec<(f64, u64)>,
}

/// A paired comparison: the mean of `score(a) − score(b)` over tasks both
/// answered, with its 95% interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair {
    /// First target.
    pub a: String,
    /// Second target.
    pub b: String,
    /// Tasks compared.
    pub n: u64,
    /// The mean difference and its interval.
    pub diff: Interval,
    /// Tasks `a` did better on, worse on.
    pub a_better: u64,
    /// Tasks `b` did better on.
    pub b_better: u64,
}

/// What a task type should be routed to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    /// The chosen model: the cheapest whose quality is within the margin of
    /// the best, judged on the paired interval.
    pub model: String,
    /// The others, in the order to fall back to them.
    pub fallbacks: Vec<String>,
    /// The model with the best mean quality.
    pub best: String,
    /// The chosen model's cost per 1,000 requests, USD.
    pub cost_per_1k: f64,
    /// The best model's.
    pub best_cost_per_1k: f64,
    /// The model a run without routing would use on every request: the
    /// best over all tasks.
    pub baseline: String,
    /// The baseline's cost per 1,000 requests of this task type, USD.
    pub baseline_cost_per_1k: f64,
    /// Saved against always using the baseline, as a share of its cost
    /// (negative: the choice costs more).
    pub savings: f64,
    /// Why, in a sentence.
    pub reason: String,
}
