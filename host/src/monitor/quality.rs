//! Answer quality: rolling statistics of evaluator scores per (route, model,
//! score), a baseline per series, a sequential change detector that opens an
//! alert when quality falls by `[quality] drop`, and the alert's outputs (a
//! log line, the `switchyard_quality_*` metrics, the optional webhook). One
//! [`Quality`] lives for the whole process and survives config reloads
//! (series are keyed by name). [`Quality::observe`] is a short lock and
//! arithmetic; it never does I/O and never waits (webhook deliveries go
//! through a bounded queue to a background task). It never scores an
//! answer: evaluators do, and hand their scores in.
//!
//! # A series
//!
//! - **Rolling**: the mean and count of the last `window` samples (default
//!   200), count-based so a quiet series and a busy one mean the same thing.
//! - **Baseline**: pinned in the config (`[[quality.baseline]]`), or learned:
//!   the mean of the first `baseline_samples` samples (default 2000) after
//!   start or after [`Quality::reset_baseline`]. No alert opens before it is
//!   formed.
//! - **Detector**: [`detector::BernoulliCusum`] against a fall to
//!   `baseline - drop`, alarm at `threshold` nats (default 12), not before
//!   `min_samples` (default 30) samples since it (re)started.
//! - **Alert**: opens when the detector alarms; resolves when the mean of the
//!   samples since it opened (the last `window` of them, at least
//!   `min_samples`) is back within `drop / 2` of the baseline, or on a
//!   baseline reset. The detector restarts when an alert resolves.
//!
//! # Why this detector, and these defaults (measured)
//!
//! `benches/quality_detector.rs` (the simulation is [`sim`]) runs the
//! candidates on seeded Bernoulli streams: false alarms over 100 runs of
//! 10,000 samples at a stable 0.90, and the delay from a fall to the alarm
//! over 500 runs. With `drop = 0.1`, at equal false-alarm counts the two
//! CUSUMs are within noise of each other (pinned baseline, one false alarm
//! in 100 runs: Bernoulli `h = 10` p95 392 samples for 0.90 → 0.80, raw
//! score `h = 10` p95 377); Page–Hinkley is far behind (its running mean
//! follows the fall: at `h = 10`, 40 of 500 runs never alarm on 0.90 →
//! 0.80). The Bernoulli form is kept because its threshold is in nats: the
//! increments scale with the baseline's variance, so one threshold means
//! about the same false-alarm rate at a baseline of 0.5 or of 0.97, where
//! the raw-score CUSUM's rate would swing with `p(1-p)`.
//!
//! The brief's bar — a 0.90 → 0.80 fall alerted within 200 samples at the
//! 95th percentile *and* no false alarm in 100 × 10,000 stable samples —
//! is out of reach for any detector: a 0.9 → 0.8 fall gives only 0.044
//! nats of evidence a sample, and even the optimal detector with the true
//! baseline pinned needs ~10–12 nats for no false alarm, which takes a p95
//! of 390–460 samples. A learned baseline adds its own error (±0.017 at 300
//! samples, ±0.0067 at 2000), and a baseline learned high makes a stable
//! stream look like a fall: with 300 samples, 12 of 100 stable runs
//! false-alarm even at `h = 12`. The defaults choose no false alarms:
//! `baseline_samples = 2000`, `threshold = 12` — measured 0 of 100 stable
//! runs alarmed (4 of 1,000: about one false alarm in 2.5 M scores); 0.90 → 0.80 median 229, p95 499 samples; 0.90 → 0.75
//! median 129, p95 228; 0.90 → 0.70 p95 154. A pinned baseline needs no
//! learning and gives 0.90 → 0.80 a p95 of 459 at the same threshold. The
//! unit tests assert these figures.

pub mod alerts;
pub mod detector;
pub mod sim;
pub mod webhook;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

pub use self::alerts::Alert;
use self::alerts::Book;
use self::detector::{BernoulliCusum, Detector};
use self::webhook::Webhook;
use crate::config::QualityConfig;

/// A series' key: (route, model, score).
pub type SeriesKey = (String, String, String);

/// The rolling window's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rolling {
    /// Mean of the samples in the window.
    pub mean: f64,
    /// Samples in the window (at most `window`).
    pub count: usize,
}

/// Where a baseline came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// The mean of the first `baseline_samples` samples.
    Learned,
    /// `[[quality.baseline]]` in the config.
    Pinned,
}

/// A formed baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Baseline {
    /// The baseline score.
    pub value: f64,
    /// Samples it was learned from (0 when pinned).
    pub samples: u64,
    /// Learned or pinned.
    pub source: BaselineSource,
}

/// The detector's state in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetectorState {
    /// The statistic (nats of evidence for a fall).
    pub statistic: f64,
    /// The threshold that opens an alert.
    pub threshold: f64,
    /// Samples since it (re)started.
    pub samples: u64,
}

