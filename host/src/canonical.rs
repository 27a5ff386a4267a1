//! The canonical request and response: the vocabulary every stage of the
//! request path speaks once ingress has parsed a client's dialect. The types
//! are the WIT contract's ([`crate::wit::types`], so a plugin sees exactly
//! what the host holds); this module re-exports them and holds the facts the
//! host works out once per request: the last user text, whether images are
//! present, and the token estimates. It never does I/O and never knows a
//! client's dialect.

pub use crate::wit::types::*;

/// Bytes of text per token, the rule of thumb every cheap estimate uses
/// (the prompt before a tokenizer runs, an answer whose usage the upstream
/// did not report).
pub const BYTES_PER_TOKEN: usize = 4;

/// Tokens in `bytes` of text, by [`BYTES_PER_TOKEN`] (rounded up).
pub fn tokens_from_bytes(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN) as u64
}

/// The text of the last user message, text parts joined by newlines.
pub fn last_user_text(req: &ChatRequest) -> Option<String> {
    let m = req.messages.iter().rev().find(|m| m.role == Role::User)?;
    Some(content_text(m.content.as_ref()?))
}

/// The text of an answer: its first choice's content (empty when it has
/// none, e.g. only tool calls).
pub fn answer_text(resp: &ChatResponse) -> String {
    resp.choices
        .first()
        .and_then(|c| c.message.content.as_ref())
        .map(content_text)
        .unwrap_or_default()
}

/// The text of a content value; non-text parts are skipped.
pub fn content_text(c: &Content) -> String {
    match c {
        Content::Text(t) => t.clone(),
        Content::Parts(parts) => {
            let mut out = String::new();
            for p in parts {
                if let ContentPart::Text(t) = p {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(t);
                }
            }
            out
        }
    }
}

/// The length in bytes of [`content_text`]'s answer, without building it.
pub fn content_len(c: &Content) -> usize {
    match c {
        Content::Text(t) => t.len(),
        Content::Parts(parts) => {
            let (bytes, texts) = parts.iter().fold((0usize, 0usize), |(b, n), p| match p {
                ContentPart::Text(t) => (b + t.len(), n + 1),
                _ => (b, n),
            });
            bytes + texts.saturating_sub(1)
        }
    }
}

/// Whether any message carries an image part.
pub fn has_images(req: &ChatRequest) -> bool {
    req.messages.iter().any(|m| match &m.content {
        Some(Content::Parts(parts)) => parts.iter().any(|p| matches!(p, ContentPart::Image(_))),
        _ => false,
    })
}

/// Prompt tokens, estimated at ~4 bytes of text per token plus the per-message
/// framing chat formats add; images count as a typical 765-token tile set.
/// Cheap enough for every request; routing only needs the right magnitude.
pub fn token_estimate(req: &ChatRequest) -> u32 {
    let mut bytes = 0usize;
    let mut images = 0u32;
    for m in &req.messages {
        bytes += 16;
        match &m.content {
            Some(Content::Text(t)) => bytes += t.len(),
            Some(Content::Parts(parts)) => {
                for p in parts {
                    match p {
                        ContentPart::Text(t) => bytes += t.len(),
                        ContentPart::Image(_) => images += 1,
                        ContentPart::OtherJson(j) => bytes += j.len(),
                    }
                }
            }
            None => {}
        }
        for c in &m.tool_calls {
            bytes += c.name.len() + c.arguments.len() + 8;
        }
    }
    for t in &req.tools {
        bytes += t.name.len()
            + t.description.as_ref().map_or(0, String::len)
            + t.parameters_json.as_ref().map_or(0, String::len);
    }
    u32::try_from(tokens_from_bytes(bytes))
        .unwrap_or(u32::MAX)
        .saturating_add(images.saturating_mul(765))
}

/// What a stream's events said about its output, for usage accounting: the
/// last usage the upstream reported, and the bytes of generated text and
/// tool calls (for an estimate when it reported none). One tally serves
/// every reader of a stream, so they count the same way.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputTally {
    /// The last usage event seen.
    pub usage: Option<Usage>,
    /// Bytes of text deltas, tool-call names and tool-call arguments.
    pub output_bytes: usize,
}

