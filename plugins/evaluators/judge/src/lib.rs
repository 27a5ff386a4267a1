//! The `judge` evaluator: a model of the gateway config, asked through the
//! host, grades the answer against a rubric (1-5, or pass-fail); its reason
//! is the explanation. The prompt, the parsing and the config keys:
//! `eval_kit::judge`.

eval_kit::plugin!(eval_kit::judge::evaluate);
