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
