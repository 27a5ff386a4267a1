//! OpenAI's `POST /embeddings` body and answer (also Azure OpenAI's, whose
//! deployment path names the model so the body carries none).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Texts, Vectors, bad_body, one_per_input};
use crate::types::ProviderError;

/// The request body; `model` is left out when `with_model` is false
/// (Azure). Floats are always asked for: the host encodes base64 itself.
pub fn build_body(t: &Texts, with_model: bool) -> Vec<u8> {
    let mut body = json!({ "input": t.input, "encoding_format": "float" });
    if with_model {
        body["model"] = Value::from(t.model.clone());
    }
    if let Some(d) = t.dimensions {
        body["dimensions"] = Value::from(d);
    }
    if let Some(u) = &t.user {
        body["user"] = Value::from(u.clone());
    }
    body.to_string().into_bytes()
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
    model: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Item {
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u32>,
}

/// Parse a 2xx answer to a request of `inputs` texts; vectors are put in
/// the order of their `index`.
pub fn parse(body: &[u8], inputs: usize) -> Result<Vectors, ProviderError> {
    let a: Answer = serde_json::from_slice(body).map_err(|e| bad_body("embeddings", e))?;
    let mut items = a.data;
    items.sort_by_key(|i| i.index.unwrap_or(usize::MAX));
    one_per_input(
        Vectors {
            embeddings: items.into_iter().map(|i| i.embedding).collect(),
            model: a.model,
            prompt_tokens: a.usage.and_then(|u| u.prompt_tokens),
        },
        inputs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Texts {
        Texts {
            model: "text-embedding-3-small".into(),
            input: vec!["a".into(), "b".into()],
            dimensions: Some(8),
            user: None,
        }
    }

    #[test]
    fn body_carries_input_model_and_dimensions() {
        let b: Value = serde_json::from_slice(&build_body(&texts(), true)).unwrap();
        assert_eq!(b["model"], "text-embedding-3-small");
        assert_eq!(b["input"], json!(["a", "b"]));
        assert_eq!(b["dimensions"], 8);
        assert_eq!(b["encoding_format"], "float");
        let b: Value = serde_json::from_slice(&build_body(&texts(), false)).unwrap();
        assert!(b.get("model").is_none());
    }

    #[test]
    fn answer_is_put_in_index_order() {
        let body = br#"{"object":"list","model":"m","usage":{"prompt_tokens":3,"total_tokens":3},
            "data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#;
        let v = parse(body, 2).unwrap();
        assert_eq!(v.embeddings, vec![vec![1.0], vec![2.0]]);
        assert_eq!(v.prompt_tokens, Some(3));
        assert_eq!(v.model.as_deref(), Some("m"));
    }

    #[test]
    fn wrong_count_or_shape_is_an_error() {
        assert!(parse(br#"{"data":[{"index":0,"embedding":[1.0]}]}"#, 2).is_err());
        assert!(parse(b"{}", 1).is_err());
    }
}
