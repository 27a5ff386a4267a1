//! The admin API: `GET /admin/plugins` (the current generation's plugins,
//! their error counters and the reloads' outcome), `POST /admin/reload`,
//! `GET /admin/keys` (each key's use of its limits), and the `/metrics`
//! response. Read-only except for the reload trigger; the admin key was
//! checked by dispatch before any of these runs.
//! It never changes a generation except through the reload pipeline.

use http::{Response, StatusCode};

use super::{Body, error_response, full, json_response};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::runtime::PluginSource;

/// `GET /metrics`: Prometheus text exposition.
pub fn metrics(gw: &Gateway) -> Response<Body> {
    match super::metrics::render(gw) {
        Ok(text) => {
            let mut r = Response::new(full(text.into_bytes()));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Err(e) => error_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("could not render metrics: {e}"),
        )),
    }
}

/// `GET /admin/plugins`: every plugin of the current generation and the
/// outcome of the last reload.
pub fn plugins(gw: &Gateway) -> Response<Body> {
    let generation = gw.current();
    let status = gw.reload_status();
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let mut plugins: Vec<serde_json::Value> = generation
        .plugins
        .iter()
        .map(|(name, p)| {
            let source = match &p.source {
                PluginSource::Embedded => serde_json::json!("embedded"),
                PluginSource::File(f) => serde_json::json!(f.display().to_string()),
            };
            serde_json::json!({
                "name": name,
                "kind": p.kind.as_str(),
                "source": source,
                "sha256": p.sha256,
                "wit_version": p.wit_version,
                "language": p.language,
                "generation": status.plugin_generation.get(name).copied().unwrap_or(generation.id),
                "loaded_at": secs(p.loaded_at),
                "last_error": status.plugin_errors.get(name).or_else(|| generation.plugin_errors.get(name)),
                "errors": gw.router.stats.plugin(name).to_json(),
            })
        })
        .collect();
    // Refused plugins with no older version serving still show up.
    for (name, why) in &status.plugin_errors {
        if !generation.plugins.contains_key(name) {
            plugins.push(
                serde_json::json!({"name": name, "kind": null, "source": null, "last_error": why}),
            );
        }
    }
    let body = serde_json::json!({
        "generation": generation.id,
        "generation_loaded_at": secs(generation.loaded_at),
        "plugins": plugins,
        "reloads": {"succeeded": status.succeeded, "failed": status.failed,
                    "plugins_refused": status.plugins_refused, "last_error": status.last_error},
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// `POST /admin/reload`: run the reload pipeline now.
pub async fn reload(gw: &Gateway) -> Response<Body> {
    let Some(reloader) = gw.reloader.get() else {
        return error_response(&ApiError::internal("the reload task is not running"));
    };
    match reloader.reload().await {
        Ok(id) => {
            let status = gw.reload_status();
            let body = serde_json::json!({"generation": id, "refused": status.plugin_errors});
            json_response(StatusCode::OK, body.to_string().into_bytes())
        }
        Err(why) => error_response(
            &ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                format!(
                    "Reload refused; generation {} keeps serving: {why}",
                    gw.current().id
                ),
            )
            .code("reload_refused"),
        ),
    }
}
