//! Anthropic's stream (`message_start`, `content_block_start/delta/stop`,
//! `message_delta`, `message_stop`, `ping`, `error`) into canonical events.
//!
//! Content blocks are numbered across text and tool use; canonical tool-call
//! deltas are numbered among tool calls only, so block indexes are mapped.
//! The stream is complete only after `message_stop`.

use std::collections::HashMap;

use adapter_kit::err;
use adapter_kit::stream::{Events, SseDecoder};
use adapter_kit::types::{
    ErrorKind, Finish, ProviderError, StreamEvent, StreamStart, TextDelta, ToolCallDelta,
};
use anthropic_wire as wire;

use crate::{classify, finish_reason, usage};

/// Decodes one stream.
pub type Decoder = SseDecoder<Messages>;

/// The state of a stream of Anthropic message events.
#[derive(Debug, Default)]
pub struct Messages {
    input_tokens: u32,
    cache_write: Option<u32>,
    cache_read: Option<u32>,
    /// Block index → tool-call index.
    tools: HashMap<u32, u32>,
    stopped: bool,
}

impl Events for Messages {
    const INCOMPLETE: &'static str = "upstream stream ended before message_stop";

    fn complete(&self) -> bool {
        self.stopped
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        let event: wire::StreamEvent = serde_json::from_str(data).map_err(|e| {
            err(
                ErrorKind::Other,
                format!("stream event is not understood: {e}"),
            )
        })?;
        match event {
            wire::StreamEvent::MessageStart { message } => {
                self.input_tokens = message.usage.input_tokens;
                self.cache_write = message.usage.cache_creation_input_tokens;
                self.cache_read = message.usage.cache_read_input_tokens;
                out.push(StreamEvent::Start(StreamStart {
                    id: message.id,
                    model: message.model,
                    created: 0,
                }));
                out.push(StreamEvent::Role(0));
            }
            wire::StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                wire::Block::Text { text } if !text.is_empty() => {
                    out.push(StreamEvent::Text(TextDelta { choice: 0, text }));
                }
                wire::Block::ToolUse { id, name, .. } => {
                    let n = self.tools.len() as u32;
                    self.tools.insert(index, n);
                    out.push(StreamEvent::ToolCall(ToolCallDelta {
                        choice: 0,
                        index: n,
                        id: Some(id),
                        name: Some(name),
                        arguments: String::new(),
                    }));
                }
                _ => {}
            },
            wire::StreamEvent::ContentBlockDelta { index, delta } => match delta {
                wire::Delta::TextDelta { text } => {
                    out.push(StreamEvent::Text(TextDelta { choice: 0, text }));
                }
                wire::Delta::InputJsonDelta { partial_json } => {
                    let Some(&n) = self.tools.get(&index) else {
                        return Err(err(
                            ErrorKind::Other,
                            format!("input_json_delta for block {index}, which is not a tool_use"),
                        ));
                    };
                    out.push(StreamEvent::ToolCall(ToolCallDelta {
                        choice: 0,
                        index: n,
                        id: None,
                        name: None,
                        arguments: partial_json,
                    }));
                }
                // Thinking and signature deltas have no canonical form.
                wire::Delta::Other(_) => {}
            },
            wire::StreamEvent::ContentBlockStop { .. } | wire::StreamEvent::Ping => {}
            wire::StreamEvent::MessageDelta { delta, usage: u } => {
                if let Some(u) = &u {
                    if let Some(i) = u.input_tokens {
                        self.input_tokens = i;
                    }
                    self.cache_write = u.cache_creation_input_tokens.or(self.cache_write);
                    self.cache_read = u.cache_read_input_tokens.or(self.cache_read);
                }
                if let Some(r) = delta.stop_reason {
                    out.push(StreamEvent::Finish(Finish {
                        choice: 0,
                        reason: finish_reason(&r),
                    }));
                }
                if let Some(u) = u {
                    out.push(StreamEvent::Usage(usage(
                        self.input_tokens,
                        u.output_tokens,
                        self.cache_write,
                        self.cache_read,
                    )));
                }
            }
            wire::StreamEvent::MessageStop => self.stopped = true,
            wire::StreamEvent::Error { error } => {
                let body = serde_json::json!({"type": "error", "error": error}).to_string();
                return Err(classify(None, &[], body.as_bytes()));
            }
        }
        Ok(())
    }
}
