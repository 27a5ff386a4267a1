//! The `model-router` routing policy: a small classifier model decides which
//! tier of models a request needs — routing that is itself model-powered.
//!
//! ```toml
//! [routes.smart]
//! policy = "model-router"
//! models = ["small", "big", "big-backup"]
//! [routes.smart.policy_config]
//! classifier = "tiny"          # a model of the config (not a route)
//! tiers = { simple = ["small"], complex = ["big", "big-backup"] }
//! descriptions = { simple = "greetings, short facts", complex = "reasoning, code, math" }
//! default = "simple"           # when the classifier fails or names no tier
//! timeout_ms = 1500            # the classifier's budget (the host caps it at 10 s)
//! cache_ttl_ms = 300000        # reuse the answer for the same prompt this long
//! max_prompt_chars = 2000      # how much of the last user message it sees
//! # system = "…"               # replaces the built-in classifier prompt
//! ```
//!
//! The policy asks the classifier through the host's `complete` import with
//! the last user message; the host sends it through that model's adapter with
//! its key (the policy sees neither), caches recent answers, and does not
//! count the wait against the policy's deadline. The answer's first whole
//! word naming a tier picks it; a failure, a timeout or an answer naming no
//! tier falls back to `default` (the static fallback). The plan is the tier's
//! models, then the other candidates as fallbacks, open breakers last.
//! Labels: `policy=model-router`, `tier=<name>`,
//! `classifier=answered|cached|failed|unparsed|no-text`.

policy_kit::plugin!(ModelRouter);
policy_kit::wit_glue!();

pub mod logic;

use exports::switchyard::plugin::policy::{Candidate, Decision, Guest, Outcome};
use switchyard::plugin::request::RequestView;
use switchyard::plugin::{host, models};

struct ModelRouter;

impl Guest for ModelRouter {
    fn observe(_outcome: Outcome) {}

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let config = logic::Config::parse(host::config_json().as_deref())?;
        let verdict = match req.last_user_message().filter(|t| !t.trim().is_empty()) {
            None => logic::Verdict::NoText,
            Some(text) => {
                let asked = models::complete(&models::CompletionRequest {
                    model: config.classifier.clone(),
                    system: Some(config.system_prompt()),
                    prompt: config.prompt(&text),
                    max_tokens: 8,
                    timeout_ms: config.timeout_ms,
                    cache_ttl_ms: config.cache_ttl_ms,
                });
                match asked {
                    Ok(c) => logic::Verdict::Answer {
                        text: c.text,
                        cached: c.cached,
                    },
                    Err(e) => {
                        host::log(host::LogLevel::Warn, &format!("classifier failed: {e}"));
                        logic::Verdict::Failed(e)
                    }
                }
            }
        };
        let candidates: Vec<logic::Candidate> =
            candidates.iter().map(logic::Candidate::of).collect();
        let plan = logic::decide(&config, &verdict, &candidates);
        Ok(decision(plan.order, plan.labels))
    }
}
