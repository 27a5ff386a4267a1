//! Live per-model figures the router records and policies read: request
//! count, latency and time-to-first-token EWMAs, error rate, in-flight count;
//! and per-plugin error counters (`GET /admin/plugins`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::breaker::{Breaker, BreakerConfig};
use crate::runtime::ModelStats;

const ALPHA: f64 = 0.2;

/// Successful attempts whose latency the p95 is taken over.
const RECENT: usize = 64;

#[derive(Default)]
struct Inner {
    requests: u64,
    latency_ms: f64,
    ttft_ms: f64,
    error_rate: f64,
    /// Latencies (ms) of the last [`RECENT`] successful attempts, a ring.
    recent: Vec<f32>,
    next: usize,
}

impl Inner {
    fn push_recent(&mut self, ms: f64) {
        if self.recent.len() < RECENT {
            self.recent.push(ms as f32);
        } else {
            self.recent[self.next] = ms as f32;
        }
        self.next = (self.next + 1) % RECENT;
    }

    fn p95(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        let mut v = self.recent.clone();
        let k = ((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1;
        let (_, x, _) = v.select_nth_unstable_by(k, f32::total_cmp);
        f64::from(*x)
    }
}

/// Figures of one model, and its circuit breaker.
#[derive(Default)]
pub struct ModelCounters {
    inner: Mutex<Inner>,
    in_flight: AtomicU32,
    /// The model's circuit breaker.
    pub breaker: Breaker,
    /// Attempts by result: [`ATTEMPT_RESULTS`] order.
    attempts: [AtomicU64; ATTEMPT_RESULTS.len()],
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    /// Spend in nano-USD.
    cost_nano_usd: AtomicU64,
    /// Durations of successful attempts (to the reply, or a stream's first
    /// content).
    latency: LatencyHistogram,
}

/// Attempt results as metrics label them: `ok`, then the failure kinds.
pub const ATTEMPT_RESULTS: [&str; 9] = [
    "ok",
    "rate_limited",
    "overloaded",
    "timeout",
    "upstream",
    "auth",
    "not_found",
    "refused",
    "plugin",
];

/// A latency histogram (seconds, 1 ms to ~65 s).
pub struct LatencyHistogram(pub prometheus_client::metrics::histogram::Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17),
        ))
    }
}

/// Counters of one model as `/metrics` shows them.
pub struct ModelTotals {
    /// Attempts by result, in [`ATTEMPT_RESULTS`] order.
    pub attempts: [u64; ATTEMPT_RESULTS.len()],
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Spend, USD.
    pub cost_usd: f64,
}

fn ewma(old: f64, new: f64, first: bool) -> f64 {
    if first {
        new
    } else {
        old + ALPHA * (new - old)
    }
}

impl ModelCounters {
    /// Record the end of an attempt.
    pub fn record(&self, ok: bool, latency: Duration, ttft: Option<Duration>) {
        let Ok(mut i) = self.inner.lock() else { return };
        let first = i.requests == 0;
        i.requests += 1;
        if ok {
            i.push_recent(latency.as_secs_f64() * 1e3);
            i.latency_ms = ewma(
                i.latency_ms,
                latency.as_secs_f64() * 1e3,
                first || i.latency_ms == 0.0,
            );
            if let Some(t) = ttft {
                i.ttft_ms = ewma(i.ttft_ms, t.as_secs_f64() * 1e3, i.ttft_ms == 0.0);
            }
        }
        i.error_rate = ewma(i.error_rate, if ok { 0.0 } else { 1.0 }, first);
    }

