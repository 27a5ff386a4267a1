//! The `openai` adapter (its dialect lives in `adapter_kit::openai`): the
//! chat-completion parser, the SSE chunk decoder and the error classifier on
//! arbitrary upstream bytes. Also what every OpenAI-compatible server
//! (Ollama, vLLM, llama.cpp, …) answers through.
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
            let _ = openai::classify(Some(r.status), &r.headers, &r.body);
        }
    }
});
