//! Checks on a canonical request the ingress parsers accepted: every field
//! the gateway later parses again as JSON (adapters do, with
//! `parse_json_text`, and refuse the request when it is not JSON) holds
//! JSON text, so an accepted request never turns into a bad request further
//! down the path.

use serde_json::Value;
use switchyard::canonical::{ChatRequest, Content, ContentPart, ResponseFormat};

fn json(text: &str, what: &str) -> Value {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("{what} is not JSON ({e}): {text:?}"),
    }
}

fn object(text: &Option<String>, what: &str) {
    if let Some(t) = text {
        assert!(json(t, what).is_object(), "{what} is not an object: {t:?}");
    }
}

/// Assert what an accepted body and its canonical request must satisfy.
pub fn check_accepted(body: &[u8], req: &ChatRequest, dialect: &str) {
    assert!(
        serde_json::from_slice::<Value>(body).is_ok(),
        "a body that is not JSON was accepted"
    );
    assert!(!req.messages.is_empty(), "a request without messages");
    assert_eq!(req.dialect, dialect);
    object(&req.extra_json, "request extra fields");
    for m in &req.messages {
        object(&m.extra_json, "message extra fields");
        if let Some(Content::Parts(parts)) = &m.content {
            for p in parts {
                if let ContentPart::OtherJson(j) = p {
                    json(j, "a content part");
                }
            }
        }
    }
    for t in &req.tools {
        if let Some(p) = &t.parameters_json {
            json(p, "tool parameters");
        }
    }
    if let Some(ResponseFormat::JsonSchema(s)) = &req.response_format
        && let Some(schema) = &s.schema_json
    {
        json(schema, "response_format schema");
    }
}
