//! libFuzzer entry of [`switchyard_fuzz::targets::adapter_gemini`] (what it drives
//! and checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::targets::adapter_gemini(data));
