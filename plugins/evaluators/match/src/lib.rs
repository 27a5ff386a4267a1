//! The `match` evaluator: the answer against an expected value.
//!
//! The expected value comes from the request's metadata (key
//! `expected_key`, default `expected`), else from the config's `expected`;
//! with neither, the answer is not scored (an empty list). Modes:
//!
//! - `exact` (default): equal after trimming (and case folding unless
//!   `case_sensitive`);
//! - `contains`: the answer contains the expected text;
//! - `regex`: the expected value is a regular expression the answer
//!   matches;
//! - `number`: the first number in the answer is within `tolerance`
//!   (absolute, default 0) or `relative_tolerance` of the expected number;
//! - `one-of`: equal to one of the expected values (a JSON array, or
//!   `a|b|c`);
//! - `json`: the answer (a ```json fence stripped) parses to JSON equal to
//!   the expected JSON.
//!
//! Config: `{ mode, expected, expected_key, tolerance, relative_tolerance,
//! case_sensitive = false, trim = true, name = "match" }`; any other key is
//! an error naming it. The score is `name`, 1 (label `pass`) or 0 (`fail`),
//! with an explanation of a failure.

#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "evaluator-plugin", path: "../../../wit" });

    #[cfg(target_arch = "wasm32")]
    use super::Match;
    #[cfg(target_arch = "wasm32")]
    export!(Match);
}

pub mod rules;

use bindings::exports::switchyard::plugin::evaluator::{Guest, Score};
use bindings::switchyard::plugin::evaluation::EvalInput;
use bindings::switchyard::plugin::host;

struct Match;

impl Guest for Match {
    fn evaluate(input: EvalInput) -> Result<Vec<Score>, String> {
        let config = rules::Config::parse(host::config_json().as_deref())?;
        let metadata = input.metadata();
        let expected = metadata
            .iter()
            .find(|(k, _)| *k == config.expected_key)
            .map(|(_, v)| v.clone())
            .or_else(|| config.expected.clone());
        let Some(expected) = expected else {
            return Ok(vec![]);
        };
        let verdict = rules::check(&config, &input.answer(), &expected)?;
        Ok(vec![Score {
            name: config.name.clone(),
            value: if verdict.is_ok() { 1.0 } else { 0.0 },
            label: Some(if verdict.is_ok() { "pass" } else { "fail" }.into()),
            explanation: verdict.err(),
        }])
    }
}
