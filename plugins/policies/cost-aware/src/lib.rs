//! The `cost-aware` routing policy: the cheapest model that is good enough.
//!
//! A candidate meets the floor when
//!
//! - it has every required capability: those the config lists in `require`,
//!   plus `tools` when the request offers tools, `vision` when it carries
//!   images and `json` when it asks for a JSON answer (a model that declares
//!   no capabilities at all has unknown ones and, as in the host's own
//!   capability filter, is not dropped for them);
//! - its quality (from the config's `quality` map, else the model's own
//!   `quality` in the gateway config) is at least `min_quality`, when
//!   `min_quality` is set (a model with no known quality fails it);
//! - its error rate is at most `max_error_rate`, when that is set.
//!
//! The plan is the candidates meeting the floor, cheapest first for this
//! request (as `least-cost` prices it: prompt tokens × input price + expected
//! output × output price, ties to lower latency), with open circuit breakers
//! last. Candidates failing the floor are dropped from the plan, unless none
//! meets it: then every candidate is kept, cheapest first, and the label
//! `floor=relaxed` says so.
//!
//! ```toml
//! [routes.main.policy_config]
//! require = ["tools"]
//! min_quality = 0.8
//! quality = { "model-a" = 0.9, "model-b" = 0.7 }
//! max_error_rate = 0.5
//! expected_output_tokens = 256      # when the request sets no max_tokens
//! ```
//!
//! Every key is optional; unknown keys and ill-typed values are errors naming
//! the key, and the host falls back to the route's static order.
//!
//! Labels: `policy=cost-aware`, `floor=met|relaxed`, `require=<capabilities>`
//! (when any), `pick=<model>`, `estimated-cost-usd=<its cost>`,
//! `dropped=<models failing the floor>` (when any were dropped) and
//! `breaker-open=<models>` when some were put last.

policy_kit::plugin!(CostAware);
policy_kit::wit_glue!();

pub mod policy;

use exports::switchyard::plugin::policy::{Candidate, Decision, Guest};
use switchyard::plugin::host;
use switchyard::plugin::request::RequestView;

struct CostAware;

impl Guest for CostAware {
    fn observe(_outcome: exports::switchyard::plugin::policy::Outcome) {}

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let config = policy::Config::parse(host::config_json().as_deref())?;
        let request = policy::Request {
            token_estimate: req.token_estimate(),
            max_tokens: req.max_tokens(),
            has_tools: req.has_tools(),
            has_images: req.has_images(),
            wants_json: req.wants_json(),
        };
        Ok(policy::decide(&config, &request, &candidates))
    }
}
