//! Checks of a request's envelope that every `/v1` endpoint shares: the
//! client key (before the body is read: an unknown caller costs nothing
//! more), the content type, the body read deadline and the `model` name.
//! They run before the router, so nothing they refuse reaches a policy or
//! an adapter.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::Body;
use super::body::read_body;
use crate::error::ApiError;
use crate::generation::Generation;
use crate::keys::ClientKey;
use crate::ledger::Pending;

/// A request's envelope, checked.
pub struct Envelope {
    /// The caller's key (`None` when the gateway has no keys).
    pub caller: Option<Arc<ClientKey>>,
    /// The request head.
    pub parts: http::request::Parts,
    /// The whole body.
    pub body: Bytes,
}

/// Authenticate the caller (noting its key on the record), check the
/// content type, and read the body within `[server]`'s size cap and read
/// deadline. A refusal is `fail(pending, error)`'s answer; a body that did
/// not arrive in time also closes the connection (the rest of it may still
/// be on its way).
pub async fn envelope(
    generation: &Generation,
    pending: &mut Pending,
    req: Request<Incoming>,
) -> Result<Envelope, (ApiError, bool)> {
    let caller = generation
        .keys
        .authenticate(req.headers())
        .map_err(|e| (e, false))?;
    if let Some(key) = &caller {
        pending.set_key(key);
    }
    content_type(req.headers()).map_err(|e| (e, false))?;
    let server = &generation.config.server;
    let timeout = std::time::Duration::from_millis(server.body_read_timeout_ms);
    match tokio::time::timeout(timeout, read_body(req, server.max_body_bytes)).await {
        Ok(Ok((parts, body))) => Ok(Envelope {
            caller,
            parts,
            body,
        }),
        Ok(Err(e)) => Err((e, false)),
        Err(_) => Err((body_timeout(server.body_read_timeout_ms), true)),
    }
}

/// The answer to a refused envelope: `answer` (the dialect's error), with
/// `Connection: close` when `close`.
pub fn refused(mut answer: Response<Body>, close: bool) -> Response<Body> {
    if close {
        answer
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    answer
}

/// The body must be JSON. OpenAI answers a form-encoded or text body with a
/// 400 `invalid_request_error` (it does not parse it as JSON), so a wrong
/// `Content-Type` is a 400 here too, in the client's dialect. A missing
/// `Content-Type` is accepted (some clients send none).
pub fn content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = v
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"))
    {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "Invalid Content-Type `{}`: send the request body as JSON with `Content-Type: application/json`.",
        String::from_utf8_lossy(v.as_bytes())
    ))
    .code("invalid_content_type"))
}

/// 408 for a body that did not arrive in time.
pub fn body_timeout(ms: u64) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request_error",
        format!("The request body did not arrive within {ms} ms (server.body_read_timeout_ms)."),
    )
    .code("request_timeout")
}

/// Model names reach policies and logs, and a model's name may become part
/// of an upstream URL, so refuse what could bend one: control characters
/// (CR/LF among them), whitespace, backslashes, `?` and `#`, and `.`/`..`
/// path segments. Slashes, colons and dots stay: real model names carry them
/// (`meta-llama/Llama-3-8b` on OpenAI-compatible providers, Bedrock's
/// `anthropic.claude-3-haiku-20240307-v1:0`).
pub fn model_name(model: &str) -> Result<(), ApiError> {
    let bad = |why: &str| {
        Err(ApiError::invalid(format!("Invalid model name: {why}."))
            .param("model")
            .code("invalid_model_name"))
    };
    if model.is_empty() {
        return bad("it is empty");
    }
    if model.len() > 256 {
        return bad("it is longer than 256 bytes");
    }
    if let Some(c) = model
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '?' | '#' | '%'))
    {
        return bad(&format!(
            "it contains {}",
            match c {
                '\r' => "a carriage return".to_owned(),
                '\n' => "a line feed".to_owned(),
                c if c.is_control() => format!("the control character U+{:04X}", c as u32),
                c if c.is_whitespace() => "whitespace".to_owned(),
                c => format!("`{c}`"),
            }
        ));
    }
    if model.split('/').any(|seg| seg == ".." || seg == ".") {
        return bad("it contains a `.` or `..` path segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names() {
        for ok in [
            "gpt-4o-mini",
            "meta-llama/Llama-3-8b",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "models/gemini-2.5-flash",
            "a..b",
        ] {
            assert!(model_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a\r\nx-evil: 1",
            "a\nb",
            "../../admin",
            "a/../b",
            "a/./b",
            "..",
            "a b",
            "a\tb",
            "a\\b",
            "a?x=1",
            "a#f",
            "a%2f..",
            "a\u{0}b",
            "a\u{85}b",
        ] {
            let e = model_name(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.param.as_deref(), Some("model"));
        }
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(content_type(&h).is_ok());
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/vnd.api+json",
        ] {
            h.insert(header::CONTENT_TYPE, ok.parse().unwrap());
            assert!(content_type(&h).is_ok(), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            h.insert(header::CONTENT_TYPE, bad.parse().unwrap());
            assert!(content_type(&h).is_err(), "{bad}");
        }
    }
}