    /// Count an attempt's result: `None` for success, else the failure kind.
    pub fn count_attempt(&self, failure: Option<crate::config::FailureKind>) {
        let name = failure.map_or("ok", |k| k.name());
        if let Some(i) = ATTEMPT_RESULTS.iter().position(|r| *r == name) {
            self.attempts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count the tokens of an answered request and what they cost at the
    /// model's prices (USD per million tokens).
    pub fn count_usage(&self, prompt: u32, completion: u32, input_price: f64, output_price: f64) {
        self.prompt_tokens
            .fetch_add(prompt.into(), Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(completion.into(), Ordering::Relaxed);
        // USD per million tokens = nano-USD per thousandth of a token.
        let nano = (f64::from(prompt) * input_price + f64::from(completion) * output_price) * 1e3;
        if nano.is_finite() && nano > 0.0 {
            self.cost_nano_usd.fetch_add(nano as u64, Ordering::Relaxed);
        }
    }

    /// Record how long a successful attempt took.
    pub fn observe_latency(&self, d: Duration) {
        self.latency.0.observe(d.as_secs_f64());
    }

    /// The latency histogram.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// The totals for `/metrics`.
    pub fn totals(&self) -> ModelTotals {
        ModelTotals {
            attempts: std::array::from_fn(|i| self.attempts[i].load(Ordering::Relaxed)),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            cost_usd: self.cost_nano_usd.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// Mark an attempt started; the guard marks it ended when dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// The figures as policies see them.
    pub fn snapshot(&self, breaker: &BreakerConfig) -> ModelStats {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let (requests, latency, p95, ttft, err) = match self.inner.lock() {
            Ok(i) => (i.requests, i.latency_ms, i.p95(), i.ttft_ms, i.error_rate),
            Err(_) => (0, 0.0, 0.0, 0.0, 0.0),
        };
        ModelStats {
            requests,
            latency_ewma_ms: latency,
            latency_p95_ms: p95,
            ttft_ewma_ms: ttft,
            error_rate: err,
            in_flight,
            breaker: self.breaker.state(breaker),
        }
    }
}

/// Decrements the in-flight count when dropped.
pub struct InFlight(Arc<ModelCounters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a plugin failed, for its error counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginFault {
    /// Ran past its deadline.
    Deadline,
    /// Hit its memory cap.
    MemoryLimit,
    /// Trapped (panic, stack overflow, unreachable, …).
    Trap,
    /// Returned something unusable (too large, a candidate that does not
    /// exist, no attempts).
    BadReturn,
    /// A policy returned an error value.
    ErrorValue,
    /// An adapter addressed a host or an address its provider does not allow.
    EgressDenied,
}

impl PluginFault {
    const ALL: [PluginFault; 6] = [
        PluginFault::Deadline,
        PluginFault::MemoryLimit,
        PluginFault::Trap,
        PluginFault::BadReturn,
        PluginFault::ErrorValue,
        PluginFault::EgressDenied,
    ];

    /// The name used in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginFault::Deadline => "deadline",
            PluginFault::MemoryLimit => "memory_limit",
            PluginFault::Trap => "trap",
            PluginFault::BadReturn => "bad_return",
            PluginFault::ErrorValue => "error_value",
            PluginFault::EgressDenied => "egress_denied",
        }
    }
}

/// Error counters of one plugin (by name; they survive reloads).
#[derive(Default)]
pub struct PluginCounters {
    counts: [AtomicU64; 6],
}

impl PluginCounters {
    /// Count one fault.
    pub fn record(&self, fault: PluginFault) {
        let i = PluginFault::ALL
            .iter()
            .position(|f| *f == fault)
            .unwrap_or(0);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Every fault kind with its count, and the total.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let mut total = 0;
        for (f, c) in PluginFault::ALL.iter().zip(&self.counts) {
            let n = c.load(Ordering::Relaxed);
            total += n;
            m.insert(f.as_str().into(), n.into());
        }
        m.insert("total".into(), total.into());
        serde_json::Value::Object(m)
    }
}

/// Figures of every model, by model name, and error counters of every
/// plugin, by plugin name. Survive config reloads.
#[derive(Default)]
pub struct Stats {
    models: RwLock<HashMap<String, Arc<ModelCounters>>>,
    policy_states: std::sync::Mutex<HashMap<(String, String), Arc<crate::runtime::KvStore>>>,
    /// HTTP responses by (endpoint, status).
    http: Mutex<HashMap<(&'static str, u16), u64>>,
    /// Policy decisions that fell back to the static order, by (route, reason).
    fallbacks: Mutex<HashMap<(String, String), u64>>,
    plugins: RwLock<HashMap<String, Arc<PluginCounters>>>,
}

impl Stats {
    /// Count a fault of plugin `name`.
    pub fn plugin_fault(&self, name: &str, fault: PluginFault) {
        self.plugin(name).record(fault);
    }

    /// The error counters of a plugin, created on first use.
    pub fn plugin(&self, name: &str) -> Arc<PluginCounters> {
        if let Ok(m) = self.plugins.read()
            && let Some(c) = m.get(name)
        {
            return c.clone();
        }
        match self.plugins.write() {
            Ok(mut m) => m.entry(name.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// The counters of a model, created on first use.
    pub fn model(&self, name: &str) -> Arc<ModelCounters> {
        if let Ok(m) = self.models.read()
            && let Some(c) = m.get(name)
        {
            return c.clone();
        }
        match self.models.write() {
            Ok(mut m) => m.entry(name.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Count an HTTP response.
    pub fn count_http(&self, endpoint: &'static str, status: u16) {
        if let Ok(mut m) = self.http.lock() {
            *m.entry((endpoint, status)).or_default() += 1;
        }
    }

    /// HTTP responses by (endpoint, status).
    pub fn http_totals(&self) -> Vec<(&'static str, u16, u64)> {
        self.http
            .lock()
            .map(|m| m.iter().map(|((e, s), n)| (*e, *s, *n)).collect())
            .unwrap_or_default()
    }

    /// Count a policy decision that fell back to the route's static order.
    pub fn count_fallback(&self, route: &str, reason: &str) {
        if let Ok(mut m) = self.fallbacks.lock() {
            *m.entry((route.to_owned(), reason.to_owned())).or_default() += 1;
        }
    }

    /// Fallbacks by (route, reason).
    pub fn fallback_totals(&self) -> Vec<(String, String, u64)> {
        self.fallbacks
            .lock()
            .map(|m| {
                m.iter()
                    .map(|((r, w), n)| (r.clone(), w.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every model's counters, by name.
    pub fn models(&self) -> Vec<(String, Arc<ModelCounters>)> {
        self.models
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The key-value store of `policy` on `route`, created on first use and
    /// kept across reloads.
    pub fn policy_state(&self, route: &str, policy: &str) -> Arc<crate::runtime::KvStore> {
        match self.policy_states.lock() {
            Ok(mut m) => m
                .entry((route.to_owned(), policy.to_owned()))
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_covers_the_last_64_successes() {
        let m = ModelCounters::default();
        let cfg = BreakerConfig::default();
        assert_eq!(m.snapshot(&cfg).latency_p95_ms, 0.0);
        for ms in 1..=100u64 {
            m.record(true, Duration::from_millis(ms), None);
        }
        // Failures do not enter it.
        m.record(false, Duration::from_secs(60), None);
        // The last 64 are 37..=100 ms: the 95th percentile is the 61st of them.
        let p95 = m.snapshot(&cfg).latency_p95_ms;
        assert!((p95 - 97.0).abs() < 0.01, "{p95}");
    }

    #[test]
    fn ewma_and_in_flight() {
        let s = Stats::default();
        let m = s.model("a");
        {
            let _g = m.start();
            assert_eq!(
                s.model("a").snapshot(&BreakerConfig::default()).in_flight,
                1
            );
        }
        assert_eq!(m.snapshot(&BreakerConfig::default()).in_flight, 0);
        m.record(
            true,
            Duration::from_millis(100),
            Some(Duration::from_millis(10)),
        );
        m.record(false, Duration::from_millis(1), None);
        let snap = m.snapshot(&BreakerConfig::default());
        assert_eq!(snap.requests, 2);
        assert!((snap.latency_ewma_ms - 100.0).abs() < 1e-9);
        assert!((snap.error_rate - 0.2).abs() < 1e-9);
    }
}
