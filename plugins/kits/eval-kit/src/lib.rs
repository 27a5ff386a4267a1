//! Shared code of the first-party evaluators (`plugins/evaluators/`).
//!
//! An evaluator scores one finished answer, off the request path (WIT world
//! `evaluator-plugin`: `evaluate(eval-input) -> result<list<score>, string>`).
//! Each evaluator's logic lives here as plain Rust over two small traits, so
//! it runs in native unit tests:
//!
//! - [`Input`]: what an evaluator reads of the request and its answer (the
//!   contract's `eval-input` resource, or [`Plain`] values in tests);
//! - [`Models`]: model calls through the host (the `judge`'s).
//!
//! | evaluator | module | scores |
//! |---|---|---|
//! | `json` | `json` (feature `json-schema`) | the answer is JSON, and matches a JSON Schema |
//! | `match` | [`matching`] | the answer matches an expected value |
//! | `refusal` | [`refusal`] | the model answered (not refused, not empty) |
//! | `length` | [`length`] | the answer's length is within bounds |
//! | `judge` | [`judge`] | an LLM judge grades it against a rubric |
//!
//! Every evaluator reads its config from the host (`config_json`, a JSON
//! object: the gateway's `[evaluators.NAME] config`); an unknown key is an
//! error naming it ([`config`]), and so is a value of the wrong type. Each
//! returns one [`Score`] named after the evaluator (`match`, …) unless the
//! config's `name` says otherwise; `Ok([])` means "nothing to score here"
//! (no expected value, say), and an error means the evaluator could not work
//! (a bad config, an unusable expected value) and is counted against it.
//!
//! An evaluator crate is its doc comment and one line:
//!
//! ```ignore
//! eval_kit::plugin!(eval_kit::refusal::evaluate);
//! ```
//!
//! JSON Schema validation (the `json` evaluator) uses the `jsonschema` crate
//! with its default features off (no remote or file references: a `$ref`
//! must point inside the schema); it builds for `wasm32-wasip2` as it is.
//! It is behind this crate's `json-schema` feature, which only
//! `plugins/evaluators/json` turns on, and that crate is a cargo workspace
//! of its own, built by a cargo invocation of its own: jsonschema enables
//! the `regex` crate's default features and serde_json's `float_roundtrip`,
//! and cargo unifies features across everything one invocation builds, so
//! in the shared workspace they would change the other plugins (the
//! task-router's regexes would accept Unicode classes; every component
//! would grow). Natively: `cargo test -p eval-kit --features json-schema`.

pub mod config;
#[cfg(feature = "json-schema")]
pub mod json;
pub mod judge;
pub mod length;
pub mod matching;
pub mod refusal;
pub mod text;

/// One score of an answer (the contract's `score`).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// What was scored: the evaluator's kind, or the config's `name`.
    pub name: String,
    /// 0 (worst) to 1 (best).
    pub value: f64,
    /// A short verdict, e.g. `pass`, `refused`.
    pub label: Option<String>,
    /// Why, in a sentence.
    pub explanation: Option<String>,
}

impl Score {
    /// A score with a label and, optionally, an explanation.
    pub fn new(name: &str, value: f64, label: &str, explanation: Option<String>) -> Score {
        Score {
            name: name.to_owned(),
            value,
            label: Some(label.to_owned()),
            explanation,
        }
    }
}

/// What an evaluator reads of a finished request. Each method is one host
/// call that copies what it returns, so evaluators ask only for what they
/// use.
pub trait Input {
    /// The answer's text: the first choice's content (empty when it only
    /// calls tools).
    fn answer(&self) -> String;
    /// The first choice calls tools.
    fn has_tool_calls(&self) -> bool;
    /// Why the answer ended, in OpenAI's spelling (`stop`, `length`,
    /// `tool_calls`, `content_filter`, or the provider's own word).
    fn finish_reason(&self) -> Option<String>;
    /// The answer's completion tokens, as the upstream reported them.
    fn completion_tokens(&self) -> Option<u32>;
    /// Request metadata: the body's `metadata` and `x-switchyard-meta-*`
    /// headers.
    fn metadata(&self) -> Vec<(String, String)>;
    /// The text of the last user message.
    fn last_user_message(&self) -> Option<String>;
    /// The JSON Schema (as JSON text) of the request's `response_format`,
    /// when it is `json_schema` with a schema.
    fn request_schema(&self) -> Option<String>;
    /// The config name of the model that answered.
    fn model(&self) -> String;
    /// In a head-to-head comparison, the other answer's text.
    fn other_answer(&self) -> Option<String> {
        None
    }
}

