//! `POST /v1/messages` bodies into the canonical request
//! (`switchyard::ingress::anthropic::parse_request`): never a panic, and what
//! it accepts satisfies [`switchyard_fuzz::ingress::check_accepted`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = switchyard::ingress::anthropic::parse_request(data) {
        switchyard_fuzz::ingress::check_accepted(data, &req, "anthropic");
    }
});
