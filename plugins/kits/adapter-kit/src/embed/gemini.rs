//! Gemini's `:embedContent` (one text) and `:batchEmbedContents` (several)
//! bodies and answers. Gemini reports no token usage for embeddings.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Texts, Vectors, bad_body, one_per_input};
use crate::types::ProviderError;

/// The method to call for `t`: `embedContent` for one text, else
/// `batchEmbedContents`.
pub fn method(t: &Texts) -> &'static str {
    if t.input.len() == 1 {
        "embedContent"
    } else {
        "batchEmbedContents"
    }
}

fn one(text: &str, resource: &str, dimensions: Option<u32>, batch: bool) -> Value {
    let mut r = json!({ "content": { "parts": [{ "text": text }] } });
    if batch {
        r["model"] = Value::from(resource);
    }
    if let Some(d) = dimensions {
        r["outputDimensionality"] = Value::from(d);
    }
    r
}

/// The body for [`method`]; `resource` is the model's resource name
/// (`models/…`), which each request of a batch repeats.
pub fn build_body(t: &Texts, resource: &str) -> Vec<u8> {
    let body = match t.input.as_slice() {
        [text] => one(text, resource, t.dimensions, false),
        many => json!({
            "requests": many
                .iter()
                .map(|text| one(text, resource, t.dimensions, true))
                .collect::<Vec<_>>()
        }),
    };
    body.to_string().into_bytes()
}

#[derive(Deserialize)]
struct Values {
    values: Vec<f32>,
}

#[derive(Deserialize)]
struct Answer {
    embedding: Option<Values>,
    embeddings: Option<Vec<Values>>,
}

/// Parse a 2xx answer of either method to a request of `inputs` texts.
pub fn parse(body: &[u8], inputs: usize) -> Result<Vectors, ProviderError> {
    let a: Answer = serde_json::from_slice(body).map_err(|e| bad_body("embedContent", e))?;
    let embeddings = match (a.embedding, a.embeddings) {
        (Some(one), _) => vec![one.values],
        (None, Some(many)) => many.into_iter().map(|v| v.values).collect(),
        (None, None) => return Err(bad_body("embedContent", "no `embedding(s)` field")),
    };
    one_per_input(
        Vectors {
            embeddings,
            model: None,
            prompt_tokens: None,
        },
        inputs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &[&str]) -> Texts {
        Texts {
            model: "text-embedding-004".into(),
            input: input.iter().map(|s| (*s).to_owned()).collect(),
            dimensions: Some(4),
            user: None,
        }
    }

    #[test]
    fn one_text_is_embed_content() {
        let t = texts(&["hi"]);
        assert_eq!(method(&t), "embedContent");
        let b: Value = serde_json::from_slice(&build_body(&t, "models/x")).unwrap();
        assert_eq!(b["content"]["parts"][0]["text"], "hi");
        assert_eq!(b["outputDimensionality"], 4);
    }

    #[test]
    fn several_texts_are_a_batch_naming_the_model() {
        let t = texts(&["a", "b"]);
        assert_eq!(method(&t), "batchEmbedContents");
        let b: Value = serde_json::from_slice(&build_body(&t, "models/x")).unwrap();
        assert_eq!(b["requests"][1]["model"], "models/x");
        assert_eq!(b["requests"][1]["content"]["parts"][0]["text"], "b");
    }

    #[test]
    fn answers_of_both_methods_parse() {
        let v = parse(br#"{"embedding":{"values":[0.5,0.5]}}"#, 1).unwrap();
        assert_eq!(v.embeddings, vec![vec![0.5, 0.5]]);
        let v = parse(br#"{"embeddings":[{"values":[1]},{"values":[2]}]}"#, 2).unwrap();
        assert_eq!(v.embeddings, vec![vec![1.0], vec![2.0]]);
        assert!(parse(br#"{"embeddings":[{"values":[1]}]}"#, 2).is_err());
        assert!(parse(b"{}", 1).is_err());
    }
}
