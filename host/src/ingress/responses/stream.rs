//! Canonical stream events into the Responses API's typed event sequence,
//! as OpenAI sends it: `response.created`, `response.in_progress`, then per
//! output item `response.output_item.added`, its content
//! (`response.content_part.added`, `response.output_text.delta`…`.done`,
//! `response.content_part.done`, or `response.function_call_arguments.delta`
//! …`.done`) and `response.output_item.done`; last `response.completed`
//! (`response.incomplete` when cut by length) with the whole response. A
//! stream that breaks ends with `error` and `response.failed`, never a
//! clean end. Each event is `event: NAME` + `data: {"type": NAME,
//! "sequence_number": N, …}`.

use serde::Serialize;

use super::Echo;
use super::render::{
    ErrorObject, Incomplete, OutputItem, OutputText, ResponseObject, call_item, kept_answer,
    message_item, status_of, usage,
};
use crate::canonical::{FinishReason, StreamEvent, Usage};
use crate::error::ApiError;

/// The item being streamed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    None,
    Text,
    /// A call, by the canonical stream's call index.
    Call(u32),
}

/// Turns canonical stream events into the Responses API's events.
pub struct SseEncoder {
    echo: Box<Echo>,
    model: String,
    created_at: u64,
    seq: u64,
    started: bool,
    /// Items so far; the last one is the open one while `open` says so.
    output: Vec<OutputItem>,
    open: Open,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The answer the request log keeps, once the stream has ended.
    kept: Option<String>,
}

#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(flatten)]
    data: T,
}

#[derive(Serialize)]
struct WithResponse<'a> {
    response: ResponseObject<'a>,
}

#[derive(Serialize)]
struct WithItem<'a> {
    output_index: usize,
    item: &'a OutputItem,
}

#[derive(Serialize)]
struct WithPart<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    part: &'a OutputText,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct TextDone<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    text: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct ArgsDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

#[derive(Serialize)]
struct ArgsDone<'a> {
    item_id: &'a str,
    output_index: usize,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: Option<&'a str>,
    message: &'a str,
    param: Option<&'a str>,
}

/// Append one event to `out`: `event: KIND` and its data, numbered.
fn emit<T: Serialize>(out: &mut Vec<u8>, seq: &mut u64, kind: &str, data: T) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let e = Event {
        kind,
        sequence_number: *seq,
        data,
    };
    // Serializing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &e);
    out.extend_from_slice(b"\n\n");
    *seq += 1;
}

fn set_status(item: &mut OutputItem, to: &'static str) {
    match item {
        OutputItem::Message { status, .. } | OutputItem::FunctionCall { status, .. } => {
            *status = to;
        }
    }
}

impl SseEncoder {
    /// An encoder for the response `echo` describes.
    pub fn new(echo: Box<Echo>) -> SseEncoder {
        SseEncoder {
            model: echo.requested.clone(),
            echo,
            created_at: super::super::openai::now_secs(),
            seq: 0,
            started: false,
            output: Vec::new(),
            open: Open::None,
            finish: None,
            usage: None,
            kept: None,
        }
    }

    /// A lifecycle event carrying the whole response so far.
    fn lifecycle(
        &mut self,
        out: &mut Vec<u8>,
        kind: &str,
        status: &'static str,
        incomplete: Option<Incomplete>,
        error: Option<ErrorObject>,
    ) {
        let response = ResponseObject {
            id: &self.echo.id,
            object: "response",
            created_at: self.created_at,
            status,
            background: false,
            error,
            incomplete_details: incomplete,
            model: &self.model,
            output: &self.output,
            // Usage comes with the last event.
            usage: match status {
                "in_progress" => None,
                _ => self.usage.as_ref().map(usage),
            },
            echo: &self.echo,
        };
        emit(out, &mut self.seq, kind, WithResponse { response });
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        self.lifecycle(out, "response.created", "in_progress", None, None);
        self.lifecycle(out, "response.in_progress", "in_progress", None, None);
    }

    /// Open `item`: its added events.
    fn open(&mut self, open: Open, item: OutputItem, out: &mut Vec<u8>) {
        self.output.push(item);
        self.open = open;
        let output_index = self.output.len() - 1;
        let item = &self.output[output_index];
        emit(
            out,
            &mut self.seq,
            "response.output_item.added",
            WithItem { output_index, item },
        );
        if let OutputItem::Message { id, content, .. } = item
            && let Some(part) = content.first()
        {
            emit(
                out,
                &mut self.seq,
                "response.content_part.added",
                WithPart {
                    item_id: id,
                    output_index,
                    content_index: 0,
                    part,
                },
            );
        }
    }

