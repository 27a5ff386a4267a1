//! The `least-latency` routing policy: the power of two choices over the
//! models' latency EWMA.
//!
//! Two distinct candidates are drawn at random (never one whose circuit
//! breaker is open) and the faster of the two goes first: lower
//! `latency-ewma-ms`, or on a tie fewer requests in flight. A model that has
//! served no request yet counts as 0 ms, so new models get tried. The other
//! candidates follow by ascending latency (then in-flight, then route order),
//! and open breakers go last, so the host can fail over to every model.
//! Sampling two rather than taking the global minimum keeps one fast model
//! from being stampeded while its EWMA catches up.
//!
//! Configuration (optional):
//!
//! ```toml
//! policy_config = { use = "ttft" }   # or "latency"
//! ```
//!
//! `use = "ttft"` compares the time-to-first-token EWMA instead, which is what
//! a streaming client feels. Without `use`, streaming requests compare TTFT
//! and the others total latency. Any other key or value is an error naming
//! it, and the host falls back to the route's static order.
//!
//! The draw is seeded with the host clock mixed with a hash of the request;
//! [`policy::decide`] takes the seed as a plain number so tests can fix it.
//!
//! Labels: `policy=least-latency`, `metric=latency|ttft`, `pick=<model>`,
//! `versus=<the other sampled model>` (when two were compared), `pick-ms=<the
//! winner's figure>`, and `breaker-open=<models>` when some were put last.

policy_kit::plugin!(LeastLatency);
policy_kit::wit_glue!();

pub mod policy;

use exports::switchyard::plugin::policy::{Candidate, Decision, Guest};
use switchyard::plugin::host;
use switchyard::plugin::request::RequestView;

struct LeastLatency;

impl Guest for LeastLatency {
    fn observe(_outcome: exports::switchyard::plugin::policy::Outcome) {}

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let config = policy::Config::parse(host::config_json().as_deref())?;
        let metric = config.metric(req.stream());
        let seed = policy_kit::seed(
            host::now_ms(),
            req.message_count(),
            req.last_user_message().as_deref(),
        );
        Ok(policy::decide(metric, &candidates, seed))
    }
}
