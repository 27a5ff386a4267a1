//! The live figures of one model: attempts by result, latency and
//! time-to-first-token EWMAs, a p95 over recent successes, error rate,
//! in-flight count, tokens and spend, and its circuit breaker. Plain atomics
//! and one short lock per record; never awaits, never does I/O.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::breaker::Breaker;
use crate::config::{BreakerConfig, FailureKind};
use crate::wit::ModelStats;

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
    pub fn count_attempt(&self, failure: Option<FailureKind>) {
        let name = failure.map_or("ok", |k| k.name());
        if let Some(i) = ATTEMPT_RESULTS.iter().position(|r| *r == name) {
            self.attempts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count the tokens of an answered request and what it cost, USD.
    pub fn count_usage(&self, prompt: u64, completion: u64, cost_usd: f64) {
        self.prompt_tokens.fetch_add(prompt, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(completion, Ordering::Relaxed);
        let nano = cost_usd * 1e9;
        if nano.is_finite() && nano > 0.0 {
            self.cost_nano_usd
                .fetch_add(nano.round() as u64, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Stats;

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
