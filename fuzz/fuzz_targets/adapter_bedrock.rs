//! The `bedrock` adapter: the Converse response parser, the ConverseStream
//! decoder (AWS event-stream binary framing) and the error classifier on
//! arbitrary upstream bytes.
//!
//! Raw bytes rarely get past the framing's two CRC32s, so a stream input
//! with bit 5 of `mode` set is instead a list of frames separated by NUL
//! bytes, each a kind byte (the event or exception it is) and its payload;
//! they are framed here with valid checksums, which drives the decoder's
//! event handling rather than its framing.
#![no_main]

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{Input, Mode, check_stream};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

const EVENTS: [&str; 8] = [
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

/// Frame one `[kind, payload…]` segment.
fn frame(segment: &[u8], out: &mut Vec<u8>) {
    let Some((&kind, payload)) = segment.split_first() else {
        return;
    };
    let m = Message::new(payload.to_vec());
    let m = match kind % 12 {
        k @ 0..8 => header(
            header(m, ":message-type", "event"),
            ":event-type",
            EVENTS[usize::from(k)],
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

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::split(data) else {
        return;
    };
    let r = &input.response;
    match input.mode {
        Mode::Response => {
            let _ = bedrock::parse_response(r, MODEL.to_owned());
        }
        Mode::Stream if data[0] & 0x20 != 0 => {
            let mut framed = Vec::new();
            for segment in input.bytes.split(|&b| b == 0) {
                frame(segment, &mut framed);
            }
            check_stream(
                || bedrock::decode::Decoder::new(MODEL.to_owned()),
                &framed,
                input.seed,
            );
        }
        Mode::Stream => check_stream(
            || bedrock::decode::Decoder::new(MODEL.to_owned()),
            input.bytes,
            input.seed,
        ),
        Mode::Error => {
            let _ = bedrock::classify(r.status, &r.headers, &r.body);
        }
    }
});
