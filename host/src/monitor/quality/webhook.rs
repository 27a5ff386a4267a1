//! The alert webhook: each alert opening or resolving becomes one JSON POST
//! (`{"event":"alert.opened"|"alert.resolved", "route", "model", "score",
//! "baseline", "current", "samples", "opened_at_ms", …}`) to
//! `[quality.webhook] url`. Events go through a bounded queue
//! ([`QUEUE`]) to one background task, so the observer never waits: a full
//! queue drops the event (counted and logged). The task sends through the
//! [`Broker`], under the egress rule a provider's `base_url` gets (an
//! internal address only when the URL itself names one; a name that
//! resolves to one is refused), and retries a failure (5xx, 429, no
//! connection, a timeout) with backoff doubling from [`BACKOFF_START`]. It
//! never retries a refusal or another 4xx, and never blocks the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::alerts::Alert;
use crate::broker::{Broker, SendError};
use crate::canonical::{AuthScheme, HttpRequest};
use crate::config::ProviderConfig;
use crate::config::quality::WebhookConfig;

/// Events waiting for delivery, at most.
pub const QUEUE: usize = 1024;
/// The first retry's wait; each further one doubles it.
pub const BACKOFF_START: Duration = Duration::from_millis(200);

/// The name deliveries are refused under in the broker's errors.
const NAME: &str = "quality.webhook";

/// A handle to the delivery task: dropping the last one ends the task once
/// the queued events are delivered (or given up on).
#[derive(Debug, Clone)]
pub struct Webhook {
    cfg: WebhookConfig,
    tx: mpsc::Sender<serde_json::Value>,
    figures: Arc<Figures>,
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct Figures {
    /// Events delivered (a 2xx answer).
    pub delivered: AtomicU64,
    /// Events given up on (retries spent, refused, or a 4xx).
    pub failed: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl Webhook {
    /// Start the delivery task on the current tokio runtime; `None` (and a
    /// warning) outside one, or when no client can be built.
    pub fn start(cfg: &WebhookConfig) -> Option<Webhook> {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("[quality.webhook] needs a running tokio runtime; alerts are not sent");
            return None;
        };
        let broker = match Broker::new() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("[quality.webhook]: no HTTP client ({e}); alerts are not sent");
                return None;
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let figures = Arc::<Figures>::default();
        rt.spawn(run(broker, cfg.clone(), rx, figures.clone()));
        Some(Webhook {
            cfg: cfg.clone(),
            tx,
            figures,
        })
    }

    /// The config it was started with.
    pub fn config(&self) -> &WebhookConfig {
        &self.cfg
    }

    /// Delivery counters.
    pub fn figures(&self) -> &Figures {
        &self.figures
    }

    /// Queue an event; never waits.
    pub fn send(&self, event: &'static str, alert: &Alert) {
        if self.tx.try_send(body(event, alert)).is_err() {
            self.figures.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                route = %alert.route, model = %alert.model, score = %alert.score,
                "quality webhook queue full; {event} not sent"
            );
        }
    }
}

/// The JSON of one event.
pub fn body(event: &str, a: &Alert) -> serde_json::Value {
    serde_json::json!({
        "event": event,
        "id": a.id,
        "route": a.route,
        "model": a.model,
        "score": a.score,
        "baseline": a.baseline,
        "current": a.resolved_current.unwrap_or(a.current),
        "current_at_open": a.current,
        "samples": a.samples,
        "statistic": a.statistic,
        "threshold": a.threshold,
        "opened_at_ms": a.opened_at_ms,
        "resolved_at_ms": a.resolved_at_ms,
        "resolution": a.resolution,
    })
}

async fn run(
    broker: Broker,
    cfg: WebhookConfig,
    mut rx: mpsc::Receiver<serde_json::Value>,
    figures: Arc<Figures>,
) {
    // The webhook's URL is its own base_url: the same egress rule as a
    // provider's, with no other host allowed.
    let target = ProviderConfig {
        adapter: NAME.into(),
        base_url: cfg.url.clone(),
        api_key_env: None,
        api_key_file: None,
        aws_credentials: None,
        allowed_hosts: Vec::new(),
        options: None,
        first_byte_timeout_ms: cfg.timeout_ms,
        idle_timeout_ms: cfg.timeout_ms,
        simulated: false,
        parsed_base: Default::default(),
    };
    let timeout = Duration::from_millis(cfg.timeout_ms);
    while let Some(event) = rx.recv().await {
        let body = event.to_string().into_bytes();
        let mut wait = BACKOFF_START;
        let mut attempt = 0;
        let outcome = loop {
            let req = HttpRequest {
                method: "POST".into(),
                url: cfg.url.clone(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.clone(),
                auth: AuthScheme::None,
            };
            let why = match broker.send(NAME, &target, None, req, timeout).await {
                Ok(resp) if resp.status().is_success() => break Ok(()),
                Ok(resp) => {
                    let s = resp.status();
                    if !(s.is_server_error() || s == http::StatusCode::TOO_MANY_REQUESTS) {
                        break Err(format!("answered {s}"));
                    }
                    format!("answered {s}")
                }
                Err(e @ (SendError::Denied { .. } | SendError::Invalid(_))) => {
                    break Err(e.to_string());
                }
                Err(e) => e.to_string(),
            };
            if attempt >= cfg.retries {
                break Err(format!("{why} (after {} retries)", cfg.retries));
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
            wait *= 2;
        };
        match outcome {
            Ok(()) => {
                figures.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                figures.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = %event["event"], "quality webhook not delivered: {why}");
            }
        }
    }
}
