//! Shared code of the first-party provider adapters.
//!
//! The canonical types of the plugin contract are bound here once; adapters
//! map them into their own bindings with wit-bindgen's `with`, so code written
//! over them is shared rather than copied:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     world: "adapter-plugin",
//!     path: "../../wit",
//!     with: { "switchyard:plugin/types@0.1.0": adapter_kit::types },
//! });
//! ```
//!
//! - [`openai`]: the OpenAI chat-completions dialect (the `openai` and
//!   `azure-openai` adapters);
//! - [`stream`]: stream decoders ([`Decode`]), those of SSE streams of JSON
//!   events, and [`stream_decoder!`] for the adapter's `stream-decoder`
//!   resource;
//! - helpers for typed errors, options and response headers;
//! - `testing` (feature `testing`): helpers for the adapters' golden tests.
//!
//! Nothing here calls a host import, so all of it runs in native tests.

wit_bindgen::generate!({
    inline: "
        package switchyard:adapter-kit;
        world types-only {
            import switchyard:plugin/types@0.1.0;
        }
    ",
    path: "../../wit",
    with: { "switchyard:plugin/types@0.1.0": generate },
    generate_unused_types: true,
});

pub mod openai;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use stream::Decode;
pub use switchyard::plugin::types;

use serde_json::Value;
use types::{ErrorKind, ProviderError};

/// The features (`adapter-info.features`) of an adapter that translates
/// everything of the canonical request.
pub const FEATURES: &[&str] = &[
    "stream",
    "tools",
    "images",
    "json-object",
    "json-schema",
    "n",
    "usage",
];

/// [`FEATURES`] as the owned list `adapter-info` takes.
pub fn features() -> Vec<String> {
    FEATURES.iter().map(|f| (*f).to_owned()).collect()
}

/// A typed error without status, retry hint or code.
pub fn err(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError {
        kind,
        message: message.into(),
        status: None,
        retry_after_ms: None,
        code: None,
    }
}

/// Parse an optional JSON text of the request; invalid JSON is a bad request
/// naming `what`.
pub fn parse_json_text(text: &Option<String>, what: &str) -> Result<Option<Value>, ProviderError> {
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(t).map(Some).map_err(|e| {
            err(
                ErrorKind::BadRequest,
                format!("{what} is not valid JSON: {e}"),
            )
        }),
    }
}

/// The provider options of a target as a JSON value (`Null` when absent or
/// not JSON).
pub fn options_value(options_json: Option<&str>) -> Value {
    options_json
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or(Value::Null)
}

/// The `headers` option: extra request headers with string values.
pub fn option_headers(options: &Value) -> Vec<(String, String)> {
    options
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of a response header, by case-insensitive name.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Retry-After in milliseconds: `retry-after-ms`, or `retry-after` in seconds.
pub fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(ms.max(0.0) as u64);
    }
    header(headers, "retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| (s.max(0.0) * 1000.0) as u64)
}

/// Percent-encode a URL path segment or query value: everything but the
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The message of an error whose body says nothing usable: the body's text
/// (at most 500 characters), or the status.
pub fn body_message(status: Option<u16>, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("upstream answered {}", status.unwrap_or(0))
    } else {
        text.chars().take(500).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_owned(), v.to_owned())]
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        assert_eq!(retry_after_ms(&h("Retry-After", "3")), Some(3000));
        assert_eq!(retry_after_ms(&h("retry-after-ms", "250.5")), Some(250));
        assert_eq!(retry_after_ms(&h("retry-after", "soon")), None);
        assert_eq!(retry_after_ms(&[]), None);
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("gpt-4o_mini.v1~x"), "gpt-4o_mini.v1~x");
        assert_eq!(encode_component("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }

    #[test]
    fn body_message_falls_back_to_the_status() {
        assert_eq!(body_message(Some(502), b"  "), "upstream answered 502");
        assert_eq!(body_message(Some(502), b" bad gateway\n"), "bad gateway");
        assert_eq!(body_message(None, &[b'x'; 600]).len(), 500);
    }

    #[test]
    fn options_and_headers() {
        let o = options_value(Some(r#"{"headers":{"A":"b","n":1}}"#));
        assert_eq!(option_headers(&o), vec![("A".to_owned(), "b".to_owned())]);
        assert!(options_value(Some("nope")).is_null());
        assert!(option_headers(&options_value(None)).is_empty());
    }
}
