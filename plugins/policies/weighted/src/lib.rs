//! The `weighted` routing policy: canary percentages.
//!
//! The route's `policy_config` gives each model a weight:
//!
//! ```toml
//! [routes.main]
//! policy = "weighted"
//! models = ["model-a", "model-b", "model-c"]
//! policy_config = { weights = { "model-a" = 90, "model-b" = 10 } }
//! ```
//!
//! The first attempt is drawn at random in proportion to the weights (here
//! `model-a` serves about 90% of the requests and `model-b` about 10%). The
//! other weighted models follow in descending weight, then the candidates the
//! map does not name (weight 0) in their route order, so the host can fail
//! over to every model. Candidates whose circuit breaker is open are never
//! drawn and go last.
//!
//! Weights are non-negative numbers and not all zero; keys other than
//! `weights` are errors. A bad config makes `route` return an error naming the
//! key, and the host falls back to the route's static order.
//!
//! The draw is seeded with the host clock mixed with a hash of the request
//! (message count and last user message); [`policy::decide`] takes the seed
//! as a plain number so tests can fix it.
//!
//! Labels: `policy=weighted`, `pick=<model>`, `weight=<its weight>` (or
//! `pick=unweighted` when no positively weighted model is usable), and
//! `breaker-open=<models>` when some were put last for an open breaker.

policy_kit::plugin!(Weighted);
policy_kit::wit_glue!();

pub mod policy;

use exports::switchyard::plugin::policy::{Candidate, Decision, Guest};
use switchyard::plugin::host;
use switchyard::plugin::request::RequestView;

struct Weighted;

impl Guest for Weighted {
    fn observe(_outcome: exports::switchyard::plugin::policy::Outcome) {}

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let config = policy::Config::parse(host::config_json().as_deref())?;
        let seed = policy_kit::seed(
            host::now_ms(),
            req.message_count(),
            req.last_user_message().as_deref(),
        );
        Ok(policy::decide(&config, &candidates, seed))
    }
}
