//! Request bodies: read within the size cap (413 beyond, checked against
//! `Content-Length` before reading), and parsed into a dialect's types with
//! errors that name the field at fault, in the dialect's own wording.
//! Refuses invalid UTF-8 anywhere in a body. Never interprets what it parses.

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::error::ApiError;

/// Deserialize a request body of either dialect. Errors name the field at
/// fault; `hints` turn serde's wording for untagged enums into what to send
/// (pairs of a fragment of serde's message and the hint), and `spell` writes
/// a field error the dialect's way.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    hints: &[(&str, &str)],
    spell: fn(&str, &str) -> String,
) -> Result<T, ApiError> {
    // serde_json checks UTF-8 only in the strings it keeps: invalid bytes
    // inside an ignored value would pass (found by fuzz/ingress_*).
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            return Err(ApiError::invalid(format!(
                "The request body is not valid UTF-8 (at byte {}).",
                e.valid_up_to()
            )));
        }
    };
    // The common case, a good body, without tracking the path; a bad one is
    // parsed again with the path tracked, for an error naming the field.
    if let Ok(parsed) = serde_json::from_str(text) {
        return Ok(parsed);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(format!("The request body is not valid JSON: {inner}."))
        } else if path == "." || path.is_empty() {
            ApiError::invalid(format!("Invalid request body: {inner}."))
        } else {
            let msg = inner.to_string();
            let hint = hints
                .iter()
                .find(|(fragment, _)| msg.contains(fragment))
                .map_or(msg.as_str(), |(_, hint)| hint);
            ApiError::invalid(spell(&path, hint)).param(path)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("The request body is not valid JSON: {e}.")))?;
    Ok(parsed)
}

pub(crate) async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(http::request::Parts, Bytes), ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than this gateway's limit of {limit} bytes (server.max_body_bytes)."),
        )
        .code("request_too_large")
    };
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok((parts, b.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::invalid(format!(
            "Could not read the request body: {e}"
        ))),
    }
}
