//! The `gemini` adapter: the `GenerateContentResponse` parser, the
//! `streamGenerateContent?alt=sse` decoder and the error classifier (Google's
//! error body with its `details`) on arbitrary upstream bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{Input, Mode, check_stream};

const MODEL: &str = "gemini-2.5-flash";

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::split(data) else {
        return;
    };
    let r = &input.response;
    match input.mode {
        Mode::Response => {
            let _ = gemini::response::parse(r.status, &r.headers, &r.body, MODEL);
        }
        Mode::Stream => check_stream(|| gemini::stream::decoder(MODEL), input.bytes, input.seed),
        Mode::Error => {
            let _ = gemini::response::classify(Some(r.status), &r.headers, &r.body);
        }
    }
});
