//! The `match` evaluator: does the answer match the expected value (from the
//! request's metadata or the config)? Modes `exact`, `contains`, `regex`,
//! `number`, `one-of`, `json`; value 1 (`pass`) or 0 (`fail`), no score when
//! nothing is expected. The rules and config keys: `eval_kit::matching`.

eval_kit::plugin!(eval_kit::matching::evaluate);