/// A model call an evaluator asks the host for (the contract's
/// `completion-request`; answers are never cached for evaluators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCall {
    /// A model of the gateway's config.
    pub model: String,
    /// The system prompt.
    pub system: Option<String>,
    /// The user prompt.
    pub prompt: String,
    /// The answer's token limit.
    pub max_tokens: u32,
    /// Give up after this long (the host caps it at 10 s).
    pub timeout_ms: u32,
}

/// Model calls through the host.
pub trait Models {
    /// The model's answer text, or why there is none.
    fn complete(&self, call: &ModelCall) -> Result<String, String>;
}

/// [`Models`] for evaluators that make no model calls, and for tests: every
/// call fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModels;

impl Models for NoModels {
    fn complete(&self, _call: &ModelCall) -> Result<String, String> {
        Err("no model calls here".into())
    }
}

/// The signature of every evaluator's `evaluate`: its config (JSON text, as
/// the host hands it over), the request and answer, and the model calls.
pub type Evaluate = fn(Option<&str>, &dyn Input, &dyn Models) -> Result<Vec<Score>, String>;

/// An [`Input`] of plain values, for tests and tools.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plain {
    /// See [`Input::answer`].
    pub answer: String,
    /// See [`Input::has_tool_calls`].
    pub tool_calls: bool,
    /// See [`Input::finish_reason`].
    pub finish_reason: Option<String>,
    /// See [`Input::completion_tokens`].
    pub completion_tokens: Option<u32>,
    /// See [`Input::metadata`].
    pub metadata: Vec<(String, String)>,
    /// See [`Input::last_user_message`].
    pub last_user_message: Option<String>,
    /// See [`Input::request_schema`].
    pub request_schema: Option<String>,
    /// See [`Input::model`].
    pub model: String,
    /// In a comparison, the other answer.
    pub other_answer: Option<String>,
}

impl Plain {
    /// An answer of `text` that finished with `stop`, nothing else known.
    pub fn answer(text: &str) -> Plain {
        Plain {
            answer: text.to_owned(),
            finish_reason: Some("stop".into()),
            model: "m".into(),
            ..Plain::default()
        }
    }
}

impl Input for Plain {
    fn answer(&self) -> String {
        self.answer.clone()
    }
    fn has_tool_calls(&self) -> bool {
        self.tool_calls
    }
    fn finish_reason(&self) -> Option<String> {
        self.finish_reason.clone()
    }
    fn completion_tokens(&self) -> Option<u32> {
        self.completion_tokens
    }
    fn metadata(&self) -> Vec<(String, String)> {
        self.metadata.clone()
    }
    fn last_user_message(&self) -> Option<String> {
        self.last_user_message.clone()
    }
    fn request_schema(&self) -> Option<String> {
        self.request_schema.clone()
    }
    fn model(&self) -> String {
        self.model.clone()
    }
    fn other_answer(&self) -> Option<String> {
        self.other_answer.clone()
    }
}

