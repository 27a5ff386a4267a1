//! OpenAI's embeddings JSON: the request body checked and turned into the
//! canonical [`EmbeddingsRequest`] (every refusal a 400 naming the field),
//! and the canonical answer rendered as OpenAI's list of embeddings, in
//! floats or as base64 of little-endian f32 bytes. No I/O.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::wit::{EmbeddingsRequest, EmbeddingsResponse};

/// The most texts one request may carry (OpenAI's own limit).
pub const MAX_INPUTS: usize = 2048;

/// How the client wants the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON numbers.
    Float,
    /// Base64 of the little-endian f32 bytes.
    Base64,
}

fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(message).param(param)
}

/// Parse and check a `POST /v1/embeddings` body.
pub fn parse_request(body: &[u8]) -> Result<(EmbeddingsRequest, Encoding), ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("The body is not valid JSON: {e}.")))?;
    let Value::Object(o) = v else {
        return Err(ApiError::invalid("The body must be a JSON object."));
    };
    let model = match o.get("model") {
        Some(Value::String(m)) => m.clone(),
        None => return Err(bad("model", "`model` is required.")),
        Some(_) => return Err(bad("model", "`model` must be a string.")),
    };
    let input = parse_input(&o)?;
    let dimensions = match o.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(d) => match d.as_u64() {
            Some(n @ 1..=65_536) => u32::try_from(n).ok(),
            _ => {
                return Err(bad(
                    "dimensions",
                    "`dimensions` must be a positive integer (at most 65536).",
                ));
            }
        },
    };
    let encoding = match o.get("encoding_format") {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(s)) if s == "float" => Encoding::Float,
        Some(Value::String(s)) if s == "base64" => Encoding::Base64,
        Some(_) => {
            return Err(bad(
                "encoding_format",
                "`encoding_format` must be \"float\" or \"base64\".",
            ));
        }
    };
    let user = match o.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u.clone()),
        Some(_) => return Err(bad("user", "`user` must be a string.")),
    };
    Ok((
        EmbeddingsRequest {
            model,
            input,
            dimensions,
            user,
        },
        encoding,
    ))
}

fn parse_input(o: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let tokens = || {
        bad(
            "input",
            "`input` as token arrays is not supported: send the text as a string or a list of strings.",
        )
    };
    let texts = match o.get("input") {
        None | Some(Value::Null) => return Err(bad("input", "`input` is required.")),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(bad("input", "`input` must not be an empty list."));
            }
            if items.len() > MAX_INPUTS {
                return Err(bad(
                    "input",
                    format!(
                        "`input` has {} items; at most {MAX_INPUTS} are allowed.",
                        items.len()
                    ),
                ));
            }
            let mut texts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => texts.push(s.clone()),
                    Value::Number(_) | Value::Array(_) => return Err(tokens()),
                    _ => {
                        return Err(bad("input", format!("`input[{i}]` must be a string.")));
                    }
                }
            }
            texts
        }
        Some(_) => {
            return Err(bad(
                "input",
                "`input` must be a string or a list of strings.",
            ));
        }
    };
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(bad(
            "input",
            if texts.len() == 1 {
                "`input` must not be an empty string.".to_owned()
            } else {
                format!("`input[{i}]` must not be an empty string.")
            },
        ));
    }
    Ok(texts)
}

/// Standard base64 (with padding) of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn vector(v: &[f32], encoding: Encoding) -> Value {
    match encoding {
        Encoding::Float => Value::from(v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>()),
        Encoding::Base64 => {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Value::from(base64(&bytes))
        }
    }
}

/// OpenAI's answer body for `resp`, named `model` (the client's name for
/// it), with `prompt_tokens` as the usage.
pub fn render(
    resp: &EmbeddingsResponse,
    model: &str,
    prompt_tokens: u64,
    encoding: Encoding,
) -> Vec<u8> {
    let data: Vec<Value> = resp
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": vector(v, encoding)}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(body: &str) -> Option<String> {
        parse_request(body.as_bytes()).err().and_then(|e| e.param)
    }

    #[test]
    fn strings_and_lists_parse() {
        let (r, e) = parse_request(br#"{"model":"m","input":"hi","dimensions":8}"#).unwrap();
        assert_eq!(r.input, vec!["hi"]);
        assert_eq!(r.dimensions, Some(8));
        assert_eq!(e, Encoding::Float);
        let (r, e) =
            parse_request(br#"{"model":"m","input":["a","b"],"encoding_format":"base64"}"#)
                .unwrap();
        assert_eq!(r.input, vec!["a", "b"]);
        assert_eq!(e, Encoding::Base64);
    }

    #[test]
    fn bad_fields_are_named() {
        for (body, field) in [
            (r#"{"input":"x"}"#, "model"),
            (r#"{"model":1,"input":"x"}"#, "model"),
            (r#"{"model":"m"}"#, "input"),
            (r#"{"model":"m","input":""}"#, "input"),
            (r#"{"model":"m","input":[]}"#, "input"),
            (r#"{"model":"m","input":[1,2]}"#, "input"),
            (r#"{"model":"m","input":[[1,2]]}"#, "input"),
            (r#"{"model":"m","input":{"a":1}}"#, "input"),
            (r#"{"model":"m","input":["a",null]}"#, "input"),
            (r#"{"model":"m","input":"x","dimensions":0}"#, "dimensions"),
            (
                r#"{"model":"m","input":"x","dimensions":"8"}"#,
                "dimensions",
            ),
            (
                r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
                "encoding_format",
            ),
            (r#"{"model":"m","input":"x","user":5}"#, "user"),
        ] {
            assert_eq!(param(body).as_deref(), Some(field), "{body}");
        }
        assert!(parse_request(b"[1]").is_err());
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // 1.0f32 little-endian.
        assert_eq!(base64(&1.0f32.to_le_bytes()), "AACAPw==");
    }

    #[test]
    fn render_is_openai_shaped() {
        let resp = EmbeddingsResponse {
            embeddings: vec![vec![1.0, 0.0]],
            model: None,
            prompt_tokens: Some(2),
        };
        let v: Value = serde_json::from_slice(&render(&resp, "emb", 2, Encoding::Float)).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["embedding"], json!([1.0, 0.0]));
        assert_eq!(v["usage"]["total_tokens"], 2);
        let v: Value = serde_json::from_slice(&render(&resp, "emb", 2, Encoding::Base64)).unwrap();
        assert_eq!(v["data"][0]["embedding"], "AACAPwAAAAA=");
    }
}
