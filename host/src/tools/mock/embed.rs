//! The mock's embeddings, in every dialect it speaks: OpenAI's
//! `POST /v1/embeddings` (and Azure's `/openai/deployments/{d}/embeddings`),
//! Gemini's `:embedContent` and `:batchEmbedContents`, and Bedrock's
//! InvokeModel (`/model/{id}/invoke`) with Titan (`inputText`) and Cohere
//! (`texts`) bodies. Vectors are deterministic: a text's FNV-1a hash seeds
//! a generator whose numbers are normalized to a unit vector, so the same
//! text always gets the same vector; `dimensions` (OpenAI, Titan) and
//! `outputDimensionality` (Gemini) are honoured, [`DEFAULT_DIMENSIONS`]
//! otherwise. Usage is the texts' bytes / 4, rounded up, where the dialect
//! reports usage. Faults (`--fail-status`, `--chaos`, latency, keys) are the
//! chat path's, applied by the caller before [`respond`].

use serde_json::{Value, json};

use super::Dialect;

/// Dimensions of a vector when the request asks for none.
pub const DEFAULT_DIMENSIONS: usize = 16;

/// Which embeddings call a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// OpenAI's (or Azure's) embeddings; Azure's deployment, if any.
    OpenAi(Option<String>),
    /// Gemini `:embedContent`.
    GeminiOne,
    /// Gemini `:batchEmbedContents`.
    GeminiBatch,
    /// Bedrock InvokeModel of this model id.
    Bedrock(String),
}

/// The embeddings call of `path`, with the dialect its errors and keys use.
pub fn of(path: &str) -> Option<(Dialect, Call)> {
    if path == "/v1/embeddings" || path == "/embeddings" {
        return Some((Dialect::OpenAi, Call::OpenAi(None)));
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/")
        && let Some(d) = rest.strip_suffix("/embeddings")
    {
        return Some((Dialect::OpenAi, Call::OpenAi(Some(d.to_owned()))));
    }
    if path.starts_with("/v1beta/models/") || path.starts_with("/v1/models/") {
        if path.ends_with(":embedContent") {
            return Some((Dialect::Gemini, Call::GeminiOne));
        }
        if path.ends_with(":batchEmbedContents") {
            return Some((Dialect::Gemini, Call::GeminiBatch));
        }
    }
    if let Some(rest) = path.strip_prefix("/model/")
        && let Some(id) = rest.strip_suffix("/invoke")
    {
        let id = percent_decode(id);
        return Some((Dialect::Bedrock, Call::Bedrock(id)));
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The deterministic unit vector of `text` in `dims` dimensions.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    // FNV-1a of the text seeds splitmix64.
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        seed ^= u64::from(b);
        seed = seed.wrapping_mul(0x0100_0000_01b3);
    }
    let mut next = || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let raw: Vec<f64> = (0..dims)
        .map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    let norm = if norm > 0.0 { norm } else { 1.0 };
    raw.iter().map(|x| (x / norm) as f32).collect()
}

fn tokens(texts: &[String]) -> u64 {
    texts.iter().map(|t| t.len().div_ceil(4) as u64).sum()
}

fn dims(v: Option<&Value>) -> Result<usize, String> {
    match v {
        None | Some(Value::Null) => Ok(DEFAULT_DIMENSIONS),
        Some(d) => match d.as_u64() {
            Some(n @ 1..=65_536) => Ok(n as usize),
            _ => Err(format!("invalid dimensions {d}")),
        },
    }
}

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("`{what}` must hold strings")),
        _ => Err(format!("`{what}` is missing or empty")),
    }
}

fn gemini_text(r: &Value) -> Result<String, String> {
    r.pointer("/content/parts")
        .map(super::text_of)
        .ok_or_else(|| "`content.parts` is missing".to_owned())
}

/// The answer body to `call` with this request `body`, or what is wrong
/// with the request (the caller answers 400 in the dialect).
pub fn respond(call: &Call, body: &[u8]) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let out = match call {
        Call::OpenAi(deployment) => {
            let input = strings(v.get("input"), "input")?;
            let d = dims(v.get("dimensions"))?;
            let model = deployment
                .clone()
                .or_else(|| v.get("model").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "mock-embedding".to_owned());
            let n = tokens(&input);
            let data: Vec<Value> = input
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"object":"embedding","index":i,"embedding":vector(t, d)}))
                .collect();
            json!({"object":"list","data":data,"model":model,
                   "usage":{"prompt_tokens":n,"total_tokens":n}})
        }
        Call::GeminiOne => {
            let d = dims(v.get("outputDimensionality"))?;
            json!({"embedding":{"values": vector(&gemini_text(&v)?, d)}})
        }
        Call::GeminiBatch => {
            let reqs = v
                .get("requests")
                .and_then(Value::as_array)
                .filter(|r| !r.is_empty())
                .ok_or("`requests` is missing or empty")?;
            let mut out = Vec::with_capacity(reqs.len());
            for r in reqs {
                let d = dims(r.get("outputDimensionality"))?;
                out.push(json!({"values": vector(&gemini_text(r)?, d)}));
            }
            json!({"embeddings": out})
        }
        Call::Bedrock(model) if model.contains("titan-embed") => {
            let text = v
                .get("inputText")
                .and_then(Value::as_str)
                .ok_or("`inputText` is missing")?;
            let d = dims(v.get("dimensions"))?;
            json!({"embedding": vector(text, d),
                   "inputTextTokenCount": tokens(&[text.to_owned()])})
        }
        Call::Bedrock(model) if model.contains("cohere.embed") => {
            let texts = strings(v.get("texts"), "texts")?;
            let vectors: Vec<Vec<f32>> = texts
                .iter()
                .map(|t| vector(t, DEFAULT_DIMENSIONS))
                .collect();
            json!({"id":"mock","texts":texts,"response_type":"embeddings_by_type",
                   "embeddings":{"float": vectors}})
        }
        Call::Bedrock(model) => {
            return Err(format!("model {model} is not an embedding model"));
        }
    };
    Ok(out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector("hello", 32);
        assert_eq!(a, vector("hello", 32));
        assert_ne!(a, vector("hellp", 32));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn paths_name_calls() {
        assert_eq!(
            of("/openai/deployments/emb/embeddings"),
            Some((Dialect::OpenAi, Call::OpenAi(Some("emb".into()))))
        );
        assert_eq!(
            of("/model/amazon.titan-embed-text-v2%3A0/invoke"),
            Some((
                Dialect::Bedrock,
                Call::Bedrock("amazon.titan-embed-text-v2:0".into())
            ))
        );
        assert_eq!(
            of("/v1beta/models/x:batchEmbedContents").map(|c| c.1),
            Some(Call::GeminiBatch)
        );
        assert_eq!(of("/v1/chat/completions"), None);
    }

    #[test]
    fn every_dialect_answers() {
        let b = respond(
            &Call::OpenAi(None),
            br#"{"model":"m","input":["a","b"],"dimensions":4}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["data"][1]["embedding"].as_array().unwrap().len(), 4);
        let b = respond(
            &Call::GeminiBatch,
            br#"{"requests":[{"content":{"parts":[{"text":"a"}]}}]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["embeddings"].as_array().unwrap().len(), 1);
        let b = respond(
            &Call::Bedrock("cohere.embed-english-v3".into()),
            br#"{"texts":["a","b"]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["embeddings"]["float"].as_array().unwrap().len(), 2);
        assert!(respond(&Call::Bedrock("meta.llama".into()), b"{}").is_err());
        assert!(respond(&Call::OpenAi(None), br#"{"input":[]}"#).is_err());
    }
}
