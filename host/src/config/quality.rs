//! `[quality]`: how sampled answer scores are watched — the rolling window,
//! how a series' baseline is learned (or pinned per route, model and score),
//! the change detector's sensitivity and threshold, and the optional alert
//! webhook. Plain data and its checks; nothing here scores an answer, keeps
//! a statistic or sends a webhook (that is [`crate::monitor`]'s business).

use serde::Deserialize;

use super::{KeyError, url_host};

/// `[quality]`: answer-quality statistics and alerts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// Samples in each series' rolling window (its mean and count are the
    /// `switchyard_quality_rolling` gauge and what resolves an alert).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Samples whose mean becomes a series' learned baseline, after start
    /// or after a baseline reset. No alert opens before it is formed.
    #[serde(default = "default_baseline_samples")]
    pub baseline_samples: usize,
    /// The fall below the baseline worth an alert, absolute (0.1: a pass
    /// rate of 0.9 falling to 0.8).
    #[serde(default = "default_drop")]
    pub drop: f64,
    /// The change detector's threshold: the log-likelihood ratio (nats) in
    /// favour of "quality fell by `drop`" that opens an alert. Higher: fewer
    /// false alarms, later alerts.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Samples the detector must have seen since it (re)started before it
    /// may open an alert, and samples after an alert opened before it may
    /// resolve.
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
    /// Baselines given rather than learned, per (route, model, score).
    #[serde(default)]
    pub baseline: Vec<PinnedBaseline>,
    /// Where alert events are POSTed, if anywhere.
    pub webhook: Option<WebhookConfig>,
}

/// `[[quality.baseline]]`: a pinned baseline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedBaseline {
    /// Route name.
    pub route: String,
    /// Model name.
    pub model: String,
    /// Score name (the evaluator's).
    pub score: String,
    /// The baseline, 0..1.
    pub value: f64,
}

/// `[quality.webhook]`: alert events as JSON POSTs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http(s)://…`; checked by the egress rule providers' URLs get (an
    /// internal address only when the URL names it).
    pub url: String,
    /// Longest wait for one delivery's response headers.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Deliveries retried after a failure (5xx, 429, no connection, a
    /// timeout), with backoff doubling from 200 ms.
    #[serde(default = "default_webhook_retries")]
    pub retries: u32,
}

fn default_window() -> usize {
    200
}
fn default_baseline_samples() -> usize {
    2000
}
fn default_drop() -> f64 {
    0.1
}
fn default_threshold() -> f64 {
    12.0
}
fn default_min_samples() -> usize {
    30
}
fn default_webhook_timeout_ms() -> u64 {
    2000
}
fn default_webhook_retries() -> u32 {
    3
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            window: default_window(),
            baseline_samples: default_baseline_samples(),
            drop: default_drop(),
            threshold: default_threshold(),
            min_samples: default_min_samples(),
            baseline: Vec::new(),
            webhook: None,
        }
    }
}

impl QualityConfig {
    /// The pinned baseline of a series, if the config gives one.
    pub fn pinned(&self, route: &str, model: &str, score: &str) -> Option<f64> {
        self.baseline
            .iter()
            .rev()
            .find(|b| b.route == route && b.model == model && b.score == score)
            .map(|b| b.value)
    }
}

/// Check `[quality]`.
pub fn validate(q: &QualityConfig) -> anyhow::Result<()> {
    let err = |key: &str, message: &str| -> anyhow::Error {
        KeyError {
            key: format!("quality.{key}"),
            message: message.into(),
        }
        .into()
    };
    if q.window == 0 || q.window > 100_000 {
        return Err(err("window", "must be between 1 and 100000 samples"));
    }
    if q.baseline_samples == 0 || q.baseline_samples > 1_000_000 {
        return Err(err(
            "baseline_samples",
            "must be between 1 and 1000000 samples",
        ));
    }
    if !(q.drop.is_finite() && q.drop > 0.0 && q.drop < 1.0) {
        return Err(err(
            "drop",
            "must be in (0, 1): an absolute fall of the score",
        ));
    }
    if !(q.threshold.is_finite() && q.threshold > 0.0 && q.threshold <= 1000.0) {
        return Err(err("threshold", "must be in (0, 1000]"));
    }
    if q.min_samples > 100_000 {
        return Err(err("min_samples", "must be at most 100000"));
    }
    for (i, b) in q.baseline.iter().enumerate() {
        if !(b.value.is_finite() && (0.0..=1.0).contains(&b.value)) {
            return Err(err(
                &format!("baseline[{i}].value"),
                "must be between 0 and 1",
            ));
        }
        if b.value < q.drop {
            return Err(err(
                &format!("baseline[{i}].value"),
                "is below `drop`: no fall of that size is possible",
            ));
        }
        for (field, v) in [
            ("route", &b.route),
            ("model", &b.model),
            ("score", &b.score),
        ] {
            if v.is_empty() {
                return Err(err(&format!("baseline[{i}].{field}"), "must not be empty"));
            }
        }
    }
    if let Some(w) = &q.webhook {
        if url_host(&w.url).is_none() {
            return Err(err(
                "webhook.url",
                &format!("`{}` is not an http(s) URL", w.url),
            ));
        }
        if w.timeout_ms == 0 || w.timeout_ms > 60_000 {
            return Err(err("webhook.timeout_ms", "must be between 1 and 60000"));
        }
        if w.retries > 10 {
            return Err(err("webhook.retries", "must be at most 10"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn quality(toml: &str) -> anyhow::Result<QualityConfig> {
        let c = Config::parse(&format!("[quality]\n{toml}"))?;
        validate(&c.quality)?;
        Ok(c.quality)
    }

    #[test]
    fn defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.quality, QualityConfig::default());
        assert_eq!(
            (c.quality.window, c.quality.baseline_samples, c.quality.drop),
            (200, 2000, 0.1)
        );
        validate(&c.quality).unwrap();
    }

    #[test]
    fn pinned_baselines_and_webhook_parse() {
        let q = quality(
            "drop = 0.05\n[[quality.baseline]]\nroute = \"r\"\nmodel = \"m\"\nscore = \"match\"\nvalue = 0.9\n\
             [quality.webhook]\nurl = \"http://127.0.0.1:9/hook\"",
        )
        .unwrap();
        assert_eq!(q.pinned("r", "m", "match"), Some(0.9));
        assert_eq!(q.pinned("r", "m", "other"), None);
        let w = q.webhook.unwrap();
        assert_eq!((w.timeout_ms, w.retries), (2000, 3));
    }

    #[test]
    fn errors_name_the_key() {
        let e = |t: &str| format!("{:#}", quality(t).unwrap_err());
        assert!(e("window = 0").starts_with("quality.window:"));
        assert!(e("drop = 0").starts_with("quality.drop:"));
        assert!(e("drop = 1.5").starts_with("quality.drop:"));
        assert!(e("threshold = -1").starts_with("quality.threshold:"));
        assert!(e("baseline_samples = 0").starts_with("quality.baseline_samples:"));
        assert!(
            e("[[quality.baseline]]\nroute = \"r\"\nmodel = \"m\"\nscore = \"s\"\nvalue = 1.2")
                .starts_with("quality.baseline[0].value:")
        );
        assert!(e("[quality.webhook]\nurl = \"ftp://x\"").starts_with("quality.webhook.url:"));
        assert!(
            e("[quality.webhook]\nurl = \"http://x\"\nretries = 99")
                .starts_with("quality.webhook.retries:")
        );
        assert!(e("windows = 3").contains("windows"));
    }
}
