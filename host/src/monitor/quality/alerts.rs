//! Quality alerts: the record of each alert (open and resolved) and the
//! count of alerts opened per series, for `GET /admin/alerts` and
//! `switchyard_quality_alerts_total`. Keeps every open alert and the newest
//! [`KEEP_RESOLVED`] resolved ones; never decides when an alert opens or
//! resolves (the series in [`super`] does) and never delivers one (the
//! [`super::webhook`] does).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

/// Resolved alerts kept for `GET /admin/alerts`; older ones are forgotten
/// (their count stays in the metric).
pub const KEEP_RESOLVED: usize = 1000;

/// One alert: a series whose quality fell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Process-unique, increasing.
    pub id: u64,
    /// Route name.
    pub route: String,
    /// Model name.
    pub model: String,
    /// Score name.
    pub score: String,
    /// When it opened (ms since the epoch, the observer's clock).
    pub opened_at_ms: u64,
    /// When it resolved, if it has.
    pub resolved_at_ms: Option<u64>,
    /// Why it resolved: `recovered` (the rolling mean came back to within
    /// `drop / 2` of the baseline) or `baseline_reset`.
    pub resolution: Option<&'static str>,
    /// The series' baseline when it opened.
    pub baseline: f64,
    /// The rolling mean when it opened.
    pub current: f64,
    /// The rolling mean when it resolved.
    pub resolved_current: Option<f64>,
    /// Samples the detector had seen since it (re)started, when it opened.
    pub samples: u64,
    /// The detector's statistic when it opened (nats).
    pub statistic: f64,
    /// The threshold it crossed.
    pub threshold: f64,
}

impl Alert {
    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.resolved_at_ms.is_none()
    }
}

/// Every open alert, the newest resolved ones, and counts per series.
#[derive(Debug, Default)]
pub struct Book {
    next_id: u64,
    open: HashMap<u64, Alert>,
    resolved: VecDeque<Alert>,
    opened: HashMap<(String, String, String), u64>,
}

impl Book {
    /// Open an alert (its `id` is assigned here); returns it.
    pub fn open(&mut self, mut a: Alert) -> Alert {
        self.next_id += 1;
        a.id = self.next_id;
        *self
            .opened
            .entry((a.route.clone(), a.model.clone(), a.score.clone()))
            .or_default() += 1;
        self.open.insert(a.id, a.clone());
        a
    }

    /// Resolve open alert `id`; returns it as resolved.
    pub fn resolve(
        &mut self,
        id: u64,
        at_ms: u64,
        why: &'static str,
        current: f64,
    ) -> Option<Alert> {
        let mut a = self.open.remove(&id)?;
        a.resolved_at_ms = Some(at_ms);
        a.resolution = Some(why);
        a.resolved_current = Some(current);
        self.resolved.push_back(a.clone());
        while self.resolved.len() > KEEP_RESOLVED {
            self.resolved.pop_front();
        }
        Some(a)
    }

    /// Open alerts then resolved ones, each newest first.
    pub fn all(&self) -> Vec<Alert> {
        let mut open: Vec<Alert> = self.open.values().cloned().collect();
        open.sort_by_key(|a| std::cmp::Reverse(a.id));
        open.extend(self.resolved.iter().rev().cloned());
        open
    }

    /// Alerts opened per (route, model, score), sorted.
    pub fn totals(&self) -> Vec<((String, String, String), u64)> {
        let mut v: Vec<_> = self.opened.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort();
        v
    }
}
