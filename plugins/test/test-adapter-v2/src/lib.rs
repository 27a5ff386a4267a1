//! Test adapter, version v2: the OpenAI dialect with every answer's `model`
//! suffixed `@v2`, so hot-reload tests can tell which version answered.

const MARK: &str = "v2";

include!("../../test-adapter-v1/marker.rs");
