//! Live figures — the accounting end of the request path: per-model counters
//! the router records and policies read ([`model`]), each model's circuit
//! breaker ([`breaker`]), per-plugin error counters ([`plugins`]), HTTP
//! responses by endpoint and status, policy fallbacks, and answer quality
//! per route, model and score with its alerts ([`quality`]), and the last
//! hour of traffic in 10-second buckets ([`series`]). All of it survives
//! config reloads (keyed by name, not by generation). Recording is plain
//! atomics and short locks, never an `.await` and never I/O (the quality
//! webhook sends from its own task); `GET /metrics` and the admin API read
//! it at their own pace.

pub mod breaker;
pub mod model;
pub mod plugins;
pub mod quality;
pub mod requests;
pub mod series;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

pub use self::breaker::Breaker;
pub use self::model::{ATTEMPT_RESULTS, InFlight, LatencyHistogram, ModelCounters, ModelTotals};
pub use self::plugins::PluginCounters;
pub use self::quality::Quality;
pub use self::requests::{RequestFigures, RequestHistograms};
use crate::runtime::{KvStore, PluginFault};

/// Figures of every model, by model name, and error counters of every
/// plugin, by plugin name. Survive config reloads.
#[derive(Default)]
pub struct Stats {
    models: RwLock<HashMap<String, Arc<ModelCounters>>>,
    policy_states: std::sync::Mutex<HashMap<(String, String), Arc<KvStore>>>,
    /// HTTP responses by (endpoint, status).
    http: Mutex<HashMap<(&'static str, u16), u64>>,
    /// Policy decisions that fell back to the static order, by (route, reason).
    fallbacks: Mutex<HashMap<(String, String), u64>>,
    plugins: RwLock<HashMap<String, Arc<PluginCounters>>>,
    /// Figures of finished requests.
    pub requests: RequestFigures,
    /// The last hour of traffic, for the operator page.
    pub series: series::Series,
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
    pub fn policy_state(&self, route: &str, policy: &str) -> Arc<KvStore> {
        match self.policy_states.lock() {
            Ok(mut m) => m
                .entry((route.to_owned(), policy.to_owned()))
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }
}
