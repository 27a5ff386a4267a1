//! The request log in the admin API: `GET /admin/requests` (the newest
//! records, filtered), `GET /admin/requests/ID` (one record with its
//! attempts) and `GET /admin/spend` (totals by key, model, route or day).
//! Reads the log's store; the admin key was checked by dispatch. A request
//! whose log is off gets a 503 that says why.

use http::{Response, StatusCode};

use super::{Body, error_response, json_response};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::ledger::log::{Query, SpendBy, Store};
use crate::ledger::{now_ms, since_ms};

/// Most records one `GET /admin/requests` returns.
const MAX_LIMIT: usize = 1000;

fn bad(message: String) -> Response<Body> {
    error_response(&ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message,
    ))
}

fn store(gw: &Gateway) -> Result<Store, ApiError> {
    gw.ledger
        .log_or_why()
        .map(|l| l.store().clone())
        .map_err(|why| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", why)
                .code("request_log_off")
        })
}

fn store_error(e: &anyhow::Error) -> Response<Body> {
    error_response(
        &ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("The request log cannot answer: {e:#}"),
        )
        .code("request_log_unavailable"),
    )
}

fn params(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `GET /admin/requests?limit=&since=&route=&model=&key=&status=`.
pub async fn list(gw: &Gateway, query: Option<&str>) -> Response<Body> {
    let mut q = Query {
        limit: 100,
        ..Query::default()
    };
    for (k, v) in params(query) {
        match k.as_str() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                _ => {
                    return bad(format!(
                        "limit must be between 1 and {MAX_LIMIT}, not `{v}`"
                    ));
                }
            },
            "since" => match since_ms(&v, now_ms()) {
                Ok(ms) => q.since_ms = Some(ms),
                Err(e) => return bad(format!("since: {e}")),
            },
            "route" => q.route = Some(v),
            "model" => q.model = Some(v),
            "key" => q.key = Some(v),
            "status" => q.status = Some(v),
            other => {
                return bad(format!(
                    "unknown parameter `{other}` (limit, since, route, model, key, status)"
                ));
            }
        }
    }
    let store = match store(gw) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    match store.list(&q).await {
        Ok(records) => {
            let body = serde_json::json!({ "requests": records });
            json_response(StatusCode::OK, body.to_string().into_bytes())
        }
        Err(e) if q.status.is_some() && e.to_string().contains("status") => bad(format!("{e:#}")),
        Err(e) => store_error(&e),
    }
}

/// `GET /admin/requests/ID`.
pub async fn one(gw: &Gateway, id: &str) -> Response<Body> {
    let store = match store(gw) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    match store.get(id).await {
        Ok(Some(r)) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&r).unwrap_or_else(|_| b"{}".to_vec()),
        ),
        Ok(None) => error_response(
            &ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("No request `{id}` in the request log."),
            )
            .code("request_not_found"),
        ),
        Err(e) => store_error(&e),
    }
}

/// `GET /admin/spend?by=key|model|route|day&since=` (default: by key,
/// the last 30 days).
pub async fn spend(gw: &Gateway, query: Option<&str>) -> Response<Body> {
    let mut by = SpendBy::Key;
    let mut since = now_ms().saturating_sub(30 * 86_400_000);
    for (k, v) in params(query) {
        match k.as_str() {
            "by" => match v.parse::<SpendBy>() {
                Ok(b) => by = b,
                Err(_) => return bad(format!("by must be key, model, route or day, not `{v}`")),
            },
            "since" => match since_ms(&v, now_ms()) {
                Ok(ms) => since = ms,
                Err(e) => return bad(format!("since: {e}")),
            },
            other => return bad(format!("unknown parameter `{other}` (by, since)")),
        }
    }
    let store = match store(gw) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    match store.spend(by, since).await {
        Ok(rows) => {
            let body = serde_json::json!({ "since_ms": since, "spend": rows });
            json_response(StatusCode::OK, body.to_string().into_bytes())
        }
        Err(e) => store_error(&e),
    }
}