/// One series as `GET /admin/quality` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Route name.
    pub route: String,
    /// Model name.
    pub model: String,
    /// Score name.
    pub score: String,
    /// The rolling window.
    pub rolling: Rolling,
    /// Samples observed since the series was created.
    pub observed: u64,
    /// The baseline, once formed.
    pub baseline: Option<Baseline>,
    /// While learning: samples collected towards the baseline.
    pub learning: Option<u64>,
    /// The detector, once the baseline is formed.
    pub detector: Option<DetectorState>,
    /// Whether an alert is open.
    pub alert_open: bool,
}

/// Answer-quality statistics and alerts of the whole process.
pub struct Quality {
    inner: Mutex<Inner>,
}

struct Inner {
    cfg: QualityConfig,
    series: HashMap<SeriesKey, State>,
    book: Book,
    webhook: Option<Webhook>,
}

enum Base {
    Learning { sum: f64, n: u64 },
    Formed(Baseline),
}

struct State {
    window: VecDeque<f64>,
    sum: f64,
    observed: u64,
    base: Base,
    detector: Option<BernoulliCusum>,
    since_restart: u64,
    /// The open alert's id and the samples since it opened.
    open: Option<(u64, u64)>,
}

/// What an observation changed, reported after the lock is released.
enum Event {
    Opened(Alert),
    Resolved(Alert),
}

impl State {
    fn new(cfg: &QualityConfig, key: &SeriesKey) -> State {
        let mut s = State {
            window: VecDeque::with_capacity(cfg.window.min(1024)),
            sum: 0.0,
            observed: 0,
            base: Base::Learning { sum: 0.0, n: 0 },
            detector: None,
            since_restart: 0,
            open: None,
        };
        if let Some(v) = cfg.pinned(&key.0, &key.1, &key.2) {
            s.form(cfg, v, 0, BaselineSource::Pinned);
        }
        s
    }

    fn form(&mut self, cfg: &QualityConfig, value: f64, samples: u64, source: BaselineSource) {
        self.base = Base::Formed(Baseline {
            value,
            samples,
            source,
        });
        self.detector = Some(BernoulliCusum::new(value, cfg.drop, cfg.threshold));
        self.since_restart = 0;
    }

    fn baseline(&self) -> Option<Baseline> {
        match self.base {
            Base::Formed(b) => Some(b),
            Base::Learning { .. } => None,
        }
    }

    fn rolling(&self) -> Rolling {
        let count = self.window.len();
        Rolling {
            mean: if count == 0 {
                0.0
            } else {
                self.sum / count as f64
            },
            count,
        }
    }

    fn push(&mut self, x: f64, window: usize) {
        self.window.push_back(x);
        self.sum += x;
        self.trim(window);
    }

    fn trim(&mut self, window: usize) {
        let mut popped = false;
        while self.window.len() > window {
            if let Some(old) = self.window.pop_front() {
                self.sum -= old;
                popped = true;
            }
        }
        // Re-add now and then so rounding never accumulates.
        if popped && self.observed.is_multiple_of(4096) {
            self.sum = self.window.iter().sum();
        }
    }

    /// The mean of the newest `n` samples of the window.
    fn tail_mean(&self, n: usize) -> f64 {
        let n = n.min(self.window.len()).max(1);
        self.window.iter().rev().take(n).sum::<f64>() / n as f64
    }
}

impl Quality {
    /// Statistics with `cfg`; the webhook (if configured) starts on the
    /// current tokio runtime.
    pub fn new(cfg: QualityConfig) -> Self {
        let webhook = cfg.webhook.as_ref().and_then(Webhook::start);
        Quality {
            inner: Mutex::new(Inner {
                cfg,
                series: HashMap::new(),
                book: Book::default(),
                webhook,
            }),
        }
    }

