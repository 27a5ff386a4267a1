//! Server-sent events of the OpenAI dialect into canonical stream events.
//!
//! Bytes arrive in arbitrary pieces, so lines are buffered until complete. A
//! stream is complete only when `data: [DONE]` arrived or every choice that
//! started also finished; otherwise `finish` reports a broken stream.

use crate::switchyard::plugin::types::{
    ErrorKind, Finish, ProviderError, StreamEvent, StreamStart, TextDelta, ToolCallDelta,
};
use crate::{classify, finish_reason, usage};
use openai_wire as wire;

#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    data: String,
    started: bool,
    done: bool,
    open_choices: u32,
    finished_choices: u32,
}

impl Decoder {
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            start = end + 1;
            if line.is_empty() {
                let data = std::mem::take(&mut self.data);
                if !data.is_empty() {
                    self.dispatch(&data, &mut events)?;
                }
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                let text = std::str::from_utf8(rest).map_err(|_| ProviderError {
                    kind: ErrorKind::Other,
                    message: "stream carried invalid UTF-8".into(),
                    status: None,
                    retry_after_ms: None,
                    code: None,
                })?;
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(text);
            }
            // `event:`, `id:`, `retry:` and `:` comment lines carry nothing here.
        }
        self.buf.drain(..start);
        Ok(events)
    }

    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut events = Vec::new();
        // A last event without its blank line still counts.
        let data = std::mem::take(&mut self.data);
        if !data.is_empty() {
            self.dispatch(&data, &mut events)?;
        }
        let all_finished = self.open_choices > 0 && self.finished_choices >= self.open_choices;
        if self.done || all_finished {
            Ok(events)
        } else {
            Err(ProviderError {
                kind: ErrorKind::Other,
                message: "upstream stream ended before it was complete".into(),
                status: None,
                retry_after_ms: None,
                code: None,
            })
        }
    }

    fn dispatch(&mut self, data: &str, events: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_str(data).map_err(|e| ProviderError {
            kind: ErrorKind::Other,
            message: format!("stream event is not JSON: {e}"),
            status: None,
            retry_after_ms: None,
            code: None,
        })?;
        if value.get("error").is_some() {
            return Err(classify(None, &[], data.as_bytes()));
        }
        let chunk: wire::ChatCompletionChunk =
            serde_json::from_value(value).map_err(|e| ProviderError {
                kind: ErrorKind::Other,
                message: format!("stream event is not a chat.completion.chunk: {e}"),
                status: None,
                retry_after_ms: None,
                code: None,
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
