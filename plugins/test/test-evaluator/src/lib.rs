//! An evaluator for the host's tests. Its config picks a behaviour:
//! `{"mode":"length"}` (a well-behaved evaluator: score `length`, 1 when
//! the answer is non-empty), and hostile ones: `"trap"`, `"loop"` (never
//! returns), `"alloc"` (grows memory without bound), `"out-of-range"`
//! (a score of 7), `"error"` (an error value), `"judge"` (asks the model
//! named by `model` through `models.complete` and scores 1 when it answers),
//! `"pair-longer"` (a pairwise evaluator: the longer answer is the better).

#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "evaluator-plugin", path: "../../../wit" });

    #[cfg(target_arch = "wasm32")]
    use super::TestEvaluator;
    #[cfg(target_arch = "wasm32")]
    export!(TestEvaluator);
}

use bindings::exports::switchyard::plugin::evaluator::{Guest, Score};
use bindings::switchyard::plugin::evaluation::EvalInput;
use bindings::switchyard::plugin::{host, models};

struct TestEvaluator;

fn score(name: &str, value: f64, explanation: Option<String>) -> Vec<Score> {
    vec![Score {
        name: name.into(),
        value,
        label: None,
        explanation,
    }]
}

impl Guest for TestEvaluator {
    fn evaluate(input: EvalInput) -> Result<Vec<Score>, String> {
        let cfg: serde_json::Value = host::config_json()
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default();
        let mode = cfg.get("mode").and_then(|m| m.as_str()).unwrap_or("length");
        match mode {
            "trap" => panic!("test-evaluator asked to trap"),
            "loop" => hostile_kit::spin_forever(),
            "alloc" => hostile_kit::hog_memory(),
            "out-of-range" => Ok(score("length", 7.0, None)),
            // A pairwise evaluator: the longer answer is the better.
            "pair-longer" => {
                let Some(other) = input.other_answer() else {
                    return Ok(vec![]);
                };
                let (a, b) = (input.answer().len(), other.len());
                Ok(score(
                    "longer",
                    match a.cmp(&b) {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Less => 0.0,
                        std::cmp::Ordering::Equal => 0.5,
                    },
                    None,
                ))
            }
            "error" => Err("test-evaluator refuses".into()),
            "judge" => {
                let model = cfg.get("model").and_then(|m| m.as_str()).unwrap_or("judge");
                let r = models::complete(&models::CompletionRequest {
                    model: model.into(),
                    system: Some("Grade the answer.".into()),
                    prompt: input.answer(),
                    max_tokens: 8,
                    timeout_ms: 5000,
                    cache_ttl_ms: 0,
                });
                match r {
                    Ok(c) => Ok(score("judge", 1.0, Some(c.text))),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(score(
                "length",
                if input.answer().is_empty() { 0.0 } else { 1.0 },
                None,
            )),
        }
    }
}
