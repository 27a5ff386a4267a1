//! Ingress: the HTTP server and the client's side of every exchange. It
//! accepts connections ([`server`]), sends each request to its endpoint
//! ([`dispatch`]), reads and checks bodies ([`body`], [`input`]), parses a
//! dialect into the canonical request and renders canonical answers back
//! ([`openai`], [`anthropic`], [`responses`]: JSON bodies, SSE streams,
//! error JSON), and serves the chat endpoints ([`chat`]: keys, limits,
//! routing, accounting), `/v1/embeddings` ([`embeddings`]),
//! `/v1/models` ([`models`]), `/metrics` ([`metrics`]) and the admin API
//! ([`admin`], [`requests`], [`quality`]) with the operator page that reads it
//! ([`ui`]). Every answer carries its [`request_id`].
//!
//! Everything below this module sees canonical values only: no module under
//! it knows a client's framing or dialect, and this module never talks to an
//! upstream or a plugin itself.

pub mod admin;
pub mod anthropic;
pub mod body;
pub mod cached;
pub mod chat;
pub mod dispatch;
pub mod embeddings;
pub mod feedback;
pub mod input;
pub mod metrics;
pub mod models;
pub mod openai;
pub mod quality;
pub mod request_id;
pub mod requests;
pub mod responses;
pub mod server;
pub mod ui;

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};

use self::request_id::RequestId;
pub use self::server::{bind, serve};
use crate::error::ApiError;

/// A response body: whole, or a stream of SSE frames.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The API dialect a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic messages.
    Anthropic,
    /// The OpenAI Responses API.
    Responses,
}

impl Dialect {
    /// The dialect's name in request records.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Responses => "responses",
        }
    }
}

pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    dialect_error(e, Dialect::OpenAi)
}

pub(crate) fn dialect_error(e: &ApiError, dialect: Dialect) -> Response<Body> {
    let id = RequestId::current();
    let body = match dialect {
        // The id of the request being handled, so a client can quote it.
        Dialect::OpenAi | Dialect::Responses => e.openai_body(id.as_ref().map(RequestId::as_str)),
        Dialect::Anthropic => anthropic::error_body(e, id.as_ref().map(RequestId::as_str)),
    };
    let mut r = json_response(e.status, body);
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