/// A stream's first choice rebuilt as a complete answer, for readers that
/// need the whole answer after the stream (evaluators): text, tool calls,
/// finish reason, usage.
#[derive(Debug, Clone, Default)]
pub struct ResponseBuilder {
    id: String,
    model: String,
    created: u64,
    text: String,
    calls: Vec<ToolCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl ResponseBuilder {
    /// Add a batch of events (other choices than the first are skipped).
    pub fn observe(&mut self, events: &[StreamEvent]) {
        for e in events {
            match e {
                StreamEvent::Start(s) => {
                    self.id.clone_from(&s.id);
                    self.model.clone_from(&s.model);
                    self.created = s.created;
                }
                StreamEvent::Text(t) if t.choice == 0 => self.text.push_str(&t.text),
                StreamEvent::ToolCall(t) if t.choice == 0 => {
                    let i = t.index as usize;
                    if i >= self.calls.len() && i < 128 {
                        self.calls.resize_with(i + 1, || ToolCall {
                            id: String::new(),
                            name: String::new(),
                            arguments: String::new(),
                        });
                    }
                    if let Some(c) = self.calls.get_mut(i) {
                        if let Some(id) = &t.id {
                            c.id.clone_from(id);
                        }
                        if let Some(name) = &t.name {
                            c.name.clone_from(name);
                        }
                        c.arguments.push_str(&t.arguments);
                    }
                }
                StreamEvent::Finish(f) if f.choice == 0 => self.finish = Some(f.reason.clone()),
                StreamEvent::Usage(u) => self.usage = Some(*u),
                _ => {}
            }
        }
    }

    /// The answer so far.
    pub fn build(self) -> ChatResponse {
        ChatResponse {
            id: self.id,
            model: self.model,
            created: self.created,
            choices: vec![Choice {
                index: 0,
                message: Message {
                    role: Role::Assistant,
                    content: (!self.text.is_empty()).then_some(Content::Text(self.text)),
                    name: None,
                    tool_calls: self.calls,
                    tool_call_id: None,
                    extra_json: None,
                },
                finish_reason: self.finish,
            }],
            usage: self.usage,
            system_fingerprint: None,
        }
    }
}

impl OutputTally {
    /// Count a batch of events.
    pub fn observe(&mut self, events: &[StreamEvent]) {
        for e in events {
            match e {
                StreamEvent::Usage(u) => self.usage = Some(*u),
                StreamEvent::Text(t) => self.output_bytes += t.text.len(),
                StreamEvent::ToolCall(t) => {
                    self.output_bytes += t.name.as_ref().map_or(0, String::len) + t.arguments.len();
                }
                _ => {}
            }
        }
    }

    /// Completion tokens by [`BYTES_PER_TOKEN`], for when no usage came.
    pub fn estimated_completion_tokens(&self) -> u64 {
        tokens_from_bytes(self.output_bytes)
    }

    /// Prompt and completion tokens of an answer to a request body of
    /// `request_bytes`: the upstream's usage when it reported one, else
    /// estimates from the sizes.
    pub fn tokens(&self, request_bytes: usize) -> (u64, u64) {
        match &self.usage {
            Some(u) => (u64::from(u.prompt_tokens), u64::from(u.completion_tokens)),
            None => (
                tokens_from_bytes(request_bytes),
                self.estimated_completion_tokens(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{ImageUrl, Message};

    fn msg(role: Role, content: Content) -> Message {
        Message {
            role,
            content: Some(content),
            name: None,
            tool_calls: vec![],
            tool_call_id: None,
            extra_json: None,
        }
    }

    fn req(messages: Vec<Message>) -> ChatRequest {
        ChatRequest::new("m", messages)
    }

    #[test]
    fn last_user_text_joins_parts_and_skips_images() {
        let r = req(vec![
            msg(Role::User, Content::Text("first".into())),
            msg(Role::Assistant, Content::Text("reply".into())),
            msg(
                Role::User,
                Content::Parts(vec![
                    ContentPart::Text("a".into()),
                    ContentPart::Image(ImageUrl {
                        url: "data:,".into(),
                        detail: None,
                    }),
                    ContentPart::Text("b".into()),
                ]),
            ),
        ]);
        assert_eq!(last_user_text(&r).as_deref(), Some("a\nb"));
        assert!(has_images(&r));
        assert!(token_estimate(&r) > 765);
    }

    #[test]
    fn content_len_is_the_length_of_content_text() {
        let image = || {
            ContentPart::Image(ImageUrl {
                url: "data:,".into(),
                detail: None,
            })
        };
        for c in [
            Content::Text(String::new()),
            Content::Text("héllo".into()),
            Content::Parts(vec![]),
            Content::Parts(vec![image()]),
            Content::Parts(vec![ContentPart::Text("a".into())]),
            Content::Parts(vec![
                image(),
                ContentPart::Text("ab".into()),
                ContentPart::OtherJson("{}".into()),
                ContentPart::Text(String::new()),
                ContentPart::Text("c".into()),
            ]),
        ] {
            assert_eq!(content_len(&c), content_text(&c).len(), "{c:?}");
        }
    }

    #[test]
    fn estimate_grows_with_text() {
        let short = req(vec![msg(Role::User, Content::Text("hi".into()))]);
        let long = req(vec![msg(Role::User, Content::Text("word ".repeat(400)))]);
        assert!(token_estimate(&long) >= 500);
        assert!(token_estimate(&short) < 20);
        assert!(!has_images(&short));
    }
}
