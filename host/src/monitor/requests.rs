//! Figures of finished requests, per (route, model): histograms of the
//! request's duration, its upstream waits, its time to first token and the
//! gateway's own overhead, and failovers by (route, reason). The ledger's
//! metrics sink records them from each request's record; `/metrics`
//! reads them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// The histograms of one (route, model).
pub struct RequestHistograms {
    /// Arrival to the last byte, seconds.
    pub duration: Histogram,
    /// Time waiting on upstreams, seconds.
    pub upstream: Histogram,
    /// Time to the first content sent (streams), seconds.
    pub ttft: Histogram,
    /// The gateway's own time, seconds.
    pub overhead: Histogram,
}

impl Default for RequestHistograms {
    fn default() -> Self {
        // 1 ms to ~65 s; the overhead from 10 µs to ~0.65 s.
        let slow = || Histogram::new(exponential_buckets(0.001, 2.0, 17));
        RequestHistograms {
            duration: slow(),
            upstream: slow(),
            ttft: slow(),
            overhead: Histogram::new(exponential_buckets(0.000_01, 2.0, 17)),
        }
    }
}

/// Request figures, keyed by (route, model); a direct model request has
/// route `""`, a request no model served has model `""`.
#[derive(Default)]
pub struct RequestFigures {
    /// Route, then model: looked up by name without allocating.
    histograms: RwLock<HashMap<String, HashMap<String, Arc<RequestHistograms>>>>,
    failovers: Mutex<HashMap<(String, String), u64>>,
}

impl RequestFigures {
    /// The histograms of (route, model), created on first use.
    pub fn histograms(&self, route: &str, model: &str) -> Arc<RequestHistograms> {
        if let Ok(m) = self.histograms.read()
            && let Some(h) = m.get(route).and_then(|by_model| by_model.get(model))
        {
            return h.clone();
        }
        match self.histograms.write() {
            Ok(mut m) => m
                .entry(route.to_owned())
                .or_default()
                .entry(model.to_owned())
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Count a failover on `route` after a failure of kind `reason`.
    pub fn count_failover(&self, route: &str, reason: &str) {
        if let Ok(mut m) = self.failovers.lock() {
            *m.entry((route.to_owned(), reason.to_owned())).or_default() += 1;
        }
    }

    /// Every (route, model) with its histograms, sorted.
    pub fn all_histograms(&self) -> Vec<((String, String), Arc<RequestHistograms>)> {
        let mut v: Vec<_> = self
            .histograms
            .read()
            .map(|m| {
                m.iter()
                    .flat_map(|(route, by_model)| {
                        by_model
                            .iter()
                            .map(|(model, h)| ((route.clone(), model.clone()), h.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Failovers by (route, reason), sorted.
    pub fn failover_totals(&self) -> Vec<(String, String, u64)> {
        let mut v: Vec<_> = self
            .failovers
            .lock()
            .map(|m| {
                m.iter()
                    .map(|((r, w), n)| (r.clone(), w.clone(), *n))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}
