//! Shared code of the first-party provider adapters.
//!
//! The canonical types of the plugin contract are bound here once; adapters
//! map them into their own bindings with wit-bindgen's `with` (which
//! [`plugin!`] does), so code written over them is shared rather than copied:
//!
//! ```ignore
//! adapter_kit::plugin!(OpenAi);
//! ```
//!
//! - [`embed`]: the embeddings wire formats (OpenAI, Gemini, Bedrock);
//! - [`openai`]: the OpenAI chat-completions dialect (the `openai` and
//!   `azure-openai` adapters);
//! - [`stream`]: stream decoders ([`Decode`]), those of SSE streams of JSON
//!   events, and [`stream_decoder!`] for the adapter's `stream-decoder`
//!   resource;
//! - helpers for typed errors, options and response headers, and for the
//!   translation every non-OpenAI dialect does (message text, tool arguments
//!   and schemas, assistant messages, refusing what the API cannot express);
//! - `testing` (feature `testing`): helpers for the adapters' golden tests.
//!
//! Nothing here calls a host import, so all of it runs in native tests.

/// The contract's canonical types (`wit/types.wit`), bound once for every
/// adapter.
// Generated code: wit-bindgen gives its modules no docs, and not every field
// and case of types.wit has one; the workspace's `missing_docs` would refuse
// them.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package switchyard:adapter-kit;
            world types-only {
                import switchyard:plugin/types@0.2.0;
            }
        ",
        path: "../../../wit",
        with: { "switchyard:plugin/types@0.2.0": generate },
        generate_unused_types: true,
    });
}

/// Generates an adapter crate's bindings of the `adapter-plugin` world, with
/// the canonical types mapped to [`types`], and exports `$adapter` (the
/// type implementing its `Guest`) as the component's implementation. Invoke
/// it once, at the root of an adapter crate under `plugins/<kind>/` (the WIT
/// path is relative to the crate's manifest):
///
/// ```ignore
/// adapter_kit::plugin!(OpenAi);
/// ```
///
/// An adapter that also embeds text targets the `embedding-adapter-plugin`
/// world instead, and implements its `embeddings` export with
/// [`embeddings!`]:
///
/// ```ignore
/// adapter_kit::plugin!(OpenAi, embeddings);
/// ```
///
/// The bindings' `exports` and `switchyard` modules are then in scope at the
/// crate root, where [`stream_decoder!`] expects them.
#[macro_export]
macro_rules! plugin {
    ($adapter:ident) => {
        $crate::plugin!(@world "adapter-plugin", $adapter);
    };
    ($adapter:ident, embeddings) => {
        $crate::plugin!(@world "embedding-adapter-plugin", $adapter);
    };
    (@world $world:literal, $adapter:ident) => {
        /// The adapter world's bindings, generated from `wit/`.
        // Generated code, and only it, is exempt from two workspace lints:
        // wit-bindgen gives its items no docs, and `export!` expands to the
        // ABI glue the component model calls (`unsafe extern "C"` functions
        // under `#[unsafe(export_name)]`), which has no safe spelling.
        #[allow(missing_docs, unsafe_code)]
        mod bindings {
            ::wit_bindgen::generate!({
                world: $world,
                path: "../../../wit",
                with: { "switchyard:plugin/types@0.2.0": ::adapter_kit::types },
            });

            // The component's exports exist only in the wasm build. Natively
            // (unit tests, and the fuzz targets in fuzz/, which link adapters
            // as rlibs) the crate is a plain library: the exported symbols'
            // names (`…/adapter@0.2.0#…`) are not valid in a native shared
            // object's version script.
            #[cfg(target_arch = "wasm32")]
            use super::$adapter;
            #[cfg(target_arch = "wasm32")]
            export!($adapter);
        }

        use bindings::*;
    };
}

/// Implements the `embeddings` export of an adapter built with
/// `plugin!($adapter, embeddings)` over two functions of plain values:
/// `$build(texts: embed::Texts, target: Target) -> Result<HttpRequest,
/// ProviderError>` and `$parse(resp: HttpResponse, texts: embed::Texts,
/// target: Target) -> Result<embed::Vectors, ProviderError>`. `texts.model`
/// is the target's upstream model name.
#[macro_export]
macro_rules! embeddings {
    ($adapter:ident, $build:path, $parse:path) => {
        impl exports::switchyard::plugin::embeddings::Guest for $adapter {
            fn build_embeddings_request(
                req: exports::switchyard::plugin::embeddings::EmbeddingsRequest,
                target: $crate::types::Target,
            ) -> Result<$crate::types::HttpRequest, $crate::types::ProviderError> {
                let texts = $crate::embed::Texts {
                    model: target.upstream_model.clone(),
                    input: req.input,
                    dimensions: req.dimensions,
                    user: req.user,
                };
                $build(texts, target)
            }

            fn parse_embeddings_response(
                resp: $crate::types::HttpResponse,
                req: exports::switchyard::plugin::embeddings::EmbeddingsRequest,
                target: $crate::types::Target,
            ) -> Result<
                exports::switchyard::plugin::embeddings::EmbeddingsResponse,
                $crate::types::ProviderError,
            > {
                let texts = $crate::embed::Texts {
                    model: target.upstream_model.clone(),
                    input: req.input,
                    dimensions: req.dimensions,
                    user: req.user,
                };
                let v = $parse(resp, texts, target)?;
                Ok(
                    exports::switchyard::plugin::embeddings::EmbeddingsResponse {
                        embeddings: v.embeddings,
                        model: v.model,
                        prompt_tokens: v.prompt_tokens,
                    },
                )
            }
        }
    };
}

