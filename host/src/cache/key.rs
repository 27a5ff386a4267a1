//! The cache key: SHA-256 of a canonical serialization of the request —
//! the model or route it names, messages, tools, tool choice, response
//! format and sampling parameters, and whether it streams — with the
//! client key's cache scope and the stored form's version. JSON schemas
//! (tool parameters, response formats, dialect extras) are re-serialized
//! with sorted keys, so two clients spelling one request differently share
//! an answer. Left out: `metadata`, `user` and `stream_options`, which do
//! not change what the model is asked.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::canonical::{ChatRequest, Message, ResponseFormat, ToolChoice};

/// A request's cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

/// A tool as hashed: name, description, sorted schema, strict.
type ToolView<'a> = (&'a str, Option<&'a str>, Option<String>, Option<bool>);

/// What is hashed, borrowed from the request.
#[derive(Serialize)]
struct View<'a> {
    format: u32,
    scope: &'a str,
    model: &'a str,
    messages: &'a [Message],
    tools: Vec<ToolView<'a>>,
    tool_choice: &'a Option<ToolChoice>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<(&'a str, Option<String>)>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    stop: &'a [String],
    seed: Option<i64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    n: Option<u32>,
    stream: bool,
    extra: Option<(&'a str, String)>,
}

/// JSON text with its object keys sorted (serde_json's map is ordered);
/// text that is not JSON is kept as it is.
fn sorted(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => v.to_string(),
        Err(_) => json.to_owned(),
    }
}

/// Feeds serialized bytes straight into the hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Key {
    /// The key of `req` for a caller of cache scope `scope`.
    pub fn of(scope: &str, req: &ChatRequest) -> Key {
        let view = View {
            format: super::FORMAT,
            scope,
            model: &req.model,
            messages: &req.messages,
            tools: req
                .tools
                .iter()
                .map(|t| {
                    (
                        t.name.as_str(),
                        t.description.as_deref(),
                        t.parameters_json.as_deref().map(sorted),
                        t.strict,
                    )
                })
                .collect(),
            tool_choice: &req.tool_choice,
            parallel_tool_calls: req.parallel_tool_calls,
            response_format: req.response_format.as_ref().map(|f| match f {
                ResponseFormat::Text => ("text", None),
                ResponseFormat::JsonObject => ("json_object", None),
                ResponseFormat::JsonSchema(s) => (
                    "json_schema",
                    Some(format!(
                        "{}|{:?}|{:?}|{}",
                        s.name,
                        s.description,
                        s.strict,
                        s.schema_json.as_deref().map(sorted).unwrap_or_default()
                    )),
                ),
            }),
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            max_completion_tokens: req.max_completion_tokens,
            stop: &req.stop,
            seed: req.seed,
            frequency_penalty: req.frequency_penalty,
            presence_penalty: req.presence_penalty,
            n: req.n,
            stream: req.stream,
            // Extras are spelled in the client's dialect.
            extra: req
                .extra_json
                .as_deref()
                .map(|e| (req.dialect.as_str(), sorted(e))),
        };
        let mut w = HashWriter(Sha256::new());
        // Serializing plain data into a hash cannot fail; a failure would
        // only make the key miss.
        let _ = serde_json::to_writer(&mut w, &view);
        Key(w.0.finalize().into())
    }

    /// Lowercase hex, for Redis keys.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Content, Role, Tool};

    fn req(text: &str) -> ChatRequest {
        let mut r = ChatRequest::new(
            "m",
            vec![Message {
                role: Role::User,
                content: Some(Content::Text(text.into())),
                name: None,
                tool_calls: vec![],
                tool_call_id: None,
                extra_json: None,
            }],
        );
        r.temperature = Some(0.0);
        r
    }

    #[test]
    fn what_the_model_is_asked_makes_the_key() {
        let a = req("hello");
        assert_eq!(Key::of("s", &a), Key::of("s", &a.clone()));
        assert_ne!(Key::of("s", &a), Key::of("t", &a), "scopes never share");
        assert_ne!(Key::of("s", &a), Key::of("s", &req("hello!")));
        let mut b = a.clone();
        b.model = "other".into();
        assert_ne!(Key::of("s", &a), Key::of("s", &b));
        let mut b = a.clone();
        b.stream = true;
        assert_ne!(Key::of("s", &a), Key::of("s", &b));
        let mut b = a.clone();
        b.temperature = Some(0.5);
        assert_ne!(Key::of("s", &a), Key::of("s", &b));
        // Not part of what the model is asked.
        let mut b = a.clone();
        b.metadata = vec![("trace".into(), "1".into())];
        b.user = Some("u".into());
        b.include_usage = true;
        assert_eq!(Key::of("s", &a), Key::of("s", &b));
    }

    #[test]
    fn schemas_compare_by_content_not_spelling() {
        let tool = |schema: &str| Tool {
            name: "f".into(),
            description: None,
            parameters_json: Some(schema.into()),
            strict: None,
        };
        let mut a = req("x");
        a.tools = vec![tool(r#"{"type":"object","properties":{}}"#)];
        let mut b = req("x");
        b.tools = vec![tool(r#"{ "properties": {}, "type": "object" }"#)];
        assert_eq!(Key::of("", &a), Key::of("", &b));
    }
}
