//! ConverseStream's answer: AWS event-stream frames
//! (`application/vnd.amazon.eventstream`), decoded with
//! `aws-smithy-eventstream`, into canonical events.
//!
//! Each frame carries `:message-type` (`event`, `exception` or `error`) and,
//! for events, `:event-type` with a JSON payload: `messageStart`,
//! `contentBlockStart` (a tool use's id and name), `contentBlockDelta` (text
//! or a tool use's partial input JSON), `contentBlockStop`, `messageStop`
//! (the stop reason) and `metadata` (usage). Exceptions name their type in
//! `:exception-type` and carry `{"message": …}`.
//!
//! Content blocks are numbered across text and tool use; canonical tool-call
//! deltas are numbered among tool calls only, so block indexes are mapped.
//! The stream is complete after `messageStop` (usage follows in `metadata`).

use std::collections::HashMap;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::BytesMut;
use serde::de::DeserializeOwned;

use adapter_kit::types::{
    ErrorKind, Finish, ProviderError, StreamEvent, StreamStart, TextDelta, ToolCallDelta,
};
use adapter_kit::{Decode, err};

use crate::wire::event;
use crate::{classify_parts, finish_reason, usage};

/// The event-stream format's limit on one message.
const MAX_FRAME: usize = 16 << 20;

/// Decodes one ConverseStream answer.
pub struct Decoder {
    model: String,
    frames: MessageFrameDecoder,
    buf: BytesMut,
    started: bool,
    /// Block index → tool-call index.
    tools: HashMap<u32, u32>,
    stopped: bool,
}

fn header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

fn payload<T: DeserializeOwned>(m: &Message, kind: &str) -> Result<T, ProviderError> {
    serde_json::from_slice(m.payload()).map_err(|e| {
        err(
            ErrorKind::Other,
            format!("stream event `{kind}` is not understood: {e}"),
        )
    })
}

impl Decoder {
    /// A decoder for a stream of `model` (ConverseStream does not name it).
    pub fn new(model: String) -> Decoder {
        Decoder {
            model,
            frames: MessageFrameDecoder::new(),
            buf: BytesMut::new(),
            started: false,
            tools: HashMap::new(),
            stopped: false,
        }
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start(StreamStart {
                id: String::new(),
                model: self.model.clone(),
                created: 0,
            }));
            out.push(StreamEvent::Role(0));
        }
    }

    fn dispatch(&mut self, m: &Message, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        match header(m, ":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let kind = header(m, ":exception-type").unwrap_or("exception");
                let message = serde_json::from_slice::<crate::wire::ErrorBody>(m.payload())
                    .ok()
                    .and_then(|b| b.message)
                    .unwrap_or_else(|| String::from_utf8_lossy(m.payload()).into_owned());
                return Err(classify_parts(None, kind, &message, None));
            }
            // Protocol-level errors of the framing itself.
            _ => {
                let code = header(m, ":error-code").unwrap_or("error");
                let message = header(m, ":error-message").unwrap_or("upstream stream error");
                return Err(classify_parts(None, code, message, None));
            }
        }
        let kind = header(m, ":event-type").unwrap_or_default();
        match kind {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                self.start(out);
                let e: event::ContentBlockStart = payload(m, kind)?;
                if let Some(t) = e.start.tool_use {
                    let n = self.tools.len() as u32;
                    self.tools.insert(e.content_block_index, n);
                    out.push(StreamEvent::ToolCall(ToolCallDelta {
                        choice: 0,
                        index: n,
                        id: Some(t.tool_use_id),
                        name: Some(t.name),
                        arguments: String::new(),
                    }));
                }
            }
            "contentBlockDelta" => {
                self.start(out);
                let e: event::ContentBlockDelta = payload(m, kind)?;
                if let Some(text) = e.delta.text.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text(TextDelta { choice: 0, text }));
                }
                if let Some(t) = e.delta.tool_use {
                    let Some(&n) = self.tools.get(&e.content_block_index) else {
                        return Err(err(
                            ErrorKind::Other,
                            format!(
                                "toolUse delta for content block {}, which did not start a tool use",
                                e.content_block_index
                            ),
                        ));
                    };
                    if !t.input.is_empty() {
                        out.push(StreamEvent::ToolCall(ToolCallDelta {
                            choice: 0,
                            index: n,
                            id: None,
                            name: None,
                            arguments: t.input,
                        }));
                    }
                }
                // Reasoning and citation deltas have no canonical form.
            }
            "messageStop" => {
                self.start(out);
                let e: event::MessageStop = payload(m, kind)?;
                out.push(StreamEvent::Finish(Finish {
                    choice: 0,
                    reason: finish_reason(e.stop_reason.as_deref().unwrap_or("end_turn")),
                }));
                self.stopped = true;
            }
            "metadata" => {
                let e: event::Metadata = payload(m, kind)?;
                if let Some(u) = e.usage {
                    out.push(StreamEvent::Usage(usage(&u)));
                }
            }
            // `contentBlockStop` closes a block; unknown events are skipped.
            _ => {}
        }
        Ok(())
    }
}

impl Decode for Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match self.frames.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Complete(m)) => self.dispatch(&m, &mut out)?,
                Ok(DecodedFrame::Incomplete) if self.buf.len() > MAX_FRAME => {
                    return Err(err(
                        ErrorKind::Other,
                        "event-stream frame larger than 16 MiB",
                    ));
                }
                Ok(DecodedFrame::Incomplete) => break,
                Err(e) => {
                    return Err(err(
                        ErrorKind::Other,
                        format!("malformed event-stream frame: {e}"),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.stopped {
            Ok(vec![])
        } else {
            Err(err(
                ErrorKind::Other,
                "upstream stream ended before messageStop",
            ))
        }
    }
}
