//! Anthropic's stream (`message_start`, `content_block_start/delta/stop`,
//! `message_delta`, `message_stop`, `ping`, `error`) into canonical events.
//!
//! Content blocks are numbered across text and tool use; canonical tool-call
//! deltas are numbered among tool calls only, so block indexes are mapped.
//! The stream is complete only after `message_stop`.

use std::collections::HashMap;

use anthropic_wire as wire;

use crate::switchyard::plugin::types::{
    ErrorKind, Finish, ProviderError, StreamEvent, StreamStart, TextDelta, ToolCallDelta,
};
use crate::{classify, err, finish_reason, usage};

#[derive(Default)]
pub struct Decoder {
    sse: sse::Buffer,
    input_tokens: u32,
    cache_write: Option<u32>,
    cache_read: Option<u32>,
    /// Block index → tool-call index.
    tools: HashMap<u32, u32>,
    stopped: bool,
}

impl Decoder {
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        let frames = self
            .sse
            .feed(bytes)
            .map_err(|_| err(ErrorKind::Other, "stream carried invalid UTF-8"))?;
        let mut out = Vec::new();
        for f in frames {
            self.dispatch(&f.data, &mut out)?;
        }
        Ok(out)
    }

    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut out = Vec::new();
        if let Some(f) = self.sse.finish() {
            self.dispatch(&f.data, &mut out)?;
        }
        if self.stopped {
            Ok(out)
        } else {
            Err(err(
                ErrorKind::Other,
                "upstream stream ended before message_stop",
            ))
        }
    }

    fn dispatch(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
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