pub mod embed;
pub mod openai;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use bindings::switchyard::plugin::types;
pub use stream::Decode;

use serde_json::{Value, json};
use types::{
    ChatRequest, Content, ContentPart, ErrorKind, Message, ProviderError, ResponseFormat, Role,
    ToolCall,
};

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

/// [`FEATURES`] but `missing`, as the owned list `adapter-info` takes.
pub fn features_without(missing: &[&str]) -> Vec<String> {
    FEATURES
        .iter()
        .filter(|f| !missing.contains(f))
        .map(|f| (*f).to_owned())
        .collect()
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
/// Values that are not finite numbers (`inf`, `NaN`) are no hint.
pub fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    let number = |name| {
        header(headers, name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite())
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(ms.max(0.0) as u64);
    }
    number("retry-after").map(|s| (s.max(0.0) * 1000.0) as u64)
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

/// A bad-request error for what `api` (e.g. "the Anthropic Messages API")
/// cannot express, with the code `unsupported_parameter`: the router then
/// tries a model that supports it.
pub fn unsupported(api: &str, what: &str) -> ProviderError {
    let mut e = err(
        ErrorKind::BadRequest,
        format!("{what} is not supported by {api}"),
    );
    e.code = Some("unsupported_parameter".into());
    e
}

/// Refuse `n > 1` and the JSON `response_format` modes, for APIs with one
/// choice per answer and no JSON mode (see [`unsupported`]).
pub fn refuse_n_and_json(req: &ChatRequest, api: &str) -> Result<(), ProviderError> {
    if req.n.unwrap_or(1) > 1 {
        return Err(unsupported(api, "`n` greater than 1"));
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => Err(unsupported(api, "`response_format` json_object")),
        Some(ResponseFormat::JsonSchema(_)) => {
            Err(unsupported(api, "`response_format` json_schema"))
        }
        _ => Ok(()),
    }
}

/// The text of a content: the string, or its text parts joined with `sep`.
pub fn content_text(c: &Content, sep: &str) -> String {
    match c {
        Content::Text(t) => t.clone(),
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(sep),
    }
}

/// A tool call's arguments as the JSON object APIs with structured tool
/// input (Anthropic's `input`, Converse's `toolUse.input`) want; arguments
/// that are not a JSON object become `{}`. It lives in `anthropic-wire`, so
/// that the host's Anthropic dialect uses the same function.
pub use anthropic_wire::tool_input;

/// The media type and data of a base64 `data:` URL
/// (`data:<media type>;base64,<data>`), the data still encoded; `None` for
/// any other URL, a `data:` URL that is not base64 included.
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// A tool's parameter schema; none, or one that is not JSON, becomes the
/// schema of an object without properties.
pub fn tool_schema(parameters_json: Option<&str>) -> Value {
    parameters_json
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}))
}

/// The assistant message of an answer: its text (left out when empty and
/// there are tool calls) and tool calls.
pub fn assistant_message(text: String, tool_calls: Vec<ToolCall>) -> Message {
    Message {
        role: Role::Assistant,
        content: (!text.is_empty() || tool_calls.is_empty()).then_some(Content::Text(text)),
        name: None,
        tool_calls,
        tool_call_id: None,
        extra_json: None,
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
        assert_eq!(retry_after_ms(&h("retry-after", "inf")), None);
        assert_eq!(retry_after_ms(&h("retry-after-ms", "NaN")), None);
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/jpeg;base64,/9j/4AAQ"),
            Some(("image/jpeg", "/9j/4AAQ"))
        );
        assert_eq!(parse_data_url("data:;base64,AAAA"), Some(("", "AAAA")));
        assert_eq!(parse_data_url("https://x/y.png"), None);
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
        assert_eq!(parse_data_url("data:image/png;base64"), None);
    }

    #[test]
    fn translation_helpers() {
        let parts = Content::Parts(vec![
            ContentPart::Text("a".into()),
            ContentPart::OtherJson("{}".into()),
            ContentPart::Text("b".into()),
        ]);
        assert_eq!(content_text(&parts, "\n"), "a\nb");
        assert_eq!(content_text(&Content::Text("t".into()), ""), "t");
        assert_eq!(tool_schema(Some("nope"))["type"], "object");
        let m = assistant_message(String::new(), vec![]);
        assert!(matches!(m.content, Some(Content::Text(t)) if t.is_empty()));
        assert_eq!(
            features_without(&["json-object", "json-schema", "n"]),
            ["stream", "tools", "images", "usage"]
        );
        let e = unsupported("the X API", "`n` greater than 1");
        assert_eq!(
            e.message,
            "`n` greater than 1 is not supported by the X API"
        );
        assert_eq!(e.code.as_deref(), Some("unsupported_parameter"));
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
