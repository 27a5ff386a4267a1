//! What each adapter target does with one input. The fuzz targets in
//! `fuzz_targets/` are one call each into this module, and the corpus replay
//! (`tests/replay.rs`, run by the test suite on stable Rust) calls the same
//! functions on every stored input, so the checks cannot drift apart.

use adapter_kit::openai;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

use crate::{Input, Mode, check_stream};

/// The OpenAI dialect (`adapter_kit::openai`): the chat-completion parser,
/// the SSE chunk decoder and the error classifier; `status_optional` also
/// classifies errors without a status now and then, as a stream's error
/// event is.
fn openai_dialect(data: &[u8], status_optional: bool) {
    let Some(input) = Input::split(data) else {
        return;
    };
    let r = &input.response;
    match input.mode {
        Mode::Response => {
            let _ = openai::parse_response(r.status, &r.headers, &r.body);
        }
        Mode::Stream => check_stream(openai::Decoder::default, input.bytes, input.seed),
        Mode::Error => {
            let status = (!status_optional || input.seed & 1 == 0).then_some(r.status);
            let _ = openai::classify(status, &r.headers, &r.body);
        }
    }
}

/// The `openai` adapter (its dialect lives in `adapter_kit::openai`). Also
/// what every OpenAI-compatible server (Ollama, vLLM, llama.cpp, …) answers
/// through.
pub fn adapter_openai(data: &[u8]) {
    openai_dialect(data, false);
}

/// The `azure-openai` adapter: its bodies, streams and errors are the OpenAI
/// dialect's (as the adapter calls it), seeded with Azure's own answers
/// (content-filter annotations, `prompt_filter_results` chunks without
/// choices, Azure error codes). Errors are also classified without a status.
pub fn adapter_azure_openai(data: &[u8]) {
    openai_dialect(data, true);
}

/// The `anthropic` adapter: the `message` parser, the Messages stream
/// decoder (`message_start` … `message_stop`) and the error classifier.
pub fn adapter_anthropic(data: &[u8]) {
    let Some(input) = Input::split(data) else {
        return;
    };
    let r = &input.response;
    match input.mode {
        Mode::Response => {
            let _ = anthropic::parse_response(r);
        }
        Mode::Stream => check_stream(anthropic::decode::Decoder::default, input.bytes, input.seed),
        Mode::Error => {
            let _ = anthropic::classify(Some(r.status), &r.headers, &r.body);
        }
    }
}

const GEMINI_MODEL: &str = "gemini-2.5-flash";

/// The `gemini` adapter: the `GenerateContentResponse` parser, the
/// `streamGenerateContent?alt=sse` decoder and the error classifier
/// (Google's error body with its `details`).
pub fn adapter_gemini(data: &[u8]) {
    let Some(input) = Input::split(data) else {
        return;
    };
    let r = &input.response;
    match input.mode {
        Mode::Response => {
            let _ = gemini::response::parse(r.status, &r.headers, &r.body, GEMINI_MODEL);
        }
        Mode::Stream => check_stream(
            || gemini::stream::decoder(GEMINI_MODEL),
            input.bytes,
            input.seed,
        ),
        Mode::Error => {
            let _ = gemini::response::classify(Some(r.status), &r.headers, &r.body);
        }
    }
}

const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

const BEDROCK_EVENTS: [&str; 8] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
    "",
    "somethingNew",
];

fn header(m: Message, name: &'static str, value: &str) -> Message {
    m.add_header(Header::new(
        name,
        HeaderValue::String(value.to_owned().into()),
    ))
}

/// Frame one `[kind, payload…]` segment as an AWS event-stream message.
fn frame(segment: &[u8], out: &mut Vec<u8>) {
    let Some((&kind, payload)) = segment.split_first() else {
        return;
    };
    let m = Message::new(payload.to_vec());
    let m = match kind % 12 {
        k @ 0..8 => header(
            header(m, ":message-type", "event"),
            ":event-type",
            BEDROCK_EVENTS[usize::from(k)],
        ),
        8 => header(
            header(m, ":message-type", "exception"),
            ":exception-type",
            "throttlingException",
        ),
        9 => header(
            header(m, ":message-type", "exception"),
            ":exception-type",
            "validationException",
        ),
        10 => header(
            header(m, ":message-type", "error"),
            ":error-code",
            "InternalFailure",
        ),
        // No `:message-type` at all.
        _ => header(m, ":event-type", "contentBlockDelta"),
    };
    let _ = write_message_to(&m, out);
}

/// The `bedrock` adapter: the Converse response parser, the ConverseStream
/// decoder (AWS event-stream binary framing) and the error classifier.
///
/// Raw bytes rarely get past the framing's two CRC32s, so a stream input
/// with bit 5 of `mode` set is instead a list of frames separated by NUL
/// bytes, each a kind byte (the event or exception it is) and its payload;
/// they are framed here with valid checksums, which drives the decoder's
/// event handling rather than its framing.
pub fn adapter_bedrock(data: &[u8]) {
    let Some(input) = Input::split(data) else {
        return;
    };
    let r = &input.response;
    let decoder = || bedrock::decode::Decoder::new(BEDROCK_MODEL.to_owned());
    match input.mode {
        Mode::Response => {
            let _ = bedrock::parse_response(r, BEDROCK_MODEL.to_owned());
        }
        Mode::Stream if data[0] & 0x20 != 0 => {
            let mut framed = Vec::new();
            for segment in input.bytes.split(|&b| b == 0) {
                frame(segment, &mut framed);
            }
            check_stream(decoder, &framed, input.seed);
        }
        Mode::Stream => check_stream(decoder, input.bytes, input.seed),
        Mode::Error => {
            let _ = bedrock::classify(r.status, &r.headers, &r.body);
        }
    }
}

/// A target: one input in, a panic on anything wrong.
pub type Target = fn(&[u8]);

/// Every adapter target by name, as `fuzz_targets/` names them.
pub const ADAPTERS: [(&str, Target); 5] = [
    ("adapter_openai", adapter_openai),
    ("adapter_azure_openai", adapter_azure_openai),
    ("adapter_anthropic", adapter_anthropic),
    ("adapter_gemini", adapter_gemini),
    ("adapter_bedrock", adapter_bedrock),
];