    /// Close the open item with `status`: its done events.
    fn close(&mut self, status: &'static str, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.open, Open::None) == Open::None {
            return;
        }
        let output_index = self.output.len() - 1;
        let Some(item) = self.output.last_mut() else {
            return;
        };
        set_status(item, status);
        let seq = &mut self.seq;
        match &*item {
            OutputItem::Message { id, content, .. } => {
                if let Some(part) = content.first() {
                    let text = &part.text;
                    emit(
                        out,
                        seq,
                        "response.output_text.done",
                        TextDone {
                            item_id: id,
                            output_index,
                            content_index: 0,
                            text,
                            logprobs: [],
                        },
                    );
                    emit(
                        out,
                        seq,
                        "response.content_part.done",
                        WithPart {
                            item_id: id,
                            output_index,
                            content_index: 0,
                            part,
                        },
                    );
                }
            }
            OutputItem::FunctionCall { id, arguments, .. } => emit(
                out,
                seq,
                "response.function_call_arguments.done",
                ArgsDone {
                    item_id: id,
                    output_index,
                    arguments,
                },
            ),
        }
        emit(
            out,
            seq,
            "response.output_item.done",
            WithItem { output_index, item },
        );
    }

    /// Encode events into SSE appended to `out`.
    pub fn encode(&mut self, events: Vec<StreamEvent>, out: &mut Vec<u8>) {
        for e in events {
            match e {
                StreamEvent::Start(s) => {
                    if !s.model.is_empty() {
                        self.model = s.model;
                    }
                    if s.created != 0 {
                        self.created_at = s.created;
                    }
                }
                // The Responses API has one output; other choices are not
                // rendered.
                StreamEvent::Text(t) if t.choice == 0 => {
                    if t.text.is_empty() {
                        continue;
                    }
                    self.start(out);
                    if self.open != Open::Text {
                        self.close("completed", out);
                        self.open(Open::Text, message_item(String::new(), "in_progress"), out);
                    }
                    let output_index = self.output.len() - 1;
                    let Some(OutputItem::Message { id, content, .. }) = self.output.last_mut()
                    else {
                        continue;
                    };
                    if let Some(part) = content.first_mut() {
                        part.text.push_str(&t.text);
                    }
                    emit(
                        out,
                        &mut self.seq,
                        "response.output_text.delta",
                        TextDelta {
                            item_id: id,
                            output_index,
                            content_index: 0,
                            delta: &t.text,
                            logprobs: [],
                        },
                    );
                }
                StreamEvent::ToolCall(t) if t.choice == 0 => {
                    self.start(out);
                    let same_call = self.open == Open::Call(t.index)
                        && match (&t.id, self.output.last()) {
                            (Some(new), Some(OutputItem::FunctionCall { call_id, .. })) => {
                                new.is_empty() || new == call_id
                            }
                            _ => true,
                        };
                    if !same_call {
                        self.close("completed", out);
                        let mut item = call_item(
                            t.id.clone().unwrap_or_default(),
                            t.name.clone().unwrap_or_default(),
                            String::new(),
                        );
                        set_status(&mut item, "in_progress");
                        self.open(Open::Call(t.index), item, out);
                    }
                    let output_index = self.output.len() - 1;
                    let Some(OutputItem::FunctionCall {
                        id,
                        name,
                        arguments,
                        ..
                    }) = self.output.last_mut()
                    else {
                        continue;
                    };
                    // A name that comes after the call's first piece.
                    if name.is_empty()
                        && let Some(n) = t.name
                    {
                        *name = n;
                    }
                    if t.arguments.is_empty() {
                        continue;
                    }
                    arguments.push_str(&t.arguments);
                    emit(
                        out,
                        &mut self.seq,
                        "response.function_call_arguments.delta",
                        ArgsDelta {
                            item_id: id,
                            output_index,
                            delta: &t.arguments,
                        },
                    );
                }
                StreamEvent::Finish(f) if f.choice == 0 => self.finish = Some(f.reason),
                StreamEvent::Usage(u) => self.usage = Some(u),
                _ => {}
            }
        }
    }

    /// The end of a complete stream: the open item's done events, then
    /// `response.completed` (or `response.incomplete`).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        let (status, incomplete) = status_of(self.finish.as_ref());
        let item_status = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        if self.output.is_empty() {
            // An empty answer is still one (empty) message, as the
            // non-streaming response shows it.
            self.open(Open::Text, message_item(String::new(), "in_progress"), out);
        }
        self.close(item_status, out);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.lifecycle(out, kind, status, incomplete, None);
        if self.echo.store {
            self.kept = Some(kept_answer(&self.output));
        }
    }

    /// The end of a broken stream: an `error` event, then `response.failed`
    /// with what was sent so far; never `response.completed`.
    pub fn error(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        self.start(out);
        if self.open != Open::None {
            self.open = Open::None;
            if let Some(item) = self.output.last_mut() {
                set_status(item, "incomplete");
            }
        }
        emit(
            out,
            &mut self.seq,
            "error",
            ErrorData {
                code: err.code.as_deref(),
                message: &err.message,
                param: err.param.as_deref(),
            },
        );
        let error = ErrorObject {
            code: "server_error",
            message: err.message.clone(),
        };
        self.lifecycle(out, "response.failed", "failed", None, Some(error));
    }

    /// The answer the request log keeps for a stored response that ended
    /// cleanly: its output items.
    pub fn kept_answer(&mut self) -> Option<String> {
        self.kept.take()
    }
}

#[cfg(test)]
mod tests;