/// Generates an evaluator crate's bindings of the `evaluator-plugin` world
/// and exports an evaluator calling `$evaluate` (an [`Evaluate`]) with the
/// host's config, the `eval-input` as an [`Input`] and the host's `models`
/// import as [`Models`]. Invoke it once, at the root of an evaluator crate
/// under `plugins/<kind>/` (the WIT path is relative to the crate's
/// manifest):
///
/// ```ignore
/// eval_kit::plugin!(eval_kit::refusal::evaluate);
/// ```
#[macro_export]
macro_rules! plugin {
    ($evaluate:path) => {
        /// The `evaluator-plugin` world's bindings, generated from `wit/`.
        // Generated code, and only it, is exempt from two workspace lints:
        // wit-bindgen gives its items no docs, and `export!` expands to the
        // ABI glue the component model calls (`unsafe extern "C"` functions
        // under `#[unsafe(export_name)]`), which has no safe spelling.
        #[allow(missing_docs, unsafe_code)]
        mod bindings {
            ::wit_bindgen::generate!({ world: "evaluator-plugin", path: "../../../wit" });

            // The component's exports exist only in the wasm build. Natively
            // the crate is a plain library: the exported symbols' names
            // (`…/evaluator@0.2.0#…`) are not valid in a native shared
            // object's version script.
            #[cfg(target_arch = "wasm32")]
            use super::Evaluator;
            #[cfg(target_arch = "wasm32")]
            export!(Evaluator);
        }

        /// The exported evaluator.
        #[allow(dead_code)]
        struct Evaluator;

        impl bindings::exports::switchyard::plugin::evaluator::Guest for Evaluator {
            fn evaluate(
                input: bindings::switchyard::plugin::evaluation::EvalInput,
            ) -> ::std::result::Result<
                ::std::vec::Vec<bindings::exports::switchyard::plugin::evaluator::Score>,
                ::std::string::String,
            > {
                let config = bindings::switchyard::plugin::host::config_json();
                let evaluate: $crate::Evaluate = $evaluate;
                let scores = evaluate(config.as_deref(), &HostInput(input), &HostModels)?;
                Ok(scores
                    .into_iter()
                    .map(
                        |s| bindings::exports::switchyard::plugin::evaluator::Score {
                            name: s.name,
                            value: s.value,
                            label: s.label,
                            explanation: s.explanation,
                        },
                    )
                    .collect())
            }
        }

        /// The host's `eval-input` as the kit's [`Input`].
        struct HostInput(bindings::switchyard::plugin::evaluation::EvalInput);

        impl $crate::Input for HostInput {
            fn answer(&self) -> ::std::string::String {
                self.0.answer()
            }
            fn has_tool_calls(&self) -> bool {
                !self.0.tool_calls().is_empty()
            }
            fn finish_reason(&self) -> ::std::option::Option<::std::string::String> {
                use bindings::switchyard::plugin::types::FinishReason;
                self.0.finish_reason().map(|r| match r {
                    FinishReason::Stop => "stop".into(),
                    FinishReason::Length => "length".into(),
                    FinishReason::ToolCalls => "tool_calls".into(),
                    FinishReason::ContentFilter => "content_filter".into(),
                    FinishReason::Other(s) => s,
                })
            }
            fn completion_tokens(&self) -> ::std::option::Option<u32> {
                self.0.completion_tokens()
            }
            fn metadata(&self) -> ::std::vec::Vec<(::std::string::String, ::std::string::String)> {
                self.0.metadata()
            }
            fn last_user_message(&self) -> ::std::option::Option<::std::string::String> {
                self.0.last_user_message()
            }
            fn request_schema(&self) -> ::std::option::Option<::std::string::String> {
                use bindings::switchyard::plugin::types::ResponseFormat;
                match self.0.response_format() {
                    Some(ResponseFormat::JsonSchema(f)) => f.schema_json,
                    _ => None,
                }
            }
            fn other_answer(&self) -> ::std::option::Option<::std::string::String> {
                self.0.other_answer()
            }
            fn model(&self) -> ::std::string::String {
                self.0.model()
            }
        }

        /// The host's `models` import as the kit's [`Models`].
        struct HostModels;

        impl $crate::Models for HostModels {
            fn complete(
                &self,
                call: &$crate::ModelCall,
            ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                use bindings::switchyard::plugin::models;
                models::complete(&models::CompletionRequest {
                    model: call.model.clone(),
                    system: call.system.clone(),
                    prompt: call.prompt.clone(),
                    max_tokens: call.max_tokens,
                    timeout_ms: call.timeout_ms,
                    cache_ttl_ms: 0,
                })
                .map(|c| c.text)
            }
        }
    };
}
