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
            // The index is the upstream's word: u32::MAX must not overflow.
            self.open_choices = self.open_choices.max(c.index.saturating_add(1));
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
                self.finished_choices = self.finished_choices.saturating_add(1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decode;

    /// Found by fuzzing (fuzz/regressions/adapter_openai): a choice index of
    /// u32::MAX overflowed the count of open choices.
    #[test]
    fn largest_choice_index_does_not_overflow() {
        let mut d = Decoder::default();
        let events = d
            .feed(
                b"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\
                  \"choices\":[{\"index\":4294967295,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n",
            )
            .unwrap();
        assert_eq!(events.len(), 3, "{events:?}");
        // One finished choice of u32::MAX announced ones: not complete
        // without `[DONE]`.
        assert!(d.finish().is_err());
    }
}
