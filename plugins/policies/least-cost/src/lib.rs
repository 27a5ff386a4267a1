//! The `least-cost` routing policy: the cheapest model for this request first.
//!
//! Every candidate is priced for the request at hand:
//!
//! ```text
//! cost = token_estimate × input_price + expected_output × output_price   (per million tokens)
//! ```
//!
//! where `expected_output` is the request's `max_tokens` when the client set
//! one, else the config's `expected_output_tokens` (default 256). Candidates
//! go cheapest first; equal costs go to the lower latency EWMA (a model with
//! no requests yet counts as 0 ms), then route order. Candidates whose circuit
//! breaker is open go last. Every candidate stays in the plan, so the host can
//! fail over to each.
//!
//! Configuration (optional):
//!
//! ```toml
//! policy_config = { expected_output_tokens = 512 }
//! ```
//!
//! Any other key, or a value that is not a non-negative integer, is an error
//! naming it, and the host falls back to the route's static order.
//!
//! Labels: `policy=least-cost`, `pick=<model>`, `estimated-cost-usd=<its
//! cost>`, `output-tokens=<expected_output>`, and `breaker-open=<models>`
//! when some were put last.

policy_kit::plugin!(LeastCost);
policy_kit::wit_glue!();

pub mod policy;

use exports::switchyard::plugin::policy::{Candidate, Decision, Guest};
use switchyard::plugin::host;
use switchyard::plugin::request::RequestView;

struct LeastCost;

impl Guest for LeastCost {
    fn observe(_outcome: exports::switchyard::plugin::policy::Outcome) {}

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let config = policy::Config::parse(host::config_json().as_deref())?;
        let request = policy::Request {
            token_estimate: req.token_estimate(),
            max_tokens: req.max_tokens(),
        };
        Ok(policy::decide(&config, &request, &candidates))
    }
}
