//! The `refusal` evaluator: did the model answer at all? Value 1 (label
//! `answered`) or 0: `refused` (the first 300 characters of the answer
//! hold a refusal phrase, matched case-insensitively with curly
//! apostrophes straightened), `filtered` (finish reason `content_filter`)
//! or `empty` (no text and no tool calls).
//!
//! Config: `{ phrases = ["…"] (added to the built-in list), name =
//! "refusal" }`; any other key is an error naming it.

#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "evaluator-plugin", path: "../../../wit" });

    #[cfg(target_arch = "wasm32")]
    use super::Refusal;
    #[cfg(target_arch = "wasm32")]
    export!(Refusal);
}

pub mod rules;

use bindings::exports::switchyard::plugin::evaluator::{Guest, Score};
use bindings::switchyard::plugin::evaluation::EvalInput;
use bindings::switchyard::plugin::host;
use bindings::switchyard::plugin::types::FinishReason;

struct Refusal;

impl Guest for Refusal {
    fn evaluate(input: EvalInput) -> Result<Vec<Score>, String> {
        let config = rules::Config::parse(host::config_json().as_deref())?;
        let filtered = matches!(input.finish_reason(), Some(FinishReason::ContentFilter));
        let verdict = rules::judge(
            &config,
            &input.answer(),
            !input.tool_calls().is_empty(),
            filtered,
        );
        Ok(vec![Score {
            name: config.name.clone(),
            value: if verdict == rules::Verdict::Answered {
                1.0
            } else {
                0.0
            },
            label: Some(verdict.label().into()),
            explanation: None,
        }])
    }
}
