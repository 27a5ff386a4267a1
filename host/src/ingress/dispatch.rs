//! URL dispatch: method and path to endpoint, the admin key checked before
//! any admin endpoint or `/metrics`, and the errors for unknown paths and
//! methods. Holds no endpoint logic.
//! It never reads a body.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{
    Body, Dialect, admin, chat, error_response, feedback, json_response, models, quality, requests,
    ui,
};
use crate::error::ApiError;
use crate::gateway::Gateway;

/// The response to one request, from the endpoint its method and path name.
pub async fn dispatch(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => chat::chat(gw, req, Dialect::OpenAi).await,
        (&Method::POST, "/v1/messages") => chat::chat(gw, req, Dialect::Anthropic).await,
        (&Method::POST, "/v1/responses" | "/responses") => chat::chat(gw, req, Dialect::Responses).await,
        (&Method::POST, "/v1/embeddings" | "/embeddings") => super::embeddings::embeddings(gw, req).await,
        (&Method::GET, "/v1/models" | "/models") => models::models(gw, req.headers()),
        (&Method::POST, "/v1/feedback") => feedback::feedback(gw, req).await,
        (&Method::GET, path) if path == "/ui" || path.starts_with("/ui/") => match ui::asset(path) {
            Some(r) => r,
            None => error_response(&ApiError::new(StatusCode::NOT_FOUND, "not_found_error", format!("No page at {path}."))),
        },
        (&Method::GET, "/healthz") => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
        (_, path) if (path.starts_with("/admin/") || path == "/metrics") && let Err(e) = gw.current().keys.admin(req.headers()) => {
            error_response(&e)
        }
        (&Method::GET, "/metrics") => admin::metrics(gw),
        (&Method::GET, "/admin/plugins") => admin::plugins(gw),
        (&Method::GET, "/admin/requests") => requests::list(gw, req.uri().query()).await,
        (&Method::GET, path) if let Some(id) = path.strip_prefix("/admin/requests/") => requests::one(gw, id).await,
        (&Method::GET, "/admin/spend") => requests::spend(gw, req.uri().query()).await,
        (&Method::POST, "/admin/reload") => admin::reload(gw).await,
        (&Method::GET, "/admin/stats") => ui::stats(gw, req.uri().query()).await,
        (&Method::GET, "/admin/events") => ui::events(gw.clone()),
        (&Method::GET, "/admin/reports") => ui::reports(gw),
        (&Method::GET, path) if let Some(rest) = path.strip_prefix("/admin/reports/") => ui::report(gw, rest),
        (&Method::GET, "/admin/alerts") => quality::alerts(gw),
        (&Method::GET, "/admin/quality") => quality::quality(gw),
        (&Method::GET, "/admin/shadow") => json_response(StatusCode::OK, gw.ledger.shadows.report().to_string().into_bytes()),
        (&Method::POST, "/admin/quality/baseline") => quality::reset_baseline(gw, req).await,
        (&Method::GET, "/admin/keys") => {
            let generation = gw.current();
            match gw.limiter.usage(&generation.quotas).await {
                Ok(v) => json_response(StatusCode::OK, v.to_string().into_bytes()),
                Err(e) => error_response(&e),
            }
        }
        (_, "/v1/chat/completions" | "/v1/messages" | "/v1/responses" | "/v1/embeddings" | "/v1/models" | "/v1/feedback" | "/healthz" | "/metrics") => error_response(&ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{} is not allowed on {}.", req.method(), req.uri().path()),
        )),
        (_, path) => error_response(
            &ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("Unknown path {path}. Switchyard serves POST /v1/chat/completions, POST /v1/messages, POST /v1/responses, POST /v1/embeddings and GET /v1/models."),
            )
            .code("unknown_url"),
        ),
    }
}
