//! Bedrock InvokeModel bodies of the embedding models: Amazon Titan Text
//! Embeddings (`amazon.titan-embed-*`: one text a call, `dimensions`) and
//! Cohere Embed (`cohere.embed-*`: a list of texts, no `dimensions`). Other
//! model families are refused.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Texts, Vectors, bad_body, one_per_input};
use crate::err;
use crate::types::{ErrorKind, ProviderError};

/// The embedding model families Bedrock serves through InvokeModel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `amazon.titan-embed-*`.
    Titan,
    /// `cohere.embed-*`.
    Cohere,
}

/// The family of a Bedrock model id (a regional prefix like `us.` is
/// allowed).
pub fn family(model: &str) -> Option<Family> {
    let id = model.rsplit('/').next().unwrap_or(model);
    if id.contains("amazon.titan-embed") {
        Some(Family::Titan)
    } else if id.contains("cohere.embed") {
        Some(Family::Cohere)
    } else {
        None
    }
}

fn refuse(message: String) -> ProviderError {
    ProviderError {
        code: Some("invalid_request_error".into()),
        ..err(ErrorKind::BadRequest, message)
    }
}

/// The InvokeModel body for `t`, or a refusal of what the model family
/// cannot carry.
pub fn build_body(t: &Texts) -> Result<Vec<u8>, ProviderError> {
    let body = match family(&t.model) {
        Some(Family::Titan) => {
            let [text] = t.input.as_slice() else {
                return Err(refuse(format!(
                    "`input`: Bedrock model `{}` embeds one text a request; {} were sent",
                    t.model,
                    t.input.len()
                )));
            };
            let mut b = json!({ "inputText": text, "normalize": true });
            if let Some(d) = t.dimensions {
                b["dimensions"] = Value::from(d);
            }
            b
        }
        Some(Family::Cohere) => {
            if t.dimensions.is_some() {
                return Err(refuse(format!(
                    "`dimensions`: Bedrock model `{}` does not take it",
                    t.model
                )));
            }
            json!({
                "texts": t.input,
                "input_type": "search_document",
                "embedding_types": ["float"],
            })
        }
        None => {
            return Err(refuse(format!(
                "`model`: Bedrock model `{}` is not a Titan or Cohere embedding model",
                t.model
            )));
        }
    };
    Ok(body.to_string().into_bytes())
}

#[derive(Deserialize)]
struct TitanAnswer {
    embedding: Vec<f32>,
    #[serde(rename = "inputTextTokenCount")]
    tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    Typed { float: Vec<Vec<f32>> },
    Plain(Vec<Vec<f32>>),
}

#[derive(Deserialize)]
struct CohereAnswer {
    embeddings: CohereEmbeddings,
}

/// Parse a 2xx InvokeModel answer of `model` to `inputs` texts.
pub fn parse(body: &[u8], model: &str, inputs: usize) -> Result<Vectors, ProviderError> {
    let v = match family(model) {
        Some(Family::Titan) => {
            let a: TitanAnswer =
                serde_json::from_slice(body).map_err(|e| bad_body("Titan embeddings", e))?;
            Vectors {
                embeddings: vec![a.embedding],
                model: None,
                prompt_tokens: a.tokens,
            }
        }
        _ => {
            let a: CohereAnswer =
                serde_json::from_slice(body).map_err(|e| bad_body("Cohere embeddings", e))?;
            Vectors {
                embeddings: match a.embeddings {
                    CohereEmbeddings::Typed { float } | CohereEmbeddings::Plain(float) => float,
                },
                model: None,
                prompt_tokens: None,
            }
        }
    };
    one_per_input(v, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(model: &str, input: &[&str], dimensions: Option<u32>) -> Texts {
        Texts {
            model: model.into(),
            input: input.iter().map(|s| (*s).to_owned()).collect(),
            dimensions,
            user: None,
        }
    }

    #[test]
    fn families() {
        assert_eq!(family("amazon.titan-embed-text-v2:0"), Some(Family::Titan));
        assert_eq!(family("us.cohere.embed-english-v3"), Some(Family::Cohere));
        assert_eq!(family("anthropic.claude-3-haiku"), None);
    }

    #[test]
    fn titan_takes_one_text_and_dimensions() {
        let t = texts("amazon.titan-embed-text-v2:0", &["hi"], Some(256));
        let b: Value = serde_json::from_slice(&build_body(&t).unwrap()).unwrap();
        assert_eq!(b["inputText"], "hi");
        assert_eq!(b["dimensions"], 256);
        let two = texts("amazon.titan-embed-text-v2:0", &["a", "b"], None);
        let e = build_body(&two).unwrap_err();
        assert!(e.message.starts_with("`input`"), "{}", e.message);
        let v = parse(
            br#"{"embedding":[0.1,0.2],"inputTextTokenCount":2}"#,
            &t.model,
            1,
        )
        .unwrap();
        assert_eq!(v.prompt_tokens, Some(2));
    }

    #[test]
    fn cohere_takes_lists_but_no_dimensions() {
        let t = texts("cohere.embed-english-v3", &["a", "b"], None);
        let b: Value = serde_json::from_slice(&build_body(&t).unwrap()).unwrap();
        assert_eq!(b["texts"], json!(["a", "b"]));
        let e = build_body(&texts("cohere.embed-english-v3", &["a"], Some(8))).unwrap_err();
        assert!(e.message.starts_with("`dimensions`"), "{}", e.message);
        let v = parse(br#"{"embeddings":{"float":[[1],[2]]}}"#, &t.model, 2).unwrap();
        assert_eq!(v.embeddings, vec![vec![1.0], vec![2.0]]);
        let v = parse(br#"{"embeddings":[[1],[2]]}"#, &t.model, 2).unwrap();
        assert_eq!(v.embeddings.len(), 2);
    }

    #[test]
    fn other_models_are_refused() {
        assert!(build_body(&texts("meta.llama3", &["a"], None)).is_err());
    }
}
