//! The `anthropic` adapter: the `message` parser, the Messages stream decoder
//! (`message_start` … `message_stop`) and the error classifier on arbitrary
//! upstream bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{Input, Mode, check_stream};

fuzz_target!(|data: &[u8]| {
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
});
