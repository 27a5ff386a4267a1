//! The last hour of traffic in 10-second buckets — for the whole gateway,
//! each route and each model: requests, errors, latency and time-to-first-
//! token quantiles (log-spaced histograms, ±12%), and spend. What the
//! operator page charts; `GET /admin/stats` serves it. Recording a finished
//! request touches three buckets under their own short locks; a bucket
//! older than the window is reset when its slot comes round again, so
//! memory is fixed per scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Seconds per bucket.
pub const BUCKET_S: u64 = 10;
/// Buckets kept: one hour.
pub const BUCKETS: usize = 360;
/// Latency buckets: up to `FIRST_MS × RATIO^i` ms, the last one open-ended.
const FIRST_MS: f64 = 1.0;
const RATIO: f64 = 1.25;
const LAT: usize = 48;
/// Scopes kept, at most (routes and models of every generation seen).
const MAX_SCOPES: usize = 512;

#[derive(Clone, Copy)]
struct Bucket {
    /// Which 10-second interval (seconds since the epoch / 10) it holds.
    at: u64,
    requests: u32,
    errors: u32,
    spend_nano_usd: u64,
    latency: [u32; LAT],
    ttft: [u32; LAT],
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        at: 0,
        requests: 0,
        errors: 0,
        spend_nano_usd: 0,
        latency: [0; LAT],
        ttft: [0; LAT],
    };
}

/// One scope's ring of buckets.
struct Ring {
    buckets: Mutex<Vec<Bucket>>,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            buckets: Mutex::new(vec![Bucket::EMPTY; BUCKETS]),
        }
    }
}

/// One point of a series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// The bucket's start, seconds since the epoch.
    pub t: u64,
    /// Requests that finished in it.
    pub requests: u32,
    /// Of those, failed (any outcome but a complete answer).
    pub errors: u32,
    /// Median duration, ms (absent without requests).
    pub p50_ms: Option<f64>,
    /// 95th percentile duration, ms.
    pub p95_ms: Option<f64>,
    /// Median time to first token of streams, ms.
    pub ttft_p50_ms: Option<f64>,
    /// Spend, USD.
    pub spend_usd: f64,
}

/// Totals over the last minutes of a series.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Recent {
    /// Requests per second.
    pub rps: f64,
    /// Errors / requests.
    pub error_rate: f64,
    /// Median and 95th percentile duration, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile duration, ms.
    pub p95_ms: Option<f64>,
    /// Median time to first token, ms.
    pub ttft_p50_ms: Option<f64>,
    /// Spend per minute, USD.
    pub spend_per_min_usd: f64,
    /// Requests counted.
    pub requests: u64,
}

/// The series of every scope: `all`, `route:NAME`, `model:NAME`. Routes
/// and models are looked up by name, so recording a request allocates
/// nothing.
#[derive(Default)]
pub struct Series {
    all: Ring,
    routes: RwLock<HashMap<String, Arc<Ring>>>,
    models: RwLock<HashMap<String, Arc<Ring>>>,
    finished: std::sync::atomic::AtomicU64,
}

