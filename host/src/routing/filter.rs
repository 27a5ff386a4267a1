//! Capability filtering, before a policy sees the candidates: a request with
//! images goes only to `vision` models, one with tools only to `tools`
//! models, one asking for JSON only to `json` models, and the prompt plus the
//! requested output must fit the context window. A model that declares no
//! capabilities is not filtered on them (its abilities are unknown). A model
//! that declares `embeddings` without `chat` serves no chat request.
//!
//! Prompt tokens are estimated cheaply from bytes; when that estimate comes
//! near some candidate's window, the prompt is counted with a real tokenizer
//! (tiktoken's o200k_base) so the check is right where it matters.
//! It never calls a plugin: a policy only ever sees candidates that can
//! serve the request.

use std::sync::Arc;

use http::StatusCode;

use crate::canonical::{ChatRequest, Content, ContentPart, ResponseFormat};
use crate::error::ApiError;
use crate::generation::ModelTarget;

/// What a request needs of a model.
pub struct Needs {
    vision: bool,
    tools: bool,
    json: bool,
    /// Prompt tokens (cheap estimate, or counted when close to a limit).
    pub prompt_tokens: u32,
    output_tokens: u32,
}

impl Needs {
    /// Work out the needs of `req`, counting tokens precisely only if the
    /// cheap estimate comes within half of the smallest context window among
    /// `models`.
    pub fn of(req: &ChatRequest, models: &[Arc<ModelTarget>]) -> Needs {
        let output = req.max_completion_tokens.or(req.max_tokens).unwrap_or(0);
        let smallest = models
            .iter()
            .map(|m| m.context_window)
            .min()
            .unwrap_or(u32::MAX);
        let prompt = prompt_tokens(req, smallest);
        Needs {
            vision: crate::canonical::has_images(req),
            tools: !req.tools.is_empty(),
            json: matches!(
                req.response_format,
                Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema(_))
            ),
            prompt_tokens: prompt,
            output_tokens: output,
        }
    }

    /// Why `m` cannot serve the request, if it cannot.
    pub fn unmet(&self, m: &ModelTarget) -> Option<String> {
        if !m.chats() {
            return Some(
                "it is an embeddings model (its capabilities declare `embeddings` without `chat`); send it to /v1/embeddings".into(),
            );
        }
        let declared = !m.capabilities.is_empty();
        let has = |c: &str| m.capabilities.iter().any(|x| x == c);
        if declared && self.vision && !has("vision") {
            return Some("it has no `vision` capability and the request has images".into());
        }
        if declared && self.tools && !has("tools") {
            return Some("it has no `tools` capability and the request offers tools".into());
        }
        if declared && self.json && !has("json") {
            return Some(
                "it has no `json` capability and the request asks for a JSON response".into(),
            );
        }
        let need = u64::from(self.prompt_tokens) + u64::from(self.output_tokens);
        if need > u64::from(m.context_window) {
            return Some(format!(
                "~{} prompt tokens + {} output tokens exceed its context window of {}",
                self.prompt_tokens, self.output_tokens, m.context_window
            ));
        }
        None
    }
}

/// Keep the models that can serve the request; a 400 naming every reason
/// when none can.
pub fn usable(
    models: &[Arc<ModelTarget>],
    needs: &Needs,
    what: &dyn std::fmt::Display,
) -> Result<Vec<Arc<ModelTarget>>, ApiError> {
    let mut keep = Vec::with_capacity(models.len());
    let mut reasons = Vec::new();
    for m in models {
        match needs.unmet(m) {
            None => keep.push(m.clone()),
            Some(why) => reasons.push(format!("`{}`: {why}", m.name)),
        }
    }
    if keep.is_empty() {
        let chatless = models.iter().all(|m| !m.chats());
        let context = needs.prompt_tokens > 0
            && models.iter().all(|m| {
                u64::from(needs.prompt_tokens) + u64::from(needs.output_tokens)
                    > u64::from(m.context_window)
            });
        let e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!(
                "No model of {what} can serve this request: {}.",
                reasons.join("; ")
            ),
        )
        .code(if context {
            "context_length_exceeded"
        } else {
            "no_capable_model"
        });
        // Only embeddings models: the `model` is what the client must change.
        return Err(if chatless { e.param("model") } else { e });
    }
    Ok(keep)
}

/// The prompt tokens of `req` as policies see them: the cheap estimate, or a
/// count with the real tokenizer when the estimate comes within half of
/// `smallest_window` (the smallest context window among the candidates).
pub fn prompt_tokens(req: &ChatRequest, smallest_window: u32) -> u32 {
    let cheap = crate::canonical::token_estimate(req);
    let output = req.max_completion_tokens.or(req.max_tokens).unwrap_or(0);
    if u64::from(cheap) * 2 + u64::from(output) >= u64::from(smallest_window) {
        count_tokens(req).unwrap_or(cheap)
    } else {
        cheap
    }
}

/// Prompt tokens counted with o200k_base, plus the per-message framing.
pub fn count_tokens(req: &ChatRequest) -> Option<u32> {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let mut total = 3usize;
    for m in &req.messages {
        total += 4;
        match &m.content {
            Some(Content::Text(t)) => total += bpe.encode_ordinary(t).len(),
            Some(Content::Parts(parts)) => {
                for p in parts {
                    match p {
                        ContentPart::Text(t) => total += bpe.encode_ordinary(t).len(),
                        ContentPart::Image(_) => total += 765,
                        ContentPart::OtherJson(j) => total += bpe.encode_ordinary(j).len(),
                    }
                }
            }
            None => {}
        }
        for c in &m.tool_calls {
            total +=
                bpe.encode_ordinary(&c.name).len() + bpe.encode_ordinary(&c.arguments).len() + 3;
        }
    }
    for t in &req.tools {
        total += bpe.encode_ordinary(&t.name).len() + 8;
        if let Some(d) = &t.description {
            total += bpe.encode_ordinary(d).len();
        }
        if let Some(p) = &t.parameters_json {
            total += bpe.encode_ordinary(p).len();
        }
    }
    u32::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> ChatRequest {
        crate::ingress::openai::parse_request(body.as_bytes()).unwrap()
    }

    #[test]
    fn real_count_is_close_to_tiktoken() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"Hello, how are you doing today?"}]}"#,
        );
        // 8 text tokens + framing.
        let n = count_tokens(&r).unwrap();
        assert!((10..=20).contains(&n), "{n}");
    }
}
