//! The operator page and the admin endpoints it reads. `GET /ui` serves one
//! page (HTML, script and style embedded in the binary: no Node.js at run
//! time, nothing fetched from elsewhere), which asks for the admin key and
//! then reads only the documented admin API:
//!
//! - `GET /admin/stats?scope=all|route:NAME|model:NAME&window=3600`: the
//!   scope's traffic series (10-second buckets: requests, errors, latency
//!   p50/p95, time to first token, spend), its last minute, and one
//!   row per model (breaker, latency, error rate, in flight, spend today,
//!   rolling quality and open alerts) and per route (policy, models);
//! - `GET /admin/events`: a server-sent event stream, one `tick` a second
//!   (generation, reload counters, requests finished, open alerts), so the
//!   page refreshes what changed without a reload;
//! - `GET /admin/reports` and `GET /admin/reports/NAME/report.html`: the
//!   `switchyard bench` reports of `[server] reports_dir`.
//!
//! The page itself holds no data and needs no key; every admin endpoint
//! checks the admin key (dispatch does, before any of these runs).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;

use super::{Body, error_response, full, json_response};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::monitor::series::{BUCKET_S, BUCKETS};

const INDEX: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

/// The page's assets: `/ui`, `/ui/app.js`, `/ui/app.css`.
pub fn asset(path: &str) -> Option<Response<Body>> {
    let (body, kind) = match path {
        "/ui" | "/ui/" | "/ui/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/ui/app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "/ui/app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut r = Response::new(full(Bytes::from_static(body.as_bytes())));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             frame-src blob:; connect-src 'self'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A query value with `%XX` escapes and `+` decoded (a bad escape stays
/// as it is).
fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /admin/stats`.
pub async fn stats(gw: &Gateway, query: Option<&str>) -> Response<Body> {
    let scope = query_param(query, "scope").map_or_else(|| "all".to_owned(), decode);
    let window = match query_param(query, "window").map(str::parse::<u64>) {
        None => 3600,
        Some(Ok(w)) if (BUCKET_S..=BUCKET_S * BUCKETS as u64).contains(&w) => w,
        Some(_) => {
            return error_response(
                &ApiError::invalid(format!(
                    "`window` must be {BUCKET_S} to {} seconds",
                    BUCKET_S * BUCKETS as u64
                ))
                .param("window"),
            );
        }
    };
    let g = gw.current();
    let series = &gw.router.stats.series;
    let today = crate::ledger::now_ms().div_euclid(86_400_000) * 86_400_000;
    let spend_today: std::collections::HashMap<String, f64> = match gw.ledger.log() {
        Some(log) => log
            .store()
            .spend(crate::ledger::log::SpendBy::Model, today)
            .await
            .map(|rows| rows.into_iter().map(|r| (r.group, r.cost_usd)).collect())
            .unwrap_or_default(),
        None => Default::default(),
    };
    let quality = gw.quality.snapshot();
    let alerts = gw.quality.alerts();
    let mut names: Vec<&String> = g.models.keys().collect();
    names.sort();
    let models: Vec<serde_json::Value> = names
        .into_iter()
        .filter_map(|name| g.models.get(name).map(|m| (name, m)))
        .map(|(name, m)| {
            let snap = m.stats.snapshot(&g.config.breaker);
            let recent = series.recent(&format!("model:{name}"), 60);
            let q: Vec<&crate::monitor::quality::Series> =
                quality.iter().filter(|s| &s.model == name).collect();
            let open = alerts
                .iter()
                .filter(|a| a.is_open() && &a.model == name)
                .count();
            json!({
                "name": name,
                "provider": m.provider_name,
                "breaker": match snap.breaker {
                    crate::wit::BreakerState::Closed => "closed",
                    crate::wit::BreakerState::Open => "open",
                    crate::wit::BreakerState::HalfOpen => "half-open",
                },
                "requests": snap.requests,
                "latency_p50_ms": recent.p50_ms,
                "latency_p95_ms": recent.p95_ms.or(Some(snap.latency_p95_ms).filter(|p| *p > 0.0)),
                "latency_ewma_ms": snap.latency_ewma_ms,
                "error_rate": snap.error_rate,
                "in_flight": snap.in_flight,
                "rps": recent.rps,
                "spend_today_usd": spend_today.get(name.as_str()).copied()
                    .unwrap_or_else(|| m.stats.totals().cost_usd),
                "spend_source": if gw.ledger.log().is_some() { "log" } else { "since start" },
                "quality": q,
                "open_alerts": open,
            })
        })
        .collect();
    let mut route_names: Vec<&String> = g.routes.keys().collect();
    route_names.sort();
    let routes: Vec<serde_json::Value> = route_names
        .into_iter()
        .filter_map(|n| g.routes.get(n))
        .map(|r| {
            let recent = series.recent(&format!("route:{}", r.name), 60);
            json!({
                "name": r.name,
                "policy": r.policy.name.as_ref(),
                "models": r.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
                "evaluate": r.evaluate.iter().map(|(e, rate)| json!({"evaluator": e.name, "sample": rate})).collect::<Vec<_>>(),
                "shadow": r.shadow.as_ref().map(|s| s.model.as_str()),
                "recent": recent,
            })
        })
        .collect();
    let status = gw.reload_status();
    let body = json!({
        "now_ms": crate::ledger::now_ms(),
        "generation": g.id,
        "bucket_s": BUCKET_S,
        "scope": scope,
        "scopes": series.scopes(),
        "series": series.points(&scope, window),
        "recent": series.recent(&scope, 60),
        "models": models,
        "routes": routes,
        "alerts_open": alerts.iter().filter(|a| a.is_open()).count(),
        "reloads": {"succeeded": status.succeeded, "failed": status.failed, "last_error": status.last_error},
        "log": match gw.ledger.log_or_why() { Ok(_) => json!({"on": true}), Err(why) => json!({"on": false, "why": why}) },
        "reports": g.config.server.reports_dir.is_some(),
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// The figures a `tick` event carries.
fn tick(gw: &Gateway) -> serde_json::Value {
    let status = gw.reload_status();
    json!({
        "generation": gw.current().id,
        "reloads": {"succeeded": status.succeeded, "failed": status.failed},
        "finished": gw.router.stats.series.finished(),
        "alerts_open": gw.quality.alerts().iter().filter(|a| a.is_open()).count(),
    })
}

/// `GET /admin/events`: a `tick` every second until the client leaves.
pub fn events(gw: Arc<Gateway>) -> Response<Body> {
    let frames = futures_util::stream::unfold((gw, true), |(gw, first)| async move {
        if !first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let data = format!("event: tick\ndata: {}\n\n", tick(&gw));
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(data))),
            (gw, false),
        ))
    });
    let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A report directory's name: one path component, no dots at the start.
fn report_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then_some(name)
}

/// `GET /admin/reports`: the bench runs under `[server] reports_dir`,
/// newest first.
pub fn reports(gw: &Gateway) -> Response<Body> {
    let g = gw.current();
    let Some(dir) = &g.config.server.reports_dir else {
        return json_response(
            StatusCode::OK,
            br#"{"reports":[],"configured":false}"#.to_vec(),
        );
    };
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if report_name(&name).is_none() {
                continue;
            }
            let summary = e.path().join("summary.json");
            let Ok(text) = crate::config::read_text_capped(&summary, 16 << 20) else {
                continue;
            };
            let Ok(s) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let decisions: Vec<serde_json::Value> = s["task_types"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| {
                            let d = t.get("decision")?;
                            Some(json!({"task": t["task"], "model": d["model"], "savings": d["savings"], "baseline": d["baseline"]}))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(json!({
                "name": name,
                "started_at": s["started_at"],
                "dataset": s["dataset"],
                "tasks": s["tasks"],
                "spend_usd": s["spend_usd"],
                "targets": s["targets"],
                "stopped": s["stopped"],
                "decisions": decisions,
                "has_report": e.path().join("report.html").is_file(),
            }));
        }
    }
    out.sort_by(|a, b| b["started_at"].as_str().cmp(&a["started_at"].as_str()));
    json_response(
        StatusCode::OK,
        json!({"reports": out, "configured": true})
            .to_string()
            .into_bytes(),
    )
}

/// `GET /admin/reports/NAME/report.html`.
pub fn report(gw: &Gateway, rest: &str) -> Response<Body> {
    let not_found = || {
        error_response(&ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "No such report.",
        ))
    };
    let g = gw.current();
    let (Some(dir), Some(name)) = (
        &g.config.server.reports_dir,
        rest.strip_suffix("/report.html").and_then(report_name),
    ) else {
        return not_found();
    };
    match crate::config::read_text_capped(&dir.join(name).join("report.html"), 64 << 20) {
        Ok(html) => {
            let mut r = Response::new(full(html.into_bytes()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_param(Some("a=1&scope=route%3Amain"), "scope"),
            Some("route%3Amain")
        );
        assert_eq!(decode("route%3Amain+x"), "route:main x");
        assert_eq!(decode("bad%zz%"), "bad%zz%");
    }

    #[test]
    fn report_names_are_one_plain_component() {
        assert_eq!(report_name("run-1"), Some("run-1"));
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "%2e%2e"] {
            assert_eq!(report_name(bad), None, "{bad}");
        }
    }
}
