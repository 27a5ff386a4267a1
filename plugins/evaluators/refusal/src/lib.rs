//! The `refusal` evaluator: value 1 when the model answered, 0 when it
//! refused (a refusal phrase near the start), was stopped by a content
//! filter, or said nothing. The rules and config keys: `eval_kit::refusal`.

eval_kit::plugin!(eval_kit::refusal::evaluate);
