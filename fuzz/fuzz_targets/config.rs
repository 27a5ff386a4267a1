//! libFuzzer entry of [`switchyard_fuzz::config::check`] (what it drives and
//! checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::config::check(data));
