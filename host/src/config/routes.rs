//! `[models.NAME]`, `[routes.NAME]` (with their retry rules) and `[breaker]`:
//! what a client may name as `model` and how its attempts are run. Plain
//! data with defaults; the router reads it and never changes it.

use serde::Deserialize;

use super::yes;

/// `[models."NAME"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The provider serving it.
    pub provider: String,
    /// The provider's name for the model (default: the key).
    pub upstream: Option<String>,
    /// What the model can do: `vision`, `tools`, `json` (JSON mode and
    /// schemas), or anything policies read. An empty list means undeclared:
    /// the model is not filtered out for any request.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Context window in tokens.
    #[serde(default = "default_context")]
    pub context_window: u32,
    /// USD per million input tokens (overrides the built-in catalog; see
    /// [`super::prices`]).
    pub input_price: Option<f64>,
    /// USD per million output tokens.
    pub output_price: Option<f64>,
    /// USD per million prompt tokens served from the provider's prompt
    /// cache (default: the input price).
    pub cached_input_price: Option<f64>,
    /// Quality score (0–1) policies may weigh, when known.
    pub quality: Option<f64>,
    /// Answer requests naming this model from the response cache
    /// (`[cache]`), when they are deterministic (`temperature` 0).
    #[serde(default)]
    pub cache: bool,
    /// Cache requests with `temperature` above 0 (or unset) too.
    #[serde(default)]
    pub cache_nondeterministic: bool,
}

fn default_context() -> u32 {
    128_000
}

/// `[routes.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The policy plugin deciding the attempts.
    #[serde(default = "default_policy")]
    pub policy: String,
    /// The models this route may use, in their static order.
    pub models: Vec<String>,
    /// The order used when the policy fails (default: `models`).
    pub fallback: Option<Vec<String>>,
    /// Configuration handed to the policy as JSON.
    pub policy_config: Option<toml::Value>,
    /// Call the policy's `observe` hook after each request (off the request
    /// path). Off saves a policy call per request when the policy does not
    /// learn.
    #[serde(default = "yes")]
    pub observe: bool,
    /// Retries, failover and the request deadline.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Evaluators scoring a sample of the route's answers, off the request
    /// path.
    #[serde(default)]
    pub evaluate: Vec<super::EvaluateRule>,
    /// The score the route's quality is judged by (rolling quality handed
    /// to its policy, alerts); default: the first score of the first
    /// evaluator that reports one.
    pub quality_score: Option<String>,
    /// A candidate model answering a sample of the route's requests in the
    /// shadow, for comparison.
    pub shadow: Option<super::ShadowConfig>,
    /// Answer requests naming this route from the response cache
    /// (`[cache]`), when they are deterministic (`temperature` 0).
    #[serde(default)]
    pub cache: bool,
    /// Cache requests with `temperature` above 0 (or unset) too.
    #[serde(default)]
    pub cache_nondeterministic: bool,
}

/// Kinds of attempt failure, as `retry_on` and `failover_on` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// 429 or the provider's equivalent.
    RateLimited,
    /// The provider said it is overloaded (503, 529).
    Overloaded,
    /// No answer (or no first token) in time.
    Timeout,
    /// Connection errors, 5xx, broken streams before content.
    Upstream,
    /// The provider refused the key.
    Auth,
    /// The provider does not know the model.
    NotFound,
    /// The adapter cannot express the request for its provider.
    Refused,
    /// The adapter plugin failed (trap, deadline, bad value).
    Plugin,
}

impl FailureKind {
    /// The name config files and policies use.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Overloaded => "overloaded",
            FailureKind::Timeout => "timeout",
            FailureKind::Upstream => "upstream",
            FailureKind::Auth => "auth",
            FailureKind::NotFound => "not_found",
            FailureKind::Refused => "refused",
            FailureKind::Plugin => "plugin",
        }
    }
}

/// `[routes.NAME.retry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Tries of one target before moving to the next (1 = no retry).
    #[serde(default = "default_attempts_per_target")]
    pub attempts_per_target: u32,
    /// Base of the exponential backoff between tries of one target; each
    /// wait is drawn uniformly from 0..base·2ⁿ (full jitter).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Cap of one backoff wait.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// A Retry-After longer than this moves on to the next target instead
    /// of waiting.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_ms: u64,
    /// Failures worth retrying on the same target.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<FailureKind>,
    /// Failures that move on to the next target; others end the request.
    #[serde(default = "default_failover_on")]
    pub failover_on: Vec<FailureKind>,
    /// Total time budget of a request, all attempts and waits included.
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
    /// When a stream is committed to the client.
    #[serde(default)]
    pub stream_commit: StreamCommit,
}

/// When a streaming attempt is committed to the client: until then, a
/// failure of the attempt fails over; after, it can only end the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamCommit {
    /// At the upstream's first content (text, a tool call or the finish):
    /// a stall or a break before content still fails over.
    #[default]
    Content,
    /// At the upstream's first stream event (its opening, usually at once):
    /// the client's first byte comes one upstream chunk sooner, but a stall
    /// or a break before content ends the stream instead of failing over.
    FirstEvent,
}

fn default_attempts_per_target() -> u32 {
    1
}
fn default_backoff() -> u64 {
    100
}
fn default_max_backoff() -> u64 {
    2_000
}
fn default_max_retry_after() -> u64 {
    2_000
}
fn default_retry_on() -> Vec<FailureKind> {
    vec![
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::Timeout,
        FailureKind::Upstream,
    ]
}
fn default_failover_on() -> Vec<FailureKind> {
    vec![
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::Timeout,
        FailureKind::Upstream,
        FailureKind::Auth,
        FailureKind::NotFound,
        FailureKind::Refused,
        FailureKind::Plugin,
    ]
}
fn default_deadline() -> u64 {
    600_000
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts_per_target: default_attempts_per_target(),
            backoff_ms: default_backoff(),
            max_backoff_ms: default_max_backoff(),
            max_retry_after_ms: default_max_retry_after(),
            retry_on: default_retry_on(),
            failover_on: default_failover_on(),
            deadline_ms: default_deadline(),
            stream_commit: StreamCommit::default(),
        }
    }
}

fn default_policy() -> String {
    "ordered".to_owned()
}

/// `[breaker]` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// `false` turns breakers off: every target is always tried.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Consecutive failures that open the breaker.
    #[serde(default = "default_consecutive")]
    pub consecutive_failures: u32,
    /// Error rate (0–1) over the last `window` outcomes that opens it.
    #[serde(default = "default_rate")]
    pub error_rate: f64,
    /// Outcomes the error rate is computed over (and the minimum needed).
    #[serde(default = "default_window")]
    pub window: u32,
    /// How long an open breaker waits before letting a probe through.
    #[serde(default = "default_cooldown")]
    pub cooldown_ms: u64,
}

fn default_enabled() -> bool {
    true
}
fn default_consecutive() -> u32 {
    5
}
fn default_rate() -> f64 {
    0.5
}
fn default_window() -> u32 {
    20
}
fn default_cooldown() -> u64 {
    10_000
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            consecutive_failures: default_consecutive(),
            error_rate: default_rate(),
            window: default_window(),
            cooldown_ms: default_cooldown(),
        }
    }
}