    /// Apply a reloaded config: windows are resized, pinned baselines set
    /// or released (a released series learns afresh), and detectors whose
    /// baseline, `drop` or `threshold` changed restart. Open alerts stay
    /// open. The webhook task is replaced when its settings changed.
    pub fn reconfigure(&self, cfg: QualityConfig) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let old = std::mem::replace(&mut inner.cfg, cfg.clone());
        if old.webhook != cfg.webhook {
            inner.webhook = cfg.webhook.as_ref().and_then(Webhook::start);
        }
        let detector_changed = old.drop != cfg.drop || old.threshold != cfg.threshold;
        for (key, s) in inner.series.iter_mut() {
            s.trim(cfg.window);
            let pinned = cfg.pinned(&key.0, &key.1, &key.2);
            match (pinned, s.baseline()) {
                (Some(v), b)
                    if b.is_none_or(|b| b.source != BaselineSource::Pinned || b.value != v) =>
                {
                    s.form(&cfg, v, 0, BaselineSource::Pinned);
                }
                (None, Some(b)) if b.source == BaselineSource::Pinned => {
                    s.base = Base::Learning { sum: 0.0, n: 0 };
                    s.detector = None;
                }
                (_, Some(b)) if detector_changed => s.form(&cfg, b.value, b.samples, b.source),
                (None, None) => {
                    if let Base::Learning { sum, n } = s.base
                        && n >= cfg.baseline_samples as u64
                    {
                        s.form(&cfg, sum / n as f64, n, BaselineSource::Learned);
                    }
                }
                _ => {}
            }
        }
    }

    /// Take one score (clamped to 0..1; a non-finite one is ignored) of
    /// `route`'s answer from `model`, at `now_ms`. May open or resolve an
    /// alert (logged, counted, queued for the webhook). Never blocks on I/O.
    pub fn observe(&self, route: &str, model: &str, score: &str, value: f64, now_ms: u64) {
        if !value.is_finite() {
            return;
        }
        let x = value.clamp(0.0, 1.0);
        let (events, webhook) = {
            let Ok(mut guard) = self.inner.lock() else {
                return;
            };
            let inner = &mut *guard;
            let key = (route.to_owned(), model.to_owned(), score.to_owned());
            let cfg = &inner.cfg;
            let s = inner
                .series
                .entry(key)
                .or_insert_with_key(|k| State::new(cfg, k));
            let events = step(cfg, &mut inner.book, s, (route, model, score), x, now_ms);
            (events, inner.webhook.clone())
        };
        for e in events {
            report(&e, webhook.as_ref());
        }
    }

    /// The rolling window of one series.
    pub fn rolling(&self, route: &str, model: &str, score: &str) -> Option<Rolling> {
        let inner = self.inner.lock().ok()?;
        let key = (route.to_owned(), model.to_owned(), score.to_owned());
        inner
            .series
            .get(&key)
            .map(State::rolling)
            .filter(|r| r.count > 0)
    }

    /// What a policy is shown of one series: its rolling window, and whether
    /// an alert is open on it; `None` before its first sample.
    pub fn view(&self, route: &str, model: &str, score: &str) -> Option<(Rolling, bool)> {
        let inner = self.inner.lock().ok()?;
        let key = (route.to_owned(), model.to_owned(), score.to_owned());
        let s = inner.series.get(&key)?;
        let r = s.rolling();
        (r.count > 0).then_some((r, s.open.is_some()))
    }

    /// The rolling windows of `model`'s series of `score` on every route,
    /// pooled (each window's samples count once).
    pub fn rolling_for_model(&self, model: &str, score: &str) -> Option<Rolling> {
        let inner = self.inner.lock().ok()?;
        let (sum, count) = inner
            .series
            .iter()
            .filter(|((_, m, sc), _)| m == model && sc == score)
            .fold((0.0, 0), |(sum, n), (_, s)| {
                (sum + s.sum, n + s.window.len())
            });
        (count > 0).then(|| Rolling {
            mean: sum / count as f64,
            count,
        })
    }

    /// Every alert: open ones first, then resolved ones (the newest
    /// [`alerts::KEEP_RESOLVED`]), each newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.inner.lock().map(|i| i.book.all()).unwrap_or_default()
    }

    /// Start the baselines of the matching series afresh (`None` matches
    /// any route or model): the next `baseline_samples` samples form a new
    /// learned baseline (a pinned one stays, its detector restarts), and
    /// their open alerts resolve as `baseline_reset`. Returns how many
    /// series were reset.
    pub fn reset_baseline(&self, route: Option<&str>, model: Option<&str>, now_ms: u64) -> usize {
        let (events, webhook, n) = {
            let Ok(mut guard) = self.inner.lock() else {
                return 0;
            };
            let inner = &mut *guard;
            let mut events = Vec::new();
            let mut n = 0;
            for (key, s) in inner.series.iter_mut() {
                if route.is_some_and(|r| r != key.0) || model.is_some_and(|m| m != key.1) {
                    continue;
                }
                n += 1;
                if let Some((id, _)) = s.open.take() {
                    let current = s.rolling().mean;
                    if let Some(a) = inner.book.resolve(id, now_ms, "baseline_reset", current) {
                        events.push(Event::Resolved(a));
                    }
                }
                match inner.cfg.pinned(&key.0, &key.1, &key.2) {
                    Some(v) => s.form(&inner.cfg, v, 0, BaselineSource::Pinned),
                    None => {
                        s.base = Base::Learning { sum: 0.0, n: 0 };
                        s.detector = None;
                        s.since_restart = 0;
                    }
                }
            }
            (events, inner.webhook.clone(), n)
        };
        for e in &events {
            report(e, webhook.as_ref());
        }
        n
    }

    /// Every series, sorted by key.
    pub fn snapshot(&self) -> Vec<Series> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut v: Vec<Series> = inner
            .series
            .iter()
            .map(|((route, model, score), s)| Series {
                route: route.clone(),
                model: model.clone(),
                score: score.clone(),
                rolling: s.rolling(),
                observed: s.observed,
                baseline: s.baseline(),
                learning: match s.base {
                    Base::Learning { n, .. } => Some(n),
                    Base::Formed(_) => None,
                },
                detector: s.detector.as_ref().map(|d| DetectorState {
                    statistic: d.statistic(),
                    threshold: inner.cfg.threshold,
                    samples: s.since_restart,
                }),
                alert_open: s.open.is_some(),
            })
            .collect();
        v.sort_by(|a, b| (&a.route, &a.model, &a.score).cmp(&(&b.route, &b.model, &b.score)));
        v
    }

    /// Alerts opened per (route, model, score), for
    /// `switchyard_quality_alerts_total`.
    pub fn alerts_total(&self) -> Vec<(SeriesKey, u64)> {
        self.inner
            .lock()
            .map(|i| i.book.totals())
            .unwrap_or_default()
    }

    /// The config in force.
    pub fn config(&self) -> QualityConfig {
        self.inner.lock().map(|i| i.cfg.clone()).unwrap_or_default()
    }

    /// The webhook's delivery counters (delivered, failed, dropped), when
    /// one is configured.
    pub fn webhook_figures(&self) -> Option<(u64, u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        let inner = self.inner.lock().ok()?;
        let f = inner.webhook.as_ref()?.figures();
        Some((
            f.delivered.load(Relaxed),
            f.failed.load(Relaxed),
            f.dropped.load(Relaxed),
        ))
    }
}

