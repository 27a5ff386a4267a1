//! Test adapter, version v2: the OpenAI dialect with every answer's `model`
//! suffixed `@v2`, so hot-reload tests can tell which version answered.

wit_bindgen::generate!({
    world: "adapter-plugin",
    path: "../../../wit",
    with: { "switchyard:plugin/types@0.1.0": adapter_kit::types },
});

const MARK: &str = "v2";

include!("../../test-adapter-v1/marker.rs");
