//! `GET /v1/models`: the routes and models a client may name as `model`;
//! with client keys configured, only for a key, and only what that key may
//! use.
//! It never shows another key's models, nor any key.

use http::{Response, StatusCode};

use super::{Body, error_response, json_response};
use crate::gateway::Gateway;

/// `GET /v1/models`: with client keys configured, only for a key, and only
/// what that key may use.
pub fn models(gw: &Gateway, headers: &http::HeaderMap) -> Response<Body> {
    let generation = gw.current();
    let caller = match generation.keys.authenticate(headers) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let created = generation
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut data: Vec<serde_json::Value> = Vec::new();
    let mut names: Vec<(&String, &str)> = generation
        .routes
        .keys()
        .map(|k| (k, "switchyard-route"))
        .collect();
    names.extend(
        generation
            .models
            .iter()
            .map(|(k, m)| (k, m.provider_name.as_str())),
    );
    names.sort();
    if let Some(key) = &caller {
        names.retain(|(id, _)| key.allows(id));
    }
    for (id, owner) in names {
        data.push(
            serde_json::json!({"id": id, "object": "model", "created": created, "owned_by": owner}),
        );
    }
    let body = serde_json::json!({"object": "list", "data": data});
    json_response(StatusCode::OK, body.to_string().into_bytes())
}