/// Which rings a scope names.
enum Scope<'a> {
    All,
    Route(&'a str),
    Model(&'a str),
}

impl<'a> Scope<'a> {
    fn parse(scope: &'a str) -> Option<Scope<'a>> {
        if scope == "all" {
            return Some(Scope::All);
        }
        if let Some(r) = scope.strip_prefix("route:") {
            return Some(Scope::Route(r));
        }
        scope.strip_prefix("model:").map(Scope::Model)
    }
}

fn lat_bucket(ms: f64) -> usize {
    if ms.is_nan() || ms <= FIRST_MS {
        return 0;
    }
    let i = ((ms / FIRST_MS).ln() / RATIO.ln()).ceil();
    (i as usize).min(LAT - 1)
}

fn lat_upper(i: usize) -> f64 {
    FIRST_MS * RATIO.powi(i as i32)
}

fn quantile(h: &[u32; LAT], q: f64) -> Option<f64> {
    let n: u64 = h.iter().map(|&c| u64::from(c)).sum();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let mut seen = 0;
    for (i, &c) in h.iter().enumerate() {
        seen += u64::from(c);
        if seen >= rank {
            return Some(lat_upper(i));
        }
    }
    Some(lat_upper(LAT - 1))
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Series {
    /// The ring of a route or a model, made on first use (at most
    /// [`MAX_SCOPES`] of them).
    fn named(&self, map: &RwLock<HashMap<String, Arc<Ring>>>, name: &str) -> Option<Arc<Ring>> {
        if let Ok(m) = map.read()
            && let Some(r) = m.get(name)
        {
            return Some(r.clone());
        }
        let taken =
            self.routes.read().map_or(0, |m| m.len()) + self.models.read().map_or(0, |m| m.len());
        let mut m = map.write().ok()?;
        if taken >= MAX_SCOPES && !m.contains_key(name) {
            return None;
        }
        Some(m.entry(name.to_owned()).or_default().clone())
    }

    /// The buckets of an existing scope, copied.
    fn buckets(&self, scope: &str) -> Option<Vec<Bucket>> {
        let copy = |r: &Ring| r.buckets.lock().ok().map(|b| b.clone());
        let found = |map: &RwLock<HashMap<String, Arc<Ring>>>, name: &str| {
            map.read().ok().and_then(|m| m.get(name).cloned())
        };
        match Scope::parse(scope)? {
            Scope::All => copy(&self.all),
            Scope::Route(r) => found(&self.routes, r).and_then(|r| copy(&r)),
            Scope::Model(m) => found(&self.models, m).and_then(|r| copy(&r)),
        }
    }

    /// Count a finished request of `route` (if any) served by `model` (if
    /// any).
    pub fn observe(
        &self,
        route: Option<&str>,
        model: Option<&str>,
        ok: bool,
        duration_ms: f64,
        ttft_ms: Option<f64>,
        cost_usd: f64,
    ) {
        self.observe_at(now_s(), route, model, ok, duration_ms, ttft_ms, cost_usd);
    }

    #[allow(clippy::too_many_arguments)]
    fn observe_at(
        &self,
        now: u64,
        route: Option<&str>,
        model: Option<&str>,
        ok: bool,
        duration_ms: f64,
        ttft_ms: Option<f64>,
        cost_usd: f64,
    ) {
        self.finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let at = now / BUCKET_S;
        let route = route.and_then(|r| self.named(&self.routes, r));
        let model = model.and_then(|m| self.named(&self.models, m));
        let rings = [Some(&self.all), route.as_deref(), model.as_deref()];
        for ring in rings.into_iter().flatten() {
            let Ok(mut b) = ring.buckets.lock() else {
                continue;
            };
            let Some(slot) = b.get_mut((at % BUCKETS as u64) as usize) else {
                continue;
            };
            if slot.at != at {
                *slot = Bucket {
                    at,
                    ..Bucket::EMPTY
                };
            }
            slot.requests = slot.requests.saturating_add(1);
            if !ok {
                slot.errors = slot.errors.saturating_add(1);
            }
            if cost_usd.is_finite() && cost_usd > 0.0 {
                slot.spend_nano_usd = slot.spend_nano_usd.saturating_add((cost_usd * 1e9) as u64);
            }
            let i = lat_bucket(duration_ms);
            slot.latency[i] = slot.latency[i].saturating_add(1);
            if let Some(t) = ttft_ms {
                let i = lat_bucket(t);
                slot.ttft[i] = slot.ttft[i].saturating_add(1);
            }
        }
    }

    /// Requests finished since the start.
    pub fn finished(&self) -> u64 {
        self.finished.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The scopes with data, `all` first.
    pub fn scopes(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.finished() > 0 {
            v.push("all".to_owned());
        }
        for (prefix, map) in [("model", &self.models), ("route", &self.routes)] {
            let mut names: Vec<String> = map
                .read()
                .map(|m| m.keys().map(|k| format!("{prefix}:{k}")).collect())
                .unwrap_or_default();
            names.sort();
            v.extend(names);
        }
        v
    }

    /// The points of `scope` over the last `window_s` seconds, oldest
    /// first, one per bucket (empty buckets included).
    pub fn points(&self, scope: &str, window_s: u64) -> Vec<Point> {
        self.points_at(now_s(), scope, window_s)
    }

    fn points_at(&self, now: u64, scope: &str, window_s: u64) -> Vec<Point> {
        let n = (window_s / BUCKET_S).clamp(1, BUCKETS as u64);
        let last = now / BUCKET_S;
        let buckets = self.buckets(scope);
        (last + 1 - n.min(last + 1)..=last)
            .map(|at| {
                let b = buckets
                    .as_ref()
                    .and_then(|b| b.get((at % BUCKETS as u64) as usize))
                    .filter(|b| b.at == at)
                    .copied()
                    .unwrap_or(Bucket {
                        at,
                        ..Bucket::EMPTY
                    });
                Point {
                    t: at * BUCKET_S,
                    requests: b.requests,
                    errors: b.errors,
                    p50_ms: quantile(&b.latency, 0.5),
                    p95_ms: quantile(&b.latency, 0.95),
                    ttft_p50_ms: quantile(&b.ttft, 0.5),
                    spend_usd: b.spend_nano_usd as f64 / 1e9,
                }
            })
            .collect()
    }

    /// Totals of `scope` over the last `window_s` seconds.
    pub fn recent(&self, scope: &str, window_s: u64) -> Recent {
        self.recent_at(now_s(), scope, window_s)
    }

    fn recent_at(&self, now: u64, scope: &str, window_s: u64) -> Recent {
        let n = (window_s / BUCKET_S).clamp(1, BUCKETS as u64);
        let last = now / BUCKET_S;
        let Some(buckets) = self.buckets(scope) else {
            return Recent::default();
        };
        let mut lat = [0u32; LAT];
        let mut ttft = [0u32; LAT];
        let (mut req, mut err, mut spend) = (0u64, 0u64, 0u64);
        for at in last + 1 - n.min(last + 1)..=last {
            let Some(b) = buckets
                .get((at % BUCKETS as u64) as usize)
                .filter(|b| b.at == at)
            else {
                continue;
            };
            req += u64::from(b.requests);
            err += u64::from(b.errors);
            spend += b.spend_nano_usd;
            for i in 0..LAT {
                lat[i] = lat[i].saturating_add(b.latency[i]);
                ttft[i] = ttft[i].saturating_add(b.ttft[i]);
            }
        }
        // The current bucket is partly over: the rate counts the time that
        // has passed of it.
        let secs = ((n - 1) * BUCKET_S + now % BUCKET_S + 1) as f64;
        Recent {
            rps: req as f64 / secs,
            error_rate: if req == 0 {
                0.0
            } else {
                err as f64 / req as f64
            },
            p50_ms: quantile(&lat, 0.5),
            p95_ms: quantile(&lat, 0.95),
            ttft_p50_ms: quantile(&ttft, 0.5),
            spend_per_min_usd: spend as f64 / 1e9 / secs * 60.0,
            requests: req,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_scopes_and_buckets() {
        let s = Series::default();
        let t0 = 1_800_000_000;
        for i in 0..10 {
            s.observe_at(
                t0,
                Some("main"),
                Some("a"),
                i != 0,
                100.0 + i as f64,
                None,
                0.001,
            );
        }
        s.observe_at(t0 + 10, None, Some("b"), true, 5.0, Some(2.0), 0.0);
        assert_eq!(s.scopes(), vec!["all", "model:a", "model:b", "route:main"]);
        let all = s.points_at(t0 + 15, "all", 60);
        assert_eq!(all.len(), 6);
        assert_eq!(all[4].requests, 10);
        assert_eq!(all[4].errors, 1);
        assert!((all[4].spend_usd - 0.01).abs() < 1e-9);
        let p50 = all[4].p50_ms.unwrap();
        assert!((100.0..=130.0).contains(&p50), "{p50}");
        assert_eq!(all[5].requests, 1);
        assert_eq!(all[5].ttft_p50_ms, Some(lat_upper(lat_bucket(2.0))));
        assert_eq!(all[0].requests, 0);
        assert_eq!(s.points_at(t0 + 15, "route:main", 60)[5].requests, 0);
        let r = s.recent_at(t0 + 15, "all", 60);
        assert_eq!(r.requests, 11);
        assert!((r.error_rate - 1.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn an_hour_later_the_slot_is_reused() {
        let s = Series::default();
        let t0 = 1_800_000_000;
        s.observe_at(t0, None, None, true, 1.0, None, 0.0);
        s.observe_at(
            t0 + BUCKET_S * BUCKETS as u64,
            None,
            None,
            true,
            1.0,
            None,
            0.0,
        );
        let pts = s.points_at(t0 + BUCKET_S * BUCKETS as u64, "all", 3600);
        assert_eq!(pts.iter().map(|p| p.requests).sum::<u32>(), 1);
    }
}
