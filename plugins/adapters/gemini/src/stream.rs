//! `streamGenerateContent?alt=sse` into canonical stream events.
//!
//! Every `data:` event is a whole `GenerateContentResponse` holding the next
//! piece of each candidate. The first one starts the stream; a candidate's
//! first piece announces its role; text parts are text deltas; a function
//! call comes whole in one piece, so it is one tool-call delta with id, name
//! and all arguments (`index` counts the calls of the candidate); a
//! `finishReason` finishes the candidate. `usageMetadata` is cumulative: the
//! last one seen is reported once every candidate finished. The stream is
//! complete only then; `finish` reports any other ending as an error.

use std::collections::BTreeMap;

use adapter_kit::stream::{Events, SseDecoder};
use adapter_kit::types::{
    Finish, ProviderError, StreamEvent, StreamStart, TextDelta, ToolCallDelta, Usage,
};

use crate::response::{classify, finish_reason, read, split_parts};

/// Decodes one stream.
pub type Decoder = SseDecoder<Chunks>;

/// A decoder for a stream of `model` (reported when the stream does not
/// name its model version).
pub fn decoder(model: &str) -> Decoder {
    SseDecoder::new(Chunks {
        model: model.to_owned(),
        ..Chunks::default()
    })
}

#[derive(Debug, Default)]
struct CandidateState {
    calls: u32,
    finished: bool,
}

/// The state of a stream of `GenerateContentResponse` chunks.
#[derive(Debug, Default)]
pub struct Chunks {
    model: String,
    started: bool,
    candidates: BTreeMap<u32, CandidateState>,
    /// The latest usage not yet reported.
    usage: Option<Usage>,
}

impl Events for Chunks {
    /// Every candidate that started has finished.
    fn complete(&self) -> bool {
        !self.candidates.is_empty() && self.candidates.values().all(|c| c.finished)
    }

    fn event(&mut self, data: &str, events: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        let chunk = read(data.as_bytes(), "stream event", || {
            classify(None, &[], data.as_bytes())
        })?;
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start(StreamStart {
                id: chunk.response_id.clone().unwrap_or_default(),
                model: chunk
                    .model_version
                    .clone()
                    .unwrap_or_else(|| self.model.clone()),
                created: 0,
            }));
        }
        for c in chunk.candidates {
            let choice = c.index;
            let state = self.candidates.entry(choice).or_insert_with(|| {
                events.push(StreamEvent::Role(choice));
                CandidateState::default()
            });
            if state.finished {
                continue;
            }
            let (text, calls) = split_parts(c.content.map(|c| c.parts).unwrap_or_default());
            if !text.is_empty() {
                events.push(StreamEvent::Text(TextDelta { choice, text }));
            }
            for call in calls {
                let call = call.into_tool_call(choice, state.calls);
                events.push(StreamEvent::ToolCall(ToolCallDelta {
                    choice,
                    index: state.calls,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                }));
                state.calls += 1;
            }
            if let Some(reason) = c.finish_reason {
                state.finished = true;
                events.push(StreamEvent::Finish(Finish {
                    choice,
                    reason: finish_reason(&reason, state.calls > 0),
                }));
            }
        }
        if let Some(u) = &chunk.usage_metadata {
            self.usage = Some(u.usage());
        }
        if self.complete()
            && let Some(u) = self.usage.take()
        {
            events.push(StreamEvent::Usage(u));
        }
        Ok(())
    }
}
