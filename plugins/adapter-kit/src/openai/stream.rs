//! Server-sent events of the OpenAI dialect into canonical stream events.
//!
//! A stream is complete only when `data: [DONE]` arrived or every choice that
//! started also finished; otherwise `finish` reports a broken stream.

use openai_wire as wire;

use super::{classify, finish_reason, usage};
use crate::err;
use crate::stream::{Events, SseDecoder};
use crate::types::{
    ErrorKind, Finish, ProviderError, StreamEvent, StreamStart, TextDelta, ToolCallDelta,
};

/// Decodes one stream.
pub type Decoder = SseDecoder<Chunks>;

/// The state of a stream of `chat.completion.chunk`s.
#[derive(Debug, Default)]
pub struct Chunks {
    started: bool,
    done: bool,
    open_choices: u32,
    finished_choices: u32,
}

impl Events for Chunks {
    fn complete(&self) -> bool {
        self.done || (self.open_choices > 0 && self.finished_choices >= self.open_choices)
    }

    fn event(&mut self, data: &str, events: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_str(data)
            .map_err(|e| err(ErrorKind::Other, format!("stream event is not JSON: {e}")))?;
        if value.get("error").is_some() {
            return Err(classify(None, &[], data.as_bytes()));
        }
        let chunk: wire::ChatCompletionChunk = serde_json::from_value(value).map_err(|e| {
            err(
                ErrorKind::Other,
                format!("stream event is not a chat.completion.chunk: {e}"),
            )
        })?;
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start(StreamStart {
                id: chunk.id.clone(),
                model: chunk.model.clone(),
                created: chunk.created,
            }));
        }
        for c in chunk.choices {
            self.open_choices = self.open_choices.max(c.index + 1);
            if c.delta.role.is_some() {
                events.push(StreamEvent::Role(c.index));
            }
            if let Some(text) = c.delta.content
                && !text.is_empty()
            {
                events.push(StreamEvent::Text(TextDelta {
                    choice: c.index,
                    text,
                }));
            }
            for t in c.delta.tool_calls.unwrap_or_default() {
                let f = t.function.unwrap_or_default();
                events.push(StreamEvent::ToolCall(ToolCallDelta {
                    choice: c.index,
                    index: t.index,
                    id: t.id,
                    name: f.name,
                    arguments: f.arguments.unwrap_or_default(),
                }));
            }
            if let Some(r) = c.finish_reason {
                self.finished_choices += 1;
                events.push(StreamEvent::Finish(Finish {
                    choice: c.index,
                    reason: finish_reason(&r),
                }));
            }
        }
        if let Some(u) = chunk.usage {
            events.push(StreamEvent::Usage(usage(u)));
        }
        Ok(())
    }
}
