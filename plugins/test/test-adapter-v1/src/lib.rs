//! Test adapter, version v1: the OpenAI dialect with every answer's `model`
//! suffixed `@v1`, so hot-reload tests can tell which version answered.

const MARK: &str = "v1";

include!("../../test-adapter-v1/marker.rs");
