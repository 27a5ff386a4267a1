//! The `json` evaluator: value 1 (`valid`) when the answer is JSON and
//! matches the configured JSON Schema (or the request's `json_schema`
//! response format), else 0 (`invalid-json`, `schema-mismatch`) with the
//! first error. The rules and config keys: `eval_kit::json`.

eval_kit::plugin!(eval_kit::json::evaluate);
