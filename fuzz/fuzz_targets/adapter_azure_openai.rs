//! The `azure-openai` adapter: its bodies, streams and errors are the OpenAI
//! dialect's (`adapter_kit::openai`, as the adapter calls it), seeded with
//! Azure's own answers (content-filter annotations, `prompt_filter_results`
//! chunks without choices, Azure error codes). Errors are also classified
//! without a status, as a stream's error event is.
#![no_main]

use adapter_kit::openai;
use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{Input, Mode, check_stream};

fuzz_target!(|data: &[u8]| {
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
            let status = (input.seed & 1 == 0).then_some(r.status);
            let _ = openai::classify(status, &r.headers, &r.body);
        }
    }
});
