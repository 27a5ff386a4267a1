use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::sim::{self, Baseline as SimBaseline, Scenario};
use super::*;
use crate::config::quality::{PinnedBaseline, WebhookConfig};

fn cfg(baseline_samples: usize) -> QualityConfig {
    QualityConfig {
        baseline_samples,
        min_samples: 5,
        threshold: 4.0,
        ..QualityConfig::default()
    }
}

#[test]
fn rolling_window_and_learned_baseline() {
    let q = Quality::new(QualityConfig {
        window: 4,
        ..cfg(3)
    });
    assert_eq!(q.rolling("r", "m", "s"), None);
    for (i, x) in [1.0, 0.0, 1.0, 0.5, 0.25, f64::NAN, 7.0].iter().enumerate() {
        q.observe("r", "m", "s", *x, i as u64);
    }
    // NaN ignored, 7 clamped to 1; the window keeps the last four.
    let r = q.rolling("r", "m", "s").unwrap();
    assert_eq!(r.count, 4);
    assert!((r.mean - 0.6875).abs() < 1e-12);
    let s = &q.snapshot()[0];
    assert_eq!(s.observed, 6);
    let b = s.baseline.unwrap();
    assert_eq!((b.samples, b.source), (3, BaselineSource::Learned));
    assert!((b.value - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(s.detector.unwrap().samples, 3);
}

#[test]
fn an_alert_opens_on_a_fall_and_resolves_on_recovery() {
    let q = Quality::new(cfg(20));
    let mut t = 0;
    let mut feed = |q: &Quality, x: f64, n: usize| {
        for _ in 0..n {
            t += 1;
            q.observe("r", "m", "match", x, t);
        }
    };
    feed(&q, 1.0, 20);
    feed(&q, 1.0, 50);
    assert!(q.alerts().is_empty());
    feed(&q, 0.0, 10);
    let a = q.alerts();
    assert_eq!(a.len(), 1);
    assert!(a[0].is_open());
    assert_eq!(a[0].baseline, 1.0);
    // Opened on the first failure: 50 passes since the baseline, then it.
    assert_eq!(a[0].samples, 51);
    assert_eq!(
        q.alerts_total(),
        vec![(("r".into(), "m".into(), "match".into()), 1)]
    );
    assert!(q.snapshot()[0].alert_open);
    // The window still holds mostly good samples, but only the samples
    // since the alert opened count: 9 failures, then passes until they are
    // 95% of them (171 of 180).
    feed(&q, 1.0, 170);
    assert!(q.alerts()[0].is_open());
    feed(&q, 1.0, 1);
    let a = q.alerts();
    assert_eq!(a[0].resolution, Some("recovered"));
    assert!(!q.snapshot()[0].alert_open);
    assert_eq!(q.snapshot()[0].detector.unwrap().statistic, 0.0);
    // The detector restarted: another fall is another alert.
    feed(&q, 0.0, 10);
    assert_eq!(q.alerts_total()[0].1, 2);
    assert!(q.alerts()[0].is_open() && !q.alerts()[1].is_open());
}

#[test]
fn a_reset_learns_again_and_resolves_open_alerts() {
    let q = Quality::new(cfg(10));
    for i in 0..10 {
        q.observe("r", "m", "s", 1.0, i);
        q.observe("other", "m", "s", 1.0, i);
    }
    for i in 10..30 {
        q.observe("r", "m", "s", 0.0, i);
    }
    assert!(q.alerts()[0].is_open());
    assert_eq!(q.reset_baseline(Some("r"), None, 99), 1);
    let a = &q.alerts()[0];
    assert_eq!(
        (a.resolution, a.resolved_at_ms),
        (Some("baseline_reset"), Some(99))
    );
    let s = q.snapshot();
    assert_eq!((s[1].route.as_str(), s[1].learning), ("r", Some(0)));
    assert!(
        s[0].baseline.is_some(),
        "the other route keeps its baseline"
    );
    // The new baseline is the new level: no alert at 0.
    for i in 30..100 {
        q.observe("r", "m", "s", 0.0, i);
    }
    assert_eq!(q.snapshot()[1].baseline.unwrap().value, 0.0);
    assert_eq!(q.alerts_total()[0].1, 1);
}

#[test]
fn pinned_baselines_follow_reloads() {
    let pin = |v: f64| PinnedBaseline {
        route: "r".into(),
        model: "m".into(),
        score: "s".into(),
        value: v,
    };
    let q = Quality::new(QualityConfig {
        baseline: vec![pin(0.9)],
        ..cfg(50)
    });
    q.observe("r", "m", "s", 1.0, 0);
    let b = q.snapshot()[0].baseline.unwrap();
    assert_eq!((b.value, b.source), (0.9, BaselineSource::Pinned));
    q.reconfigure(QualityConfig {
        baseline: vec![pin(0.8)],
        window: 1,
        ..cfg(50)
    });
    let s = &q.snapshot()[0];
    assert_eq!(s.baseline.unwrap().value, 0.8);
    assert_eq!(s.rolling.count, 1);
    // Unpinned: it learns from the next samples.
    q.reconfigure(cfg(2));
    assert_eq!(q.snapshot()[0].learning, Some(0));
    q.observe("r", "m", "s", 1.0, 1);
    q.observe("r", "m", "s", 0.0, 2);
    let b = q.snapshot()[0].baseline.unwrap();
    assert_eq!((b.value, b.source), (0.5, BaselineSource::Learned));
}

#[test]
fn rolling_for_model_pools_routes() {
    let q = Quality::new(cfg(10));
    q.observe("a", "m", "s", 1.0, 0);
    q.observe("b", "m", "s", 0.0, 0);
    q.observe("b", "m", "s", 0.0, 0);
    q.observe("b", "x", "s", 1.0, 0);
    let r = q.rolling_for_model("m", "s").unwrap();
    assert_eq!(r.count, 3);
    assert!((r.mean - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(q.rolling_for_model("m", "other"), None);
}

/// The defaults' measured figures (see the module doc; the bench prints the
/// full table). Seeded, so the figures are exact on every machine.
#[test]
fn default_detector_meets_its_measured_targets() {
    let d = QualityConfig::default();
    let make = |p0: f64| BernoulliCusum::new(p0, d.drop, d.threshold);
    let learned = SimBaseline::Learned(d.baseline_samples);
    let fa = sim::false_alarms(make, 0.9, learned, 10_000, 100);
    assert_eq!(fa.alarms, 0, "{fa:?}");
    let delays = |after: f64, baseline| {
        let s = Scenario {
            before: 0.9,
            after,
            baseline,
            gap: 300,
        };
        sim::delays(make, s, 500, 5_000)
    };
    // 0.90 -> 0.75, learned baseline then the fall 300 samples later.
    let big = delays(0.75, learned);
    assert_eq!((big.missed, big.early), (0, 0));
    assert!(
        big.quantile(0.95).unwrap() <= 250,
        "{:?}",
        big.quantile(0.95)
    );
    // 0.90 -> 0.80: the information bound keeps p95 well over 200.
    let exact = delays(0.80, learned);
    assert_eq!(exact.missed, 0);
    assert!(exact.quantile(0.5).unwrap() <= 250);
    assert!(
        exact.quantile(0.95).unwrap() <= 520,
        "{:?}",
        exact.quantile(0.95)
    );
}

/// A hook receiver on 127.0.0.1: answers 500 to the first request, 200
/// after; keeps every body.
async fn receiver() -> (String, Arc<Mutex<Vec<(u16, serde_json::Value)>>>) {
    use http_body_util::BodyExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<(u16, serde_json::Value)>>> = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen2.clone();
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let mut s = seen.lock().unwrap();
                        let status = if s.is_empty() { 500 } else { 200 };
                        s.push((status, v));
                        let mut r =
                            http::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
                        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn the_webhook_retries_a_500_and_delivers_each_event_once() {
    let (url, seen) = receiver().await;
    let q = Quality::new(QualityConfig {
        webhook: Some(WebhookConfig {
            url,
            timeout_ms: 2000,
            retries: 3,
        }),
        window: 20,
        ..cfg(10)
    });
    for i in 0..10 {
        q.observe("r", "m", "s", 1.0, i);
    }
    for i in 10..30 {
        q.observe("r", "m", "s", 0.0, i);
    }
    for i in 30..60 {
        q.observe("r", "m", "s", 1.0, i);
    }
    let a = q.alerts();
    assert_eq!(a.len(), 1);
    assert!(!a[0].is_open());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while q.webhook_figures().unwrap().0 < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(q.webhook_figures(), Some((2, 0, 0)));
    let seen = seen.lock().unwrap().clone();
    let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [500, 200, 200]);
    let accepted: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(accepted[0]["event"], "alert.opened");
    assert_eq!(accepted[1]["event"], "alert.resolved");
    for v in &accepted {
        assert_eq!(
            (&v["route"], &v["model"], &v["score"]),
            (&"r".into(), &"m".into(), &"s".into())
        );
        assert_eq!(v["baseline"], 1.0);
        assert_eq!(v["opened_at_ms"], a[0].opened_at_ms);
        assert!(v["samples"].as_u64().unwrap() >= 5);
        assert!(v.get("current").is_some());
    }
    assert_eq!(accepted[1]["resolution"], "recovered");
}
