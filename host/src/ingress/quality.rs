//! Answer quality in the admin API: `GET /admin/alerts` (open and resolved
//! quality alerts), `GET /admin/quality` (every series: rolling mean and
//! count, baseline, detector state, whether an alert is open) and
//! `POST /admin/quality/baseline` (start baselines afresh; an optional JSON
//! body `{"route":…,"model":…}` narrows which). The admin key was checked by
//! dispatch. It only reads and resets [`Quality`]; it never computes a
//! statistic itself.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::body::read_body;
use super::{Body, error_response, json_response};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::ledger::now_ms;
use crate::monitor::Quality;

/// Largest body `POST /admin/quality/baseline` reads.
const BODY_MAX: usize = 16 * 1024;

/// `{"alerts":[…]}`: open alerts first, then resolved ones, each newest
/// first.
pub fn alerts_json(q: &Quality) -> serde_json::Value {
    let alerts = q.alerts();
    let open = alerts.iter().filter(|a| a.is_open()).count();
    serde_json::json!({ "open": open, "alerts": alerts })
}

/// `{"config":{…},"series":[…]}`: every series, sorted by key.
pub fn quality_json(q: &Quality) -> serde_json::Value {
    let cfg = q.config();
    serde_json::json!({
        "config": {
            "window": cfg.window,
            "baseline_samples": cfg.baseline_samples,
            "drop": cfg.drop,
            "threshold": cfg.threshold,
            "min_samples": cfg.min_samples,
            "detector": "bernoulli_cusum",
            "webhook": cfg.webhook.as_ref().map(|w| &w.url),
        },
        "series": q.snapshot(),
    })
}

/// `GET /admin/alerts`.
pub fn alerts(gw: &Gateway) -> Response<Body> {
    json_response(
        StatusCode::OK,
        alerts_json(&gw.quality).to_string().into_bytes(),
    )
}

/// `GET /admin/quality`.
pub fn quality(gw: &Gateway) -> Response<Body> {
    json_response(
        StatusCode::OK,
        quality_json(&gw.quality).to_string().into_bytes(),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    route: Option<String>,
    model: Option<String>,
}

/// `POST /admin/quality/baseline`.
pub async fn reset_baseline(gw: &Gateway, req: Request<Incoming>) -> Response<Body> {
    let timeout = std::time::Duration::from_millis(gw.current().config.server.body_read_timeout_ms);
    let body = match tokio::time::timeout(timeout, read_body(req, BODY_MAX)).await {
        Ok(Ok((_, b))) => b,
        Ok(Err(e)) => return error_response(&e),
        Err(_) => {
            return error_response(&ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "The request body did not arrive in time.",
            ));
        }
    };
    reset_with_body(&gw.quality, &body, u64::try_from(now_ms()).unwrap_or(0))
}

/// The reset for a body (empty, `{}`, or `{"route":…,"model":…}`):
/// `{"reset": N, "route": …, "model": …}`, or 400 naming what is wrong.
pub fn reset_with_body(q: &Quality, body: &[u8], now_ms: u64) -> Response<Body> {
    let parsed: ResetBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResetBody::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => {
                return error_response(&ApiError::invalid(format!(
                    "The body must be empty or {{\"route\": …, \"model\": …}}: {e}."
                )));
            }
        }
    };
    let n = q.reset_baseline(parsed.route.as_deref(), parsed.model.as_deref(), now_ms);
    let out = serde_json::json!({"reset": n, "route": parsed.route, "model": parsed.model});
    json_response(StatusCode::OK, out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::config::QualityConfig;

    async fn json_of(r: Response<Body>) -> (StatusCode, serde_json::Value) {
        let status = r.status();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn admin_json_shapes() {
        let q = Quality::new(QualityConfig {
            baseline_samples: 10,
            min_samples: 5,
            threshold: 3.0,
            ..QualityConfig::default()
        });
        for i in 0..10 {
            q.observe("r", "m", "match", 1.0, i);
        }
        q.observe("r", "m2", "match", 1.0, 0);
        for i in 10..60 {
            q.observe("r", "m", "match", 0.0, i);
        }
        let s = quality_json(&q);
        assert_eq!(s["config"]["window"], 200);
        assert_eq!(s["config"]["detector"], "bernoulli_cusum");
        let series = s["series"].as_array().unwrap();
        assert_eq!(series.len(), 2);
        let one = &series[0];
        assert_eq!(
            (&one["route"], &one["model"], &one["score"]),
            (&"r".into(), &"m".into(), &"match".into())
        );
        assert_eq!(one["rolling"]["count"], 60);
        assert_eq!(one["baseline"]["value"], 1.0);
        assert_eq!(one["baseline"]["samples"], 10);
        assert_eq!(one["baseline"]["source"], "learned");
        assert_eq!(one["alert_open"], true);
        assert!(one["detector"]["statistic"].as_f64().unwrap() > 3.0);
        assert_eq!(series[1]["learning"], 1);
        assert!(series[1]["baseline"].is_null());

        let a = alerts_json(&q);
        assert_eq!(a["open"], 1);
        let alert = &a["alerts"][0];
        for field in [
            "id",
            "route",
            "model",
            "score",
            "opened_at_ms",
            "resolved_at_ms",
            "baseline",
            "current",
            "samples",
            "statistic",
            "threshold",
        ] {
            assert!(alert.get(field).is_some(), "{field} in {alert}");
        }
        assert!(alert["resolved_at_ms"].is_null());
        assert_eq!(alert["samples"], 5);

        // A reset narrowed to another model leaves the alert open.
        let (st, v) = json_of(reset_with_body(&q, br#"{"model":"m2"}"#, 100)).await;
        assert_eq!((st, &v["reset"]), (StatusCode::OK, &1.into()));
        assert_eq!(alerts_json(&q)["open"], 1);
        let (st, v) = json_of(reset_with_body(&q, b"", 101)).await;
        assert_eq!((st, &v["reset"]), (StatusCode::OK, &2.into()));
        let a = alerts_json(&q);
        assert_eq!(a["open"], 0);
        assert_eq!(a["alerts"][0]["resolution"], "baseline_reset");
        assert_eq!(a["alerts"][0]["resolved_at_ms"], 101);
        let (st, _) = json_of(reset_with_body(&q, br#"{"rout":"x"}"#, 102)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
}
