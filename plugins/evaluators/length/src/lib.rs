//! The `length` evaluator: value 1 (`ok`) when the answer's characters and
//! tokens are within the configured bounds, else 0 (`too-short`,
//! `too-long`). The rules and config keys: `eval_kit::length`.

eval_kit::plugin!(eval_kit::length::evaluate);
