//! Live per-model figures the router records and policies read: request
//! count, latency and time-to-first-token EWMAs, error rate, in-flight count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::breaker::{Breaker, BreakerConfig};
use crate::runtime::ModelStats;

const ALPHA: f64 = 0.2;

#[derive(Default)]
struct Inner {
    requests: u64,
    latency_ms: f64,
    ttft_ms: f64,
    error_rate: f64,
}

/// Figures of one model, and its circuit breaker.
#[derive(Default)]
pub struct ModelCounters {
    inner: Mutex<Inner>,
    in_flight: AtomicU32,
    /// The model's circuit breaker.
    pub breaker: Breaker,
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

    /// Mark an attempt started; the guard marks it ended when dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// The figures as policies see them.
    pub fn snapshot(&self, breaker: &BreakerConfig) -> ModelStats {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let (requests, latency, ttft, err) = match self.inner.lock() {
            Ok(i) => (i.requests, i.latency_ms, i.ttft_ms, i.error_rate),
            Err(_) => (0, 0.0, 0.0, 0.0),
        };
        ModelStats {
            requests,
            latency_ewma_ms: latency,
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

/// Figures of every model, by model name. Survives config reloads.
#[derive(Default)]
pub struct Stats {
    models: RwLock<HashMap<String, Arc<ModelCounters>>>,
    policy_states: std::sync::Mutex<HashMap<(String, String), Arc<crate::runtime::KvStore>>>,
}

impl Stats {
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