/// One sample through a series: window, baseline, detector, alert.
fn step(
    cfg: &QualityConfig,
    book: &mut Book,
    s: &mut State,
    (route, model, score): (&str, &str, &str),
    x: f64,
    now_ms: u64,
) -> Vec<Event> {
    s.observed += 1;
    s.push(x, cfg.window);
    let base = match &mut s.base {
        Base::Learning { sum, n } => {
            *sum += x;
            *n += 1;
            if *n >= cfg.baseline_samples as u64 {
                let (value, n) = (*sum / *n as f64, *n);
                s.form(cfg, value, n, BaselineSource::Learned);
            }
            return Vec::new();
        }
        Base::Formed(b) => *b,
    };
    if let Some((id, since)) = &mut s.open {
        *since += 1;
        let since = *since;
        let id = *id;
        let current = s.tail_mean((since as usize).min(cfg.window));
        if since >= cfg.min_samples.max(1) as u64 && current >= base.value - cfg.drop / 2.0 {
            s.open = None;
            if let Some(d) = &mut s.detector {
                d.restart();
            }
            s.since_restart = 0;
            return book
                .resolve(id, now_ms, "recovered", current)
                .map(Event::Resolved)
                .into_iter()
                .collect();
        }
        return Vec::new();
    }
    let current = s.rolling().mean;
    let Some(d) = &mut s.detector else {
        return Vec::new();
    };
    s.since_restart += 1;
    if d.observe(x) && s.since_restart >= cfg.min_samples as u64 {
        let a = book.open(Alert {
            id: 0,
            route: route.to_owned(),
            model: model.to_owned(),
            score: score.to_owned(),
            opened_at_ms: now_ms,
            resolved_at_ms: None,
            resolution: None,
            baseline: base.value,
            current,
            resolved_current: None,
            samples: s.since_restart,
            statistic: d.statistic(),
            threshold: cfg.threshold,
        });
        s.open = Some((a.id, 0));
        return vec![Event::Opened(a)];
    }
    Vec::new()
}

fn report(e: &Event, webhook: Option<&Webhook>) {
    match e {
        Event::Opened(a) => {
            tracing::warn!(
                route = %a.route, model = %a.model, score = %a.score,
                baseline = a.baseline, current = a.current, samples = a.samples,
                statistic = a.statistic,
                "quality alert opened: {} of {} on route {} fell from {:.3} to {:.3}",
                a.score, a.model, a.route, a.baseline, a.current
            );
            if let Some(w) = webhook {
                w.send("alert.opened", a);
            }
        }
        Event::Resolved(a) => {
            tracing::info!(
                route = %a.route, model = %a.model, score = %a.score,
                baseline = a.baseline, current = a.resolved_current,
                resolution = a.resolution,
                "quality alert resolved"
            );
            if let Some(w) = webhook {
                w.send("alert.resolved", a);
            }
        }
    }
}

#[cfg(test)]
mod tests;
